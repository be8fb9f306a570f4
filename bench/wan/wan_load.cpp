// wan_load: the measuring side of the WAN benchmark (bench/wan/wan_bench.sh, issue 10).
// It writes to an Aethel lattice or to etcd the same way and measures what SPEC §12
// asks for. Every node is a TARGET, `[NETNS@]http://HOST:PORT`: with NETNS (a path
// such as /run/netns/aw1) the connections to it are opened inside that network
// namespace, so the client reaches the node directly, not through a proxy.
//
//   wan_load latency     --kind K --target T [--requests N]
//       N sequential writes on one kept-alive connection: p50/p90/p99 in ms.
//   wan_load throughput  --kind K --targets T,... [--clients C] [--seconds S]
//       C closed-loop clients, client c on target c mod n: acknowledged writes/s.
//   wan_load failover    --kind K --targets T,... --kill-pid PID [--clients C]
//                        [--before-ms B] [--max-gap-s G]
//       writes run on the targets (the survivors); after B ms and at least one
//       acknowledged write the tool sends SIGKILL to PID (the leader) and reports the gap between
//       the last write acknowledged before the kill and the first acknowledged write that was sent
//       after it (or none within G s). A write sent before the kill and acknowledged after it may
//       have committed before the kill (its answer was still on the delayed links), so
//       it does not show that writes resumed; those are counted as late_acks.
//   latency and throughput with --reads linearizable|stale: reads of one key instead
//       (aethel: GET /api/lattice/accounts/Bob[?consistency=stale]; etcd: POST
//       /v3/kv/range of one key[, serializable]).
//   wan_load wait-leader --kind K --targets T,... --since-ns NS [--timeout-s S]
//       polls until there is a leader (aethel: GET / says role leader; etcd: a put
//       succeeds) and prints the time since NS (Unix time in ns, `date +%s%N`).
//   wan_load leader      --kind K --targets T,... [--timeout-s S]
//       prints the 1-based position of the leader among the targets.
//   wan_load wait-converged --kind K --targets T,... [--timeout-s S]
//       waits until every target reports the same state (aethel: height and root;
//       etcd: revision).
//
// Common options: --timeout-ms (one request, default 1000 ms; a request that times out
// is abandoned and the client reconnects). Kinds: `aethel` writes the guide's transfer
// through POST /api/verify, `{"code":"intent transfer { from: Alice, to: Bob, amount:
// 1 }"}` (Bob gives it back on every other write, so balances never run out), and
// counts it when the answer says PROVED; `etcd` puts through the JSON gateway,
// POST /v3/kv/put with base64 key and value, and counts a 200 with a header.
// Output: KEY=VALUE words on one line, for scripts. Exit 2 on a bad command line.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct UsageError {
  std::string message;
};

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// --- targets and a small HTTP/1.1 client ----------------------------------------

struct Target {
  std::string netns;  // empty: the tool's own namespace
  std::string host;
  uint16_t port = 0;
  std::string text;
};

Target parse_target(std::string_view text) {
  Target target;
  target.text = text;
  if (size_t at = text.find('@'); at != std::string_view::npos) {
    target.netns = text.substr(0, at);
    text.remove_prefix(at + 1);
  }
  if (!text.starts_with("http://")) throw UsageError{"target '" + target.text + "' is not http://"};
  text.remove_prefix(7);
  text = text.substr(0, text.find('/'));
  size_t colon = text.rfind(':');
  int port = 0;
  std::string_view digits = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (error != std::errc{} || end != digits.data() + digits.size() || port <= 0 || port > 65535) {
    throw UsageError{"target '" + target.text + "' needs a host and a port"};
  }
  target.host = text.substr(0, colon);
  target.port = static_cast<uint16_t>(port);
  return target;
}

// A TCP socket created inside the target's namespace (sockets keep the namespace they
// were created in; the calling thread returns to its own at once).
int socket_in(const Target& target) {
  if (target.netns.empty()) return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  static thread_local int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int ns = ::open(target.netns.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
    if (ns >= 0) close(ns);
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (setns(home, CLONE_NEWNET) != 0) std::abort();  // the thread would stay astray
  close(ns);
  return fd;
}

struct Reply {
  unsigned status = 0;
  std::string body;
};

class HttpClient {
 public:
  HttpClient(Target target, uint32_t timeout_ms)
      : target_(std::move(target)), timeout_ms_(timeout_ms) {}
  ~HttpClient() { disconnect(); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One exchange; nullopt on a connection failure or timeout (the connection is
  // dropped and the next call opens a new one).
  std::optional<Reply> call(std::string_view method, std::string_view path, std::string_view body) {
    if (fd_ < 0 && !connect()) return std::nullopt;
    std::string request = fmt::format(
        "{} {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\n"
        "Content-Length: {}\r\n\r\n{}",
        method, path, target_.host, target_.port, body.size(), body);
    std::optional<Reply> reply;
    if (send_all(request)) reply = read_reply();
    if (!reply) disconnect();
    return reply;
  }

 private:
  bool connect();
  void disconnect() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    buffer_.clear();
  }
  bool send_all(std::string_view data);
  bool fill();  // reads more into buffer_
  std::optional<Reply> read_reply();
  std::optional<std::string> read_chunked(size_t from);

  Target target_;
  uint32_t timeout_ms_;
  int fd_ = -1;
  std::string buffer_;
};

bool HttpClient::connect() {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(target_.port);
  if (inet_pton(AF_INET, target_.host == "localhost" ? "127.0.0.1" : target_.host.c_str(),
                &address.sin_addr) != 1) {
    return false;
  }
  fd_ = socket_in(target_);
  if (fd_ < 0) return false;
  timeval tv{static_cast<time_t>(timeout_ms_ / 1000),
             static_cast<suseconds_t>((timeout_ms_ % 1000) * 1000)};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    disconnect();
    return false;
  }
  return true;
}

bool HttpClient::send_all(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool HttpClient::fill() {
  char chunk[16 * 1024];
  ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

std::optional<Reply> HttpClient::read_reply() {
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > (64u << 10) || !fill()) return std::nullopt;
  }
  std::string head = buffer_.substr(0, head_end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Reply reply;
  if (!head.starts_with("http/1.") || head.size() < 12) return std::nullopt;
  std::from_chars(head.data() + 9, head.data() + 12, reply.status);
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    auto body = read_chunked(head_end + 4);
    if (!body) return std::nullopt;
    reply.body = std::move(*body);
    return reply;
  }
  size_t length = 0, at = head.find("content-length:");
  if (at == std::string::npos) return std::nullopt;  // both servers always send one
  at += 15;
  while (at < head.size() && head[at] == ' ') ++at;
  std::from_chars(head.data() + at, head.data() + head.size(), length);
  while (buffer_.size() < head_end + 4 + length) {
    if (!fill()) return std::nullopt;
  }
  reply.body = buffer_.substr(head_end + 4, length);
  buffer_.erase(0, head_end + 4 + length);
  return reply;
}

std::optional<std::string> HttpClient::read_chunked(size_t from) {
  std::string body;
  while (true) {
    size_t line_end;
    while ((line_end = buffer_.find("\r\n", from)) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    size_t size = 0;
    std::from_chars(buffer_.data() + from, buffer_.data() + line_end, size, 16);
    size_t data = line_end + 2;
    while (buffer_.size() < data + size + 2) {
      if (!fill()) return std::nullopt;
    }
    body.append(buffer_, data, size);
    from = data + size + 2;
    if (size == 0) break;  // no trailers from either server
  }
  buffer_.erase(0, from);
  return body;
}

// --- what a write is, per kind ----------------------------------------------------

enum class Kind { kAethel, kEtcd };

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

struct Write {
  std::string path;
  std::string body;
  std::string method = "POST";
};

// A read of one key: aethel GET /api/lattice/accounts/Bob, etcd a range of one key
// (linearizable unless `stale`: then ?consistency=stale / serializable).
Write make_read(Kind kind, bool stale) {
  if (kind == Kind::kAethel) {
    return {stale ? "/api/lattice/accounts/Bob?consistency=stale" : "/api/lattice/accounts/Bob", "",
            "GET"};
  }
  return {"/v3/kv/range", fmt::format(R"({{"key":"{}"{}}})", base64("wan-0"),
                                      stale ? R"(,"serializable":true)" : "")};
}

Write make_write(Kind kind, unsigned client, uint64_t sequence) {
  if (kind == Kind::kAethel) {
    bool back = sequence % 2 == 1;  // Bob returns what Alice sent
    return {"/api/verify",
            fmt::format(R"({{"code":"intent transfer {{ from: {}, to: {}, amount: 1 }}"}})",
                        back ? "Bob" : "Alice", back ? "Alice" : "Bob")};
  }
  return {"/v3/kv/put",
          fmt::format(R"({{"key":"{}","value":"{}"}})", base64(fmt::format("wan-{}", client)),
                      base64(fmt::format("v{}", sequence)))};
}

std::optional<json::object> parse_object(const std::string& body) {
  json::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return value.as_object();
}

bool acknowledged(Kind kind, const std::optional<Reply>& reply) {
  if (!reply || reply->status != 200) return false;
  auto body = parse_object(reply->body);
  if (!body) return false;
  if (kind == Kind::kEtcd) return body->contains("header");
  if (body->contains("balance")) return true;  // a read
  auto* status = body->if_contains("status");
  return status && status->is_string() && status->as_string() == "PROVED";
}

// --- the command line -------------------------------------------------------------

struct Options {
  std::string command;
  Kind kind = Kind::kAethel;
  std::vector<Target> targets;
  unsigned requests = 200;
  unsigned clients = 16;
  double seconds = 10;
  uint32_t timeout_ms = 1000;
  pid_t kill_pid = 0;
  int64_t before_ms = 2000;
  double max_gap_s = 30;
  int64_t since_ns = 0;
  double timeout_s = 60;
  std::string reads;  // "linearizable" or "stale": latency and throughput read instead
};

Write make_request(const Options& o, unsigned client, uint64_t sequence) {
  if (o.reads.empty()) return make_write(o.kind, client, sequence);
  return make_read(o.kind, o.reads == "stale");
}

int64_t parse_int(std::string_view flag, std::string_view text, int64_t min, int64_t max) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
    throw UsageError{
        fmt::format("{} must be an integer in [{}, {}], got '{}'", flag, min, max, text)};
  }
  return value;
}

void parse_flag(Options& o, std::string_view flag, std::string_view value) {
  if (flag == "--kind") {
    if (value != "aethel" && value != "etcd") throw UsageError{"--kind is aethel or etcd"};
    o.kind = value == "aethel" ? Kind::kAethel : Kind::kEtcd;
  } else if (flag == "--target" || flag == "--targets") {
    while (!value.empty()) {
      size_t comma = value.find(',');
      o.targets.push_back(parse_target(value.substr(0, comma)));
      value = comma == std::string_view::npos ? "" : value.substr(comma + 1);
    }
  } else if (flag == "--requests") {
    o.requests = static_cast<unsigned>(parse_int(flag, value, 1, 10'000'000));
  } else if (flag == "--clients") {
    o.clients = static_cast<unsigned>(parse_int(flag, value, 1, 4096));
  } else if (flag == "--seconds") {
    o.seconds = static_cast<double>(parse_int(flag, value, 1, 86'400));
  } else if (flag == "--timeout-ms") {
    o.timeout_ms = static_cast<uint32_t>(parse_int(flag, value, 1, 600'000));
  } else if (flag == "--kill-pid") {
    o.kill_pid = static_cast<pid_t>(parse_int(flag, value, 2, 1 << 30));
  } else if (flag == "--before-ms") {
    o.before_ms = parse_int(flag, value, 0, 600'000);
  } else if (flag == "--max-gap-s") {
    o.max_gap_s = static_cast<double>(parse_int(flag, value, 1, 3600));
  } else if (flag == "--since-ns") {
    o.since_ns = parse_int(flag, value, 1, INT64_MAX);
  } else if (flag == "--timeout-s") {
    o.timeout_s = static_cast<double>(parse_int(flag, value, 1, 3600));
  } else if (flag == "--reads") {
    if (value != "linearizable" && value != "stale") {
      throw UsageError{"--reads is linearizable or stale"};
    }
    o.reads = value;
  } else {
    throw UsageError{"unknown option '" + std::string(flag) + "'"};
  }
}

Options parse_options(int argc, char** argv) {
  if (argc < 2) throw UsageError{"a command is required"};
  Options o;
  o.command = argv[1];
  static const std::vector<std::string> kCommands = {"latency",     "throughput", "failover",
                                                     "wait-leader", "leader",     "wait-converged"};
  if (std::find(kCommands.begin(), kCommands.end(), o.command) == kCommands.end()) {
    throw UsageError{"unknown command '" + o.command + "'"};
  }
  for (int i = 2; i < argc; i += 2) {
    if (i + 1 >= argc) throw UsageError{std::string(argv[i]) + " needs a value"};
    parse_flag(o, argv[i], argv[i + 1]);
  }
  if (o.targets.empty()) throw UsageError{"--targets (or --target) is required"};
  if (o.command == "failover" && o.kill_pid == 0) throw UsageError{"failover needs --kill-pid"};
  if (o.command == "wait-leader" && o.since_ns == 0)
    throw UsageError{"wait-leader needs --since-ns"};
  return o;
}

// --- measurements -----------------------------------------------------------------

Clock::time_point deadline_after(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

int run_latency(const Options& o) {
  HttpClient client(o.targets[0], o.timeout_ms);
  std::vector<double> latencies_ms;
  unsigned failures = 0;
  for (uint64_t n = 0; n < o.requests; ++n) {
    Write write = make_request(o, 0, n);
    auto sent = Clock::now();
    auto reply = client.call(write.method, write.path, write.body);
    if (!acknowledged(o.kind, reply)) {
      ++failures;
      continue;
    }
    latencies_ms.push_back(ms_between(sent, Clock::now()));
  }
  fmt::print("acknowledged={} failed={} p50_ms={:.1f} p90_ms={:.1f} p99_ms={:.1f} max_ms={:.1f}\n",
             latencies_ms.size(), failures, percentile(latencies_ms, 0.5),
             percentile(latencies_ms, 0.9), percentile(latencies_ms, 0.99),
             percentile(latencies_ms, 1.0));
  return latencies_ms.empty() ? 1 : 0;
}

// Closed-loop writers, client c on target c mod n, until `stop`; `on_ack` sees when
// every acknowledged write was sent and when its answer came.
class Writers {
 public:
  using OnAck = std::function<void(Clock::time_point sent, Clock::time_point acknowledged)>;
  Writers(const Options& o, OnAck on_ack) : on_ack_(std::move(on_ack)) {
    for (unsigned c = 0; c < o.clients; ++c) {
      threads_.emplace_back([this, &o, c] { run(o, c); });
    }
  }
  ~Writers() { stop(); }
  void stop() {
    stopping_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  uint64_t failures() const { return failures_; }

 private:
  void run(const Options& o, unsigned c) {
    HttpClient client(o.targets[c % o.targets.size()], o.timeout_ms);
    for (uint64_t n = 0; !stopping_; ++n) {
      Write write = make_request(o, c, n);
      auto sent = Clock::now();
      auto reply = client.call(write.method, write.path, write.body);
      if (acknowledged(o.kind, reply)) {
        on_ack_(sent, Clock::now());
      } else {
        ++failures_;
        if (!reply) std::this_thread::sleep_for(milliseconds(10));  // refused: no busy loop
      }
    }
  }

  OnAck on_ack_;
  std::atomic<bool> stopping_ = false;
  std::atomic<uint64_t> failures_ = 0;
  std::vector<std::thread> threads_;
};

int run_throughput(const Options& o) {
  std::atomic<uint64_t> acks = 0;
  auto start = Clock::now();
  Writers writers(o, [&](Clock::time_point, Clock::time_point) { ++acks; });
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));  // the measured span
  uint64_t counted = acks.load();
  double elapsed_s = ms_between(start, Clock::now()) / 1000;
  writers.stop();
  fmt::print("clients={} targets={} seconds={:.1f} acknowledged={} failed={} per_s={:.1f}\n",
             o.clients, o.targets.size(), elapsed_s, counted, writers.failures(),
             counted / elapsed_s);
  return counted == 0 ? 1 : 0;
}

int run_failover(const Options& o) {
  std::mutex mutex;
  std::optional<Clock::time_point> killed_at, last_before, first_after;
  uint64_t late_acks = 0;
  Writers writers(o, [&](Clock::time_point sent, Clock::time_point at) {
    std::lock_guard lock(mutex);
    if (!killed_at || at <= *killed_at) {
      last_before = at;
    } else if (sent <= *killed_at) {
      ++late_acks;
    } else if (!first_after || at < *first_after) {
      first_after = at;
    }
  });
  std::this_thread::sleep_for(milliseconds(o.before_ms));  // load before the kill
  // The kill must interrupt writes that commit: wait for one acknowledgement first.
  auto has_ack = [&] {
    std::lock_guard lock(mutex);
    return last_before.has_value();
  };
  for (auto limit = deadline_after(o.max_gap_s); !has_ack() && Clock::now() < limit;) {
    std::this_thread::sleep_for(milliseconds(10));  // poll interval
  }
  {
    std::lock_guard lock(mutex);
    killed_at = Clock::now();
    ::kill(o.kill_pid, SIGKILL);
  }
  auto deadline = *killed_at + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(o.max_gap_s));
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));  // poll interval
    std::lock_guard lock(mutex);
    if (first_after) break;
  }
  writers.stop();
  if (!last_before) fmt::print("gap_ms=none reason=no_write_before_the_kill\n");
  if (!first_after) fmt::print("gap_ms=none max_gap_s={}\n", o.max_gap_s);
  if (!last_before || !first_after) return 1;
  fmt::print(
      "gap_ms={:.0f} last_ack_before_kill_ms={:.0f} first_ack_after_kill_ms={:.0f} "
      "late_acks={}\n",
      ms_between(*last_before, *first_after), ms_between(*last_before, *killed_at),
      ms_between(*killed_at, *first_after), late_acks);
  return 0;
}

// --- leader and state queries -----------------------------------------------------

bool is_leader(const Options& o, HttpClient& client) {
  if (o.kind == Kind::kAethel) {
    auto reply = client.call("GET", "/", "");
    auto body = reply && reply->status == 200 ? parse_object(reply->body) : std::nullopt;
    auto* role = body ? body->if_contains("role") : nullptr;
    return role && role->is_string() && role->as_string() == "leader";
  }
  auto reply = client.call("POST", "/v3/maintenance/status", "{}");
  auto body = reply && reply->status == 200 ? parse_object(reply->body) : std::nullopt;
  if (!body || !body->contains("leader") || !body->contains("header")) return false;
  auto* member = body->at("header").as_object().if_contains("member_id");
  return member && body->at("leader") == *member;
}

// The state a target reports, as one comparable string; nullopt when it does not answer.
std::optional<std::string> state_of(const Options& o, HttpClient& client) {
  bool aethel = o.kind == Kind::kAethel;
  auto reply = aethel ? client.call("GET", "/api/lattice/state?limit=0&consistency=stale", "")
                      : client.call("POST", "/v3/maintenance/status", "{}");
  auto body = reply && reply->status == 200 ? parse_object(reply->body) : std::nullopt;
  if (!body) return std::nullopt;
  if (aethel) {
    if (!body->contains("height") || !body->contains("merkle_root")) return std::nullopt;
    return json::serialize(body->at("height")) + " " + json::serialize(body->at("merkle_root"));
  }
  auto* header = body->if_contains("header");
  if (!header || !header->is_object() || !header->as_object().contains("revision"))
    return std::nullopt;
  return json::serialize(header->as_object().at("revision"));
}

std::vector<std::unique_ptr<HttpClient>> clients_for(const Options& o) {
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (const Target& t : o.targets)
    clients.push_back(std::make_unique<HttpClient>(t, o.timeout_ms));
  return clients;
}

int run_wait_leader(const Options& o) {
  auto clients = clients_for(o);
  auto deadline = deadline_after(o.timeout_s);
  for (uint64_t n = 0; Clock::now() < deadline; ++n) {
    HttpClient& client = *clients[n % clients.size()];
    bool elected = false;
    if (o.kind == Kind::kAethel) {
      elected = is_leader(o, client);
    } else {
      Write write = make_write(o.kind, 0, n);
      elected = acknowledged(o.kind, client.call("POST", write.path, write.body));
    }
    if (elected) {
      auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
      fmt::print("elapsed_ms={:.0f} node={}\n", (now_ns - o.since_ns) / 1e6,
                 n % clients.size() + 1);
      return 0;
    }
    if (n % clients.size() == clients.size() - 1) std::this_thread::sleep_for(milliseconds(10));
  }
  fmt::print("elapsed_ms=none timeout_s={}\n", o.timeout_s);
  return 1;
}

int run_leader(const Options& o) {
  auto clients = clients_for(o);
  auto deadline = deadline_after(o.timeout_s);
  while (Clock::now() < deadline) {
    for (size_t i = 0; i < clients.size(); ++i) {
      if (is_leader(o, *clients[i])) {
        fmt::print("{}\n", i + 1);
        return 0;
      }
    }
    std::this_thread::sleep_for(milliseconds(50));  // poll interval
  }
  fmt::print(stderr, "wan_load: no leader among the targets within {} s\n", o.timeout_s);
  return 1;
}

int run_wait_converged(const Options& o) {
  auto clients = clients_for(o);
  auto deadline = deadline_after(o.timeout_s);
  while (Clock::now() < deadline) {
    std::optional<std::string> first;
    bool same = true;
    for (auto& client : clients) {
      auto state = state_of(o, *client);
      if (!first) first = state;
      same = same && state && state == first;
    }
    if (same) {
      fmt::print("converged state={}\n", *first);
      return 0;
    }
    std::this_thread::sleep_for(milliseconds(100));  // poll interval
  }
  fmt::print(stderr, "wan_load: the targets did not converge within {} s\n", o.timeout_s);
  return 1;
}

constexpr const char* kUsage =
    "usage: wan_load latency|throughput|failover|wait-leader|leader|wait-converged\n"
    "         --kind aethel|etcd --targets [NETNS@]http://HOST:PORT[,...]\n"
    "         [--requests N] [--clients C] [--seconds S] [--timeout-ms T] [--kill-pid PID]\n"
    "         [--before-ms B] [--max-gap-s G] [--since-ns NS] [--timeout-s S]\n"
    "         [--reads linearizable|stale]\n"
    "       (the header of bench/wan/wan_load.cpp says what each command measures)\n";

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Options o;
  try {
    o = parse_options(argc, argv);
  } catch (const UsageError& error) {
    fmt::print(stderr, "wan_load: {}\n{}", error.message, kUsage);
    return 2;
  }
  if (o.command == "latency") return run_latency(o);
  if (o.command == "throughput") return run_throughput(o);
  if (o.command == "failover") return run_failover(o);
  if (o.command == "wait-leader") return run_wait_leader(o);
  if (o.command == "leader") return run_leader(o);
  return run_wait_converged(o);
}
