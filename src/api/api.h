// The node's HTTP API (SPEC §4): a router that turns a request into a JSON
// response, an HTTP/1.1 server (Boost.Beast, C++20 coroutines, keep-alive) that
// feeds it, and a minimal blocking client for the CLI and tests.
//
// Routes, bodies, status codes and the signed-state bytes: docs/API.md.
//
// Threads: the server runs its sockets on `io_threads` event-loop threads. Cheap
// reads are answered on the loop; anything that verifies (Z3) or waits for a commit
// runs on a worker pool, so the loop never blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api/lattice.h"
#include "node/node.h"

namespace aethel::metrics {
class Metrics;
}

namespace aethel::api {

using ledger::Error;
using ledger::Result;

inline constexpr std::string_view kProductName = "Aethel Lattice";
inline constexpr std::string_view kVersion = "0.1.0";

// Pages of /api/lattice/state and /api/lattice/blocks are clamped to these.
inline constexpr size_t kMaxStatePageAccounts = 10'000;
inline constexpr uint32_t kMaxBlocksPerPage = 1'000;
inline constexpr uint64_t kMaxBlocksPageBytes = 8ull << 20;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string body;
  std::string authorization;     // the Authorization header, if any
  SignedHeaders signed_headers;  // X-Aethel-* of node-to-node requests
  bool from_loopback = false;    // the peer address is 127.0.0.0/8 or ::1
};

struct Response {
  unsigned status = 200;
  std::string body;   // JSON, except for the dashboard's files
  std::string allow;  // set on 405: the methods the route accepts
  std::string content_type = "application/json";
};

// The JSON error of SPEC §4: {"success": false, "error": {"code", "message"}}.
Response error_response(unsigned status, std::string_view code, std::string_view message);

struct RouterOptions {
  std::string node_name;
  Lattice* lattice = nullptr;  // null: the lattice routes answer 503
  std::optional<std::string> admin_token;
  // When set: GET /metrics renders it, and every request handled is counted and
  // timed in it by route template.
  metrics::Metrics* metrics = nullptr;
};

// Maps requests to the node. Stateless apart from the node it reads and writes;
// safe to call from many threads at once.
class Router {
 public:
  Router(node::Node& node, RouterOptions options);

  // True when the request may take long (SMT verification, waiting for a commit)
  // and must run on the worker pool.
  bool is_blocking(const Request& request) const;
  // Never throws: any failure becomes a JSON error response.
  Response handle(const Request& request) const;

 private:
  // handle() without the metrics; `route` is set to the route template matched
  // ("/api/lattice/tx/{id}"), or "not_found", "bad_target", "/dashboard".
  Response dispatch(const Request& request, std::string_view& route) const;
  Response metrics_page() const;

  node::Node& node_;
  RouterOptions options_;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: any free port (see Server::port)
  uint64_t max_body_bytes = 4 << 20;
  // POST /api/lattice/internal/messages (signed; checked after the body is read): a
  // consensus snapshot for a far-behind follower travels in one message.
  uint64_t max_internal_body_bytes = (64ull << 20) + 4096;
  uint32_t max_header_bytes = 16 * 1024;
  // A connection must deliver a whole request (or, when idle between keep-alive
  // requests, start one) within this time; then it is closed.
  uint32_t request_timeout_ms = 30'000;
  unsigned io_threads = 2;
  unsigned worker_threads = 32;
};

class Server {
 public:
  // Binds and listens; Error "listen_failed" names the address and the reason.
  static Result<std::unique_ptr<Server>> start(const ServerOptions& options, const Router& router);
  ~Server();  // stops and joins every thread
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  // Stops accepting and serving at once; run() returns. Safe from any thread.
  void stop();
  // Stops gracefully: closes the listening socket, lets every request already
  // being processed finish and answer (with Connection: close), closes idle
  // keep-alive connections, and after grace_ms cuts what is left. Returns when
  // every thread has stopped; requests still running on a worker (waiting for a
  // commit) are waited for, which the node's commit timeout bounds.
  void shutdown(uint32_t grace_ms);
  // Blocks until stop().
  void wait();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

struct HttpReply {
  unsigned status = 0;
  std::string body;
  std::string allow;  // the Allow header, if any
};

// "http://host:port" (an optional trailing path is ignored) → host and port.
struct Endpoint {
  std::string host;
  uint16_t port = 80;
};
Result<Endpoint> parse_base_url(std::string_view url);

// One blocking HTTP/1.1 exchange on a fresh connection (Connection: close).
Result<HttpReply> http_call(const Endpoint& endpoint, std::string_view method,
                            std::string_view target, std::string_view body = {},
                            uint32_t timeout_ms = 30'000);

// A kept-alive connection for many exchanges (benchmarks, tests). Not thread safe.
class HttpConnection {
 public:
  static Result<std::unique_ptr<HttpConnection>> open(const Endpoint& endpoint,
                                                      uint32_t timeout_ms = 30'000);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  // `extra_headers`: complete "Name: value\r\n" lines.
  Result<HttpReply> call(std::string_view method, std::string_view target,
                         std::string_view body = {}, std::string_view extra_headers = {});

 private:
  explicit HttpConnection(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace aethel::api
