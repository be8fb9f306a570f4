// The write routes: POST /api/verify and POST /api/lattice/transactions.
//
// A write is parsed on the io thread, verified on the verifier pool when it has
// definitions (Z3), submitted with Node::submit_async and answered from the commit
// callback: the callback runs on the consensus thread, so it only posts the
// rendering back to the connection's io thread. No thread ever waits for a commit.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <vector>

#include "api/routes.h"
#include "api/verify_json.h"
#include "intents/intents.h"

namespace aethel::api {
namespace json = boost::json;
namespace {

using CommitDone = std::function<void(node::CommitResult)>;

// Commits `txs` through the node, unless none of them could change the state: when
// every transaction, checked alone against the current state, fails or is a retry
// (exists), applying them in order changes nothing either (a failure leaves the
// state as it was, so the next check stays exact). Then the checked outcomes are the
// answer and no empty block is written: a refused transfer moves neither the root
// nor the height.
//
// Only the leader answers from its state, and only after a linearizable read (its
// lease, or a heartbeat round): a leader that was deposed without knowing it (paused,
// cut off) must not refuse a transfer from a state that others have moved past. A
// follower always forwards: confirming its state would cost the same round trip.
void commit_unless_futile(node::Node& node, std::vector<ledger::Transaction> txs,
                          node::Node::CommitCallback done) {
  if (!node.is_leader()) return node.submit_async(std::move(txs), std::move(done));
  auto shared = std::make_shared<std::vector<ledger::Transaction>>(std::move(txs));
  // Runs on the consensus thread: checks take microseconds per transaction.
  node.read_linearizable_async([&node, shared, done = std::move(done)](base::Status status) {
    if (!status.ok()) return node.submit_async(std::move(*shared), done);
    node::CommitResult checked = node.read([&](const ledger::Ledger& ledger) {
      node::CommitResult out;
      out.height = ledger.height();
      out.root = ledger.root();
      for (const ledger::Transaction& tx : *shared) {
        out.outcomes.push_back(ledger.check(tx));
        // Judged against this state: not the next block's height, which may never exist.
        if (!out.outcomes.back().exists) out.outcomes.back().height = out.height;
      }
      return out;
    });
    for (const ledger::Outcome& outcome : checked.outcomes) {
      if (outcome.committed() && !outcome.exists)
        return node.submit_async(std::move(*shared), done);
    }
    done(std::move(checked));
  });
}

// Submits `txs` and runs `done` with the result on the connection's io thread. At
// most max_pending_writes writes wait at once; beyond, the answer is 429.
void commit(const WriteContext& context, std::vector<ledger::Transaction> txs, const Reply& reply,
            CommitDone done) {
  std::atomic<size_t>& pending = *context.pending_writes;
  if (pending.fetch_add(1) >= context.max_pending_writes) {
    pending.fetch_sub(1);
    return reply.send(overloaded(fmt::format("{} writes are waiting for their commit; retry later",
                                             context.max_pending_writes)));
  }
  // Runs on the consensus thread (or here, when nothing needed committing): hand
  // the rendering to the io thread at once.
  auto on_commit = [counter = context.pending_writes, reply,
                    done = std::move(done)](node::CommitResult result) {
    counter->fetch_sub(1);
    auto shared = std::make_shared<node::CommitResult>(std::move(result));
    reply.post([done, shared] { done(std::move(*shared)); });
  };
  commit_unless_futile(*context.node, std::move(txs), std::move(on_commit));
}

// ---------------------------------------------------------------------------
// POST /api/verify
// ---------------------------------------------------------------------------

// One /api/verify request from parse to answer; shared by the steps below.
struct VerifyJob {
  lang::Program program;
  bool dry_run = false;
  std::vector<lang::IntentOutcome> intents;
  intents::Plan plan;
  // The ledger's word on plan.transactions, at this height and root.
  std::vector<ledger::Outcome> outcomes;
  uint64_t height = 0;
  ledger::Hash root{};
};

json::object commit_json(const ledger::Outcome& outcome, const ledger::Transaction& tx,
                         const VerifyJob& job) {
  json::object out = outcome_json(outcome);
  out["kind"] = transaction_kind(tx);
  out["committed"] = outcome.committed() && !job.dry_run;
  out["dry_run"] = job.dry_run;
  out["merkle_root"] = ledger::to_hex(job.root);
  if (job.dry_run) out["height"] = job.height;
  return out;
}

Response render_verify(VerifyJob& job) {
  intents::apply_ledger_outcomes(job.intents, job.plan, job.outcomes);
  json::object response = verify_response_json(job.intents, lang::overall_verdict(job.intents));
  json::array& rendered = response["intents"].as_array();
  for (size_t i = 0; i < job.intents.size(); ++i) {
    if (!job.plan.transaction_of[i]) continue;
    size_t tx = *job.plan.transaction_of[i];
    json::object& transaction = rendered[i].as_object()["transaction"].as_object();
    json::object commit = commit_json(job.outcomes[tx], job.plan.transactions[tx], job);
    for (auto& [key, value] : commit) transaction[key] = value;
  }
  return json_response(200, response);
}

void dry_run(const node::Node& node, VerifyJob& job) {
  node.read([&](const ledger::Ledger& ledger) {
    job.height = ledger.height();
    job.root = ledger.root();
    for (const ledger::Transaction& tx : job.plan.transactions) {
      job.outcomes.push_back(ledger.check(tx));
    }
  });
}

// Checks the program (on the verifier pool when it has definitions), then commits
// what was proved.
void check_and_commit(const WriteContext& context, const std::shared_ptr<VerifyJob>& job,
                      const Reply& reply) {
  lang::VerifyLimits limits;
  limits.request_budget_ms = context.solver_budget_ms;
  job->intents = lang::check_program(job->program, limits);
  job->plan = intents::plan(job->intents);
  if (job->dry_run || job->plan.transactions.empty()) {
    if (job->dry_run) dry_run(*context.node, *job);
    return reply.send(render_verify(*job));
  }
  commit(context, job->plan.transactions, reply, [job, reply](node::CommitResult result) {
    if (result.error) return reply.send(unavailable(*result.error));
    job->outcomes = std::move(result.outcomes);
    job->height = result.height;
    job->root = result.root;
    reply.send(render_verify(*job));
  });
}

// {"code": "...", "dry_run": false} → the parsed program, or the 400 to answer.
std::optional<VerifyJob> parse_verify_request(const Request& request, Response& error) {
  auto body = parse_object(request.body, error);
  if (!body) return std::nullopt;
  const json::value* code = body->if_contains("code");
  if (!code) {
    error = bad_request("missing_field", "the request needs a \"code\" string");
    return std::nullopt;
  }
  if (!code->is_string()) {
    error = bad_request("bad_field", "\"code\" must be a string");
    return std::nullopt;
  }
  VerifyJob job;
  if (const json::value* flag = body->if_contains("dry_run")) {
    if (!flag->is_bool()) {
      error = bad_request("bad_field", "\"dry_run\" must be true or false");
      return std::nullopt;
    }
    job.dry_run = flag->as_bool();
  }
  lang::ParseResult parsed = lang::parse(std::string_view(code->as_string()));
  if (!parsed.ok()) {
    error = json_response(400, parse_error_json(*parsed.error));
    return std::nullopt;
  }
  job.program = std::move(*parsed.program);
  return job;
}

// ---------------------------------------------------------------------------
// POST /api/lattice/transactions
// ---------------------------------------------------------------------------

Response render_transactions(const node::CommitResult& result) {
  if (result.error) return unavailable(*result.error);
  json::array results;
  size_t committed = 0;
  for (const ledger::Outcome& o : result.outcomes) {
    committed += o.committed();
    results.push_back(outcome_json(o));
  }
  return json_response(200, {{"success", true},
                             {"height", result.height},
                             {"merkle_root", ledger::to_hex(result.root)},
                             {"committed", committed},
                             {"failed", result.outcomes.size() - committed},
                             {"results", std::move(results)}});
}

// ---------------------------------------------------------------------------
// POST /api/lattice/intents
// ---------------------------------------------------------------------------

struct DeployJob {
  std::string source;
  std::string client_id;
  lang::IntentDef definition;
  lang::IntentOutcome verdict;  // the proof, then executability
};

// {"code": "<one definition>"[, "id": "..."]} → the job, or the 400 to answer.
std::optional<DeployJob> parse_deploy_request(const Request& request, Response& error) {
  auto body = parse_object(request.body, error);
  if (!body) return std::nullopt;
  const json::value* code = body->if_contains("code");
  const json::value* id = body->if_contains("id");
  if (!code || !code->is_string() || (id && !id->is_string())) {
    error = bad_request("bad_field",
                        "the request needs \"code\" (a string) and takes an "
                        "optional \"id\" (a string)");
    return std::nullopt;
  }
  DeployJob job;
  job.source = std::string(code->as_string());
  if (id) job.client_id = std::string(id->as_string());
  lang::ParseResult parsed = lang::parse(job.source);
  if (!parsed.ok()) {
    error = json_response(400, parse_error_json(*parsed.error));
    return std::nullopt;
  }
  const auto& items = parsed.program->items;
  if (items.size() != 1 || !std::holds_alternative<lang::IntentDef>(items[0])) {
    error = bad_request("bad_definition",
                        "the code must hold exactly one intent definition "
                        "(invocations go to POST /api/verify)");
    return std::nullopt;
  }
  job.definition = std::get<lang::IntentDef>(items[0]);
  return job;
}

// The verdict as a 400: not PROVED, or PROVED but not executable.
Response deploy_refused(const DeployJob& job, std::string_view code) {
  json::object body{
      {"success", false},
      {"error", json::object{{"code", code}, {"message", job.verdict.report.message}}},
      {"intent", intent_json(job.verdict)}};
  return json_response(400, body);
}

// On the verifier pool: the four properties, then executability; then the commit.
void prove_and_deploy(const WriteContext& context, const std::shared_ptr<DeployJob>& job,
                      const Request& request, const Reply& reply) {
  lang::IntentOutcome& verdict = job->verdict;
  verdict.name = job->definition.name;
  verdict.is_definition = true;
  verdict.pos = job->definition.pos;
  auto start = std::chrono::steady_clock::now();
  verdict.report = lang::verify(job->definition);
  if (verdict.report.verdict != lang::Verdict::kProved) {
    return reply.send(deploy_refused(*job, "not_proved"));
  }
  lang::ExecutableForm form = lang::executable_form(job->definition);
  verdict.report = lang::verify_executable(job->definition, form);
  verdict.elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (verdict.report.verdict != lang::Verdict::kProved) {
    return reply.send(deploy_refused(*job, "not_executable"));
  }
  std::string deployed_by =
      fmt::format("node {} for {}", context.node->peer_id(), request.remote_address);
  std::vector<ledger::Transaction> txs{
      ledger::Transaction::deploy(job->source, std::move(deployed_by), job->client_id)};
  node::Node* node = context.node;
  commit(context, std::move(txs), reply, [job, node, reply](node::CommitResult result) {
    if (result.error) return reply.send(unavailable(*result.error));
    const ledger::Outcome& outcome = result.outcomes.at(0);
    if (!outcome.committed()) {
      return reply.send(bad_request(ledger::to_string(outcome.code), outcome.message));
    }
    auto deployed =
        node->read([&](const ledger::Ledger& l) { return l.intent(job->verdict.name); });
    json::object body{{"success", true},
                      {"transaction", outcome_json(outcome)},
                      {"merkle_root", ledger::to_hex(result.root)},
                      {"verification", intent_json(job->verdict)}};
    if (deployed) body["intent"] = deployed_intent_json(*deployed);
    reply.send(json_response(outcome.exists ? 200 : 201, body));
  });
}

}  // namespace

void deploy_route(const WriteContext& context, const Request& request, const Reply& reply) {
  Response error;
  auto parsed = parse_deploy_request(request, error);
  if (!parsed) return reply.send(std::move(error));
  lang::ExecutableForm form = lang::executable_form(parsed->definition);
  if (!form.ok()) {  // decided from the syntax: no need to wait for the solver
    parsed->verdict.name = parsed->definition.name;
    parsed->verdict.is_definition = true;
    parsed->verdict.report = {
        lang::Verdict::kFailed, form.error, {{lang::Property::kExecutability, form.error, {}}}};
    return reply.send(deploy_refused(*parsed, "not_executable"));
  }
  auto job = std::make_shared<DeployJob>(std::move(*parsed));
  bool queued = context.verifier->try_post(
      [context, job, request, reply] { prove_and_deploy(context, job, request, reply); });
  if (!queued) {
    reply.send(overloaded(fmt::format("the verifier is busy ({} requests wait for it); retry later",
                                      context.verifier->max_queued())));
  }
}

void verify_route(const WriteContext& context, const Request& request, const Reply& reply) {
  Response error;
  auto parsed = parse_verify_request(request, error);
  if (!parsed) return reply.send(std::move(error));
  auto job = std::make_shared<VerifyJob>(std::move(*parsed));
  // Shape checks of invocations take microseconds: done here. Definitions need the
  // solver (up to seconds each): the verifier pool, or 429 when it is full.
  if (!lang::has_definitions(job->program)) return check_and_commit(context, job, reply);
  bool queued =
      context.verifier->try_post([context, job, reply] { check_and_commit(context, job, reply); });
  if (!queued) {
    reply.send(overloaded(fmt::format("the verifier is busy ({} requests wait for it); retry later",
                                      context.verifier->max_queued())));
  }
}

void transactions_route(const WriteContext& context, const Request& request, const Reply& reply) {
  Response error;
  auto txs = parse_transactions(request, error);
  if (!txs) return reply.send(std::move(error));
  commit(context, std::move(*txs), reply,
         [reply](node::CommitResult result) { reply.send(render_transactions(result)); });
}

}  // namespace aethel::api
