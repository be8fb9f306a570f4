// The routes of SPEC §4 for a single node. No sockets here: a Request in, a JSON
// Response out, so every route can be reasoned about (and tested) on its own.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <map>

#include "api/api.h"
#include "api/dashboard.h"
#include "cli/report.h"
#include "lang/lang.h"
#include "metrics/metrics.h"

namespace aethel::api {
namespace json = boost::json;
namespace {

constexpr size_t kDefaultStatePageAccounts = 1'000;
constexpr uint32_t kDefaultBlocksPerPage = 100;

Response json_response(unsigned status, const json::object& body) {
  return Response{status, json::serialize(body), {}};
}

Response bad_request(std::string_view code, std::string_view message) {
  return error_response(400, code, message);
}

// ---------------------------------------------------------------------------
// Targets: path segments (percent-decoded) and query parameters
// ---------------------------------------------------------------------------

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int high = hex_digit(text[i + 1]), low = hex_digit(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};

std::optional<Target> parse_target(std::string_view raw) {
  Target target;
  size_t question = raw.find('?');
  target.path = std::string(raw.substr(0, question));
  if (question == std::string_view::npos) return target;
  std::string_view query = raw.substr(question + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq));
    auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    target.query[*key] = *value;
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
  }
  return target;
}

// Reads an unsigned query parameter; nullopt value with error set when malformed.
struct Number {
  std::optional<uint64_t> value;
  std::optional<Response> error;
};
Number query_number(const Target& target, const std::string& name, uint64_t fallback) {
  auto it = target.query.find(name);
  if (it == target.query.end()) return Number{fallback, {}};
  uint64_t value = 0;
  const std::string& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return Number{{},
                  bad_request("bad_query", fmt::format("query parameter '{}'='{}' is not an "
                                                       "unsigned integer",
                                                       name, text))};
  }
  return Number{value, {}};
}

// ---------------------------------------------------------------------------
// JSON shapes
// ---------------------------------------------------------------------------

json::object outcome_json(const ledger::Outcome& outcome) {
  json::object out{{"id", outcome.tx_id},
                   {"status", outcome.committed() ? "committed" : "failed"},
                   {"code", ledger::to_string(outcome.code)},
                   {"message", outcome.message},
                   {"height", outcome.height},
                   {"index", outcome.index},
                   {"exists", outcome.exists}};
  if (!outcome.committed()) out["failed_transfer"] = outcome.failed_transfer;
  return out;
}

json::object transaction_json(const ledger::Transaction& tx) {
  json::array transfers;
  for (const ledger::Transfer& t : tx.transfers) {
    transfers.push_back(
        json::object{{"from", t.from}, {"to", t.to}, {"amount", t.amount}, {"memo", t.memo}});
  }
  return {{"id", tx.client_id},
          {"kind", tx.kind == ledger::TxKind::kTransfer ? "transfer" : "atomic_batch"},
          {"transfers", std::move(transfers)}};
}

Response unavailable(const ledger::Error& error) {
  Response r = error_response(503, "unavailable", error.message);
  json::object body = json::parse(r.body).as_object();
  body["outcome"] = "unknown";  // it may or may not commit; a retry with the same id is safe
  r.body = json::serialize(body);
  return r;
}

std::optional<json::object> parse_object(const std::string& body, Response& error) {
  json::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec) {
    error = bad_request("malformed_json",
                        fmt::format("request body is not valid JSON: {}", ec.message()));
    return std::nullopt;
  }
  if (!value.is_object()) {
    error = bad_request("malformed_json", "request body must be a JSON object");
    return std::nullopt;
  }
  return std::move(value.as_object());
}

// Commits `txs` through the node, unless none of them could change the state: when
// every transaction, checked alone against the current state, fails or is a retry
// (exists), applying them in order changes nothing either (a failure leaves the
// state as it was, so the next check stays exact). Then the checked outcomes are the
// answer and no empty block is written: a refused transfer moves neither the root
// nor the height.
//
// Only the leader may answer from its own state: it has applied every acknowledged
// write. A follower may lag behind, so it always forwards.
node::CommitResult commit_unless_futile(node::Node& node, std::vector<ledger::Transaction> txs) {
  if (!node.is_leader()) return node.submit(std::move(txs));
  node::CommitResult checked = node.read([&](const ledger::Ledger& ledger) {
    node::CommitResult out;
    out.height = ledger.height();
    out.root = ledger.root();
    for (const ledger::Transaction& tx : txs) out.outcomes.push_back(ledger.check(tx));
    return out;
  });
  for (const ledger::Outcome& outcome : checked.outcomes) {
    if (outcome.committed() && !outcome.exists) return node.submit(std::move(txs));
  }
  return checked;
}

// ---------------------------------------------------------------------------
// POST /api/verify
// ---------------------------------------------------------------------------

// Which ledger transaction each invocation of a program became.
struct Plan {
  std::vector<ledger::Transaction> transactions;
  std::vector<std::optional<size_t>> tx_of_intent;  // per intent, index into transactions
};

ledger::Transfer to_transfer(const lang::TransferRequest& request) {
  return ledger::Transfer{request.from, request.to, request.amount, request.memo.value_or("")};
}

// PROVED invocations outside a batch become one transfer each; the invocations of
// one atomic_batch become one batch transaction, whose id is the first `id` field
// given inside it (none: a derived id).
Plan plan_transactions(const std::vector<cli::TimedOutcome>& timed) {
  Plan plan;
  std::map<std::string, size_t> batch_index;
  for (const cli::TimedOutcome& t : timed) {
    const lang::IntentOutcome& o = t.outcome;
    bool committable = !o.is_definition && o.transfer && o.report.verdict == lang::Verdict::kProved;
    if (!committable) {
      plan.tx_of_intent.push_back(std::nullopt);
      continue;
    }
    const lang::TransferRequest& request = *o.transfer;
    if (o.batch.empty()) {
      plan.tx_of_intent.push_back(plan.transactions.size());
      plan.transactions.push_back(
          ledger::Transaction::transfer(request.from, request.to, request.amount,
                                        request.id.value_or(""), request.memo.value_or("")));
      continue;
    }
    auto [it, fresh] = batch_index.try_emplace(o.batch, plan.transactions.size());
    if (fresh) plan.transactions.push_back(ledger::Transaction::batch({}, request.id.value_or("")));
    ledger::Transaction& batch = plan.transactions[it->second];
    if (batch.client_id.empty() && request.id) batch.client_id = *request.id;
    batch.transfers.push_back(to_transfer(request));
    plan.tx_of_intent.push_back(it->second);
  }
  return plan;
}

// A committed invocation stays PROVED; one the ledger refused becomes FAILED with
// the ledger's reason.
void record_outcomes(std::vector<cli::TimedOutcome>& timed, const Plan& plan,
                     const std::vector<ledger::Outcome>& outcomes) {
  for (size_t i = 0; i < timed.size(); ++i) {
    if (!plan.tx_of_intent[i]) continue;
    const ledger::Outcome& outcome = outcomes[*plan.tx_of_intent[i]];
    if (outcome.committed()) continue;
    lang::VerifyReport& report = timed[i].outcome.report;
    report.verdict = lang::Verdict::kFailed;
    report.message = fmt::format("{}: {}", ledger::to_string(outcome.code), outcome.message);
  }
}

json::object commit_json(const ledger::Outcome& outcome, const ledger::Transaction& tx,
                         uint64_t height, const ledger::Hash& root, bool dry_run) {
  json::object out = outcome_json(outcome);
  out["kind"] = tx.kind == ledger::TxKind::kTransfer ? "transfer" : "atomic_batch";
  out["committed"] = outcome.committed() && !dry_run;
  out["dry_run"] = dry_run;
  out["merkle_root"] = ledger::to_hex(root);
  if (dry_run) out["height"] = height;
  return out;
}

struct Committed {
  std::vector<ledger::Outcome> outcomes;
  uint64_t height = 0;
  ledger::Hash root{};
};

Committed dry_run_outcomes(const node::Node& node, const Plan& plan) {
  return node.read([&](const ledger::Ledger& ledger) {
    Committed c{{}, ledger.height(), ledger.root()};
    for (const ledger::Transaction& tx : plan.transactions) c.outcomes.push_back(ledger.check(tx));
    return c;
  });
}

Response verify_route(node::Node& node, const Request& request) {
  Response error;
  auto body = parse_object(request.body, error);
  if (!body) return error;
  const json::value* code = body->if_contains("code");
  if (!code) return bad_request("missing_field", "the request needs a \"code\" string");
  if (!code->is_string()) return bad_request("bad_field", "\"code\" must be a string");
  bool dry_run = false;
  if (const json::value* flag = body->if_contains("dry_run")) {
    if (!flag->is_bool()) return bad_request("bad_field", "\"dry_run\" must be true or false");
    dry_run = flag->as_bool();
  }
  lang::ParseResult parsed = lang::parse(std::string_view(code->as_string()));
  if (!parsed.ok()) return json_response(400, cli::parse_error_json(*parsed.error));

  std::vector<cli::TimedOutcome> timed = cli::check_program_timed(*parsed.program);
  Plan plan = plan_transactions(timed);
  Committed committed;
  if (dry_run) {
    committed = dry_run_outcomes(node, plan);
  } else if (!plan.transactions.empty()) {
    node::CommitResult result = commit_unless_futile(node, plan.transactions);
    if (result.error) return unavailable(*result.error);
    committed = Committed{std::move(result.outcomes), result.height, result.root};
  }
  record_outcomes(timed, plan, committed.outcomes);
  json::object response = cli::verify_response_json(timed, cli::overall_verdict(timed));
  json::array& intents = response["intents"].as_array();
  for (size_t i = 0; i < timed.size(); ++i) {
    if (!plan.tx_of_intent[i]) continue;
    size_t tx = *plan.tx_of_intent[i];
    json::object& transaction = intents[i].as_object()["transaction"].as_object();
    json::object commit = commit_json(committed.outcomes[tx], plan.transactions[tx],
                                      committed.height, committed.root, dry_run);
    for (auto& [key, value] : commit) transaction[key] = value;
  }
  return json_response(200, response);
}

// ---------------------------------------------------------------------------
// POST /api/lattice/transactions
// ---------------------------------------------------------------------------

std::optional<std::string> optional_string(const json::object& item, std::string_view key,
                                           bool& ok) {
  const json::value* v = item.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) {
    ok = false;
    return std::nullopt;
  }
  return std::string(v->as_string());
}

// One item → a transfer, or a 400 naming the item and field.
std::optional<ledger::Transaction> item_to_transaction(const json::value& value, size_t index,
                                                       Response& error) {
  auto fail = [&](std::string_view what) {
    error = bad_request("bad_field", fmt::format("transactions[{}]: {}", index, what));
    return std::nullopt;
  };
  if (!value.is_object()) return fail("must be an object");
  const json::object& item = value.as_object();
  bool ok = true;
  auto id = optional_string(item, "id", ok);
  auto from = optional_string(item, "from", ok);
  auto to = optional_string(item, "to", ok);
  auto memo = optional_string(item, "memo", ok);
  if (!ok) return fail("\"id\", \"from\", \"to\" and \"memo\" must be strings");
  if (!from || !to) return fail("\"from\" and \"to\" are required");
  const json::value* amount = item.if_contains("amount");
  if (!amount) return fail("\"amount\" is required");
  int64_t amount_value = 0;
  if (amount->is_int64()) {
    amount_value = amount->as_int64();
  } else if (amount->is_uint64()) {
    return fail("\"amount\" is larger than a 64-bit signed integer");
  } else {
    return fail("\"amount\" must be an integer");
  }
  return ledger::Transaction::transfer(*from, *to, amount_value, id.value_or(""),
                                       memo.value_or(""));
}

Response transactions_route(node::Node& node, const Request& request) {
  Response error;
  auto body = parse_object(request.body, error);
  if (!body) return error;
  const json::value* items = body->if_contains("transactions");
  if (!items) return bad_request("missing_field", "the request needs a \"transactions\" array");
  if (!items->is_array()) return bad_request("bad_field", "\"transactions\" must be an array");
  const json::array& array = items->as_array();
  if (array.empty()) return bad_request("bad_field", "\"transactions\" is empty");
  if (array.size() > ledger::kMaxBatchTransfers) {
    return error_response(413, "too_many_transactions",
                          fmt::format("{} transactions; at most {} per request", array.size(),
                                      ledger::kMaxBatchTransfers));
  }
  std::vector<ledger::Transaction> txs;
  txs.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    auto tx = item_to_transaction(array[i], i, error);
    if (!tx) return error;
    txs.push_back(std::move(*tx));
  }
  node::CommitResult result = commit_unless_futile(node, std::move(txs));
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
// Reads
// ---------------------------------------------------------------------------

Response state_route(const node::Node& node, const RouterOptions& options, const Target& target) {
  Number limit = query_number(target, "limit", kDefaultStatePageAccounts);
  if (limit.error) return *limit.error;
  auto after_it = target.query.find("after");
  std::string after = after_it == target.query.end() ? "" : after_it->second;
  size_t page_size = std::min<uint64_t>(*limit.value, kMaxStatePageAccounts);
  json::object response = node.read([&](const ledger::Ledger& ledger) {
    auto page = ledger.accounts_page(after, page_size + 1);  // one more: is there a next page?
    bool more = page.size() > page_size;
    if (more) page.pop_back();
    json::object state;
    for (const auto& [name, account] : page) {
      state[name] = json::object{{"balance", account.balance}, {"nonce", account.nonce}};
    }
    json::object out{{"success", true},
                     {"merkle_root", ledger::to_hex(ledger.root())},
                     {"height", ledger.height()},
                     {"state_size", ledger.account_count()},
                     {"state", std::move(state)}};
    // limit=0 asks for the root and height only: no page, so no continuation.
    bool continues = more && !page.empty();
    out["next_after"] = continues ? json::value(page.back().first) : json::value(nullptr);
    return out;
  });
  uint64_t timestamp = unix_time_ms();
  std::string signed_text = fmt::format("{}:{}:{}", response["merkle_root"].as_string().c_str(),
                                        response["height"].as_uint64(), timestamp);
  auto signature = node.key().sign(
      p2p::ByteView(reinterpret_cast<const uint8_t*>(signed_text.data()), signed_text.size()));
  response["signed"] = true;
  response["node"] = options.node_name;
  response["peer_id"] = node.peer_id();
  response["public_key"] = ledger::to_hex(node.key().public_key().raw());
  response["timestamp"] = timestamp;
  response["signature"] = ledger::to_hex(signature);
  return json_response(200, response);
}

Response account_route(const node::Node& node, const std::string& name) {
  auto found = node.read([&](const ledger::Ledger& ledger) {
    return std::make_pair(ledger.account(name), ledger.height());
  });
  if (!found.first)
    return error_response(404, "unknown_account", "no account named '" + name + "'");
  return json_response(200, {{"success", true},
                             {"name", name},
                             {"balance", found.first->balance},
                             {"nonce", found.first->nonce},
                             {"height", found.second}});
}

Response proof_route(const node::Node& node, const std::string& name) {
  std::string document = node.read([&](const ledger::Ledger& ledger) {
    return ledger::proof_document_to_json(ledger.prove_document(name));
  });
  json::object response = json::parse(document).as_object();
  response["success"] = true;
  return json_response(200, response);
}

Response tx_route(const node::Node& node, const std::string& id) {
  auto found = node.read([&](const ledger::Ledger& ledger) { return ledger.find_transaction(id); });
  if (!found) {
    return error_response(404, "unknown_transaction",
                          "no remembered transaction with id '" + id + "'");
  }
  json::object response = outcome_json(*found);
  response["success"] = true;
  return json_response(200, response);
}

Response blocks_route(const node::Node& node, const Target& target) {
  Number from = query_number(target, "from", 1);
  if (from.error) return *from.error;
  Number limit = query_number(target, "limit", kDefaultBlocksPerPage);
  if (limit.error) return *limit.error;
  uint32_t count = static_cast<uint32_t>(std::min<uint64_t>(*limit.value, kMaxBlocksPerPage));
  uint64_t first = std::max<uint64_t>(*from.value, 1);
  uint64_t height = node.read([](const ledger::Ledger& ledger) { return ledger.height(); });
  json::array blocks;
  if (count > 0 && first <= height) {
    auto stored = node.blocks(first, count, kMaxBlocksPageBytes);
    if (!stored.ok()) return error_response(503, "storage_error", stored.error().message);
    for (const node::Block& block : stored.value()) {
      if (block.height > height) break;  // durable but not yet applied: not served yet
      json::array txs;
      for (const ledger::Transaction& tx : block.transactions) txs.push_back(transaction_json(tx));
      blocks.push_back(json::object{{"height", block.height},
                                    {"prev_root", ledger::to_hex(block.prev_root)},
                                    {"transactions", std::move(txs)}});
    }
  }
  return json_response(200, {{"success", true}, {"height", height}, {"blocks", std::move(blocks)}});
}

// ---------------------------------------------------------------------------
// The lattice (SPEC §4, §6)
// ---------------------------------------------------------------------------

Response lattice_unavailable() {
  return error_response(503, "not_ready", "the lattice is not running on this node");
}

// Admin routes: the bearer token when one is configured, else loopback callers only.
std::optional<Response> refuse_admin(const Request& request, const RouterOptions& options) {
  if (options.admin_token) {
    if (request.authorization == "Bearer " + *options.admin_token) return std::nullopt;
    return error_response(401, "unauthorized",
                          "this admin route needs Authorization: Bearer "
                          "<AETHEL_ADMIN_TOKEN>");
  }
  if (request.from_loopback) return std::nullopt;
  return error_response(403, "forbidden",
                        "admin routes are accepted from loopback only while "
                        "AETHEL_ADMIN_TOKEN is unset");
}

Response internal_messages_route(Lattice& lattice, const Request& request, const Target& target) {
  auto sender =
      lattice.authenticate(request.signed_headers, request.method, target.path, request.body);
  if (!sender.ok()) return error_response(401, "unauthorized", sender.error().message);
  auto delivered = lattice.deliver(sender.value(), request.body);
  if (!delivered.ok()) return bad_request("malformed_body", delivered.error().message);
  return json_response(200, {{"success", true}, {"delivered", delivered.value()}});
}

Response health_route(const Lattice& lattice) {
  json::object health = lattice.health();
  bool unhealthy = health["status"].as_string() == "unhealthy";
  return json_response(unhealthy ? 503 : 200, health);
}

Response switch_route(Lattice& lattice, const Target& target) {
  auto mode = target.query.find("mode");
  if (mode == target.query.end()) {
    return bad_request("missing_query", "use ?mode=p2p, ?mode=http or ?mode=auto");
  }
  auto switched = lattice.switch_mode(mode->second);
  if (!switched.ok()) return bad_request(switched.error().code, switched.error().message);
  return json_response(
      200, {{"success", true}, {"requested", mode->second}, {"sync_mode", switched.value()}});
}

Response p2p_switch_route(Lattice& lattice, bool start) {
  if (!start) {
    lattice.stop_p2p();
    return json_response(200, {{"success", true}, {"p2p", "stopped"}});
  }
  auto started = lattice.start_p2p();
  if (!started.ok()) return error_response(409, started.error().code, started.error().message);
  return json_response(200, {{"success", true}, {"p2p", started.value()}});
}

json::object with_success(json::object body) {
  body["success"] = true;
  return body;
}

// ---------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------

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
};

struct Match {
  RouteId id;
  std::string_view method;
  std::string argument;  // {name} or {id}, decoded
  // The path with {name} or {id} in place of the argument (static storage): the
  // label of the HTTP metrics, never the raw path, so label values stay few.
  std::string_view route;
};

std::optional<Match> match_route(const std::string& path) {
  static const std::array<std::pair<std::string_view, std::pair<RouteId, std::string_view>>, 16>
      exact = {{
          {"/metrics", {RouteId::kMetrics, "GET"}},
          {"/", {RouteId::kRoot, "GET"}},
          {"/health", {RouteId::kHealth, "GET"}},
          {"/api/verify", {RouteId::kVerify, "POST"}},
          {"/api/lattice/transactions", {RouteId::kTransactions, "POST"}},
          {"/api/lattice/state", {RouteId::kState, "GET"}},
          {"/api/lattice/blocks", {RouteId::kBlocks, "GET"}},
          {kInternalMessagesPath, {RouteId::kInternalMessages, "POST"}},
          {"/api/lattice/p2p/status", {RouteId::kP2pStatus, "GET"}},
          {"/api/lattice/p2p/identity", {RouteId::kP2pIdentity, "GET"}},
          {"/api/lattice/health", {RouteId::kLatticeHealth, "GET"}},
          {"/api/lattice/nodes", {RouteId::kNodes, "GET"}},
          {"/api/lattice/network", {RouteId::kNetwork, "GET"}},
          {"/api/lattice/sync/switch", {RouteId::kSyncSwitch, "POST"}},
          {"/api/lattice/p2p/stop", {RouteId::kP2pStop, "POST"}},
          {"/api/lattice/p2p/start", {RouteId::kP2pStart, "POST"}},
      }};
  for (const auto& [route, id_and_method] : exact) {
    if (path == route) return Match{id_and_method.first, id_and_method.second, {}, route};
  }
  struct Prefixed {
    std::string_view prefix;
    RouteId id;
    std::string_view route;
  };
  static const std::array<Prefixed, 3> prefixed = {{
      {"/api/lattice/accounts/", RouteId::kAccount, "/api/lattice/accounts/{name}"},
      {"/api/lattice/proof/", RouteId::kProof, "/api/lattice/proof/{name}"},
      {"/api/lattice/tx/", RouteId::kTx, "/api/lattice/tx/{id}"},
  }};
  for (const auto& [prefix, id, route] : prefixed) {
    if (!path.starts_with(prefix) || path.size() == prefix.size()) continue;
    std::string_view rest = std::string_view(path).substr(prefix.size());
    if (rest.find('/') != std::string_view::npos) return std::nullopt;
    auto decoded = percent_decode(rest);
    if (!decoded) return std::nullopt;
    return Match{id, "GET", *decoded, route};
  }
  return std::nullopt;
}

Response lattice_route(RouteId route, const Request& request, const Target& target,
                       const RouterOptions& options) {
  Lattice* lattice = options.lattice;
  if (lattice == nullptr) return lattice_unavailable();
  bool admin =
      route == RouteId::kSyncSwitch || route == RouteId::kP2pStop || route == RouteId::kP2pStart;
  if (admin) {
    if (auto refused = refuse_admin(request, options)) return *refused;
  }
  switch (route) {
    case RouteId::kInternalMessages:
      return internal_messages_route(*lattice, request, target);
    case RouteId::kP2pStatus:
      return json_response(200, lattice->p2p_status());
    case RouteId::kP2pIdentity:
      return json_response(200, lattice->identity());
    case RouteId::kLatticeHealth:
      return health_route(*lattice);
    case RouteId::kNodes:
      return json_response(200, lattice->nodes());
    case RouteId::kNetwork:
      return json_response(200, with_success(lattice->network()));
    case RouteId::kSyncSwitch:
      return switch_route(*lattice, target);
    case RouteId::kP2pStop:
      return p2p_switch_route(*lattice, false);
    case RouteId::kP2pStart:
      return p2p_switch_route(*lattice, true);
    default:
      return error_response(500, "internal_error", "unhandled route");
  }
}

}  // namespace

Response error_response(unsigned status, std::string_view code, std::string_view message) {
  json::object body{{"success", false},
                    {"error", json::object{{"code", code}, {"message", message}}}};
  return Response{status, json::serialize(body), {}};
}

Router::Router(node::Node& node, RouterOptions options)
    : node_(node), options_(std::move(options)) {}

bool Router::is_blocking(const Request& request) const {
  return request.method == "POST" || request.target.starts_with("/api/lattice/network");
}

Response Router::handle(const Request& request) const {
  if (options_.metrics == nullptr) {
    std::string_view ignored;
    return dispatch(request, ignored);
  }
  auto start = std::chrono::steady_clock::now();
  std::string_view route = "other";
  Response response = dispatch(request, route);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  options_.metrics->record_http_request(route, response.status, seconds);
  // A 200 from a write route was answered once its block was committed and applied:
  // its duration is what a client waits for a commit.
  bool write = route == "/api/lattice/transactions" || route == "/api/verify";
  if (write && response.status == 200) options_.metrics->observe_commit_latency_seconds(seconds);
  return response;
}

// GET /metrics: the gauges that are cheaper to read than to push are refreshed here.
Response Router::metrics_page() const {
  if (options_.metrics == nullptr) {
    return error_response(404, "not_found", "metrics are not enabled on this node");
  }
  metrics::Metrics& m = *options_.metrics;
  m.set_height(node_.read([](const ledger::Ledger& l) { return l.height(); }));
  m.set_raft(node_.consensus_status().term, node_.is_leader());
  if (options_.lattice != nullptr) {
    LatticeCounters counters = options_.lattice->counters();
    m.set_peers(counters.p2p_peers, counters.http_peers);
    m.set_sync_mode(counters.sync_mode);
  }
  return Response{200, m.render(), {}, std::string(metrics::kContentType)};
}

Response Router::dispatch(const Request& request, std::string_view& route) const {
  if (auto page = dashboard_route(request)) {  // GET /dashboard[/...]
    route = "/dashboard";
    return std::move(*page);
  }
  auto target = parse_target(request.target);
  if (!target) {
    route = "bad_target";
    return bad_request("bad_target", "the request target has a bad percent-escape");
  }
  auto match = match_route(target->path);
  if (!match) {
    route = "not_found";
    return error_response(404, "not_found", "no route " + target->path);
  }
  route = match->route;
  if (request.method != match->method) {
    Response r = error_response(405, "method_not_allowed",
                                fmt::format("{} accepts {} only", target->path, match->method));
    r.allow = std::string(match->method);
    return r;
  }
  try {
    switch (match->id) {
      case RouteId::kRoot:
        return json_response(200, {{"name", kProductName},
                                   {"version", kVersion},
                                   {"node_name", options_.node_name},
                                   {"peer_id", node_.peer_id()},
                                   {"role", node_.consensus_status().role},
                                   {"status", "operational"}});
      case RouteId::kHealth:
        return json_response(200, {{"status", "healthy"}});
      case RouteId::kVerify:
        return verify_route(node_, request);
      case RouteId::kTransactions:
        return transactions_route(node_, request);
      case RouteId::kState:
        return state_route(node_, options_, *target);
      case RouteId::kAccount:
        return account_route(node_, match->argument);
      case RouteId::kProof:
        return proof_route(node_, match->argument);
      case RouteId::kTx:
        return tx_route(node_, match->argument);
      case RouteId::kBlocks:
        return blocks_route(node_, *target);
      case RouteId::kMetrics:
        return metrics_page();
      default:
        return lattice_route(match->id, request, *target, options_);
    }
  } catch (const std::exception& e) {
    // Reached only by a bug or memory exhaustion; the connection survives.
    return error_response(500, "internal_error", e.what());
  }
  return error_response(500, "internal_error", "unhandled route");
}

}  // namespace aethel::api
