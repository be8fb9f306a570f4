// Inside the api module (not a public header): request targets, the route table,
// where each route runs, and the route bodies the Router calls.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/api.h"

namespace aethel::api {

// ---------------------------------------------------------------------------
// Targets and the route table (routes.cpp)
// ---------------------------------------------------------------------------

// A request target: path segments and query parameters, percent-decoded.
struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};
std::optional<Target> parse_target(std::string_view raw);

enum class RouteId {
  kRoot,
  kHealth,
  kVerify,
  kTransactions,
  kState,
  kAccount,
  kProof,
  kTx,
  kBlocks,
  kGenesis,
  kInternalMessages,
  kP2pStatus,
  kP2pIdentity,
  kLatticeHealth,
  kNodes,
  kNetwork,
  kSyncSwitch,
  kP2pStop,
  kP2pStart,
  kMetrics,
  kOpenApi,
  kEvents,
};

struct Match {
  RouteId id;
  std::string_view method;
  std::string argument;  // {name} or {id}, decoded
  // The path with {name} or {id} in place of the argument (static storage): the
  // label of the HTTP metrics, never the raw path, so label values stay few.
  std::string_view route;
};
std::optional<Match> match_route(const std::string& path);

// Where a route runs (see api.h).
enum class Lane {
  kIoThread,  // answered at once on the io thread: status, node-to-node
  kRead,      // ledger reads: confirmed with the leader first (read_route), then the io thread
  kWrite,     // parsed on the io thread, verified on the verifier pool, committed async
  kBlocking,  // waits for other nodes or the P2P host: the blocking pool
};
Lane lane_of(RouteId id);

// The X-Aethel-* headers of a node-to-node request.
lattice::SignedHeaders signed_headers_of(const Request& request);

// ---------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------

Response json_response(unsigned status, const boost::json::object& body);
Response bad_request(std::string_view code, std::string_view message);
// 429 "overloaded" with Retry-After: the request changed nothing; retry later.
Response overloaded(std::string_view message);
// 503 with "outcome": "unknown": a write that may or may not commit later.
Response unavailable(const ledger::Error& error);
// A transaction's outcome: {"id", "status", "code", "message", "height", "index",
// "exists"[, "failed_transfer"]}.
boost::json::object outcome_json(const ledger::Outcome& outcome);

// Answers one request: counts and times it in the metrics, lets any origin read it
// (CORS), and hands it to the server. Copyable; the first send counts.
class Reply {
 public:
  using Clock = std::chrono::steady_clock;
  Reply(http::Responder responder, metrics::Metrics* metrics, std::string_view route,
        Clock::time_point start)
      : responder_(std::move(responder)), metrics_(metrics), route_(route), start_(start) {}
  void send(Response response) const;
  // Runs `task` on the connection's io thread (see http::Responder::post).
  void post(std::function<void()> task) const { responder_.post(std::move(task)); }

 private:
  http::Responder responder_;
  metrics::Metrics* metrics_;
  std::string_view route_;  // static storage (Match::route)
  Clock::time_point start_;
};

// ---------------------------------------------------------------------------
// Route bodies
// ---------------------------------------------------------------------------

// Every route of Lane kIoThread or kBlocking, answered on the calling thread.
// Never throws: a failure becomes a JSON 500.
Response answer_now(node::Node& node, const RouterOptions& options, const Match& match,
                    const Request& request, const Target& target);

// What the write routes need (writes.cpp). Copied into tasks: it only refers to
// objects that outlive them.
struct WriteContext {
  node::Node* node;
  WorkPool* verifier;
  std::shared_ptr<std::atomic<size_t>> pending_writes;  // shared with commit callbacks
  size_t max_pending_writes;
};

// POST /api/verify and POST /api/lattice/transactions. Called on the io thread;
// they answer through `reply` when the commit is known, never blocking.
void verify_route(const WriteContext& context, const Request& request, const Reply& reply);

// Lane kRead (SPEC §1, "Reads see the latest acknowledged write"): by default the
// answer waits until this node has applied everything acknowledged before the request
// arrived (one leader confirmation shared by concurrent reads); ?consistency=stale
// answers from the local state at once; ?min_height=H first waits until H is applied
// (503 not_caught_up after the node's catch-up bound). `node` and `options` must
// outlive the server's io threads.
void read_route(node::Node& node, const RouterOptions& options, const Match& match,
                const Request& request, const Target& target, const Reply& reply);
void transactions_route(const WriteContext& context, const Request& request, const Reply& reply);

// GET /api/lattice/events (events.cpp): a stream from `events`, or 503 without it.
void events_route(Events* events, metrics::Metrics* metrics, http::Responder responder,
                  std::string_view route, Reply::Clock::time_point start);

// ---------------------------------------------------------------------------
// A pool of threads with a bounded queue (work_pool.cpp)
// ---------------------------------------------------------------------------

class WorkPool {
 public:
  WorkPool(unsigned threads, size_t max_queued);
  // Stops: running tasks finish, queued ones are dropped without running.
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `task`; false (and `task` dropped) when max_queued tasks already wait.
  // Never blocks: a full queue is the caller's signal to shed load.
  bool try_post(std::function<void()> task);
  size_t max_queued() const { return max_queued_; }

  class Impl;

 private:
  size_t max_queued_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aethel::api
