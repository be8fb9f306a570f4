// The Router: matches a request to its route and runs it in its lane (api.h): the
// io thread, the write path (verifier pool, asynchronous commit) or the blocking
// pool. This is where "waiting never holds what consensus needs" is decided.
#include <fmt/format.h>

#include <thread>

#include "api/dashboard.h"
#include "api/routes.h"
#include "metrics/metrics.h"

namespace aethel::api {
namespace {

unsigned default_verifier_threads() {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return std::max(1u, cores - 1);
}

// The solver gets the CPU that consensus, storage and the io threads leave: on a busy
// machine a flood of hard definitions slows proofs, not everyone's commits.
constexpr int kVerifierNice = 10;

}  // namespace

// What the router's lanes share. The pools are declared last: they are joined
// first, while everything their tasks use still exists.
struct Router::Shared {
  Shared(node::Node& n, RouterOptions o)
      : node(n),
        options(std::move(o)),
        pending_writes(std::make_shared<std::atomic<size_t>>(0)),
        limiter(options.write_rate_per_s),
        verifier("verifier",
                 options.verifier_threads ? options.verifier_threads : default_verifier_threads(),
                 options.verifier_queue, kVerifierNice),
        blocking("blocking", options.blocking_threads, options.blocking_queue) {}

  node::Node& node;
  const RouterOptions options;
  std::shared_ptr<std::atomic<size_t>> pending_writes;
  RateLimiter limiter;
  WorkPool verifier;
  WorkPool blocking;
};

namespace {

void write_route(Router::Shared& s, const Request& request, const Match& match,
                 const Reply& reply) {
  if (auto retry_after_s = s.limiter.admit(request.remote_address)) {
    // Answered after the Retry-After it names: a flood that ignores it gets one answer
    // per connection per second, instead of costing the node a refusal each time.
    return reply.send_after(
        rate_limited(request.remote_address, s.limiter.per_second(), *retry_after_s),
        std::chrono::seconds(*retry_after_s));
  }
  WriteContext context{&s.node, &s.verifier, s.pending_writes, s.options.max_pending_writes,
                       s.options.solver_budget_ms};
  if (match.id == RouteId::kVerify) return verify_route(context, request, reply);
  if (match.id == RouteId::kDeployIntent) return deploy_route(context, request, reply);
  transactions_route(context, request, reply);
}

// `s` outlives the task: its pool is joined before Shared goes away.
void blocking_route(Router::Shared* s, Request request, Match match, Target target,
                    const Reply& reply) {
  auto task = [s, request = std::move(request), match = std::move(match),
               target = std::move(target),
               reply] { reply.send(answer_now(s->node, s->options, match, request, target)); };
  if (!s->blocking.try_post(std::move(task))) {
    reply.send(overloaded(fmt::format("{} requests already wait for other nodes; retry later",
                                      s->blocking.max_queued())));
  }
}

}  // namespace

Router::Router(node::Node& node, RouterOptions options)
    : shared_(std::make_unique<Shared>(node, std::move(options))) {
  const RouterOptions& o = shared_->options;
  if (o.events != nullptr) o.events->attach(&node, o.lattice, o.node_name);
}

Router::~Router() {
  if (shared_->options.events != nullptr) shared_->options.events->detach();
}

uint64_t Router::body_limit(const Request&) const {
  return shared_->options.max_body_bytes;
}

// A node-to-node request is read only once its signed headers name a validator, this
// node as receiver, a fresh timestamp and a valid signature (SPEC §9). Connections
// past AETHEL_MAX_CONNECTIONS serve those requests only: public load never takes the
// HTTP lung's capacity.
std::optional<Response> Router::screen(Request& head) {
  std::string_view target = head.target;
  lattice::Lattice* lattice = shared_->options.lattice;
  bool internal = target.substr(0, target.find('?')) == lattice::kInternalMessagesPath &&
                  lattice != nullptr && head.method == "POST";
  if (internal) {
    auto sender =
        lattice->authenticate(head.method, lattice::kInternalMessagesPath, signed_headers_of(head));
    if (!sender.ok()) return error(401, "unauthorized", sender.error().message);
    head.principal = sender.value();
  }
  if (head.reserved_connection && head.principal.empty()) {
    Response refused =
        error(503, "too_many_connections",
              fmt::format("the node serves {} connections at most (AETHEL_MAX_CONNECTIONS); the "
                          "{} past it are kept for other validators' signed requests; retry later",
                          shared_->options.max_connections, kValidatorConnections));
    refused.headers.emplace_back("Retry-After", "1");
    return refused;
  }
  return std::nullopt;
}

Response Router::error(unsigned status, std::string_view code, std::string_view message) const {
  Response response = error_response(status, code, message);
  response.headers.emplace_back("Access-Control-Allow-Origin", "*");
  // The server's own refusals (413, 431, 400, 503 too_many_connections); not its 500s.
  metrics::Metrics* metrics = shared_->options.metrics;
  if (metrics != nullptr && status != 500) metrics->record_refusal(code);
  return response;
}

void Router::handle(Request request, http::Responder responder) {
  auto start = Reply::Clock::now();
  Shared& s = *shared_;
  if (!s.options.trusted_proxies.empty()) {
    request.remote_address = client_address(request, s.options.trusted_proxies);
  }
  metrics::Metrics* metrics = s.options.metrics;
  if (auto page = dashboard_route(request)) {  // GET /dashboard[/...]
    return Reply(responder, metrics, "/dashboard", start).send(std::move(*page));
  }
  auto target = parse_target(request.target);
  if (!target) {
    return Reply(responder, metrics, "bad_target", start)
        .send(bad_request("bad_target", "the request target has a bad percent-escape"));
  }
  auto match = match_route(target->path, request.method);
  if (!match) {
    return Reply(responder, metrics, "not_found", start)
        .send(error_response(404, "not_found", "no route " + target->path));
  }
  Reply reply(responder, metrics, match->route, start);
  if (match->malformed) {
    return reply.send(bad_request(
        "bad_target", fmt::format("'{}' in the path has a bad percent-escape (a % must be "
                                  "followed by two hex digits)",
                                  printable(match->argument))));
  }
  if (request.method != match->method) {
    Response r = error_response(405, "method_not_allowed",
                                fmt::format("{} accepts {} only", target->path, match->method));
    r.headers.emplace_back("Allow", std::string(match->method));
    return reply.send(std::move(r));
  }
  if (match->id == RouteId::kEvents) {  // a stream: answered by the events thread
    return events_route(s.options.events, metrics, responder, match->route, start);
  }
  switch (lane_of(match->id)) {
    case Lane::kIoThread:
      return reply.send(answer_now(s.node, s.options, *match, request, *target));
    case Lane::kRead:
      return read_route(s.node, s.options, *match, request, *target, reply);
    case Lane::kWrite:
      return write_route(s, request, *match, reply);
    case Lane::kBlocking:
      return blocking_route(&s, std::move(request), std::move(*match), std::move(*target), reply);
  }
}

}  // namespace aethel::api
