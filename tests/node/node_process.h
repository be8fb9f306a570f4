// Runs the real `aethel node` binary as a child process on a free loopback port
// with its own temporary data directory, and speaks HTTP to it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/http.h"

namespace aethel::test {

namespace json = boost::json;

// JSON integers parse as int64 when they fit; this reads either as unsigned.
inline uint64_t u64(const json::value& v) {
  return json::value_to<uint64_t>(v);
}

// The first port of the kernel's ephemeral range (outgoing connections take their
// local port from it).
inline uint16_t first_ephemeral_port() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned first = 0;
  return range >> first && first > 11000 && first <= 65535 ? static_cast<uint16_t>(first)
                                                           : uint16_t{32768};
}

inline bool can_bind_loopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  bool free = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return free;
}

// A free loopback port below the ephemeral range. A port from inside it can be taken
// by any outgoing connection (a node dialing its peers) between the test choosing it
// and the node listening on it: CI failed that way. Each test process walks from a
// random start, so parallel tests rarely meet, and skips ports already bound.
inline uint16_t free_loopback_port() {
  static const uint16_t first = 10000, end = first_ephemeral_port();
  static std::atomic<uint32_t> next{std::random_device{}()};
  for (int attempt = 0; attempt < end - first; ++attempt) {
    auto port = static_cast<uint16_t>(first + next.fetch_add(1) % (end - first));
    if (can_bind_loopback(port)) return port;
  }
  ADD_FAILURE() << "no free loopback port below " << end;
  return 0;
}

inline std::filesystem::path make_temp_dir(const std::string& tag) {
  std::random_device seed;
  auto dir = std::filesystem::temp_directory_path() /
             ("aethel-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(seed()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Field `index` (1-based, as proc(5) numbers them) of a /proc/.../stat file.
inline std::string stat_field(const std::filesystem::path& stat, int index) {
  std::ifstream file(stat);
  std::string text((std::istreambuf_iterator<char>(file)), {});
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; fields >> field; ++i) {
    if (i == index) return field;
  }
  return "";
}

// The /proc directories of the process's threads.
inline std::vector<std::filesystem::path> thread_dirs(pid_t pid) {
  std::vector<std::filesystem::path> dirs;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    dirs.push_back(task.path());
  }
  return dirs;
}

// CPU seconds (user + system) the process has used, from /proc/<pid>/stat.
inline double cpu_seconds(pid_t pid) {
  const std::filesystem::path stat = "/proc/" + std::to_string(pid) + "/stat";
  const double ticks = std::stod(stat_field(stat, 14)) + std::stod(stat_field(stat, 15));
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

class NodeProcess {
 public:
  // `root` holds data/, logs/ and the child's output; the same root restarts the
  // same node (same key, same ledger).
  explicit NodeProcess(std::filesystem::path root, uint16_t port = free_loopback_port())
      : root_(std::move(root)), port_(port) {}
  ~NodeProcess() {
    if (pid_ > 0) kill_hard();
  }

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // https:// once use_https() was called.
  http::Url url() const { return http::Url{https_, https_ ? "localhost" : "127.0.0.1", port_, ""}; }
  // The node serves HTTPS (its env sets AETHEL_TLS_CERT_FILE and _KEY_FILE): this
  // process reaches it as https://localhost:PORT, trusting `ca_file`.
  void use_https(std::string ca_file) {
    https_ = true;
    client_.trust.ca_file = std::move(ca_file);
  }
  http::ClientOptions client(uint32_t timeout_ms) const {
    http::ClientOptions options = client_;
    options.timeout_ms = timeout_ms;
    return options;
  }
  const std::filesystem::path& root() const { return root_; }

  // `extra_env` entries ("NAME=value") override the defaults below.
  void start(std::vector<std::string> extra_env = {}) {
    std::vector<std::string> defaults = {
        "AETHEL_DATA_DIR=" + (root_ / "data").string(),
        "AETHEL_LOG_DIR=" + (root_ / "logs").string(),
        "AETHEL_API_HOST=127.0.0.1",
        "AETHEL_API_PORT=" + std::to_string(port_),
        "AETHEL_NODE_NAME=test-node",
        "AETHEL_P2P_LISTEN=/ip4/127.0.0.1/tcp/0",
        "PATH=/usr/bin:/bin",
    };
    std::vector<std::string> env = std::move(extra_env);
    for (std::string& d : defaults) {
      std::string name = d.substr(0, d.find('=') + 1);
      bool overridden = std::any_of(env.begin(), env.end(),
                                    [&](const std::string& e) { return e.starts_with(name); });
      if (!overridden) env.push_back(std::move(d));
    }
    std::string output = (root_ / "output.log").string();
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      if (chdir(root_.c_str()) != 0) _exit(126);
      int out = open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
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

  // Polls /health until it answers 200; fails if the child exits or 30 s pass.
  void wait_ready() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "the node exited during start-up; output: " << output();
      }
      auto reply = http::call(url(), "GET", "/health", {}, client(1'000));
      if (reply.ok() && reply.value().status == 200) return;
      // A certificate this process cannot verify (a test of refusals): it says so.
      if (!reply.ok() && reply.error().code == "tls_certificate") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
    }
    FAIL() << "the node did not become ready in 30 s; output: " << output();
  }

  void kill_hard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // SIGSTOP / SIGCONT: a process that stops answering without closing anything.
  void pause() const { ::kill(pid_, SIGSTOP); }
  void resume() const { ::kill(pid_, SIGCONT); }
  bool running() const { return pid_ > 0; }

  // SIGTERM and wait: the exit status (0 for a clean stop).
  int stop() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string output() const {
    std::ifstream file(root_ / "output.log");
    return std::string(std::istreambuf_iterator<char>(file), {});
  }

  // One exchange; the reply's body parsed as JSON (null when it is not JSON).
  struct Reply {
    unsigned status = 0;
    json::value body;
    std::string allow;
  };
  Reply call(std::string_view method, std::string_view target, std::string_view body = {},
             const http::Headers& headers = {}) const {
    auto reply = http::call(url(), method, target, body, client(30'000), headers);
    EXPECT_TRUE(reply.ok()) << (reply.ok() ? "" : reply.error().message);
    if (!reply.ok()) return {};
    json::error_code ec;
    json::value parsed = json::parse(reply.value().body, ec);
    EXPECT_FALSE(ec) << "not JSON: " << reply.value().body;
    return Reply{reply.value().status, parsed, std::string(reply.value().header("Allow"))};
  }
  Reply get(std::string_view target) const { return call("GET", target); }

  // The admin token the node wrote to <data>/admin.token at start (SPEC §9); empty
  // when there is none (AETHEL_ADMIN_TOKEN set, or not started yet).
  std::string admin_token() const {
    std::ifstream file(root_ / "data" / "admin.token");
    std::string token;
    file >> token;
    return token;
  }
  // POST to an admin route with that token.
  Reply admin_post(std::string_view target) const {
    return call("POST", target, {}, {{"Authorization", "Bearer " + admin_token()}});
  }
  Reply post(std::string_view target, const json::value& body) const {
    return call("POST", target, json::serialize(body));
  }

 private:
  std::filesystem::path root_;
  uint16_t port_;
  pid_t pid_ = -1;
  bool https_ = false;
  http::ClientOptions client_;
};

}  // namespace aethel::test
