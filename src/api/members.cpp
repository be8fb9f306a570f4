// The membership routes (SPEC §10): GET /api/lattice/members, and the admin routes
// POST /api/lattice/members (add a learner), .../members/promote and .../remove.
// Changes run on the blocking pool: adding checks the new member's URL answers with
// its peer ID, and every change waits until the leader applied it (a follower hands
// it to the leader, so any member's admin token will do).
#include <fmt/format.h>

#include <boost/json.hpp>
#include <future>

#include "api/routes.h"
#include "p2p/p2p.h"

namespace aethel::api {
namespace {

namespace json = boost::json;

constexpr uint32_t kIdentityTimeout_ms = 5'000;
// A change is answered within the node's commit timeout; this bounds the wait in case.
constexpr auto kChangeWait = std::chrono::seconds(30);

const lattice::PeerStatus* peer_status(const lattice::Status& status, const std::string& peer) {
  for (const lattice::PeerStatus& p : status.peers) {
    if (p.peer_id == peer) return &p;
  }
  return nullptr;
}

// caught_up | catching_up | recovering, as this node can tell: the leader knows every
// member's log; elsewhere a member's gossiped height is compared with this node's.
std::string member_state(const node::MemberStatus& m, const node::ConsensusStatus& consensus,
                         bool self, std::optional<uint64_t> height, uint64_t own_height) {
  if (self && consensus.recovery != node::Recovery::kNone) return "recovering";
  if (m.caught_up) return *m.caught_up ? "caught_up" : "catching_up";
  return height && *height >= own_height ? "caught_up" : "catching_up";
}

json::object member_json(const node::MemberStatus& m, const node::ConsensusStatus& consensus,
                         const lattice::Status& lattice, uint64_t own_height) {
  bool self = m.peer_id == lattice.peer_id;
  const lattice::PeerStatus* peer = self ? nullptr : peer_status(lattice, m.peer_id);
  std::optional<uint64_t> height =
      self ? std::optional(own_height) : (peer ? peer->height : std::nullopt);
  json::object out{{"peer_id", m.peer_id},
                   {"name", self ? lattice.node_name : (peer ? peer->name : "")},
                   {"url", self             ? lattice.public_url
                           : !m.url.empty() ? m.url
                                            : (peer ? peer->url : "")},
                   {"role", m.voter ? "validator" : "learner"},
                   {"state", member_state(m, consensus, self, height, own_height)}};
  out["match_height"] = height ? json::value(*height) : json::value(nullptr);
  return out;
}

// The fields of a change request: {"peer_id"} and, to add, {"url", "p2p_addrs"}.
std::optional<node::MemberAddress> parse_member(const Request& request, bool adding,
                                                Response& error) {
  auto body = parse_object(request.body, error);
  if (!body) return std::nullopt;
  node::MemberAddress member;
  const json::value* peer = body->if_contains("peer_id");
  if (!peer || !peer->is_string() || !p2p::PeerId::parse(peer->as_string()).ok()) {
    error = bad_request("bad_field", "\"peer_id\" must be a libp2p peer ID (12D3KooW...)");
    return std::nullopt;
  }
  member.peer_id = std::string(peer->as_string());
  if (!adding) return member;
  const json::value* url = body->if_contains("url");
  if (!url || !url->is_string() || !http::parse_url(url->as_string()).ok()) {
    error =
        bad_request("bad_field", "\"url\" must be the new member's http:// or https:// API URL");
    return std::nullopt;
  }
  member.url = std::string(url->as_string());
  if (const json::value* addrs = body->if_contains("p2p_addrs")) {
    if (!addrs->is_array()) {
      error = bad_request("bad_field", "\"p2p_addrs\" must be an array of multiaddrs");
      return std::nullopt;
    }
    for (const json::value& a : addrs->as_array()) {
      std::string warning;
      if (!a.is_string() || !p2p::Multiaddr::parse_bootstrap(a.as_string(), warning).ok()) {
        error = bad_request("bad_field", "every item of \"p2p_addrs\" must be a multiaddr");
        return std::nullopt;
      }
      member.p2p_addrs.emplace_back(a.as_string());
    }
  }
  return member;
}

// A member is added only when its URL answers with the peer ID the request names.
std::optional<Response> refuse_unreachable(const node::MemberAddress& member,
                                           const RouterOptions& options) {
  http::ClientOptions client = http::with_timeout_ms(kIdentityTimeout_ms);
  client.trust.ca_file = options.tls_ca_file;
  auto reply = http::call(http::parse_url(member.url).value(), "GET", "/api/lattice/p2p/identity",
                          {}, client);
  if (!reply.ok() || reply->status != 200) {
    return error_response(
        422, "unreachable_member",
        fmt::format("{} does not answer GET /api/lattice/p2p/identity ({}); start "
                    "the new node first",
                    member.url,
                    reply.ok() ? fmt::format("status {}", reply->status) : reply.error().message));
  }
  json::error_code ec;
  json::value identity = json::parse(reply->body, ec);
  const json::value* id =
      !ec && identity.is_object() ? identity.as_object().if_contains("peer_id") : nullptr;
  if (!id || !id->is_string() || id->as_string() != member.peer_id) {
    return error_response(422, "peer_mismatch",
                          fmt::format("{} is not {}: its identity names another peer ID",
                                      member.url, member.peer_id));
  }
  return std::nullopt;
}

unsigned change_error_status(const std::string& code) {
  if (code == "unknown_member") return 404;
  if (code == "unavailable" || code == "stopping") return 503;
  return 409;  // not_leader, duplicate_member, not_a_learner, last_validator, ...
}

}  // namespace

Response members_route(node::Node& node, const RouterOptions& options) {
  node::ConsensusStatus consensus = node.consensus_status();
  lattice::Status lattice = options.lattice->status();
  uint64_t height = node.read([](const ledger::Ledger& l) { return l.height(); });
  json::array members;
  for (const node::MemberStatus& m : consensus.members) {
    members.push_back(member_json(m, consensus, lattice, height));
  }
  json::array genesis;
  for (const std::string& v : node.validators()) genesis.push_back(json::value(v));
  return json_response(200, {{"success", true},
                             {"lattice_id", lattice.lattice_id},
                             {"leader", consensus.leader_peer_id},
                             {"genesis_validators", std::move(genesis)},
                             {"members", std::move(members)}});
}

Response member_change_route(node::Node& node, const RouterOptions& options, RouteId route,
                             const Request& request) {
  Response error;
  bool adding = route == RouteId::kAddMember;
  auto member = parse_member(request, adding, error);
  if (!member) return error;
  if (adding) {
    if (auto refused = refuse_unreachable(*member, options)) return *refused;
  }
  node::MemberChange change = adding                             ? node::MemberChange::kAdd
                              : route == RouteId::kPromoteMember ? node::MemberChange::kPromote
                                                                 : node::MemberChange::kRemove;
  auto answer = std::make_shared<std::promise<base::Status>>();
  auto answered = answer->get_future();
  node.change_membership_async(change, *member,
                               [answer](base::Status status) { answer->set_value(status); });
  if (answered.wait_for(kChangeWait) != std::future_status::ready) {
    return error_response(503, "unavailable",
                          "the change was not applied in time; it may still be");
  }
  base::Status status = answered.get();
  if (!status.ok()) {
    return error_response(change_error_status(status.error().code), status.error().code,
                          status.error().message);
  }
  return members_route(node, options);
}

}  // namespace aethel::api
