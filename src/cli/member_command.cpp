// `aethel member` (SPEC §10): the lattice's members, and one change at a time.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "cli/cli.h"
#include "cli/node_client.h"
#include "http/http.h"

namespace aethel::cli {
namespace {

namespace json = boost::json;

constexpr uint32_t kMemberTimeout_ms = 40'000;  // a change waits for its commit
// How long a change waits for an earlier one, or for a leadership handover.
constexpr auto kRetryFor = std::chrono::seconds(20);
constexpr auto kRetryEvery = std::chrono::milliseconds(250);

struct MemberArgs {
  std::string action;  // list, add, promote, remove
  std::string peer_id;
  std::string url;
  std::vector<std::string> p2p_addrs;
  std::string node = "http://127.0.0.1:8000";
  std::optional<std::string> token_file;
  bool json = false;
};

std::optional<MemberArgs> parse_member_args(const Args& args) {
  MemberArgs out;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    bool has_value = i + 1 < args.size();
    if (args[i] == "--node" && has_value) {
      out.node = args[++i];
    } else if (args[i] == "--token-file" && has_value) {
      out.token_file = args[++i];
    } else if (args[i] == "--url" && has_value) {
      out.url = args[++i];
    } else if (args[i] == "--p2p-addr" && has_value) {
      out.p2p_addrs.push_back(args[++i]);
    } else if (args[i] == "--json") {
      out.json = true;
    } else if (args[i].starts_with("-")) {
      return std::nullopt;
    } else {
      positional.push_back(args[i]);
    }
  }
  if (positional.empty()) return std::nullopt;
  out.action = positional[0];
  if (out.action == "list") return positional.size() == 1 ? std::optional(out) : std::nullopt;
  if (out.action != "add" && out.action != "promote" && out.action != "remove") return std::nullopt;
  if (positional.size() != 2 || (out.action == "add") != !out.url.empty()) return std::nullopt;
  out.peer_id = positional[1];
  return out;
}

std::optional<json::object> object_of(const std::string& body) {
  json::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return value.as_object();
}

void print_members(const json::object& answer) {
  fmt::print("{:<54} {:<10} {:<12} {:>8}  {}\n", "PEER ID", "ROLE", "STATE", "HEIGHT", "URL");
  const json::value* members = answer.if_contains("members");
  if (!members || !members->is_array()) return;
  std::string leader = string_field(answer, "leader").value_or("");
  for (const json::value& v : members->as_array()) {
    if (!v.is_object()) continue;
    const json::object& m = v.as_object();
    const json::value* height = m.if_contains("match_height");
    std::string peer = string_field(m, "peer_id").value_or("");
    fmt::print("{:<54} {:<10} {:<12} {:>8}  {}\n", peer + (peer == leader ? " *" : ""),
               string_field(m, "role").value_or(""), string_field(m, "state").value_or(""),
               height && height->is_number() ? json::serialize(*height) : "-",
               string_field(m, "url").value_or(""));
  }
}

std::string change_body(const MemberArgs& args) {
  json::object body{{"peer_id", args.peer_id}};
  if (args.action == "add") {
    body["url"] = args.url;
    body["p2p_addrs"] = json::array(args.p2p_addrs.begin(), args.p2p_addrs.end());
  }
  return json::serialize(body);
}

std::string change_target(const MemberArgs& args) {
  return args.action == "add" ? "/api/lattice/members" : "/api/lattice/members/" + args.action;
}

// One change (the node hands it to the leader); waits out an earlier change, a
// leadership handover or an election. Returns the last reply.
base::Result<http::Reply> send_change(const MemberArgs& args, const http::Url& node,
                                      const std::string& token) {
  http::Headers headers{{"Authorization", "Bearer " + token}};
  auto deadline = std::chrono::steady_clock::now() + kRetryFor;
  while (true) {
    auto reply = http::call(node, "POST", change_target(args), change_body(args),
                            client_options(kMemberTimeout_ms), headers);
    if (!reply.ok() || reply->status != 409) return reply;
    auto answer = object_of(reply->body);
    const json::value* error = answer ? answer->if_contains("error") : nullptr;
    std::string code =
        error && error->is_object() ? string_field(error->as_object(), "code").value_or("") : "";
    bool retry = code == "change_pending" || code == "leader_handover" || code == "not_leader";
    if (!retry || std::chrono::steady_clock::now() > deadline) return reply;
    std::this_thread::sleep_for(kRetryEvery);
  }
}

int list_members(const http::Url& node, bool as_json) {
  auto reply =
      http::call(node, "GET", "/api/lattice/members", {}, client_options(kMemberTimeout_ms));
  if (!reply.ok()) {
    fmt::print(stderr, "aethel member: {}\n", reply.error().message);
    return kExitUnreachable;
  }
  auto answer = object_of(reply->body);
  if (as_json || reply->status != 200 || !answer) {
    fmt::print("{}\n", reply->body);
  } else {
    print_members(*answer);
  }
  return reply->status == 200 ? kExitOk : kExitFailed;
}

}  // namespace

int run_member(const Args& args) {
  auto parsed = parse_member_args(args);
  if (!parsed) {
    fmt::print(
        stderr,
        "usage: aethel member list [--json] | add PEER_ID --url URL [--p2p-addr MULTIADDR]... "
        "| promote PEER_ID | remove PEER_ID  [--node URL] [--token-file FILE]\n");
    return kExitUsage;
  }
  auto url = http::parse_url(parsed->node);
  if (!url.ok()) {
    fmt::print(stderr, "aethel member: --node {}\n", url.error().message);
    return kExitUsage;
  }
  if (parsed->action == "list") return list_members(url.value(), parsed->json);
  std::string source;
  auto token = read_admin_token(parsed->token_file, source);
  if (!token.ok()) {
    fmt::print(stderr, "aethel member: {}\n", token.error().message);
    return kExitFailed;
  }
  auto reply = send_change(*parsed, url.value(), token.value());
  if (!reply.ok()) {
    fmt::print(stderr, "aethel member: {}: {}\n", parsed->node, reply.error().message);
    return kExitUnreachable;
  }
  auto answer = object_of(reply->body);
  if (reply->status == 200 && answer && !parsed->json) {
    print_members(*answer);
  } else {
    fmt::print("{}\n", reply->body);
  }
  if (reply->status == 401)
    fmt::print(stderr, "aethel member: the node refused the token from {}\n", source);
  return reply->status == 200 ? kExitOk : kExitFailed;
}

}  // namespace aethel::cli
