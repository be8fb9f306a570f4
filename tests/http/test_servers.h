// Servers for the http tests: TestHandler behind a real http::Server (plain or TLS),
// a ScriptedServer on raw sockets that misbehaves on purpose, and a raw client for
// framings the http client never produces (chunked uploads, Expect: 100-continue).
#pragma once

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "http/http.h"
#include "raw_socket.h"

namespace aethel::test {

using namespace std::chrono_literals;

inline std::filesystem::path make_temp_dir(const std::string& tag) {
  std::random_device seed;
  auto dir = std::filesystem::temp_directory_path() /
             ("aethel-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(seed()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Routes by path:
//   /later...  held until release_all() (answered from the test's thread)
//   /drop      the responder is dropped unanswered
//   /throw     handle() throws
//   /big?N     a body of N bytes
//   anything   echo: the body back, with X-Method, X-Target and X-Host headers
class TestHandler : public http::Handler {
 public:
  explicit TestHandler(uint64_t body_limit = 64 * 1024) : body_limit_(body_limit) {}

  uint64_t body_limit(const http::Request&) const override { return body_limit_; }

  void handle(http::Request request, http::Responder responder) override {
    std::string_view target = request.target;
    if (target.starts_with("/later")) return hold(std::move(responder));
    if (target == "/drop") return;
    if (target == "/throw") throw std::runtime_error("the route failed");
    if (target.starts_with("/big?")) {
      size_t bytes = std::stoul(std::string(target.substr(5)));
      return responder.send(http::Response{200, std::string(bytes, 'x'), "text/plain", {}});
    }
    http::Response echo{200, request.body, "text/plain", {}};
    echo.headers = {{"X-Method", request.method},
                    {"X-Target", request.target},
                    {"X-Host", std::string(request.header("Host"))}};
    responder.send(std::move(echo));
  }

  http::Response error(unsigned status, std::string_view code,
                       std::string_view message) const override {
    return http::Response{status, fmt::format("{}: {}", code, message), "text/plain", {}};
  }

  // Waits until `count` requests are held at once; false after `timeout`.
  bool wait_held(size_t count, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return held_.size() >= count; });
  }
  // Answers every held request with 200 "released".
  void release_all() {
    std::vector<http::Responder> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (auto& responder : held) responder.send(http::Response{200, "released", "text/plain", {}});
  }
  size_t max_held() {
    std::lock_guard lock(mutex_);
    return max_held_;
  }

 private:
  void hold(http::Responder responder) {
    std::lock_guard lock(mutex_);
    held_.push_back(std::move(responder));
    max_held_ = std::max(max_held_, held_.size());
    changed_.notify_all();
  }

  uint64_t body_limit_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<http::Responder> held_;
  size_t max_held_ = 0;
};

inline std::unique_ptr<http::Server> start_server(http::Handler& handler,
                                                  std::optional<http::ServerTls> tls = {},
                                                  unsigned io_threads = 2) {
  http::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.io_threads = io_threads;
  options.tls = std::move(tls);
  auto server = http::Server::start(options, handler);
  EXPECT_TRUE(server.ok()) << (server.ok() ? "" : server.error().message);
  return server.ok() ? std::move(server).value() : nullptr;
}

inline http::Url url_of(uint16_t port, bool tls = false, std::string host = "127.0.0.1") {
  return http::Url{tls, std::move(host), port, ""};
}

// One connection at a time on 127.0.0.1, each given to `script` (the socket is
// closed when it returns). Counts connections.
class ScriptedServer {
 public:
  using Script = std::function<void(int fd, int connection_number)>;
  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    listen(listener_, 16);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    shutdown(listener_, SHUT_RDWR);
    int current = current_.load();
    if (current >= 0) shutdown(current, SHUT_RDWR);  // a script blocked in a read returns
    close(listener_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  void run() {
    while (!stopping_) {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      int number = ++connections_;
      current_ = fd;
      script_(fd, number);
      current_ = -1;
      close(fd);
    }
  }

  Script script_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> current_{-1};
  std::thread thread_;
};

inline const std::string kOkKeepAlive = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
inline const std::string kOkClose =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

}  // namespace aethel::test
