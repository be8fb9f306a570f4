// The WAN harness for tests (issue 10): a local 3-node lattice whose every P2P and
// HTTP link goes through aethel_delay_proxy with a chosen one-way delay.
//
// How nothing can go around the proxies: each node runs in a network namespace of its
// own that has nothing but a loopback interface. Node i listens on 127.0.0.1:800i
// (HTTP) and 127.0.0.1:900i (P2P) inside its namespace, and every node knows node j
// by one address, http://127.0.0.1:800j and /ip4/127.0.0.1/tcp/900j, as the guide's
// hosts know each other by one public address each. Inside node i's namespace those
// addresses of j are listened on by the proxy, which connects to them inside j's
// namespace: every directed pair (i → j) has its own links, and whatever a node learns
// about another (a hello's url, identify's listen addresses, AETHEL_PUBLIC_URL) leads
// through the proxy, because no other path between the namespaces exists. The test
// process reaches node i through a link without delay (`client-i`) from its own
// namespace.
//
// Needs root (or CAP_SYS_ADMIN) to create namespaces: WanLattice::unavailable()
// says why not, and tests skip then.
#pragma once

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "delay_proxy_process.h"
#include "node/lattice_fixture.h"

namespace aethel::test {

// --- network namespaces ---------------------------------------------------------

// An anonymous network namespace with its loopback up, kept alive by a descriptor.
class Netns {
 public:
  // Nullptr and `why_not` when this process may not create one.
  static std::unique_ptr<Netns> create(std::string& why_not) {
    int fd = -1;
    std::thread([&] {
      if (unshare(CLONE_NEWNET) != 0) {
        why_not = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
        return;
      }
      if (!loopback_up(why_not)) return;
      fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      if (fd < 0) why_not = "cannot open /proc/thread-self/ns/net";
    }).join();  // the thread ends inside the namespace; the process stays where it was
    if (fd < 0) return nullptr;
    return std::unique_ptr<Netns>(new Netns(fd));
  }
  ~Netns() { ::close(fd_); }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  int fd() const { return fd_; }
  // A path other processes (the proxy) can open to enter it.
  std::string path() const { return fmt::format("/proc/{}/fd/{}", getpid(), fd_); }

 private:
  explicit Netns(int fd) : fd_(fd) {}
  static bool loopback_up(std::string& why_not) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    bool ok = s >= 0 && ioctl(s, SIOCGIFFLAGS, &request) == 0;
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP | IFF_RUNNING);
    ok = ok && ioctl(s, SIOCSIFFLAGS, &request) == 0;
    if (!ok) why_not = std::string("cannot bring up lo: ") + std::strerror(errno);
    if (s >= 0) ::close(s);
    return ok;
  }
  int fd_;
};

// --- the nodes --------------------------------------------------------------------

// `aethel node` inside a namespace; the test reaches it at `client_endpoint`.
class WanNode {
 public:
  WanNode(std::filesystem::path root, const Netns& netns) : root_(std::move(root)), netns_(netns) {}
  ~WanNode() { kill_hard(); }

  void set_client_endpoint(http::Url endpoint) { endpoint_ = std::move(endpoint); }
  const http::Url& endpoint() const { return endpoint_; }
  const std::filesystem::path& root() const { return root_; }
  bool running() const { return pid_ > 0; }

  void start(std::vector<std::string> env) {
    env.push_back("AETHEL_DATA_DIR=" + (root_ / "data").string());
    env.push_back("AETHEL_LOG_DIR=" + (root_ / "logs").string());
    env.push_back("PATH=/usr/bin:/bin");
    std::string output = (root_ / "output.log").string();
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives a crashed test
      if (setns(netns_.fd(), CLONE_NEWNET) != 0 || chdir(root_.c_str()) != 0) _exit(126);
      int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(out, 1);
      dup2(out, 2);
      std::vector<char*> envp;
      for (std::string& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      char binary[] = AETHEL_BINARY;
      char command[] = "node";
      char* argv[] = {binary, command, nullptr};
      execve(binary, argv, envp.data());
      _exit(127);
    }
    wait_ready();
  }

  // Polls /health (through the client link) until 200; fails if the child exits.
  void wait_ready() {
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "the node exited during start-up; output: " << output();
      }
      auto reply = http::call(endpoint_, "GET", "/health", {}, http::with_timeout_ms(1000));
      if (reply.ok() && reply.value().status == 200) return;
      std::this_thread::sleep_for(milliseconds(20));  // poll interval
    }
    FAIL() << "the node did not become ready in 30 s; output: " << output();
  }

  void kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string output() const {
    std::ifstream file(root_ / "output.log");
    return std::string(std::istreambuf_iterator<char>(file), {});
  }

  NodeProcess::Reply post(std::string_view target, const json::value& body,
                          const http::Headers& headers = {}) const {
    auto reply = http::call(endpoint_, "POST", target, json::serialize(body),
                            http::with_timeout_ms(30'000), headers);
    EXPECT_TRUE(reply.ok()) << (reply.ok() ? "" : reply.error().message);
    if (!reply.ok()) return {};
    json::error_code ec;
    json::value parsed = json::parse(reply.value().body, ec);
    EXPECT_FALSE(ec) << "not JSON: " << reply.value().body;
    return NodeProcess::Reply{reply.value().status, parsed,
                              std::string(reply.value().header("Allow"))};
  }

 private:
  std::filesystem::path root_;
  const Netns& netns_;
  http::Url endpoint_;
  pid_t pid_ = -1;
};

// --- the lattice ------------------------------------------------------------------

struct WanOptions {
  int64_t delay_ms = 50;  // one way, on every link between nodes
  int heartbeat_interval_s = 1;
  int peerless_timeout_s = 60;
  int http_poll_interval_s = 1;
  // Nodes after the kNodes genesis validators, started with AETHEL_JOIN=url(0) (not
  // by start_all): every link to and from them is delayed too.
  int joiners = 0;
};

class WanLattice {
 public:
  static constexpr int kNodes = 3;

  // Empty when namespaces can be made here; otherwise why not (tests skip).
  static std::string unavailable() {
    std::string why_not;
    return Netns::create(why_not) ? "" : why_not;
  }

  // Node i listens on these inside its namespace; every node reaches node i there.
  static uint16_t api_port(int i) { return static_cast<uint16_t>(8001 + i); }
  static uint16_t p2p_port(int i) { return static_cast<uint16_t>(9001 + i); }
  static std::string url(int i) { return fmt::format("http://127.0.0.1:{}", api_port(i)); }
  // The proxy's names for the links: "p2p-1-2" carries node 1's dials of node 2.
  static std::string link_name(std::string_view kind, int from, int to) {
    return fmt::format("{}-{}-{}", kind, from + 1, to + 1);
  }

  explicit WanLattice(WanOptions options = {}) : options_(options), dir_(make_temp_dir("wan")) {
    for (int i = 0; i < size(); ++i) {
      std::string why_not;
      namespaces_.push_back(Netns::create(why_not));
      if (!namespaces_.back()) throw std::runtime_error("no network namespace: " + why_not);
      auto root = dir_ / ("node" + std::to_string(i + 1));
      std::filesystem::create_directories(root / "data");
      auto key = p2p::load_or_create_key((root / "data" / "node.key").string());
      peer_ids_.push_back(p2p::PeerId::from_public_key(key.value().public_key()).to_base58());
      nodes_.push_back(std::make_unique<WanNode>(root, *namespaces_.back()));
    }
    proxy_ = std::make_unique<DelayProxy>(dir_, options_.delay_ms, proxy_links());
    for (int i = 0; i < size(); ++i) {
      nodes_[i]->set_client_endpoint(
          http::Url{false, "127.0.0.1", proxy_->port(fmt::format("client-{}", i + 1)), ""});
    }
  }
  ~WanLattice() {
    nodes_.clear();
    proxy_.reset();
    std::filesystem::remove_all(dir_);
  }

  const WanOptions& options() const { return options_; }
  int size() const { return kNodes + options_.joiners; }
  WanNode& node(int i) { return *nodes_[i]; }
  DelayProxy& proxy() { return *proxy_; }
  const std::string& peer_id(int i) const { return peer_ids_[i]; }

  // `extra` entries ("NAME=value") win over the lattice settings.
  void start(int i, std::vector<std::string> extra = {}) {
    std::vector<std::string> env = std::move(extra);
    for (std::string& entry : node_env(i)) {
      std::string name = entry.substr(0, entry.find('=') + 1);
      bool overridden = std::any_of(env.begin(), env.end(),
                                    [&](const std::string& e) { return e.starts_with(name); });
      if (!overridden) env.push_back(std::move(entry));
    }
    node(i).start(env);
  }
  void start_all(const std::vector<std::string>& extra = {}) {
    for (int i = 0; i < kNodes; ++i) start(i, extra);
  }

  std::optional<json::object> get(int i, std::string_view target) {
    return get_json(node(i).endpoint(), target);
  }
  std::optional<json::object> p2p_status(int i) { return get(i, "/api/lattice/p2p/status"); }
  std::optional<Head> head(int i) {
    auto state = get(i, "/api/lattice/state?limit=0&consistency=stale");
    if (!state) return std::nullopt;
    return Head{u64(state->at("height")), std::string(state->at("merkle_root").as_string())};
  }
  std::string role(int i) {
    auto root = get(i, "/");
    return root ? std::string(root->at("role").as_string()) : "";
  }
  int leader() {
    for (int i = 0; i < size(); ++i) {
      if (node(i).running() && role(i) == "leader") return i;
    }
    return -1;
  }
  // Every node reports the same height and root.
  bool converged() {
    std::optional<Head> first;
    for (int i = 0; i < kNodes; ++i) {
      auto h = head(i);
      if (!h || (first && *h != *first)) return false;
      first = h;
    }
    return true;
  }

 private:
  std::vector<std::string> proxy_links() const {
    std::vector<std::string> links;
    auto link = [&](std::string name, uint16_t listen, int from, int to, const char* extra) {
      links.push_back(fmt::format("{}:127.0.0.1:{},name={},listen-netns={},target-netns={}{}",
                                  listen, listen, name, namespaces_[from]->path(),
                                  namespaces_[to]->path(), extra));
    };
    for (int i = 0; i < size(); ++i) {
      for (int j = 0; j < size(); ++j) {
        if (i == j) continue;
        link(link_name("http", i, j), api_port(j), i, j, "");
        link(link_name("p2p", i, j), p2p_port(j), i, j, "");
      }
      // The test's own way in: from this process's namespace, no delay, any free port.
      links.push_back(fmt::format("0:127.0.0.1:{},name=client-{},target-netns={},delay-ms=0",
                                  api_port(i), i + 1, namespaces_[i]->path()));
    }
    return links;
  }

  std::vector<std::string> node_env(int i) const {
    std::vector<std::string> common = {
        "AETHEL_NODE_NAME=node-" + std::to_string(i + 1),
        "AETHEL_API_HOST=127.0.0.1",
        "AETHEL_API_PORT=" + std::to_string(api_port(i)),
        "AETHEL_PUBLIC_URL=" + url(i),
        fmt::format("AETHEL_P2P_LISTEN=/ip4/127.0.0.1/tcp/{}", p2p_port(i)),
        fmt::format("AETHEL_HEARTBEAT_INTERVAL={}", options_.heartbeat_interval_s),
        fmt::format("AETHEL_PEERLESS_TIMEOUT={}", options_.peerless_timeout_s),
        fmt::format("AETHEL_HTTP_POLL_INTERVAL={}", options_.http_poll_interval_s),
    };
    if (i >= kNodes) {
      common.push_back("AETHEL_JOIN=" + url(0));
      return common;
    }
    std::string bootstrap, lattice_nodes, validators;
    for (int j = 0; j < kNodes; ++j) {
      validators += (j ? "," : "") + peer_ids_[j];
      if (j == i) continue;
      std::string comma = bootstrap.empty() ? "" : ",";
      bootstrap += comma + fmt::format("/ip4/127.0.0.1/tcp/{}/p2p/{}", p2p_port(j), peer_ids_[j]);
      lattice_nodes += comma + url(j);
    }
    common.push_back("AETHEL_P2P_BOOTSTRAP=" + bootstrap);
    common.push_back("AETHEL_VALIDATORS=" + validators);
    common.push_back("AETHEL_LATTICE_NODES=" + lattice_nodes);
    return common;
  }

  WanOptions options_;
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<Netns>> namespaces_;
  std::vector<std::string> peer_ids_;
  std::unique_ptr<DelayProxy> proxy_;
  std::vector<std::unique_ptr<WanNode>> nodes_;
};

}  // namespace aethel::test
