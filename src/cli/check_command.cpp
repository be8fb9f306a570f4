// `aethel status` and `aethel check` (SPEC §2, §6.5): poll every node's public API
// and show, or judge, the lattice as a whole.
//
// A node is polled with four GETs: `/` (name, peer_id, role),
// `/api/lattice/p2p/status` (peers, sync_mode), `/api/lattice/state?limit=0`
// (merkle_root, height) and `/api/lattice/health` (status). An endpoint a node does
// not serve (404) is "unknown": status shows it, check fails on it, because a check
// that cannot see something must not call it healthy.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli.h"
#include "cli/node_client.h"
#include "http/http.h"

namespace aethel::cli {
namespace json = boost::json;
namespace {

constexpr uint32_t kDefaultTimeout_ms = 3'000;
// Commits are in flight while we poll one node after another, so heights may
// differ for a moment; check re-polls this long before calling it a mismatch.
constexpr uint32_t kDefaultSettle_ms = 5'000;
constexpr uint32_t kRepollInterval_ms = 250;
constexpr size_t kRootPrefixChars = 16;

// What one node told us. Optional fields are unknown: the endpoint answered 404 or
// something unusable (`notes` says which).
struct NodeReport {
  std::string url;
  bool reachable = false;
  std::string error;  // why not reachable
  std::string name;
  std::string peer_id;
  std::string role;
  std::optional<std::string> sync_mode;
  std::optional<uint64_t> peers;
  std::optional<std::string> health;
  std::optional<uint64_t> height;
  std::optional<std::string> merkle_root;
  std::vector<std::string> notes;  // "GET /api/lattice/health: 404 (not served)"
};

struct CheckResult {
  std::string name;  // reachable, health, peers, roots
  bool ok = true;
  std::vector<std::string> failures;
};

struct Options {
  std::vector<std::string> urls;
  bool json_output = false;
  uint32_t timeout_ms = kDefaultTimeout_ms;
  uint32_t settle_ms = kDefaultSettle_ms;
};

// ---------------------------------------------------------------------------
// Polling

std::optional<uint64_t> unsigned_field(const json::object& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (it->value().is_uint64()) return it->value().as_uint64();
  if (it->value().is_int64() && it->value().as_int64() >= 0) {
    return static_cast<uint64_t>(it->value().as_int64());
  }
  return std::nullopt;
}

// One GET whose body is a JSON object. nullopt (with a note) when the node answers
// something else; `accepted` lists the statuses whose body is still meaningful
// (health answers 503 with its JSON when unhealthy).
std::optional<json::object> get_object(http::Connection& connection, std::string_view target,
                                       NodeReport& report,
                                       std::initializer_list<unsigned> accepted = {200}) {
  auto reply = connection.call("GET", target);
  if (!reply.ok()) {
    report.notes.push_back(fmt::format("GET {}: {}", target, reply.error().message));
    return std::nullopt;
  }
  unsigned status = reply.value().status;
  if (std::find(accepted.begin(), accepted.end(), status) == accepted.end()) {
    report.notes.push_back(fmt::format("GET {}: HTTP {}{}", target, status,
                                       status == 404 ? " (not served by this node)" : ""));
    return std::nullopt;
  }
  json::error_code ec;
  json::value body = json::parse(reply.value().body, ec);
  if (ec || !body.is_object()) {
    report.notes.push_back(fmt::format("GET {}: the answer is not a JSON object", target));
    return std::nullopt;
  }
  return std::move(body.as_object());
}

// Peers over some transport: entries of peers[] whose transport is p2p or http (a
// peer reachable only over HTTP still carries consensus, SPEC §1 "two lungs"); a
// node without the peers[] detail is taken at its peer_count.
std::optional<uint64_t> count_peers(const json::object& status) {
  auto it = status.find("peers");
  if (it != status.end() && it->value().is_array()) {
    uint64_t count = 0;
    for (const json::value& peer : it->value().as_array()) {
      if (!peer.is_object()) continue;
      auto transport = string_field(peer.as_object(), "transport");
      if (transport == "p2p" || transport == "http") ++count;
    }
    return count;
  }
  return unsigned_field(status, "peer_count");
}

NodeReport poll_node(const std::string& url, uint32_t timeout_ms) {
  NodeReport report;
  report.url = url;
  auto parsed = http::parse_url(url);
  if (!parsed.ok()) {
    report.error = parsed.error().message;
    return report;
  }
  // One kept-alive connection for the four GETs (one TLS handshake for https).
  auto connection = http::Connection::open(parsed.value(), client_options(timeout_ms));
  if (!connection.ok()) {
    report.error = connection.error().message;
    return report;
  }
  http::Connection& node = *connection.value();
  auto reply = node.call("GET", "/");
  if (!reply.ok()) {
    report.error = reply.error().message;
    return report;
  }
  report.reachable = true;
  json::error_code ec;
  json::value root = json::parse(reply.value().body, ec);
  if (!ec && root.is_object()) {
    const json::object& about = root.as_object();
    report.name = string_field(about, "node_name").value_or("");
    report.peer_id = string_field(about, "peer_id").value_or("");
    report.role = string_field(about, "role").value_or("");
  } else {
    report.notes.push_back(fmt::format("GET /: HTTP {}, not a JSON object", reply.value().status));
  }
  if (auto p2p = get_object(node, "/api/lattice/p2p/status", report)) {
    report.sync_mode = string_field(*p2p, "sync_mode");
    report.peers = count_peers(*p2p);
  }
  if (auto state = get_object(node, "/api/lattice/state?limit=0&consistency=stale", report)) {
    report.merkle_root = string_field(*state, "merkle_root");
    report.height = unsigned_field(*state, "height");
  }
  if (auto health = get_object(node, "/api/lattice/health", report, {200, 503})) {
    report.health = string_field(*health, "status");
  }
  return report;
}

std::vector<NodeReport> poll_all(const Options& options) {
  std::vector<NodeReport> reports;
  for (const std::string& url : options.urls) reports.push_back(poll_node(url, options.timeout_ms));
  return reports;
}

// ---------------------------------------------------------------------------
// Judging (SPEC §6.5)

std::string label(const NodeReport& node) {
  return node.name.empty() ? node.url : fmt::format("{} ({})", node.name, node.url);
}

std::string root_prefix(const std::optional<std::string>& root) {
  return root ? root->substr(0, kRootPrefixChars) : "unknown";
}

// Why a field is unknown: the note of the GET that should have given it (an HTTP
// 404 says the node does not serve that endpoint yet), else "no such field".
std::string why_unknown(const NodeReport& node, std::string_view path, std::string_view field) {
  for (const std::string& note : node.notes) {
    if (note.starts_with(fmt::format("GET {}", path))) return note;
  }
  return fmt::format("GET {} gave no {}", path, field);
}

CheckResult check_reachable(const std::vector<NodeReport>& nodes) {
  CheckResult result{"reachable", true, {}};
  for (const NodeReport& node : nodes) {
    if (!node.reachable)
      result.failures.push_back(fmt::format("{} is unreachable: {}", node.url, node.error));
  }
  return result;
}

CheckResult check_health(const std::vector<NodeReport>& nodes) {
  CheckResult result{"health", true, {}};
  for (const NodeReport& node : nodes) {
    if (!node.reachable) continue;  // already reported as unreachable
    if (!node.health) {
      result.failures.push_back(fmt::format("{}: health unknown ({})", label(node),
                                            why_unknown(node, "/api/lattice/health", "status")));
    } else if (*node.health != "healthy") {
      result.failures.push_back(fmt::format("{} is {}", label(node), *node.health));
    }
  }
  return result;
}

CheckResult check_peers(const std::vector<NodeReport>& nodes) {
  CheckResult result{"peers", true, {}};
  const uint64_t needed = nodes.size() - 1;
  for (const NodeReport& node : nodes) {
    if (!node.reachable) continue;
    if (!node.peers) {
      result.failures.push_back(fmt::format("{}: peers unknown ({}), need >= {}", label(node),
                                            why_unknown(node, "/api/lattice/p2p/status", "peers"),
                                            needed));
    } else if (*node.peers < needed) {
      result.failures.push_back(
          fmt::format("{} has {} peers, needs >= {}", label(node), *node.peers, needed));
    }
  }
  return result;
}

std::string roots_listing(const std::vector<NodeReport>& nodes) {
  std::string out;
  for (const NodeReport& node : nodes) {
    if (!node.reachable) continue;
    out += fmt::format("{}{} at height {} root {}", out.empty() ? "" : "; ", label(node),
                       node.height ? std::to_string(*node.height) : "unknown",
                       root_prefix(node.merkle_root));
  }
  return out;
}

bool heights_agree(const std::vector<NodeReport>& nodes) {
  std::optional<uint64_t> first;
  for (const NodeReport& node : nodes) {
    if (!node.reachable || !node.height) continue;
    if (first && *first != *node.height) return false;
    first = node.height;
  }
  return true;
}

CheckResult check_roots(const std::vector<NodeReport>& nodes) {
  CheckResult result{"roots", true, {}};
  for (const NodeReport& node : nodes) {
    if (node.reachable && (!node.merkle_root || !node.height)) {
      result.failures.push_back(
          fmt::format("{}: merkle_root/height unknown ({})", label(node),
                      why_unknown(node, "/api/lattice/state", "merkle_root/height")));
    }
  }
  if (!result.failures.empty()) return result;
  if (!heights_agree(nodes)) {
    result.failures.push_back("root mismatch: heights still differ after re-polling: " +
                              roots_listing(nodes));
    return result;
  }
  std::optional<std::string> first;
  for (const NodeReport& node : nodes) {
    if (!node.reachable) continue;
    if (first && *first != *node.merkle_root) {
      result.failures.push_back("root mismatch at the same height: " + roots_listing(nodes));
      break;
    }
    first = node.merkle_root;
  }
  return result;
}

// Re-polls while heights differ (commits in flight), for at most settle_ms.
std::vector<NodeReport> poll_until_heights_settle(const Options& options) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.settle_ms);
  std::vector<NodeReport> nodes = poll_all(options);
  while (!heights_agree(nodes) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kRepollInterval_ms));  // poll interval
    nodes = poll_all(options);
  }
  return nodes;
}

std::vector<CheckResult> judge(const std::vector<NodeReport>& nodes) {
  std::vector<CheckResult> checks = {check_reachable(nodes), check_health(nodes),
                                     check_peers(nodes), check_roots(nodes)};
  for (CheckResult& check : checks) check.ok = check.failures.empty();
  return checks;
}

// ---------------------------------------------------------------------------
// Output

std::string or_unknown(const std::optional<std::string>& value) {
  return value.value_or("unknown");
}
std::string or_unknown(const std::optional<uint64_t>& value) {
  return value ? std::to_string(*value) : "unknown";
}

void print_table(const std::vector<NodeReport>& nodes) {
  constexpr std::string_view kRow = "{:<28} {:<14} {:<9} {:<10} {:<8} {:>7} {:>8} {:<16} {}\n";
  fmt::print(kRow, "NODE", "NAME", "REACHABLE", "ROLE", "MODE", "PEERS", "HEIGHT", "ROOT",
             "HEALTH");
  for (const NodeReport& node : nodes) {
    if (!node.reachable) {
      fmt::print(kRow, node.url, "-", "no", "-", "-", "-", "-", "-", "unreachable");
      continue;
    }
    fmt::print(kRow, node.url, node.name.empty() ? "?" : node.name, "yes",
               node.role.empty() ? "?" : node.role, or_unknown(node.sync_mode),
               or_unknown(node.peers), or_unknown(node.height), root_prefix(node.merkle_root),
               or_unknown(node.health));
  }
  for (const NodeReport& node : nodes) {
    if (!node.reachable) fmt::print("  {}: unreachable: {}\n", node.url, node.error);
    for (const std::string& note : node.notes) fmt::print("  {}: {}\n", node.url, note);
  }
}

template <class T>
json::value optional_json(const std::optional<T>& value) {
  return value ? json::value(*value) : json::value(nullptr);
}

json::object node_json(const NodeReport& node) {
  json::array notes;
  for (const std::string& note : node.notes) notes.emplace_back(note);
  return {{"url", node.url},
          {"reachable", node.reachable},
          {"error", node.reachable ? json::value(nullptr) : json::value(node.error)},
          {"name", node.name},
          {"peer_id", node.peer_id},
          {"role", node.role},
          {"sync_mode", optional_json(node.sync_mode)},
          {"peers", optional_json(node.peers)},
          {"height", optional_json(node.height)},
          {"merkle_root", optional_json(node.merkle_root)},
          {"health", optional_json(node.health)},
          {"notes", std::move(notes)}};
}

json::array nodes_json(const std::vector<NodeReport>& nodes) {
  json::array out;
  for (const NodeReport& node : nodes) out.push_back(node_json(node));
  return out;
}

json::array checks_json(const std::vector<CheckResult>& checks) {
  json::array out;
  for (const CheckResult& check : checks) {
    json::array failures;
    for (const std::string& failure : check.failures) failures.emplace_back(failure);
    out.push_back(json::object{{"name", check.name}, {"ok", check.ok}, {"failures", failures}});
  }
  return out;
}

// ---------------------------------------------------------------------------
// Arguments

std::vector<std::string> split_urls(std::string_view csv) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= csv.size()) {
    size_t comma = std::min(csv.find(',', start), csv.size());
    if (comma > start) out.emplace_back(csv.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::optional<uint32_t> parse_ms(const std::string& text) {
  try {
    size_t used = 0;
    unsigned long value = std::stoul(text, &used);
    if (used != text.size() || value > 600'000) return std::nullopt;
    return static_cast<uint32_t>(value);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Both commands take URLs as arguments and/or `--nodes URL,URL`.
std::optional<Options> parse_options(const Args& args) {
  Options options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    bool has_value = i + 1 < args.size();
    if (arg == "--json") {
      options.json_output = true;
    } else if (arg == "--nodes" && has_value) {
      for (std::string& url : split_urls(args[++i])) options.urls.push_back(std::move(url));
    } else if ((arg == "--timeout-ms" || arg == "--settle-ms") && has_value) {
      auto value = parse_ms(args[++i]);
      if (!value) return std::nullopt;
      (arg == "--timeout-ms" ? options.timeout_ms : options.settle_ms) = *value;
    } else if (!arg.starts_with("-")) {
      for (std::string& url : split_urls(arg)) options.urls.push_back(std::move(url));
    } else {
      return std::nullopt;
    }
  }
  if (options.urls.empty()) return std::nullopt;
  return options;
}

}  // namespace

int run_status(const Args& args) {
  auto options = parse_options(args);
  if (!options) {
    fmt::print(stderr, "usage: aethel status --nodes URL,URL,... [--json] [--timeout-ms N]\n");
    return kExitUsage;
  }
  std::vector<NodeReport> nodes = poll_all(*options);
  bool all_reachable =
      std::all_of(nodes.begin(), nodes.end(), [](const NodeReport& n) { return n.reachable; });
  if (options->json_output) {
    fmt::print("{}\n", json::serialize(json::object{{"nodes", nodes_json(nodes)}}));
  } else {
    print_table(nodes);
  }
  return all_reachable ? kExitOk : kExitFailed;
}

int run_check(const Args& args) {
  auto options = parse_options(args);
  if (!options) {
    fmt::print(stderr,
               "usage: aethel check URL... [--nodes URL,...] [--json] [--timeout-ms N] "
               "[--settle-ms N]\n");
    return kExitUsage;
  }
  std::vector<NodeReport> nodes = poll_until_heights_settle(*options);
  std::vector<CheckResult> checks = judge(nodes);
  bool healthy =
      std::all_of(checks.begin(), checks.end(), [](const CheckResult& c) { return c.ok; });
  if (options->json_output) {
    fmt::print("{}\n", json::serialize(json::object{{"healthy", healthy},
                                                    {"nodes", nodes_json(nodes)},
                                                    {"checks", checks_json(checks)}}));
    return healthy ? kExitOk : kExitFailed;
  }
  print_table(nodes);
  for (const CheckResult& check : checks) {
    for (const std::string& failure : check.failures) {
      fmt::print("FAIL {}: {}\n", check.name, failure);
    }
  }
  if (healthy) {
    fmt::print("OK: {} nodes reachable and healthy, each with >= {} peers, root {} at height {}\n",
               nodes.size(), nodes.size() - 1, root_prefix(nodes.front().merkle_root),
               or_unknown(nodes.front().height));
  }
  return healthy ? kExitOk : kExitFailed;
}

}  // namespace aethel::cli
