// The lattice's life cycle, its public methods, and the libp2p host's events: hellos,
// channels, connections and head gossip.
#include "lattice/lattice.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <future>
#include <random>

#include "lattice/lattice_impl.h"

namespace aethel::lattice {
namespace json = boost::json;

namespace {

// A snapshot for a far-behind follower travels as one consensus message (64 MiB).
constexpr size_t kMaxFrameBytes = (64u << 20) + 4096;
// Dials into a cut network give up soon, so the heartbeat's next dial finds the link
// once it heals.
constexpr uint32_t kHandshakeTimeoutMs = 3'000;

uint64_t random_message_id() {
  return (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
}

p2p::Bytes bytes_of(std::string_view s) {
  return p2p::Bytes(s.begin(), s.end());
}

std::string text_of(const p2p::Bytes& b) {
  return std::string(b.begin(), b.end());
}

}  // namespace

uint64_t unix_time_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

Lattice::Impl::Impl(Identity identity, Settings settings, Hooks hooks)
    : identity_(std::move(identity)),
      settings_(std::move(settings)),
      hooks_(std::move(hooks)),
      started_(std::chrono::steady_clock::now()),
      work_(asio::make_work_guard(io_)),
      monitor_timer_(io_),
      link_timer_(io_),
      mode_(settings_.p2p_enabled, identity_.validators.size() > 1,
            uint64_t{settings_.peerless_timeout_s} * 1000, 0),
      packer_(settings_.max_body_bytes, random_message_id()) {
  base::MutexLock lock(inbound_mutex_);
  for (const std::string& v : identity_.validators) {
    if (v == identity_.peer_id) continue;
    peer_entry(v);
    members_.insert(v);
  }
}

Peer& Lattice::Impl::peer_entry(const std::string& peer_id) {
  auto [it, added] = peers_.try_emplace(peer_id);
  if (!added) return it->second;
  LinkTiming timing = settings_.link_timing;
  if (timing.max_silence_ms == 0) timing.max_silence_ms = alive_window_ms();  // pings keep it heard
  it->second.id = peer_id;
  it->second.link = LinkPolicy(timing);
  return it->second;
}

// On the io thread. A member already connected (it dialled us before it was added,
// and got "gossip only") is greeted now: nothing else would open its channel.
void Lattice::Impl::add_member(const std::string& peer_id, const std::string& url,
                               const std::vector<std::string>& p2p_addrs) {
  if (peer_id == identity_.peer_id || stopped_) return;
  bool known = peers_.contains(peer_id);
  Peer& peer = peer_entry(peer_id);
  if (auto parsed = http::parse_url(url); !url.empty() && parsed.ok() && !peer.url_configured) {
    peer.url = parsed.value();
    peer.url_configured = true;
  }
  for (const std::string& text : p2p_addrs) {
    std::string warning;
    auto address = p2p::Multiaddr::parse_bootstrap(text, warning);
    if (!address.ok()) continue;
    bool listed = std::any_of(bootstrap_.begin(), bootstrap_.end(),
                              [&](const p2p::Multiaddr& a) { return a.to_string() == text; });
    if (!listed) bootstrap_.push_back(address.value());
  }
  if (known) return;
  log(fmt::format("[LATTICE] member {} added{}", peer_id, url.empty() ? "" : " at " + url));
  if (!host_) return;
  for (const p2p::PeerId& connected : host_->connected_peers()) {
    if (connected.to_base58() == peer_id) peer_connected(connected);
  }
  dial_bootstrap();
}

base::Status Lattice::Impl::start() {
  for (const std::string& text : settings_.p2p_bootstrap) {
    std::string warning;
    auto address = p2p::Multiaddr::parse_bootstrap(text, warning);
    if (!address.ok()) {
      return base::Error{"bad_config", fmt::format("AETHEL_P2P_BOOTSTRAP='{}' is invalid: {}", text,
                                                   address.error().message)};
    }
    if (!warning.empty()) log(fmt::format("[P2P] warning: {}", warning));
    bootstrap_.push_back(address.value());
  }
  http::PoolOptions pool;
  pool.max_connections = kHttpRequestsInFlight;
  pool.client.trust.ca_file = settings_.tls_ca_file;
  auto client = http::AsyncClient::create(io_, pool);
  if (!client.ok()) return client.error();
  client_ = std::move(client).value();
  io_thread_ = base::named_thread("lattice", [this] { io_.run(); });
  if (settings_.p2p_enabled) {
    base::Status started;
    run_on_io([&] { started = start_host(); });
    if (!started.ok()) return started;
  }
  asio::post(io_, [this] {
    schedule_monitor(std::chrono::milliseconds(0));
    schedule_link_checks();
  });
  return {};
}

void Lattice::Impl::stop() {
  if (!io_thread_.joinable()) return;
  run_on_io([this] {
    stopped_ = true;
    monitor_timer_.cancel();
    link_timer_.cancel();
    client_->close();
    stop_host();
  });
  work_.reset();
  io_.stop();
  io_thread_.join();
}

template <class F>
void Lattice::Impl::run_on_io(F f) {
  std::promise<void> done;
  auto finished = done.get_future();
  asio::post(io_, [&] {
    f();
    done.set_value();
  });
  finished.wait();
}

void Lattice::Impl::log(const std::string& line) const {
  if (hooks_.log) {
    hooks_.log(line);
  } else {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  }
}

TimeMs Lattice::Impl::now_ms() const {
  return static_cast<TimeMs>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - started_)
                                 .count());
}

// ---------------------------------------------------------------------------
// The libp2p host
// ---------------------------------------------------------------------------

base::Status Lattice::Impl::start_host() {
  std::vector<p2p::Multiaddr> listen;
  for (const std::string& text : settings_.p2p_listen) {
    auto address = p2p::Multiaddr::parse(text);
    if (!address.ok()) {
      return base::Error{"bad_config", fmt::format("AETHEL_P2P_LISTEN='{}' is invalid: {}", text,
                                                   address.error().message)};
    }
    listen.push_back(address.value());
  }
  p2p::HostConfig config;
  config.key = identity_.key;
  config.listen_addrs = listen;
  config.log = [this](std::string_view line) { log(std::string(line)); };
  config.limits.max_message_bytes = kMaxFrameBytes;
  config.limits.max_channel_frame_bytes = kMaxFrameBytes;
  config.limits.handshake_timeout_ms = kHandshakeTimeoutMs;
  host_ = std::make_unique<p2p::Host>(io_, config);
  install_handlers();
  auto status = host_->start();
  if (!status.ok()) {
    host_.reset();
    return base::Error{"p2p_listen_failed", "AETHEL_P2P_LISTEN: " + status.error().message};
  }
  listen_addrs_.clear();
  for (const p2p::Multiaddr& a : host_->listen_addrs()) listen_addrs_.push_back(a.to_string());
  return {};
}

void Lattice::Impl::stop_host() {
  for (auto& [id, peer] : peers_) {
    close_channels(peer);
    peer.connected = peer.hello_ok = false;
    peer.link.p2p_lost();
  }
  if (host_) host_->stop();
  host_.reset();
}

void Lattice::Impl::install_handlers() {
  host_->set_request_handler(
      std::string(kHelloProtocol),
      [this](const p2p::PeerId& from, p2p::Bytes request) -> p2p::Result<p2p::Bytes> {
        accept_hello(from.to_base58(), request);
        return bytes_of(hello_text());
      });
  for (std::string_view protocol : {kRaftProtocol, kBulkProtocol}) {
    host_->set_channel_handler(std::string(protocol),
                               [this](const p2p::Channel& c) { return accept_channel(c); });
  }
  host_->on_peer_connected([this](const p2p::PeerId& peer) { peer_connected(peer); });
  host_->on_peer_disconnected([this](const p2p::PeerId& peer) { peer_disconnected(peer); });
  host_->subscribe(settings_.p2p_topic, [this](const p2p::PeerId& author, const p2p::Bytes& data) {
    head_announced(author.to_base58(), data);
  });
}

std::string Lattice::Impl::hello_text() const {
  Head head = hooks_.head ? hooks_.head() : Head{};
  return json::serialize(json::object{{"lattice_id", identity_.lattice_id},
                                      {"name", settings_.node_name},
                                      {"url", settings_.public_url},
                                      {"height", head.height},
                                      {"merkle_root", head.root}});
}

void Lattice::Impl::peer_connected(const p2p::PeerId& id) {
  std::string peer_id = id.to_base58();
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) {
    log(fmt::format("[P2P] {} is not a validator of this lattice: gossip only", peer_id));
    return;
  }
  it->second.connected = true;
  std::weak_ptr<Impl> weak = weak_from_this();
  host_->request(id, std::string(kHelloProtocol), bytes_of(hello_text()),
                 [weak, peer_id](p2p::Result<p2p::Bytes> reply) {
                   auto self = weak.lock();
                   if (self && reply.ok()) self->accept_hello(peer_id, reply.value());
                 });
}

void Lattice::Impl::peer_disconnected(const p2p::PeerId& id) {
  auto it = peers_.find(id.to_base58());
  if (it == peers_.end()) return;
  Peer& peer = it->second;
  close_channels(peer);
  peer.connected = peer.hello_ok = false;
  peer.link.p2p_lost();
}

// A hello makes a connected validator a lattice peer, if its lattice id is ours; our
// channel to it opens at once.
void Lattice::Impl::accept_hello(const std::string& peer_id, const p2p::Bytes& bytes) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end() || stopped_) return;  // not a validator: gossip only
  Peer& peer = it->second;
  json::error_code ec;
  json::value value = json::parse(text_of(bytes), ec);
  const json::object* hello = !ec && value.is_object() ? &value.as_object() : nullptr;
  const json::value* lattice = hello ? hello->if_contains("lattice_id") : nullptr;
  if (!lattice || !lattice->is_string()) {
    return log(fmt::format("[P2P] refusing peer {}: malformed hello", peer_id));
  }
  if (lattice->as_string() != identity_.lattice_id) {
    return log(fmt::format(
        "[P2P] refusing peer {}: lattice id {} differs from ours {} (other validators or genesis)",
        peer_id, std::string(lattice->as_string()).substr(0, 16),
        identity_.lattice_id.substr(0, 16)));
  }
  if (auto* name = hello->if_contains("name"); name && name->is_string()) {
    peer.name = std::string(name->as_string());
  }
  if (auto* url = hello->if_contains("url"); url && url->is_string() && !peer.url_configured) {
    if (auto parsed = http::parse_url(url->as_string()); parsed.ok()) peer.url = parsed.value();
  }
  if (!peer.connected || peer.hello_ok) return;
  peer.hello_ok = true;
  log(fmt::format("[P2P] lattice peer ready: {} ({})", peer_id, peer.name));
  if (open_channel(peer, peer.main, kRaftProtocol)) peer.link.p2p_ready(now_ms());
  update_mode();
}

bool Lattice::Impl::open_channel(Peer& peer, ChannelSlot& slot, std::string_view protocol) {
  if (slot.channel && slot.channel->is_open()) return true;
  if (!host_ || !peer.hello_ok) return false;
  auto id = p2p::PeerId::parse(peer.id);
  if (!id.ok()) return false;
  std::weak_ptr<Impl> weak = weak_from_this();
  bool bulk = &slot == &peer.bulk;
  p2p::ChannelEvents events;
  events.on_frame = [](p2p::Bytes) {};  // the peer sends on its own channel
  events.on_closed = [weak, peer_id = peer.id, bulk](const p2p::Error&) {
    if (auto self = weak.lock()) self->channel_closed(peer_id, bulk);
  };
  auto opened = host_->open_channel(id.value(), std::string(protocol), std::move(events));
  if (!opened.ok()) return false;
  slot.channel = opened.value();
  slot.frames_acked = 0;
  return true;
}

// The peer's channel to us: its frames are envelopes for the node.
std::optional<p2p::ChannelEvents> Lattice::Impl::accept_channel(const p2p::Channel& channel) {
  std::string peer_id = channel.peer().to_base58();
  auto it = peers_.find(peer_id);
  if (it == peers_.end() || !it->second.hello_ok || stopped_) return std::nullopt;
  p2p::ChannelEvents events;
  events.on_frame = [this, peer_id](p2p::Bytes frame) {
    if (hooks_.deliver) hooks_.deliver(peer_id, text_of(frame));
  };
  events.on_closed = [](const p2p::Error&) {};
  return events;
}

// What the channel carried without an acknowledgement may or may not have arrived:
// HTTP carries it again (consensus ignores duplicates).
void Lattice::Impl::channel_closed(const std::string& peer_id, bool bulk) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return;
  Peer& peer = it->second;
  ChannelSlot& slot = bulk ? peer.bulk : peer.main;
  take_acks(slot);
  resend_over_http(peer, slot);
  slot.channel.reset();
  if (!bulk) peer.link.p2p_lost();
}

void Lattice::Impl::close_channels(Peer& peer) {
  for (ChannelSlot* slot : {&peer.main, &peer.bulk}) {
    if (!slot->channel) continue;
    take_acks(*slot);
    resend_over_http(peer, *slot);
    slot->channel->reset();
    slot->channel.reset();
  }
}

void Lattice::Impl::head_announced(const std::string& author, const p2p::Bytes& data) {
  json::error_code ec;
  json::value value = json::parse(text_of(data), ec);
  if (ec || !value.is_object()) return;
  const json::object& head = value.as_object();
  auto* height = head.if_contains("height");
  auto* root = head.if_contains("merkle_root");
  if (!height || !height->is_number() || !root || !root->is_string()) return;
  auto it = peers_.find(author);
  if (it == peers_.end()) return;
  json::error_code number_ec;
  auto h = height->to_number<uint64_t>(number_ec);
  if (!number_ec) compare_heads(it->second, h, std::string(root->as_string()));
}

// ---------------------------------------------------------------------------
// Lattice
// ---------------------------------------------------------------------------

base::Result<std::unique_ptr<Lattice>> Lattice::start(Identity identity, Settings settings,
                                                      Hooks hooks) {
  auto impl = std::make_shared<Impl>(std::move(identity), std::move(settings), std::move(hooks));
  std::unique_ptr<Lattice> lattice(new Lattice(impl));
  auto started = impl->start();
  if (!started.ok()) return started.error();
  return lattice;
}

Lattice::Lattice(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Lattice::~Lattice() {
  impl_->stop();
}

void Lattice::add_member(const std::string& peer_id, const std::string& url,
                         const std::vector<std::string>& p2p_addrs) {
  if (peer_id == impl_->identity_.peer_id) return;
  {
    base::MutexLock lock(impl_->inbound_mutex_);
    impl_->members_.insert(peer_id);
  }
  asio::post(impl_->io_, [impl = impl_, peer_id, url, p2p_addrs] {
    impl->add_member(peer_id, url, p2p_addrs);
  });
}

void Lattice::send(const std::string& peer_id, std::string envelope) {
  asio::post(impl_->io_, [impl = impl_.get(), peer_id, envelope = std::move(envelope)]() mutable {
    impl->route(peer_id, std::move(envelope));
  });
}

Status Lattice::status() const {
  base::MutexLock lock(impl_->status_mutex_);
  return impl_->status_;
}

base::Result<SyncMode> Lattice::switch_mode(std::string_view text) {
  SyncMode wanted = SyncMode::kAuto;
  if (!parse_sync_mode(text, wanted)) {
    return base::Error{"bad_mode",
                       fmt::format("unknown sync mode '{}': expected p2p, http or auto", text)};
  }
  SyncMode now = SyncMode::kAuto;
  impl_->run_on_io([&] {
    for (const std::string& line :
         impl_->mode_.choose(impl_->now_ms(), wanted, impl_->p2p_alive_count(impl_->now_ms()))) {
      impl_->log(line);
    }
    now = impl_->mode_.mode();
    impl_->publish_status();
  });
  return now;
}

void Lattice::stop_p2p() {
  impl_->run_on_io([&] {
    impl_->stop_host();
    impl_->log("[P2P] stopped by an operator");
    impl_->update_mode();
    impl_->publish_status();
  });
}

base::Result<std::string> Lattice::start_p2p() {
  if (!impl_->settings_.p2p_enabled) {
    return base::Error{"p2p_disabled", "P2P is disabled by AETHEL_P2P_ENABLED=false"};
  }
  base::Result<std::string> result = std::string("started");
  impl_->run_on_io([&] {
    if (impl_->host_) {
      result = std::string("already running");
      return;
    }
    base::Status started = impl_->start_host();
    if (!started.ok()) {
      result = started.error();
      return;
    }
    impl_->log("[P2P] started by an operator");
    impl_->schedule_monitor(std::chrono::milliseconds(0));
  });
  return result;
}

}  // namespace aethel::lattice
