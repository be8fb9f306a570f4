#include "p2p/pubsub_service.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <random>

#include "p2p/codec.h"
#include "p2p/connection.h"
#include "p2p/host_impl.h"

namespace aethel::p2p {

namespace {
// RPCs coalesced into one stream write.
constexpr std::size_t kMaxBatchBytes = 256 * 1024;

GossipsubConfig router_config(const GossipConfig& gossip) {
  GossipsubConfig result;
  result.d = gossip.d;
  result.d_low = gossip.d_low;
  result.d_high = gossip.d_high;
  result.heartbeat_interval_ms = gossip.heartbeat_interval_ms;
  return result;
}

bool speaks_meshsub(const PeerInfo& info) {
  const auto& list = info.protocols;
  return std::find(list.begin(), list.end(), kMeshsub11) != list.end() ||
         std::find(list.begin(), list.end(), kMeshsub10) != list.end();
}
}  // namespace

PubsubService::PubsubService(Host::Impl& host, const HostConfig& config)
    : host_(host),
      router_(config.key, router_config(config.gossip), std::random_device{}()),
      heartbeat_timer_(host.io) {
  for (std::string_view version : {kMeshsub11, kMeshsub10}) {
    host_.handle(std::string(version),
                 [this](std::shared_ptr<Stream> stream, std::string) { return serve(stream); });
  }
}

void PubsubService::start() {
  asio::co_spawn(
      host_.io, [this, keep = host_.shared_from_this()]() { return heartbeat_loop(); },
      asio::detached);
}

void PubsubService::stop() {
  heartbeat_timer_.cancel();
  peers_.clear();
}

void PubsubService::peer_identified(const std::shared_ptr<Connection>& connection,
                                    const PeerInfo& info) {
  if (speaks_meshsub(info)) start_peer(connection);
}

void PubsubService::peer_gone(const PeerId& peer) {
  router_.remove_peer(peer);
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  if (it->second.stream) it->second.stream->notify();
  peers_.erase(it);
}

void PubsubService::start_peer(const std::shared_ptr<Connection>& connection) {
  if (host_.stopped || peers_.contains(connection->remote())) return;
  peers_[connection->remote()].connection = connection;
  asio::co_spawn(
      host_.io,
      [this, keep = host_.shared_from_this(), connection]() { return open_stream(connection); },
      asio::detached);
}

Task<void> PubsubService::open_stream(std::shared_ptr<Connection> connection) {
  const PeerId peer = connection->remote();
  const auto deadline = host_.deadline_after(host_.config.limits.request_timeout_ms);
  std::vector<std::string> versions{std::string(kMeshsub11), std::string(kMeshsub10)};
  auto stream = co_await host_.open_stream(connection, versions, deadline);
  if (!stream) {
    host_.log("[P2P] Gossipsub stream to " + peer.to_base58() +
              " failed: " + stream.error().message);
    co_return;
  }
  auto it = peers_.find(peer);
  if (it == peers_.end() || it->second.connection != connection || host_.stopped) {
    stream.value()->reset();
    co_return;
  }
  it->second.stream = stream.value();
  GossipsubOutput out;
  router_.add_peer(peer, out);
  process(out);
  start_writer(peer);
}

// The peer's RPC stream, read until it ends; replies go out on our own stream.
Task<void> PubsubService::serve(std::shared_ptr<Stream> stream) {
  auto keep = host_.shared_from_this();
  const PeerId peer = stream->remote();
  if (auto connection = stream->connection()) start_peer(connection);
  while (!host_.stopped) {
    auto message = co_await stream->read_message(kMaxRpcBytes);
    if (!message) break;
    auto rpc = decode_pubsub_rpc(message.value());
    if (!rpc) {
      host_.log("[P2P] Bad gossipsub RPC from " + peer.to_base58() + ": " + rpc.error().message);
      break;
    }
    if (host_.stopped) break;
    GossipsubOutput out;
    router_.handle_rpc(peer, rpc.value(), out);
    process(out);
  }
  stream->reset();
}

void PubsubService::enqueue(const PeerId& peer, const PubsubRpc& rpc) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  Peer& state = it->second;
  if (state.queue.size() >= host_.config.gossip.max_queued_rpcs_per_peer) state.queue.pop_front();
  Bytes framed;
  append_length_prefixed(framed, encode_pubsub_rpc(rpc));
  state.queue.push_back(std::move(framed));
  start_writer(peer);
}

void PubsubService::start_writer(const PeerId& peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.stream || it->second.writing || it->second.queue.empty()) {
    return;
  }
  it->second.writing = true;
  asio::co_spawn(
      host_.io, [this, keep = host_.shared_from_this(), peer]() { return writer(peer); },
      asio::detached);
}

Task<void> PubsubService::writer(PeerId peer) {
  while (true) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) co_return;
    Peer& state = it->second;
    if (state.queue.empty() || !state.stream) {
      state.writing = false;
      co_return;
    }
    Bytes batch;
    while (!state.queue.empty() && batch.size() < kMaxBatchBytes) {
      batch.insert(batch.end(), state.queue.front().begin(), state.queue.front().end());
      state.queue.pop_front();
    }
    auto stream = state.stream;  // `state` may be gone after the write
    if (!co_await stream->write_all(batch)) {
      if (auto again = peers_.find(peer); again != peers_.end()) again->second.writing = false;
      co_return;
    }
  }
}

void PubsubService::process(GossipsubOutput& out) {
  for (const auto& [peer, rpc] : out.send) enqueue(peer, rpc);
  for (const auto& message : out.deliver) {
    auto callbacks = topic_callbacks_.find(message.topic);
    if (callbacks == topic_callbacks_.end()) continue;
    auto author = PeerId::from_bytes(message.from);
    if (!author) continue;
    for (const auto& callback : callbacks->second) {
      if (!host_.stopped && callback) callback(author.value(), message.data);
    }
  }
}

Task<void> PubsubService::heartbeat_loop() {
  while (!host_.stopped) {
    heartbeat_timer_.expires_after(
        std::chrono::milliseconds(host_.config.gossip.heartbeat_interval_ms));
    auto [ec] = co_await heartbeat_timer_.async_wait(kNoThrow);
    if (ec || host_.stopped) break;
    GossipsubOutput out;
    router_.heartbeat(out);
    process(out);
  }
}

void PubsubService::subscribe(const std::string& topic, Host::MessageCallback on_message) {
  topic_callbacks_[topic].push_back(std::move(on_message));
  GossipsubOutput out;
  router_.subscribe(topic, out);
  process(out);
}

Status PubsubService::publish(const std::string& topic, Bytes data) {
  GossipsubOutput out;
  auto published = router_.publish(topic, std::move(data), out);
  process(out);
  return published;
}

std::vector<PeerId> PubsubService::mesh_peers(const std::string& topic) const {
  auto peers = router_.mesh_peers(topic);
  return {peers.begin(), peers.end()};
}

std::vector<PeerId> PubsubService::topic_peers(const std::string& topic) const {
  auto peers = router_.topic_peers(topic);
  return {peers.begin(), peers.end()};
}

}  // namespace aethel::p2p
