// The routes of SPEC §4 for a single node: targets, the route table, and every
// route answered at once (reads, status, node-to-node, admin). No sockets here: a
// Request in, a JSON Response out. The write routes are in writes.cpp, where each
// route runs is decided in router.cpp.
#include "api/routes.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <map>
#include <variant>

#include "metrics/metrics.h"

namespace aethel::api {
namespace json = boost::json;
namespace {

constexpr size_t kDefaultStatePageAccounts = 1'000;
constexpr uint32_t kDefaultBlocksPerPage = 100;

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

}  // namespace

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

namespace {

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

json::object item_json(const ledger::Transfer& t) {
  json::object out;
  if (t.invocation) {
    json::object arguments;
    for (const auto& [name, value] : t.invocation->arguments) arguments[name] = value;
    out = {{"intent", t.invocation->intent}, {"arguments", std::move(arguments)}, {"memo", t.memo}};
  } else {
    out = {{"from", t.from}, {"to", t.to}, {"amount", t.amount}, {"memo", t.memo}};
  }
  if (t.nonce) out["nonce"] = *t.nonce;
  if (t.signature) out["signature"] = ledger::to_hex(*t.signature);
  if (t.owner) out["owner"] = ledger::to_hex(*t.owner);
  return out;
}

json::object account_json(const ledger::Account& account) {
  json::object out{{"balance", account.balance}, {"nonce", account.nonce}};
  if (account.owner) out["owner"] = ledger::to_hex(*account.owner);
  return out;
}

json::object transaction_json(const ledger::Transaction& tx) {
  json::array transfers;
  for (const ledger::Transfer& t : tx.transfers) transfers.push_back(item_json(t));
  json::object out{
      {"id", tx.client_id}, {"kind", transaction_kind(tx)}, {"transfers", std::move(transfers)}};
  if (tx.kind == ledger::TxKind::kDeploy) {
    out["intent_source"] = tx.intent_source;
    out["deployed_by"] = tx.deployed_by;
  }
  return out;
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
      state[name] = account_json(account);
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
  uint64_t timestamp = lattice::unix_time_ms();
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
  json::object out = account_json(*found.first);
  out["success"] = true;
  out["name"] = name;
  out["height"] = found.second;
  return json_response(200, out);
}

Response proof_route(const node::Node& node, const std::string& name) {
  std::string document = node.read([&](const ledger::Ledger& ledger) {
    return ledger::proof_document_to_json(ledger.prove_document(name));
  });
  json::object response = json::parse(document).as_object();
  response["success"] = true;
  return json_response(200, response);
}

Response intents_route(const node::Node& node) {
  json::object response = node.read([](const ledger::Ledger& ledger) {
    json::array intents;
    for (const ledger::DeployedIntent& intent : ledger.intents()) {
      intents.push_back(deployed_intent_json(intent));
    }
    return json::object{{"success", true},
                        {"height", ledger.height()},
                        {"merkle_root", ledger::to_hex(ledger.root())},
                        {"intents", std::move(intents)}};
  });
  return json_response(200, response);
}

Response intent_route(const node::Node& node, const std::string& name) {
  auto [found, height] = node.read([&](const ledger::Ledger& ledger) {
    return std::make_pair(ledger.intent(name), ledger.height());
  });
  if (!found) {
    return error_response(404, "unknown_intent",
                          fmt::format("no deployed intent is named '{}'", printable(name)));
  }
  json::object response = deployed_intent_json(*found);
  response["success"] = true;
  response["height"] = height;
  return json_response(200, response);
}

// Account names are checked before the ledger sees them (SPEC §9: a malformed path
// parameter is a 400).
std::optional<Response> refuse_account_name(const std::string& name) {
  if (ledger::is_valid_account_name(name)) return std::nullopt;
  return bad_request("bad_account_name",
                     fmt::format("'{}' is not an account name: 1..{} bytes of [A-Za-z0-9_.-]",
                                 printable(name), ledger::kMaxAccountNameBytes));
}

// ?account=NAME looks the id up in that account's scope (client ids are scoped to
// the debited account); without it, in any scope.
Response tx_route(const node::Node& node, const std::string& id, const Target& target) {
  std::optional<std::string_view> scope;
  if (auto it = target.query.find("account"); it != target.query.end()) {
    if (auto refused = refuse_account_name(it->second)) return *refused;
    scope = it->second;
  }
  auto [found, height] = node.read([&](const ledger::Ledger& ledger) {
    return std::make_pair(ledger.find_transaction(id, scope), ledger.height());
  });
  if (!found) {  // beyond the ledger's retention window: the durable index
    auto recorded = node.recorded_outcome(id, scope);
    if (!recorded.ok()) {
      const base::Error& error = recorded.error();
      return error_response(
          503, error.code == "history_incomplete" ? "history_incomplete" : "storage_error",
          error.message);
    }
    found = std::move(recorded).value();
  }
  if (!found) {
    return error_response(
        404, "unknown_transaction",
        fmt::format("no remembered transaction with id '{}' at height {}", printable(id), height));
  }
  json::object response = outcome_json(*found);
  response["success"] = true;
  response["ledger_height"] = height;  // the state this answer reflects
  return json_response(200, response);
}

// How much of the chain this node holds: every block from 1, or the lowest gap that
// the back-fill (node/history.h) has not closed yet.
json::object history_json(const node::Node& node) {
  auto gap = node.history_gap();
  if (!gap.ok()) return {{"complete", nullptr}, {"error", gap.error().message}};
  if (!gap.value()) return {{"complete", true}};
  return {{"complete", false},
          {"missing_from", gap.value()->from},
          {"missing_to", gap.value()->to - 1}};
}

json::object block_json(const node::Block& block) {
  json::array txs;
  for (const ledger::Transaction& tx : block.transactions) txs.push_back(transaction_json(tx));
  return {{"height", block.height},
          {"prev_root", ledger::to_hex(block.prev_root)},
          {"transactions", std::move(txs)}};
}

// Applied blocks from `first`, at most `count`: decoded, or as stored (hex).
base::Result<json::array> blocks_json(const node::Node& node, uint64_t first, uint32_t count,
                                      uint64_t height, bool raw) {
  json::array blocks;
  if (count == 0 || first > height) return blocks;
  if (raw) {
    auto stored = node.stored_blocks(first, count, kMaxBlocksPageBytes);
    if (!stored.ok()) return stored.error();
    for (const storage::Block& block : stored.value()) {
      if (block.height > height) break;  // durable but not yet applied: not served yet
      blocks.push_back(json::object{{"height", block.height}, {"data", base::to_hex(block.data)}});
    }
    return blocks;
  }
  auto decoded = node.blocks(first, count, kMaxBlocksPageBytes);
  if (!decoded.ok()) return decoded.error();
  for (const node::Block& block : decoded.value()) {
    if (block.height > height) break;
    blocks.push_back(block_json(block));
  }
  return blocks;
}

Response blocks_route(const node::Node& node, const Target& target) {
  Number from = query_number(target, "from", 1);
  if (from.error) return *from.error;
  Number limit = query_number(target, "limit", kDefaultBlocksPerPage);
  if (limit.error) return *limit.error;
  auto encoding = target.query.find("encoding");
  bool raw = encoding != target.query.end() && encoding->second == "hex";
  if (encoding != target.query.end() && !raw) {
    return bad_request("bad_query", fmt::format("query parameter 'encoding'='{}' must be 'hex'",
                                                encoding->second));
  }
  uint32_t count = static_cast<uint32_t>(std::min<uint64_t>(*limit.value, kMaxBlocksPerPage));
  uint64_t first = std::max<uint64_t>(*from.value, 1);
  uint64_t height = node.read([](const ledger::Ledger& ledger) { return ledger.height(); });
  auto blocks = blocks_json(node, first, count, height, raw);
  if (!blocks.ok()) return error_response(503, "storage_error", blocks.error().message);
  return json_response(200, {{"success", true},
                             {"height", height},
                             {"history", history_json(node)},
                             {"blocks", std::move(blocks).value()}});
}

// The genesis every replay starts from (`aethel audit`).
Response genesis_route(const RouterOptions& options) {
  json::error_code ec;
  json::value genesis = json::parse(options.genesis_json, ec);
  if (ec || !genesis.is_object()) {
    return error_response(404, "not_found", "this node does not publish its genesis");
  }
  return json_response(200, {{"success", true}, {"genesis", genesis}});
}

// ---------------------------------------------------------------------------
// The lattice (SPEC §4, §6)
// ---------------------------------------------------------------------------

Response lattice_unavailable() {
  return error_response(503, "not_ready", "the lattice is not running on this node");
}

// Compares without an early exit, so the time taken says nothing about the token.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ |= static_cast<unsigned char>(a[i] ^ b[i]);
  return differ == 0;
}

// Admin routes (SPEC §9): the bearer token from every caller, loopback included; no
// address is trusted by itself.
}  // namespace

std::optional<Response> refuse_admin(const Request& request, const RouterOptions& options) {
  std::string_view given = request.header("Authorization");
  if (given.empty()) {
    return error_response(401, "unauthorized",
                          "this admin route needs Authorization: Bearer <token> (the "
                          "AETHEL_ADMIN_TOKEN of the node, or <data dir>/admin.token; "
                          "`aethel admin` sends it)");
  }
  constexpr std::string_view kBearer = "Bearer ";
  bool bearer = given.starts_with(kBearer);
  if (options.admin_token && !options.admin_token->empty() && bearer &&
      same_secret(given.substr(kBearer.size()), *options.admin_token)) {
    return std::nullopt;
  }
  return error_response(401, "unauthorized",
                        bearer ? "the admin token in Authorization: Bearer is not this node's"
                               : "the Authorization header must be 'Bearer <token>'");
}

namespace {}  // namespace

lattice::SignedHeaders signed_headers_of(const Request& request) {
  return lattice::SignedHeaders{std::string(request.header("X-Aethel-Peer")),
                                std::string(request.header("X-Aethel-To")),
                                std::string(request.header("X-Aethel-Timestamp")),
                                std::string(request.header("X-Aethel-Nonce")),
                                std::string(request.header("X-Aethel-Body-Sha256")),
                                std::string(request.header("X-Aethel-Signature"))};
}

namespace {

// The headers were authenticated before the body was read (Router::screen).
Response internal_messages_route(lattice::Lattice& lattice, const Request& request) {
  auto delivered = lattice.deliver(request.principal, signed_headers_of(request), request.body);
  if (!delivered.ok()) {
    unsigned status = delivered.error().code == "unauthorized" ? 401 : 400;
    return error_response(status, delivered.error().code, delivered.error().message);
  }
  return json_response(200, {{"success", true}, {"delivered", delivered.value()}});
}

Response health_route(const lattice::Lattice& lattice, node::Node& node) {
  json::object health = health_json(lattice.status(), node.consensus_status());
  bool unhealthy = health["status"].as_string() == "unhealthy";
  return json_response(unhealthy ? 503 : 200, health);
}

Response switch_route(lattice::Lattice& lattice, const Target& target) {
  auto mode = target.query.find("mode");
  if (mode == target.query.end()) {
    return bad_request("missing_query", "use ?mode=p2p, ?mode=http or ?mode=auto");
  }
  auto switched = lattice.switch_mode(mode->second);
  if (!switched.ok()) return bad_request(switched.error().code, switched.error().message);
  return json_response(200, {{"success", true},
                             {"requested", mode->second},
                             {"sync_mode", lattice::sync_mode_name(switched.value())}});
}

Response p2p_switch_route(lattice::Lattice& lattice, bool start) {
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

}  // namespace

std::optional<Match> match_route(const std::string& path, std::string_view method) {
  static const std::array<std::pair<std::string_view, std::pair<RouteId, std::string_view>>, 25>
      exact = {{
          {"/metrics", {RouteId::kMetrics, "GET"}},
          {"/", {RouteId::kRoot, "GET"}},
          {"/health", {RouteId::kHealth, "GET"}},
          {"/api/verify", {RouteId::kVerify, "POST"}},
          {"/api/lattice/transactions", {RouteId::kTransactions, "POST"}},
          {"/api/lattice/state", {RouteId::kState, "GET"}},
          {"/api/lattice/blocks", {RouteId::kBlocks, "GET"}},
          {"/api/lattice/genesis", {RouteId::kGenesis, "GET"}},
          {lattice::kInternalMessagesPath, {RouteId::kInternalMessages, "POST"}},
          {"/api/lattice/p2p/status", {RouteId::kP2pStatus, "GET"}},
          {"/api/lattice/p2p/identity", {RouteId::kP2pIdentity, "GET"}},
          {"/api/lattice/health", {RouteId::kLatticeHealth, "GET"}},
          {"/api/lattice/nodes", {RouteId::kNodes, "GET"}},
          {"/api/lattice/network", {RouteId::kNetwork, "GET"}},
          {"/api/lattice/sync/switch", {RouteId::kSyncSwitch, "POST"}},
          {"/api/lattice/p2p/stop", {RouteId::kP2pStop, "POST"}},
          {"/api/lattice/p2p/start", {RouteId::kP2pStart, "POST"}},
          {"/api/openapi.json", {RouteId::kOpenApi, "GET"}},
          {"/api/lattice/events", {RouteId::kEvents, "GET"}},
          {"/api/lattice/intents", {RouteId::kIntents, "GET"}},
          {"/api/lattice/intents", {RouteId::kDeployIntent, "POST"}},
          {"/api/lattice/members", {RouteId::kMembers, "GET"}},
          {"/api/lattice/members", {RouteId::kAddMember, "POST"}},
          {"/api/lattice/members/promote", {RouteId::kPromoteMember, "POST"}},
          {"/api/lattice/members/remove", {RouteId::kRemoveMember, "POST"}},
      }};
  std::optional<Match> other_method;  // the path's route for another method: a 405
  for (const auto& [route, id_and_method] : exact) {
    if (path != route) continue;
    Match match{id_and_method.first, id_and_method.second, {}, route};
    if (id_and_method.second == method) return match;
    if (!other_method) other_method = match;
  }
  if (other_method) return other_method;
  struct Prefixed {
    std::string_view prefix;
    RouteId id;
    std::string_view route;
  };
  static const std::array<Prefixed, 4> prefixed = {{
      {"/api/lattice/accounts/", RouteId::kAccount, "/api/lattice/accounts/{name}"},
      {"/api/lattice/proof/", RouteId::kProof, "/api/lattice/proof/{name}"},
      {"/api/lattice/tx/", RouteId::kTx, "/api/lattice/tx/{id}"},
      {"/api/lattice/intents/", RouteId::kIntent, "/api/lattice/intents/{name}"},
  }};
  for (const auto& [prefix, id, route] : prefixed) {
    if (!path.starts_with(prefix) || path.size() == prefix.size()) continue;
    std::string_view rest = std::string_view(path).substr(prefix.size());
    if (rest.find('/') != std::string_view::npos) return std::nullopt;
    auto decoded = percent_decode(rest);
    if (!decoded) return Match{id, "GET", std::string(rest), route, true};
    return Match{id, "GET", *decoded, route};
  }
  return std::nullopt;
}

namespace {

Response lattice_route(RouteId route, const Request& request, const Target& target,
                       node::Node& node, const RouterOptions& options) {
  lattice::Lattice* lattice = options.lattice;
  if (lattice == nullptr) return lattice_unavailable();
  if (is_admin_route(route)) {
    if (auto refused = refuse_admin(request, options)) return *refused;
  }
  switch (route) {
    case RouteId::kInternalMessages:
      return internal_messages_route(*lattice, request);
    case RouteId::kP2pStatus:
      return json_response(200, p2p_status_json(lattice->status()));
    case RouteId::kP2pIdentity:
      return json_response(200, identity_json(lattice->status()));
    case RouteId::kLatticeHealth:
      return health_route(*lattice, node);
    case RouteId::kNodes:
      return json_response(200, nodes_json(lattice->status()));
    case RouteId::kNetwork:
      return json_response(200, with_success(network_json(lattice->status(), options.tls_ca_file)));
    case RouteId::kSyncSwitch:
      return switch_route(*lattice, target);
    case RouteId::kP2pStop:
      return p2p_switch_route(*lattice, false);
    case RouteId::kP2pStart:
      return p2p_switch_route(*lattice, true);
    case RouteId::kMembers:
      return members_route(node, options);
    case RouteId::kAddMember:
    case RouteId::kPromoteMember:
    case RouteId::kRemoveMember:
      return member_change_route(node, options, route, request);
    default:
      return error_response(500, "internal_error", "unhandled route");
  }
}

// GET /metrics: the gauges that are cheaper to read than to push are refreshed here.
Response metrics_page(node::Node& node, const RouterOptions& options) {
  if (options.metrics == nullptr) {
    return error_response(404, "not_found", "metrics are not enabled on this node");
  }
  metrics::Metrics& m = *options.metrics;
  m.set_height(node.read([](const ledger::Ledger& l) { return l.height(); }));
  m.set_raft(node.consensus_status().term, node.is_leader());
  if (options.lattice != nullptr) {
    lattice::Status status = options.lattice->status();
    m.set_peers(status.peer_count, status.http_peers);
    m.set_sync_mode(lattice::sync_mode_name(status.sync_mode));
  }
  return Response{200, m.render(), std::string(metrics::kContentType), {}};
}

Response dispatch(node::Node& node, const RouterOptions& options, const Match& match,
                  const Request& request, const Target& target) {
  switch (match.id) {
    case RouteId::kRoot:
      return json_response(200, {{"name", kProductName},
                                 {"version", kVersion},
                                 {"node_name", options.node_name},
                                 {"peer_id", node.peer_id()},
                                 {"role", node.consensus_status().role},
                                 {"status", "operational"}});
    case RouteId::kHealth:
      return json_response(200, {{"status", "healthy"}});
    case RouteId::kState:
      return state_route(node, options, target);
    case RouteId::kAccount:
      if (auto refused = refuse_account_name(match.argument)) return *refused;
      return account_route(node, match.argument);
    case RouteId::kProof:
      if (auto refused = refuse_account_name(match.argument)) return *refused;
      return proof_route(node, match.argument);
    case RouteId::kTx:
      return tx_route(node, match.argument, target);
    case RouteId::kIntents:
      return intents_route(node);
    case RouteId::kIntent:
      return intent_route(node, match.argument);
    case RouteId::kBlocks:
      return blocks_route(node, target);
    case RouteId::kGenesis:
      return genesis_route(options);
    case RouteId::kMetrics:
      return metrics_page(node, options);
    case RouteId::kOpenApi:
      return Response{200, std::string(openapi_document()), "application/json", {}};
    default:
      return lattice_route(match.id, request, target, node, options);
  }
}

}  // namespace

Response error_response(unsigned status, std::string_view code, std::string_view message) {
  json::object body{{"success", false},
                    {"error", json::object{{"code", code}, {"message", message}}}};
  return Response{status, json::serialize(body), "application/json", {}};
}

Response json_response(unsigned status, const json::object& body) {
  return Response{status, json::serialize(body), "application/json", {}};
}

Response bad_request(std::string_view code, std::string_view message) {
  return error_response(400, code, message);
}

Response overloaded(std::string_view message) {
  Response r = error_response(429, "overloaded", message);
  r.headers.emplace_back("Retry-After", std::to_string(kOverloadedRetryAfter_s));
  return r;
}

Response unavailable(const ledger::Error& error) {
  // history_incomplete: the leader cannot yet tell whether a client id was used before.
  const char* code = error.code == "history_incomplete" ? "history_incomplete" : "unavailable";
  json::object body{{"success", false},
                    {"error", json::object{{"code", code}, {"message", error.message}}},
                    // It may or may not commit later; a retry with the same id is safe.
                    {"outcome", "unknown"}};
  return json_response(503, body);
}

json::object outcome_json(const ledger::Outcome& outcome) {
  json::object out{{"id", outcome.tx_id},
                   {"status", outcome.committed() ? "committed" : "failed"},
                   {"code", ledger::to_string(outcome.code)},
                   {"message", outcome.message},
                   {"height", outcome.height},
                   {"index", outcome.index},
                   {"exists", outcome.exists}};
  if (!outcome.committed()) out["failed_transfer"] = outcome.failed_transfer;
  if (!outcome.scope.empty()) out["account"] = outcome.scope;
  return out;
}

const char* transaction_kind(const ledger::Transaction& tx) {
  switch (tx.kind) {
    case ledger::TxKind::kAtomicBatch:
      return "atomic_batch";
    case ledger::TxKind::kDeploy:
      return "deploy";
    case ledger::TxKind::kOpenAccount:
      return "open_account";
    case ledger::TxKind::kSetOwner:
      return "set_owner";
    case ledger::TxKind::kTransfer:
      break;
  }
  return tx.transfers.size() == 1 && tx.transfers[0].invocation ? "invocation" : "transfer";
}

json::object deployed_intent_json(const ledger::DeployedIntent& intent) {
  json::array params;
  for (const auto& [name, type] : intent.params) {
    params.push_back(json::object{{"name", name}, {"type", type}});
  }
  return {{"name", intent.name},
          {"version", intent.version},
          {"params", std::move(params)},
          {"source", intent.source},
          {"deployed_at_height", intent.deployed_at_height},
          {"deployed_by", intent.deployed_by}};
}

bool is_admin_route(RouteId id) {
  return id == RouteId::kSyncSwitch || id == RouteId::kP2pStop || id == RouteId::kP2pStart ||
         id == RouteId::kAddMember || id == RouteId::kPromoteMember || id == RouteId::kRemoveMember;
}

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '%') {
      out += fmt::format("%{:02X}", byte);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Lane lane_of(RouteId id) {
  switch (id) {
    case RouteId::kVerify:
    case RouteId::kTransactions:
    case RouteId::kDeployIntent:
      return Lane::kWrite;
    case RouteId::kNetwork:     // fans out to every node, 1 s timeouts
    case RouteId::kSyncSwitch:  // the admin routes may wait for the P2P host
    case RouteId::kP2pStop:
    case RouteId::kP2pStart:
    case RouteId::kAddMember:  // waits for the new member's URL, then for the commit
    case RouteId::kPromoteMember:
    case RouteId::kRemoveMember:
      return Lane::kBlocking;
    case RouteId::kState:
    case RouteId::kAccount:
    case RouteId::kProof:
    case RouteId::kTx:
    case RouteId::kIntents:
    case RouteId::kIntent:
      return Lane::kRead;
    default:
      return Lane::kIoThread;
  }
}

Response answer_now(node::Node& node, const RouterOptions& options, const Match& match,
                    const Request& request, const Target& target) {
  try {
    return dispatch(node, options, match, request, target);
  } catch (const std::exception& e) {
    // Reached only by a bug or memory exhaustion; the connection survives.
    return error_response(500, "internal_error", e.what());
  }
}

namespace {

// A read that could not be served as asked; it changed nothing.
Response read_refused(const base::Error& error, uint64_t height) {
  json::object body{{"success", false},
                    {"error", json::object{{"code", error.code}, {"message", error.message}}},
                    {"height", height}};
  return json_response(503, body);
}

struct ReadMode {
  bool stale = false;
  std::optional<uint64_t> min_height;
};

std::variant<ReadMode, Response> read_mode(const Target& target) {
  ReadMode mode;
  if (auto it = target.query.find("consistency"); it != target.query.end()) {
    if (it->second != "stale" && it->second != "linearizable") {
      return bad_request("bad_query", fmt::format("query parameter 'consistency'='{}' must be "
                                                  "'linearizable' (the default) or 'stale'",
                                                  it->second));
    }
    mode.stale = it->second == "stale";
  }
  if (target.query.contains("min_height")) {
    Number height = query_number(target, "min_height", 0);
    if (height.error) return *height.error;
    mode.min_height = height.value;
  }
  return mode;
}

}  // namespace

void read_route(node::Node& node, const RouterOptions& options, const Match& match,
                const Request& request, const Target& target, const Reply& reply) {
  auto mode = read_mode(target);
  if (auto* refused = std::get_if<Response>(&mode)) return reply.send(std::move(*refused));
  bool stale = std::get<ReadMode>(mode).stale;
  auto min_height = std::get<ReadMode>(mode).min_height;
  // Runs on the consensus thread: the answer is rendered on the io thread.
  auto answer = [&node, &options, match, request, target, reply](base::Status status) {
    reply.post([&node, &options, match, request, target, reply, status] {
      if (!status.ok()) {
        uint64_t height = node.read([](const ledger::Ledger& l) { return l.height(); });
        return reply.send(read_refused(status.error(), height));
      }
      reply.send(answer_now(node, options, match, request, target));
    });
  };
  if (!min_height) {
    if (stale) return reply.send(answer_now(node, options, match, request, target));
    return node.read_linearizable_async(std::move(answer));
  }
  node.wait_for_height_async(*min_height, [&node, stale, answer](base::Status status) {
    if (!status.ok() || stale) return answer(std::move(status));
    node.read_linearizable_async(answer);
  });
}

namespace {

// Admin answers carry no CORS header, so no web page can drive a browser into them;
// nor does the node-to-node route, which no browser has a reason to call. The members
// routes share one path between a read and an admin change: none carries it.
bool cors_allowed(std::string_view route) {
  return route != "/api/lattice/sync/switch" && route != "/api/lattice/p2p/stop" &&
         route != "/api/lattice/p2p/start" && route != lattice::kInternalMessagesPath &&
         !route.starts_with("/api/lattice/members");
}

bool is_refusal(unsigned status) {
  return status == 400 || status == 401 || status == 403 || status == 405 || status == 413 ||
         status == 429;
}

}  // namespace

void count_refusal(metrics::Metrics* metrics, const Response& response) {
  if (metrics == nullptr || !is_refusal(response.status)) return;
  std::string reason = "unknown";
  json::error_code ec;
  json::value body = json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    const json::value* code = body.as_object().if_contains("error");
    if (code != nullptr && code->is_object()) code = code->as_object().if_contains("code");
    if (code != nullptr && code->is_string()) reason = code->as_string().c_str();
  }
  metrics->record_refusal(reason);
}

void Reply::send(Response response) const {
  responder_.send(record(std::move(response)));
}

void Reply::send_after(Response response, std::chrono::milliseconds delay) const {
  responder_.send_after(record(std::move(response)), delay);
}

Response Reply::record(Response response) const {
  // Lets the dashboard served by one node keep reading the others when it goes down.
  if (cors_allowed(route_)) response.headers.emplace_back("Access-Control-Allow-Origin", "*");
  count_refusal(metrics_, response);
  if (metrics_ != nullptr) {
    double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    metrics_->record_http_request(route_, response.status, seconds);
    // A 200 from a write route was answered once its block was committed and
    // applied: its duration is what a client waits for a commit.
    bool write = route_ == "/api/lattice/transactions" || route_ == "/api/verify";
    if (write && response.status == 200) metrics_->observe_commit_latency_seconds(seconds);
  }
  return response;
}

}  // namespace aethel::api
