// The heartbeat monitor and the status it publishes (io thread): peer URLs, bootstrap
// dials, pings, head gossip, the sync mode, HTTP polls and divergence.
#include <fmt/format.h>

#include <boost/json.hpp>

#include "lattice/lattice_impl.h"

namespace aethel::lattice {
namespace json = boost::json;

namespace {

// Links are checked this often between sends: a stall is noticed even when quiet.
constexpr auto kLinkCheckInterval = std::chrono::milliseconds(100);
// While some peer is missing, the monitor runs this often, so a staged start
// converges quickly.
constexpr auto kEagerInterval = std::chrono::milliseconds(500);
// Identity and head requests to other nodes: generous, they are not on the hot path.
constexpr uint32_t kMonitorRequestTimeoutMs = 10'000;

std::optional<json::object> json_body(const base::Result<http::Reply>& reply) {
  if (!reply.ok() || reply->status != 200) return std::nullopt;
  json::error_code ec;
  json::value value = json::parse(reply->body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return value.as_object();
}

}  // namespace

void Lattice::Impl::schedule_monitor(std::chrono::milliseconds delay) {
  monitor_timer_.expires_after(delay);
  monitor_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!ec && self && !self->stopped_) self->monitor_tick();
  });
}

void Lattice::Impl::monitor_tick() {
  learn_peer_urls();
  dial_bootstrap();
  reopen_lost_channels();
  ping_peers();
  announce_head();
  update_mode();
  if (mode_.mode() == SyncMode::kHttp && now_ms() >= next_poll_ms_) {
    poll_heads();
    next_poll_ms_ = now_ms() + uint64_t{settings_.http_poll_interval_s} * 1000;
  }
  publish_status();
  auto interval = std::chrono::milliseconds(uint64_t{settings_.heartbeat_interval_s} * 1000);
  bool missing = p2p_alive_count(now_ms()) < peers_.size() && settings_.p2p_enabled;
  schedule_monitor(missing ? std::min<std::chrono::milliseconds>(interval, kEagerInterval)
                           : interval);
}

void Lattice::Impl::schedule_link_checks() {
  link_timer_.expires_after(kLinkCheckInterval);
  link_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped_) return;
    TimeMs now = self->now_ms();
    for (auto& [id, peer] : self->peers_) {
      self->check_link(peer, now);
      self->pump_http(peer);  // after a back-off
    }
    self->publish_status();
    self->schedule_link_checks();
  });
}

// The peer IDs behind AETHEL_LATTICE_NODES, from each node's identity route.
void Lattice::Impl::learn_peer_urls() {
  for (const std::string& text : settings_.lattice_nodes) {
    if (configured_urls_.contains(text)) continue;
    auto url = http::parse_url(text);
    if (!url.ok()) continue;  // the configuration check reported it at start
    http::ClientRequest request;
    request.target = "/api/lattice/p2p/identity";
    request.timeout_ms = kMonitorRequestTimeoutMs;
    client_->send(url.value(), std::move(request),
                  [weak = weak_from_this(), text](base::Result<http::Reply> reply) {
                    if (auto self = weak.lock()) self->learned_identity(text, reply);
                  });
  }
}

void Lattice::Impl::learned_identity(const std::string& text,
                                     const base::Result<http::Reply>& reply) {
  if (!reply.ok()) {  // once per URL and cause: a wrong certificate is not silent
    if (std::exchange(unreachable_[text], reply.error().code) != reply.error().code) {
      log(fmt::format("[LATTICE] cannot reach {}: {}: {}", text, reply.error().code,
                      reply.error().message));
    }
    return;
  }
  unreachable_.erase(text);
  auto body = json_body(reply);
  const json::value* id = body ? body->if_contains("peer_id") : nullptr;
  if (!id || !id->is_string() || configured_urls_.contains(text)) return;
  std::string peer_id(id->as_string());
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) {
    if (peer_id != identity_.peer_id) {
      log(fmt::format("[LATTICE] {} is {}, not a validator of this lattice", text, peer_id));
    }
    configured_urls_[text] = peer_id;
    return;
  }
  configured_urls_[text] = peer_id;
  it->second.url = http::parse_url(text).value();
  it->second.url_configured = true;
  pump_http(it->second);
}

void Lattice::Impl::dial_bootstrap() {
  if (!host_) return;
  for (const p2p::Multiaddr& address : bootstrap_) {
    auto peer = address.peer_id();
    if (peer) {
      auto it = peers_.find(peer->to_base58());
      if (it != peers_.end() && it->second.connected) continue;
    }
    std::string text = address.to_string();
    host_->connect(address, [weak = weak_from_this(), text](p2p::Result<p2p::PeerId> result) {
      auto self = weak.lock();
      if (!self) return;
      if (result.ok()) {
        self->unreachable_.erase(text);  // the next failure is news again
      } else if (std::exchange(self->unreachable_[text], result.error().code) !=
                 result.error().code) {
        self->log("[P2P] cannot reach " + text + ": " + result.error().message);
      }
    });
  }
}

void Lattice::Impl::reopen_lost_channels() {
  if (!host_) return;
  for (auto& [id, peer] : peers_) {
    if (!peer.connected || !peer.hello_ok) continue;
    if (peer.main.channel && peer.main.channel->is_open()) continue;
    if (!open_channel(peer, peer.main, kRaftProtocol)) continue;
    peer.link.p2p_ready(now_ms());
    log(fmt::format("[P2P] channel to {} ({}) reopened on its remaining connection", id,
                    peer.name));
  }
}

void Lattice::Impl::ping_peers() {
  if (!host_) return;
  for (auto& [id, peer] : peers_) {
    if (!peer.hello_ok) continue;
    auto peer_id = p2p::PeerId::parse(id);
    if (!peer_id.ok()) continue;
    host_->ping(peer_id.value(), [weak = weak_from_this(), id = id](p2p::Result<double> rtt) {
      auto self = weak.lock();
      if (!self || !rtt.ok()) return;
      auto it = self->peers_.find(id);
      if (it != self->peers_.end()) it->second.link.p2p_answered(self->now_ms(), rtt.value());
    });
  }
}

void Lattice::Impl::announce_head() {
  if (!host_ || !hooks_.head) return;
  Head head = hooks_.head();
  std::string text = json::serialize(json::object{
      {"height", head.height}, {"merkle_root", head.root}, {"node", settings_.node_name}});
  (void)host_->publish(settings_.p2p_topic, p2p::Bytes(text.begin(), text.end()));
}

void Lattice::Impl::update_mode() {
  uint64_t activations = mode_.fallback_activations();
  for (const std::string& line : mode_.update(now_ms(), p2p_alive_count(now_ms()))) log(line);
  if (mode_.fallback_activations() > activations && hooks_.on_fallback_activation) {
    hooks_.on_fallback_activation();
  }
}

// While HTTP sync is active: every other node's head, compared with ours.
void Lattice::Impl::poll_heads() {
  for (auto& [id, peer] : peers_) {
    if (!peer.url) continue;
    http::ClientRequest request;
    request.target = "/api/lattice/state?limit=0";
    request.timeout_ms = kMonitorRequestTimeoutMs;
    client_->send(*peer.url, std::move(request),
                  [weak = weak_from_this(), id = id](base::Result<http::Reply> reply) {
                    auto self = weak.lock();
                    auto body = json_body(reply);
                    if (!self || !body) return;
                    auto* height = body->if_contains("height");
                    auto* root = body->if_contains("merkle_root");
                    if (!height || !height->is_uint64() || !root || !root->is_string()) return;
                    auto it = self->peers_.find(id);
                    if (it == self->peers_.end()) return;
                    it->second.link.http_answered(self->now_ms(), true);
                    self->compare_heads(it->second, height->as_uint64(),
                                        std::string(root->as_string()));
                  });
  }
}

// Two nodes with different roots at one height: a bug or corruption (SPEC §6.4).
void Lattice::Impl::compare_heads(Peer& peer, uint64_t height, const std::string& root) {
  Head local = hooks_.head ? hooks_.head() : Head{};
  uint64_t known = peer.height.value_or(0);
  peer.height = height;
  peer.root = root;
  peer.last_sync_ms = now_ms();
  if (height == local.height && root != local.root) {
    ++divergences_;
    diverged_ = true;
    if (hooks_.on_divergence) hooks_.on_divergence();
    log(fmt::format("[HTTP_SYNC] ⚠ STATE DIVERGENCE at height {}: local {} peer {} ({})", height,
                    local.root, root, peer.url ? peer.url->to_string() : peer.id));
  } else if (height > known && mode_.mode() == SyncMode::kHttp) {
    log(fmt::format("[HTTP_SYNC] {} is at height {} (local {}), root {}",
                    peer.url ? peer.url->to_string() : peer.id, height, local.height,
                    root.substr(0, 16)));
  }
}

double Lattice::Impl::alive_window_ms() const {
  return (2.0 * settings_.heartbeat_interval_s + 1) * 1000;
}

size_t Lattice::Impl::p2p_alive_count(TimeMs now) const {
  if (manual_http() || !host_) return 0;
  size_t count = 0;
  for (const auto& [id, peer] : peers_) {
    count += peer.link.state(now, alive_window_ms()) == LinkState::kP2p;
  }
  return count;
}

void Lattice::Impl::publish_status() {
  TimeMs now = now_ms();
  Status s;
  s.peer_id = identity_.peer_id;
  s.node_name = settings_.node_name;
  s.public_url = settings_.public_url;
  s.lattice_id = identity_.lattice_id;
  s.public_key_hex = base::to_hex(std::span<const uint8_t>(identity_.key.public_key().raw()));
  s.p2p_enabled = settings_.p2p_enabled;
  s.p2p_started = host_ != nullptr;
  s.listen_addrs = listen_addrs_;
  s.bootstrap = settings_.p2p_bootstrap;
  s.lattice_nodes = settings_.lattice_nodes;
  s.topic = settings_.p2p_topic;
  s.sync_mode = mode_.mode();
  s.manual_mode = mode_.manual();
  s.heartbeat_active = !stopped_;
  s.peerless_timeout_ms = mode_.peerless_timeout_ms();
  s.fallback_activations = mode_.fallback_activations();
  s.divergences = divergences_;
  s.diverged = diverged_;
  auto ago = [&](std::optional<TimeMs> t) -> std::optional<uint64_t> {
    if (!t) return std::nullopt;
    return now - std::min(now, *t);
  };
  for (const auto& [id, peer] : peers_) {
    PeerStatus p;
    p.peer_id = id;
    p.name = peer.name;
    p.url = peer.url ? peer.url->to_string() : "";
    p.transport = manual_http() ? peer.link.http_state(now, alive_window_ms())
                                : peer.link.state(now, alive_window_ms());
    if (peer.link.last_p2p_heard() || peer.link.last_http_ok()) {
      p.last_seen_ms = ago(
          std::max(peer.link.last_p2p_heard().value_or(0), peer.link.last_http_ok().value_or(0)));
    }
    p.last_sync_ms = ago(peer.last_sync_ms);
    if (peer.link.rtt().has_sample()) p.rtt_ms = peer.link.rtt().srtt_ms();
    p.stalled = peer.link.stalled();
    p.height = peer.height;
    p.root = peer.root;
    s.peer_count += p.transport == LinkState::kP2p;
    s.http_peers += p.transport == LinkState::kHttp;
    s.peers.push_back(std::move(p));
  }
  s.peerless_ms = s.peer_count > 0 ? 0 : mode_.peerless_ms(now);
  base::MutexLock lock(status_mutex_);
  status_ = std::move(s);
}

}  // namespace aethel::lattice
