// The lattice's status routes (SPEC §4, §6.2): JSON rendered from lattice::Status.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <future>

#include "api/api.h"

namespace aethel::api {
namespace json = boost::json;

namespace {

json::value optional_number(const std::optional<uint64_t>& value) {
  return value ? json::value(*value) : json::value(nullptr);
}

json::array strings(const std::vector<std::string>& list) {
  json::array out;
  for (const std::string& s : list) out.push_back(json::value(s));
  return out;
}

std::string lower(std::string_view mode_name) {
  std::string out(mode_name);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string status_message(const lattice::Status& s) {
  if (!s.p2p_enabled) return "P2P disabled, HTTP sync only";
  if (s.sync_mode == lattice::SyncMode::kHttp && s.manual_mode == lattice::SyncMode::kHttp) {
    return "HTTP sync selected manually";
  }
  if (s.sync_mode == lattice::SyncMode::kHttp) {
    return fmt::format("HTTP fallback active: no P2P peers for {}s", s.peerless_timeout_ms / 1000);
  }
  if (!s.p2p_started) return "P2P stopped by an operator; consensus runs over HTTP";
  if (s.peer_count > 0) return fmt::format("P2P active with {} peers", s.peer_count);
  return "P2P started, waiting for peers...";
}

json::object peer_json(const lattice::PeerStatus& p) {
  return json::object{{"peer_id", p.peer_id},
                      {"name", p.name},
                      {"url", p.url},
                      {"transport", lattice::link_state_name(p.transport)},
                      {"last_seen_ms", optional_number(p.last_seen_ms)},
                      // When its height and root last reached us (gossip or an HTTP poll).
                      {"last_sync_ms", optional_number(p.last_sync_ms)},
                      {"rtt_ms", p.rtt_ms ? json::value(*p.rtt_ms) : json::value(nullptr)},
                      {"stalled", p.stalled}};
}

}  // namespace

json::object p2p_status_json(const lattice::Status& s) {
  json::array peers;
  for (const lattice::PeerStatus& p : s.peers) peers.push_back(peer_json(p));
  return json::object{{"success", true},
                      {"enabled", s.p2p_enabled},
                      {"started", s.p2p_started},
                      {"peer_id", s.peer_id},
                      {"listen_multiaddrs", strings(s.listen_addrs)},
                      {"bootstrap_peers", strings(s.bootstrap)},
                      {"topic", s.topic},
                      {"peer_count", s.peer_count},
                      {"has_peers", s.peer_count > 0},
                      {"sync_mode", lattice::sync_mode_name(s.sync_mode)},
                      {"manual_mode", lower(lattice::sync_mode_name(s.manual_mode))},
                      {"http_sync_enabled", s.sync_mode == lattice::SyncMode::kHttp},
                      {"heartbeat_active", s.heartbeat_active},
                      {"message", status_message(s)},
                      {"peerless_seconds", s.peerless_ms / 1000},
                      {"peerless_timeout", s.peerless_timeout_ms / 1000},
                      {"fallback_activations", s.fallback_activations},
                      {"peers", std::move(peers)}};
}

json::object identity_json(const lattice::Status& s) {
  json::array listen;
  for (const std::string& a : s.listen_addrs)
    listen.push_back(json::value(a + "/p2p/" + s.peer_id));
  return json::object{{"success", true},          {"peer_id", s.peer_id},
                      {"node_name", s.node_name}, {"public_key", s.public_key_hex},
                      {"listen_addrs", listen},   {"lattice_id", s.lattice_id},
                      {"url", s.public_url}};
}

// SPEC §4: healthy, degraded (still committing, a lung or a peer missing) or
// unhealthy (no quorum, no leader, divergence). P2P disabled by configuration is
// not a degradation: HTTP is then the lung by design.
json::object health_json(const lattice::Status& s, const node::ConsensusStatus& consensus) {
  size_t reachable = s.peer_count + s.http_peers;
  size_t others = s.peers.size();
  bool alone = others == 0;
  bool quorum = alone || reachable + 1 > (others + 1) / 2;
  auto grade = [](bool healthy, bool degraded_ok) {
    return healthy ? "healthy" : degraded_ok ? "degraded" : "unhealthy";
  };
  json::object components{
      {"p2p", grade(alone || !s.p2p_enabled || s.peer_count == others, true)},
      {"http_sync", grade(s.sync_mode != lattice::SyncMode::kHttp || reachable > 0 || alone, true)},
      {"heartbeat", grade(s.heartbeat_active, false)},
      {"consensus", grade(quorum && !consensus.leader_peer_id.empty(), false)},
      {"storage", grade(!s.diverged, false)}};
  json::array unhealthy;
  bool degraded = false;
  for (const auto& [name, status] : components) {
    if (status.as_string() == "unhealthy") unhealthy.push_back(json::value(name));
    degraded |= status.as_string() == "degraded";
  }
  const char* overall = !unhealthy.empty() ? "unhealthy" : degraded ? "degraded" : "healthy";
  return json::object{{"status", overall},
                      {"timestamp", lattice::unix_time_ms()},
                      {"components", std::move(components)},
                      {"unhealthy_components", std::move(unhealthy)},
                      {"divergences", s.divergences}};
}

json::object nodes_json(const lattice::Status& s) {
  json::array list;
  list.push_back(json::object{
      {"peer_id", s.peer_id}, {"name", s.node_name}, {"url", s.public_url}, {"self", true}});
  for (const lattice::PeerStatus& p : s.peers) {
    list.push_back(json::object{{"peer_id", p.peer_id},
                                {"name", p.name},
                                {"url", p.url},
                                {"self", false},
                                {"validator", true}});
  }
  return json::object{{"success", true},
                      {"self", s.public_url},
                      {"lattice_id", s.lattice_id},
                      {"configured", strings(s.lattice_nodes)},
                      {"nodes", std::move(list)}};
}

namespace {

std::optional<json::object> get_json(const http::Url& url, std::string_view target,
                                     const http::ClientOptions& client, json::object& out) {
  auto reply = http::call(url, "GET", target, {}, client);
  if (!reply.ok()) {
    out["error"] = reply.error().message;
    return std::nullopt;
  }
  json::error_code ec;
  json::value value = json::parse(reply.value().body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return value.as_object();
}

void copy_keys(const std::optional<json::object>& from, std::initializer_list<const char*> keys,
               json::object& to) {
  if (!from) return;
  for (const char* key : keys) {
    if (auto* v = from->if_contains(key)) to[key] = *v;
  }
}

json::object probe_node(const std::string& url, const http::ClientOptions& client) {
  json::object out{{"url", url}, {"reachable", false}};
  auto parsed = http::parse_url(url);
  if (!parsed.ok()) {
    out["error"] = parsed.error().message;
    return out;
  }
  auto root = get_json(parsed.value(), "/", client, out);
  if (!root) return out;
  out["reachable"] = true;
  if (auto* v = root->if_contains("node_name")) out["name"] = *v;
  copy_keys(root, {"peer_id", "role"}, out);
  copy_keys(get_json(parsed.value(), "/api/lattice/p2p/status", client, out),
            {"sync_mode", "peer_count", "heartbeat_active", "peers"}, out);
  copy_keys(get_json(parsed.value(), "/api/lattice/state?limit=0", client, out),
            {"height", "merkle_root"}, out);
  auto health = get_json(parsed.value(), "/api/lattice/health", client, out);
  if (health && health->if_contains("status")) out["health"] = health->at("status");
  return out;
}

}  // namespace

// Fans out to every node (this one included), each within a second.
json::object network_json(const lattice::Status& s, const std::string& tls_ca_file) {
  std::vector<std::string> urls{s.public_url};
  auto add = [&](const std::string& url) {
    if (!url.empty() && std::find(urls.begin(), urls.end(), url) == urls.end()) urls.push_back(url);
  };
  for (const lattice::PeerStatus& p : s.peers) add(p.url);
  for (const std::string& url : s.lattice_nodes) add(url);
  http::ClientOptions client = http::with_timeout_ms(1'000);
  client.trust.ca_file = tls_ca_file;
  std::vector<std::future<json::object>> answers;
  for (const std::string& url : urls) {
    answers.push_back(
        std::async(std::launch::async, [url, client] { return probe_node(url, client); }));
  }
  json::array list;
  for (auto& answer : answers) list.push_back(answer.get());
  return json::object{
      {"success", true}, {"timestamp", lattice::unix_time_ms()}, {"nodes", std::move(list)}};
}

}  // namespace aethel::api
