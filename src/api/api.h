// The node's HTTP API (SPEC §4): the Router turns requests into JSON answers for
// the HTTP server of src/http (http::Server), which calls it on its io threads.
//
// Routes, bodies, status codes and the signed-state bytes: docs/API.md.
//
// Where requests run, so that waiting never holds what consensus needs:
//   - reads, status routes and the node-to-node route are answered on the io thread
//     that read them (they take microseconds; Node::receive only queues);
//   - writes are parsed there and submitted with Node::submit_async; the answer is
//     rendered on the io thread when the commit callback fires. No thread waits for
//     a commit, so any number of writes may wait (up to max_pending_writes);
//   - verification of definitions (Z3, seconds of CPU) runs on a fixed verifier
//     pool with a bounded queue; when it is full the answer is 429 "overloaded"
//     with Retry-After;
//   - routes that wait for other nodes (the network fan-out) and the admin P2P
//     switches run on a small pool of their own, also bounded.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/http.h"
#include "lattice/lattice.h"
#include "node/node.h"

namespace aethel::metrics {
class Metrics;
}

namespace aethel::api {

class WorkPool;
class Events;

using ledger::Error;
using ledger::Result;
using Request = http::Request;
using Response = http::Response;

inline constexpr std::string_view kProductName = "Aethel Lattice";
inline constexpr std::string_view kVersion = "0.1.0";

// Pages of /api/lattice/state and /api/lattice/blocks are clamped to these.
inline constexpr size_t kMaxStatePageAccounts = 10'000;
inline constexpr uint32_t kMaxBlocksPerPage = 1'000;
inline constexpr uint64_t kMaxBlocksPageBytes = 8ull << 20;
// Retry-After of a 429 "overloaded", in seconds.
inline constexpr uint32_t kOverloadedRetryAfter_s = 1;

// AETHEL_SOLVER_BUDGET_MS by default: a few of the 3 s queries of one hard definition,
// so a request holds a verifier thread for seconds, never minutes.
constexpr unsigned kDefaultSolverBudgetMs = 10'000;

// AETHEL_RATE_LIMIT_WRITES_PER_S by default: above the 3,242 verify/s measured from
// one address (BENCHMARKS.md), so only a flood meets it.
inline constexpr uint32_t kDefaultWriteRatePerS = 10'000;

// Connections kept past AETHEL_MAX_CONNECTIONS for other validators' signed requests
// (http::ServerOptions::reserved_connections): the HTTP lung sends at most 4 requests
// at once per peer, so 64 serve 16 peers however many public connections are open.
inline constexpr size_t kValidatorConnections = 64;

// The JSON error of SPEC §4: {"success": false, "error": {"code", "message"}}.
Response error_response(unsigned status, std::string_view code, std::string_view message);

struct RouterOptions {
  std::string node_name;
  lattice::Lattice* lattice = nullptr;  // null: the lattice routes answer 503
  // AETHEL_TLS_CA_FILE, for the network fan-out to https:// nodes.
  std::string tls_ca_file;
  std::optional<std::string> admin_token;
  // When set: GET /metrics renders it, and every request handled is counted and
  // timed in it by route template. Must outlive every request (and the node).
  metrics::Metrics* metrics = nullptr;
  // AETHEL_MAX_BODY_BYTES: the largest request body, however it is framed.
  uint64_t max_body_bytes = 4 << 20;
  // AETHEL_MAX_CONNECTIONS as the server applies it (named in its refusals).
  size_t max_connections = 0;
  // GET /api/lattice/genesis: ledger::genesis_to_json of the lattice's genesis.
  std::string genesis_json;
  // POST /api/lattice/internal/messages is authenticated from its signed headers
  // before its body is read; its bodies stay within max_body_bytes too (the lattice
  // fragments larger envelopes).
  // Z3 verification of definitions: this many threads (0: one less than the
  // cores, at least 1, leaving a core to the io loop and consensus) and at most
  // this many requests waiting for one.
  unsigned verifier_threads = 0;
  size_t verifier_queue = 16;
  // Routes that wait on other nodes or on the P2P host.
  unsigned blocking_threads = 4;
  size_t blocking_queue = 32;
  // Writes submitted and not answered yet, at most; beyond: 429 "overloaded".
  size_t max_pending_writes = 4096;
  // GET /api/lattice/events streams from it (null: that route answers 503). Must
  // outlive the router; the router attaches its node and lattice to it while it lives.
  Events* events = nullptr;
  // AETHEL_RATE_LIMIT_WRITES_PER_S: public writes (POST /api/verify and
  // /api/lattice/transactions) per second per client address; beyond: 429
  // "rate_limited" with Retry-After. 0: unlimited. The node-to-node route is exempt.
  uint32_t write_rate_per_s = kDefaultWriteRatePerS;
  // AETHEL_TRUSTED_PROXIES (canonical IP texts): a request from one of them is from
  // the client its X-Forwarded-For names (rate limits, records, logs).
  std::vector<std::string> trusted_proxies;
  // AETHEL_SOLVER_BUDGET_MS: wall-clock bound on the definitions of one /api/verify
  // request (lang::VerifyLimits::request_budget_ms).
  unsigned solver_budget_ms = kDefaultSolverBudgetMs;
};

// ---------------------------------------------------------------------------
// Live events: GET /api/lattice/events (events.cpp, docs/API.md)
// ---------------------------------------------------------------------------

struct EventsOptions {
  // Streams open at once; beyond, the route answers 503 "too_many_streams".
  size_t max_clients = 256;
  // Bytes queued for one client and not yet written to its socket; an event that
  // would go over evicts the client (its stream is cut; it reconnects and starts
  // again from a hello). At a few hundred bytes per event that is about a thousand
  // events behind.
  size_t max_client_buffer_bytes = 256 * 1024;
  // A comment line this often: proxies keep the stream, gone clients are noticed.
  uint32_t keepalive_ms = 15'000;
  // How often the lattice's published status is read for mode and link changes.
  uint32_t poll_ms = 100;
  // Events from the node's hooks waiting for the events thread, at most; beyond,
  // they are dropped and every client gets a "lost" event saying how many.
  size_t max_pending_events = 8192;
  // When set: aethel_events_clients and aethel_events_evictions_total.
  metrics::Metrics* metrics = nullptr;
};

// Server-sent events of one node (SPEC §7): "hello" (a snapshot, first on every
// stream), "commit", "role", "mode", "link", "lost". One thread fans them out; the
// node's hooks only queue. Thread-safe.
class Events {
 public:
  explicit Events(EventsOptions options = {});
  // Ends every stream and joins the thread.
  ~Events();
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;

  // The node's hooks (consensus thread): queue an event, never block.
  void block_applied(const node::AppliedBlock& block);
  void role_changed(const node::ConsensusStatus& status);

  // What hellos are made of and whose lattice status is watched. The Router attaches
  // in its constructor and detaches in its destructor; detach() returns once the
  // events thread no longer uses them, and ends every stream.
  void attach(const node::Node* node, const lattice::Lattice* lattice, std::string node_name);
  void detach();

  // Answers GET /api/lattice/events: a text/event-stream that starts with a hello,
  // or 503 ("not_ready", "too_many_streams"). `headers` go on the answer's head.
  // Returns the status it answered with.
  unsigned subscribe(http::Responder responder, http::Headers headers);
  // Streams open now.
  size_t clients() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;  // shared with the streams' end callbacks
};

// GET /api/openapi.json: the OpenAPI 3.1 description of every public route
// (src/api/openapi.json, compiled in).
std::string_view openapi_document();

// Maps requests to the node. Thread-safe; answers through the http::Responder.
class Router final : public http::Handler {
 public:
  Router(node::Node& node, RouterOptions options);
  // Joins the pools; requests still queued in them are answered 503 "stopping"
  // (if their server still runs). Destroy the server first, then the router.
  ~Router() override;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  uint64_t body_limit(const Request& head) const override;
  // Node-to-node requests: their signature is checked before the body is read.
  std::optional<Response> screen(Request& head) override;
  void handle(Request request, http::Responder responder) override;
  Response error(unsigned status, std::string_view code, std::string_view message) const override;

  struct Shared;  // router.cpp

 private:
  std::unique_ptr<Shared> shared_;
};

// The lattice's status routes, rendered from its published status (lattice_json.cpp).
boost::json::object p2p_status_json(const lattice::Status& status);
boost::json::object identity_json(const lattice::Status& status);
boost::json::object health_json(const lattice::Status& status,
                                const node::ConsensusStatus& consensus);
boost::json::object nodes_json(const lattice::Status& status);
// Asks every node (this one included) for its status, each within a second.
boost::json::object network_json(const lattice::Status& status, const std::string& tls_ca_file);

}  // namespace aethel::api
