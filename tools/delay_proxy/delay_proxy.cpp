// aethel_delay_proxy: a userspace TCP proxy that puts a one-way delay on every link,
// to test and benchmark the lattice at internet distances (SPEC §12; `tc netem` is
// not available on this kernel). One process serves many links.
//
//   aethel_delay_proxy --delay-ms D [--stats-file FILE] [--max-queued-mib M]
//                      [--delay-file FILE] --link SPEC [--link SPEC ...]
//
//   SPEC   = [LISTEN_HOST:]LISTEN_PORT:TARGET_HOST:TARGET_PORT[,OPTION]...
//   OPTION = name=TEXT          how the link is called in the output and the stats
//          | delay-ms=D         this link's one-way delay instead of --delay-ms
//          | listen-netns=PATH  listen inside this network namespace (/run/netns/X,
//          | target-netns=PATH  /proc/PID/ns/net, ...); connect to the target in this one
//
// LISTEN_HOST defaults to 127.0.0.1; LISTEN_PORT 0 takes a free port. Hosts are IPv4
// addresses or names (no IPv6 literals). Examples:
//   aethel_delay_proxy --delay-ms 50 --link 18002:127.0.0.1:8002 --link 19002:127.0.0.1:9002
//   aethel_delay_proxy --delay-ms 50
//     --link 8002:127.0.0.1:8002,listen-netns=/run/netns/n1,target-netns=/run/netns/n2,name=1-2
//   (one command line: node 1's namespace reaches port 8002 of node 2's namespace)
//
// Once every link listens it prints one line per link,
//   link NAME LISTEN_HOST:PORT -> TARGET_HOST:PORT delay_ms=D
// then `ready`, and flushes stdout. SIGINT/SIGTERM stop it (exit 0); a bad command
// line exits 2 with one line saying what is wrong, a link that cannot listen exits 1.
//
// What a link does. Every byte read from one side of a proxied connection is written
// to the other side D ms after it was read, in order, in both directions at once; an
// end of stream (half-close) is passed on as a shutdown of the other side's sending
// direction D ms later, a reset (or a failed write) as a reset D ms later. Nothing
// limits bandwidth but the sockets, except that at most --max-queued-mib (default 64)
// of delayed bytes wait per direction: beyond that the proxy stops reading, as a TCP
// window would. The kernel completes the client's handshake at once, so the proxy
// models connection set-up in time instead: the target is dialled D ms after the
// accept (the SYN's trip), and nothing the client sends leaves before 2D (the
// client's handshake takes a round trip) nor anything the target sends before 3D
// (the target's accept); a refused dial resets the client at 2D. With D = 0 nothing
// waits. The delay is measured from the moment the proxy reads the bytes, so the
// proxy's own scheduling (one thread, epoll) adds well under a millisecond.
//
// Changing the delay at run time (--delay-file): on SIGHUP the proxy reads a whole
// number of ms from FILE and makes it the delay of every link that has no delay-ms of
// its own, for bytes read from then on (bytes already waiting keep their time, and
// nothing overtakes them: after a shorter delay, bytes wait for those before them).
// A file that does not hold such a number is reported on stderr and changes nothing.
//
// Stats (--stats-file): rewritten every second and at exit, one line per link:
//   NAME connections=N open=N bytes_forward=N bytes_back=N
// (`forward`: from the listening side to the target).
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kReadChunkBytes = 64 * 1024;
constexpr auto kStatsInterval = std::chrono::seconds(1);
constexpr auto kAcceptRetry = milliseconds(100);  // after EMFILE and the like

// --- command line -------------------------------------------------------------

struct LinkSpec {
  std::string name;
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;
  std::string target_host;
  uint16_t target_port = 0;
  std::optional<int64_t> delay_ms;
  std::string listen_netns;
  std::string target_netns;
};

struct Options {
  std::optional<int64_t> delay_ms;
  std::string stats_file;
  std::string delay_file;
  size_t max_queued_bytes = 64u << 20;
  std::vector<LinkSpec> links;
};

// A usage error: main prints it with the usage line and exits 2.
struct UsageError {
  std::string message;
};

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

int64_t parse_number(std::string_view text, int64_t min, int64_t max, std::string_view what) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
    throw UsageError{std::string(what) + " must be an integer in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "], got '" + std::string(text) + "'"};
  }
  return value;
}

uint16_t parse_port(std::string_view text, std::string_view what) {
  return static_cast<uint16_t>(parse_number(text, 0, 65535, what));
}

void parse_link_option(LinkSpec& link, std::string_view option) {
  size_t equals = option.find('=');
  std::string_view key = option.substr(0, equals);
  std::string_view value = equals == std::string_view::npos ? "" : option.substr(equals + 1);
  if (equals == std::string_view::npos || value.empty()) {
    throw UsageError{"--link option '" + std::string(option) + "' is not KEY=VALUE"};
  }
  if (key == "name") {
    link.name = value;
  } else if (key == "delay-ms") {
    link.delay_ms = parse_number(value, 0, 600'000, "--link delay-ms");
  } else if (key == "listen-netns") {
    link.listen_netns = value;
  } else if (key == "target-netns") {
    link.target_netns = value;
  } else {
    throw UsageError{"unknown --link option '" + std::string(key) +
                     "' (expected name, delay-ms, listen-netns or target-netns)"};
  }
}

LinkSpec parse_link(std::string_view text) {
  std::vector<std::string_view> options = split(text, ',');
  std::vector<std::string_view> fields = split(options[0], ':');
  if (fields.size() != 3 && fields.size() != 4) {
    throw UsageError{"--link '" + std::string(text) +
                     "' is not [LISTEN_HOST:]LISTEN_PORT:TARGET_HOST:TARGET_PORT[,OPTION...]"};
  }
  LinkSpec link;
  size_t at = 0;
  if (fields.size() == 4) link.listen_host = fields[at++];
  link.listen_port = parse_port(fields[at++], "the listen port of --link");
  link.target_host = fields[at++];
  link.target_port = parse_port(fields[at], "the target port of --link");
  if (link.listen_host.empty() || link.target_host.empty() || link.target_port == 0) {
    throw UsageError{"--link '" + std::string(text) + "' needs a host and a non-zero target port"};
  }
  for (size_t i = 1; i < options.size(); ++i) parse_link_option(link, options[i]);
  if (link.name.empty()) link.name = std::string(options[0]);
  return link;
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") throw UsageError{};
    if (i + 1 >= argc) throw UsageError{std::string(flag) + " needs a value"};
    std::string_view value = argv[++i];
    if (flag == "--delay-ms") {
      options.delay_ms = parse_number(value, 0, 600'000, "--delay-ms");
    } else if (flag == "--link") {
      options.links.push_back(parse_link(value));
    } else if (flag == "--stats-file") {
      options.stats_file = value;
    } else if (flag == "--delay-file") {
      options.delay_file = value;
    } else if (flag == "--max-queued-mib") {
      options.max_queued_bytes = static_cast<size_t>(parse_number(value, 1, 4096, flag)) << 20;
    } else {
      throw UsageError{"unknown option '" + std::string(flag) + "'"};
    }
  }
  if (!options.delay_ms) throw UsageError{"--delay-ms is required"};
  if (options.links.empty()) throw UsageError{"at least one --link is required"};
  return options;
}

// --- network namespaces ---------------------------------------------------------

// An open namespace file; -1 for "the namespace the proxy started in".
class Netns {
 public:
  static Netns open(const std::string& path) {
    if (path.empty()) return Netns(-1);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open network namespace " + path);
    return Netns(fd);
  }
  int fd() const { return fd_; }

 private:
  explicit Netns(int fd) : fd_(fd) {}
  int fd_;
};

// Runs `make` with the calling thread inside `ns` (sockets keep the namespace they
// were created in), then returns to the original namespace.
template <typename Make>
auto in_netns(int ns_fd, Make make) {
  static const int home_fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) return make();
  if (setns(ns_fd, CLONE_NEWNET) != 0) throw std::runtime_error("setns into a namespace failed");
  struct Return {
    ~Return() {
      if (setns(home_fd, CLONE_NEWNET) != 0) std::abort();  // would leave sockets astray
    }
  } back;
  return make();
}

// --- links and connections ------------------------------------------------------

struct LinkStats {
  uint64_t connections = 0;
  uint64_t open = 0;
  uint64_t bytes_forward = 0;
  uint64_t bytes_back = 0;
};

struct Link {
  LinkSpec spec;
  milliseconds delay{0};
  size_t max_queued_bytes = 0;
  Netns listen_netns = Netns::open("");
  Netns target_netns = Netns::open("");
  tcp::endpoint target;
  std::unique_ptr<tcp::acceptor> acceptor;
  LinkStats stats;
};

class Connection;

// One direction of a connection: reads `from`, holds each chunk until it is due,
// writes it to `to`.
class Pipe {
 public:
  // `to_target`: `to` is the socket the proxy dials (it may not be connected yet).
  Pipe(Connection& owner, tcp::socket& from, tcp::socket& to, bool to_target, uint64_t& byte_count)
      : owner_(owner),
        from_(from),
        to_(to),
        to_target_(to_target),
        timer_(from.get_executor()),
        bytes_(byte_count) {}

  // Nothing read from now on leaves before `not_before` + delay.
  void start(Clock::time_point not_before) {
    not_before_ = not_before;
    read();
  }
  void target_ready() { schedule(); }  // `to` is connected now
  void inject_reset(Clock::time_point due) { enqueue(Chunk{due, {}, Chunk::kReset}); }
  // The queue stays: an aborted write may still refer to it until its handler runs.
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }
  bool finished() const { return finished_; }

 private:
  struct Chunk {
    Clock::time_point due;
    std::string data;
    enum Kind { kData, kEof, kReset } kind = kData;
  };

  void read();
  void on_read(const boost::system::error_code& error, size_t bytes);
  void enqueue(Chunk chunk);
  void schedule();
  void write_due();
  void on_written(const boost::system::error_code& error, size_t chunks, size_t bytes);
  void finish_with(Chunk::Kind kind);
  Clock::time_point due_from_now() const;

  Connection& owner_;
  tcp::socket& from_;
  tcp::socket& to_;
  bool to_target_;
  asio::steady_timer timer_;
  uint64_t& bytes_;
  std::array<char, kReadChunkBytes> buffer_;
  std::deque<Chunk> queue_;
  size_t queued_bytes_ = 0;
  Clock::time_point not_before_{};
  Clock::time_point last_due_{};
  bool reading_ = false;
  bool read_done_ = false;  // end of stream or error seen: no more reads
  bool writing_ = false;
  bool timer_armed_ = false;
  bool finished_ = false;  // an end of stream was passed on (a reset may still follow)
  bool stopped_ = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Link& link, tcp::socket client)
      : link_(link),
        client_(std::move(client)),
        target_(client_.get_executor()),
        dial_timer_(client_.get_executor()),
        forward_(*this, client_, target_, true, link.stats.bytes_forward),
        back_(*this, target_, client_, false, link.stats.bytes_back) {
    ++link_.stats.connections;
    ++link_.stats.open;
  }
  ~Connection() { --link_.stats.open; }

  void start();
  Link& link() { return link_; }
  bool target_connected() const { return target_connected_; }
  std::shared_ptr<Connection> self() { return shared_from_this(); }
  // A side failed: the other direction passes a reset on to its own side.
  void reset_other(Pipe& failed, Clock::time_point due) {
    (&failed == &forward_ ? back_ : forward_).inject_reset(due);
  }
  // A reset went out: both directions stop, both sockets close.
  void close_all() {
    forward_.stop();
    back_.stop();
    dial_timer_.cancel();
    boost::system::error_code ignored;
    client_.close(ignored);
    target_.close(ignored);
  }
  void maybe_close() {
    if (forward_.finished() && back_.finished()) close_all();
  }

 private:
  void dial();
  void on_dialled(const boost::system::error_code& error);

  Link& link_;
  tcp::socket client_;
  tcp::socket target_;
  asio::steady_timer dial_timer_;
  Pipe forward_;
  Pipe back_;
  bool target_connected_ = false;
};

Clock::time_point Pipe::due_from_now() const {
  // Never earlier than what is queued already, so order holds whatever happens.
  return std::max(std::max(Clock::now(), not_before_) + owner_.link().delay, last_due_);
}

void Pipe::read() {
  if (reading_ || read_done_ || stopped_ || queued_bytes_ >= owner_.link().max_queued_bytes) return;
  reading_ = true;
  from_.async_read_some(asio::buffer(buffer_),
                        [this, keep = owner_.self()](const boost::system::error_code& error,
                                                     size_t bytes) { on_read(error, bytes); });
}

void Pipe::on_read(const boost::system::error_code& error, size_t bytes) {
  reading_ = false;
  if (stopped_) return;
  if (error) {
    read_done_ = true;
    bool clean = error == asio::error::eof;
    enqueue(Chunk{due_from_now(), {}, clean ? Chunk::kEof : Chunk::kReset});
    return;
  }
  enqueue(Chunk{due_from_now(), std::string(buffer_.data(), bytes), Chunk::kData});
  read();
}

void Pipe::enqueue(Chunk chunk) {
  if (stopped_ || (finished_ && chunk.kind != Chunk::kReset)) return;
  last_due_ = chunk.due;
  queued_bytes_ += chunk.data.size();
  queue_.push_back(std::move(chunk));
  schedule();
}

void Pipe::schedule() {
  if (writing_ || timer_armed_ || queue_.empty() || stopped_) return;
  // Still dialling the target: target_ready() calls back (a failed dial closes all).
  if (to_target_ && !owner_.target_connected()) return;
  if (queue_.front().due <= Clock::now()) return write_due();  // due already: no timer
  timer_armed_ = true;
  timer_.expires_at(queue_.front().due);
  timer_.async_wait([this, keep = owner_.self()](const boost::system::error_code& error) {
    timer_armed_ = false;
    if (!error && !stopped_) write_due();
  });
}

void Pipe::write_due() {
  auto now = Clock::now();
  if (queue_.front().kind != Chunk::kData) return finish_with(queue_.front().kind);
  std::vector<asio::const_buffer> buffers;
  size_t chunks = 0, bytes = 0;
  for (const Chunk& chunk : queue_) {
    if (chunk.kind != Chunk::kData || chunk.due > now || buffers.size() >= 64) break;
    buffers.push_back(asio::buffer(chunk.data));
    ++chunks;
    bytes += chunk.data.size();
  }
  writing_ = true;
  asio::async_write(
      to_, buffers,
      [this, chunks, bytes, keep = owner_.self()](const boost::system::error_code& error, size_t) {
        on_written(error, chunks, bytes);
      });
}

void Pipe::on_written(const boost::system::error_code& error, size_t chunks, size_t bytes) {
  writing_ = false;
  if (stopped_) return;
  if (error) {  // the other side is gone: its reset travels back to ours
    stop();
    owner_.reset_other(*this, std::max(Clock::now(), not_before_) + owner_.link().delay);
    return;
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(chunks));
  queued_bytes_ -= bytes;
  bytes_ += bytes;
  read();  // resumes if the queue had been full
  schedule();
}

void Pipe::finish_with(Chunk::Kind kind) {
  finished_ = true;
  queue_.clear();
  boost::system::error_code ignored;
  if (kind == Chunk::kEof) {
    to_.shutdown(tcp::socket::shutdown_send, ignored);
    owner_.maybe_close();
    return;
  }
  to_.set_option(asio::socket_base::linger(true, 0), ignored);  // close sends a reset
  owner_.close_all();
}

void Connection::start() {
  auto accepted = Clock::now();
  auto delay = link_.delay;
  // The client's first bytes could not leave before its handshake (a round trip).
  forward_.start(accepted + 2 * delay);
  dial_timer_.expires_at(accepted + delay);
  dial_timer_.async_wait([self = self()](const boost::system::error_code& error) {
    if (!error) self->dial();
  });
}

void Connection::dial() {
  boost::system::error_code error;
  in_netns(link_.target_netns.fd(), [&] { target_.open(link_.target.protocol(), error); });
  if (error) return on_dialled(error);
  target_.async_connect(
      link_.target, [self = self()](const boost::system::error_code& e) { self->on_dialled(e); });
}

void Connection::on_dialled(const boost::system::error_code& error) {
  if (error == asio::error::operation_aborted) return;
  if (error) {  // refused or unreachable: the client sees a reset a delay later
    back_.inject_reset(Clock::now() + link_.delay);
    return;
  }
  boost::system::error_code ignored;
  target_.set_option(tcp::no_delay(true), ignored);
  target_connected_ = true;
  // The target's accept happens a round trip after the SYN reached it.
  back_.start(Clock::now() + 2 * link_.delay);
  forward_.target_ready();
}

// --- listening ------------------------------------------------------------------

void accept_next(Link& link);

void on_accepted(Link& link, const boost::system::error_code& error, tcp::socket socket) {
  if (error == asio::error::operation_aborted) return;
  if (error) {  // out of descriptors and the like: try again shortly, never spin
    auto timer = std::make_shared<asio::steady_timer>(link.acceptor->get_executor(), kAcceptRetry);
    timer->async_wait([&link, timer](const boost::system::error_code&) { accept_next(link); });
    return;
  }
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<Connection>(link, std::move(socket))->start();
  accept_next(link);
}

void accept_next(Link& link) {
  link.acceptor->async_accept([&link](const boost::system::error_code& error, tcp::socket socket) {
    on_accepted(link, error, std::move(socket));
  });
}

tcp::endpoint resolve(asio::io_context& io, const std::string& host, uint16_t port) {
  tcp::resolver resolver(io);
  boost::system::error_code error;
  auto found = resolver.resolve(tcp::v4(), host, std::to_string(port), error);
  if (error || found.empty()) {
    throw std::runtime_error("cannot resolve '" + host + "': " + error.message());
  }
  return found.begin()->endpoint();
}

void open_link(asio::io_context& io, Link& link) {
  const LinkSpec& spec = link.spec;
  link.target = in_netns(link.target_netns.fd(),
                         [&] { return resolve(io, spec.target_host, spec.target_port); });
  in_netns(link.listen_netns.fd(), [&] {
    tcp::endpoint local = resolve(io, spec.listen_host, spec.listen_port);
    auto acceptor = std::make_unique<tcp::acceptor>(io);
    boost::system::error_code error;
    acceptor->open(local.protocol(), error);
    if (!error) acceptor->set_option(asio::socket_base::reuse_address(true), error);
    if (!error) acceptor->bind(local, error);
    if (!error) acceptor->listen(asio::socket_base::max_listen_connections, error);
    if (error) {
      throw std::runtime_error("link " + spec.name + ": cannot listen on " + spec.listen_host +
                               ":" + std::to_string(spec.listen_port) + ": " + error.message());
    }
    link.acceptor = std::move(acceptor);
  });
  accept_next(link);
}

// --- stats and main -------------------------------------------------------------

void write_stats(const std::vector<std::unique_ptr<Link>>& links, const std::string& path) {
  if (path.empty()) return;
  std::string text;
  for (const auto& link : links) {
    const LinkStats& s = link->stats;
    text += link->spec.name + " connections=" + std::to_string(s.connections) +
            " open=" + std::to_string(s.open) +
            " bytes_forward=" + std::to_string(s.bytes_forward) +
            " bytes_back=" + std::to_string(s.bytes_back) + "\n";
  }
  std::string temporary = path + ".tmp";
  std::ofstream(temporary) << text;
  std::rename(temporary.c_str(), path.c_str());
}

void stats_loop(asio::steady_timer& timer, const std::vector<std::unique_ptr<Link>>& links,
                const std::string& path) {
  write_stats(links, path);
  timer.expires_after(kStatsInterval);
  timer.async_wait([&timer, &links, &path](const boost::system::error_code& error) {
    if (!error) stats_loop(timer, links, path);
  });
}

// The links without a delay of their own take the delay in `path`.
void reload_delay(const std::vector<std::unique_ptr<Link>>& links, const std::string& path) {
  std::ifstream file(path);
  std::string text((std::istreambuf_iterator<char>(file)), {});
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  int64_t delay_ms = 0;
  try {
    delay_ms = parse_number(text, 0, 600'000, "the delay in " + path);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "aethel_delay_proxy: SIGHUP: %s; delay unchanged\n",
                 error.message.c_str());
    return;
  }
  for (const auto& link : links) {
    if (!link->spec.delay_ms) link->delay = milliseconds(delay_ms);
  }
  std::fprintf(stderr, "aethel_delay_proxy: delay now %lld ms\n", static_cast<long long>(delay_ms));
}

void reload_on_hangup(asio::signal_set& signals, const std::vector<std::unique_ptr<Link>>& links,
                      const std::string& path) {
  signals.async_wait([&signals, &links, &path](const boost::system::error_code& error, int) {
    if (error) return;
    reload_delay(links, path);
    reload_on_hangup(signals, links, path);
  });
}

void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::vector<std::unique_ptr<Link>> open_links(asio::io_context& io, const Options& options) {
  std::vector<std::unique_ptr<Link>> links;
  for (const LinkSpec& spec : options.links) {
    auto link = std::make_unique<Link>();
    link->spec = spec;
    link->delay = milliseconds(spec.delay_ms.value_or(*options.delay_ms));
    link->max_queued_bytes = options.max_queued_bytes;
    link->listen_netns = Netns::open(spec.listen_netns);
    link->target_netns = Netns::open(spec.target_netns);
    open_link(io, *link);
    auto local = link->acceptor->local_endpoint();
    std::printf("link %s %s:%u -> %s:%u delay_ms=%lld\n", spec.name.c_str(),
                local.address().to_string().c_str(), local.port(), spec.target_host.c_str(),
                spec.target_port, static_cast<long long>(link->delay.count()));
    links.push_back(std::move(link));
  }
  return links;
}

int run(const Options& options) {
  raise_descriptor_limit();
  asio::io_context io(1);
  std::vector<std::unique_ptr<Link>> links;
  try {
    links = open_links(io, options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "aethel_delay_proxy: %s\n", error.what());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const boost::system::error_code&, int) { io.stop(); });
  asio::signal_set reload(io, SIGHUP);
  if (!options.delay_file.empty()) reload_on_hangup(reload, links, options.delay_file);
  asio::steady_timer stats_timer(io);
  stats_loop(stats_timer, links, options.stats_file);
  io.run();
  write_stats(links, options.stats_file);
  return 0;
}

constexpr const char* kUsage =
    "usage: aethel_delay_proxy --delay-ms D [--stats-file FILE] [--max-queued-mib M]\n"
    "                          [--delay-file FILE (read on SIGHUP)]\n"
    "                          --link [LISTEN_HOST:]LISTEN_PORT:TARGET_HOST:TARGET_PORT"
    "[,name=N][,delay-ms=D][,listen-netns=PATH][,target-netns=PATH] ...\n";

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const UsageError& error) {
    if (!error.message.empty())
      std::fprintf(stderr, "aethel_delay_proxy: %s\n", error.message.c_str());
    std::fprintf(stderr, "%s", kUsage);
    return error.message.empty() ? 0 : 2;
  }
  return run(options);
}
