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
#include <unordered_map>

#include "api/api.h"
#include "base/base.h"

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
  kIntents,        // GET: the deployed intents
  kDeployIntent,   // POST: deploy a definition (same path as kIntents)
  kIntent,         // GET /api/lattice/intents/{name}
  kMembers,        // GET /api/lattice/members
  kAddMember,      // POST /api/lattice/members (admin)
  kPromoteMember,  // POST /api/lattice/members/promote (admin)
  kRemoveMember,   // POST /api/lattice/members/remove (admin)
};

struct Match {
  RouteId id;
  std::string_view method;
  std::string argument;  // {name} or {id}, decoded
  // The path with {name} or {id} in place of the argument (static storage): the
  // label of the HTTP metrics, never the raw path, so label values stay few.
  std::string_view route;
  // The argument had a bad percent-escape (%ZZ, a lone %): the answer is 400 bad_target.
  bool malformed = false;
};
// The route of `path`; where one path has a route per method, the one of `method`.
std::optional<Match> match_route(const std::string& path, std::string_view method = "GET");

// The admin routes (SPEC §9): they need the bearer token and never carry CORS headers.
bool is_admin_route(RouteId id);
// 401 unless the request carries this node's admin token.
std::optional<Response> refuse_admin(const Request& request, const RouterOptions& options);

// SPEC §10 (members.cpp). GET: {lattice_id, leader, genesis_validators, members:
// [{peer_id, name, url, role, state, match_height}]}. The changes wait until the
// leader applied them (the blocking pool), then answer as GET does.
Response members_route(node::Node& node, const RouterOptions& options);
Response member_change_route(node::Node& node, const RouterOptions& options, RouteId route,
                             const Request& request);

// `text` with every byte outside printable ASCII, and '%', written %XX: safe to put in
// a JSON message whatever the client sent.
std::string printable(std::string_view text);

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
// "transfer", "atomic_batch", "invocation" (one call of a deployed intent) or "deploy".
const char* transaction_kind(const ledger::Transaction& tx);
// {"name", "version", "params": [{"name", "type"}], "source", "deployed_at_height",
//  "deployed_by"}.
boost::json::object deployed_intent_json(const ledger::DeployedIntent& intent);

// Answers one request: counts and times it in the metrics, lets any origin read it
// (CORS) unless it is an admin or node-to-node route, and hands it to the server.
// Copyable; the first send counts.
class Reply {
 public:
  using Clock = std::chrono::steady_clock;
  Reply(http::Responder responder, metrics::Metrics* metrics, std::string_view route,
        Clock::time_point start)
      : responder_(std::move(responder)), metrics_(metrics), route_(route), start_(start) {}
  // Adds CORS (except on admin and node-to-node answers) and counts a refusal
  // (4xx) under its error code in aethel_http_refusals_total.
  void send(Response response) const;
  // The same, answered once `delay` has passed (see http::Responder::send_after).
  void send_after(Response response, std::chrono::milliseconds delay) const;
  // Runs `task` on the connection's io thread (see http::Responder::post).
  void post(std::function<void()> task) const { responder_.post(std::move(task)); }

 private:
  Response record(Response response) const;  // CORS and the metrics of send()

  http::Responder responder_;
  metrics::Metrics* metrics_;
  std::string_view route_;  // static storage (Match::route)
  Clock::time_point start_;
};

// A refused request (400, 401, 403, 405, 413, 429): counts it in
// aethel_http_refusals_total{reason=<its error code>}. Other statuses are ignored.
void count_refusal(metrics::Metrics* metrics, const Response& response);

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
  unsigned solver_budget_ms;  // per /api/verify request (RouterOptions)
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
// Request bodies (requests.cpp). The body as a JSON object, or the 400 to answer:
// malformed_json (not JSON, or not an object) or duplicate_key (a key twice in one
// object: SPEC §9 wants a refusal, not Boost.JSON's "last one wins").
std::optional<boost::json::object> parse_object(const std::string& body, Response& error);
// {"transactions": [{"from", "to", "amount"[, "id"][, "memo"]}, ...]}: one transfer per
// item, or the 400 (413 past kMaxBatchTransfers) naming the item and field.
std::optional<std::vector<ledger::Transaction>> parse_transactions(const Request& request,
                                                                   Response& error);

// POST /api/lattice/intents (SPEC §11): verified and checked for executability on the
// verifier pool, then committed as a deployment.
void deploy_route(const WriteContext& context, const Request& request, const Reply& reply);

// GET /api/lattice/events (events.cpp): a stream from `events`, or 503 without it.
void events_route(Events* events, metrics::Metrics* metrics, http::Responder responder,
                  std::string_view route, Reply::Clock::time_point start);

// ---------------------------------------------------------------------------
// Admission of public writes (rate_limit.cpp)
// ---------------------------------------------------------------------------

// A token bucket per client address: `per_second` writes per second on average, up
// to `per_second` at once after a quiet second. 0: unlimited. Thread-safe.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // Buckets kept at most; past this, full (idle) ones are forgotten first.
  static constexpr size_t kMaxTrackedAddresses = 65'536;

  explicit RateLimiter(uint32_t per_second);
  // Takes one token of `address`'s bucket: nullopt when admitted, else the seconds
  // (>= 1) until a token is there again.
  std::optional<uint32_t> admit(const std::string& address, Clock::time_point now = Clock::now())
      EXCLUDES(mutex_);
  uint32_t per_second() const { return per_second_; }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point refilled;
  };
  void forget_full(Clock::time_point now) REQUIRES(mutex_);

  const uint32_t per_second_;
  base::Mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_ GUARDED_BY(mutex_);
};

// The client a request comes from: its socket peer or, when that peer is a trusted
// proxy, the rightmost X-Forwarded-For entry that is not itself a trusted proxy (the
// entries to its left were written by the client and prove nothing). An entry that
// is not an IP address stops the walk at the proxy that added it.
std::string client_address(const Request& request, const std::vector<std::string>& trusted);

// 429 "rate_limited" with Retry-After, naming the address and the limit.
Response rate_limited(const std::string& address, uint32_t per_second, uint32_t retry_after_s);

// ---------------------------------------------------------------------------
// A pool of threads with a bounded queue (work_pool.cpp)
// ---------------------------------------------------------------------------

class WorkPool {
 public:
  // `name` names the threads (base::named_thread). `nice` is added to their
  // scheduling niceness (Linux, per thread): 0 keeps the process's, more yields the
  // CPU to the rest of the node when it is contended.
  WorkPool(std::string_view name, unsigned threads, size_t max_queued, int nice = 0);
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
