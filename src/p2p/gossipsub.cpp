#include "p2p/gossipsub.h"

#include <algorithm>

#include "p2p/codec.h"
#include "p2p/crypto.h"

namespace aethel::p2p {

namespace {
constexpr std::string_view kSignaturePrefix = "libp2p-pubsub:";
constexpr std::size_t kMaxIWantPerIHave = 500;

void encode_message_fields(ProtoWriter& writer, const PubsubMessage& message, bool with_signature) {
  if (!message.from.empty()) writer.add_bytes(1, message.from);
  writer.add_bytes(2, message.data);
  if (!message.seqno.empty()) writer.add_bytes(3, message.seqno);
  writer.add_string(4, message.topic);
  if (with_signature && !message.signature.empty()) writer.add_bytes(5, message.signature);
  if (with_signature && !message.key.empty()) writer.add_bytes(6, message.key);
}

Result<PubsubMessage> decode_message(ByteView encoded) {
  PubsubMessage message;
  auto decoded = for_each_field(encoded, [&](const ProtoField& f) {
    if (f.type != WireType::kLengthDelimited) return;
    Bytes value(f.bytes.begin(), f.bytes.end());
    switch (f.number) {
      case 1:
        message.from = std::move(value);
        break;
      case 2:
        message.data = std::move(value);
        break;
      case 3:
        message.seqno = std::move(value);
        break;
      case 4:
        message.topic = as_string(f.bytes);
        break;
      case 5:
        message.signature = std::move(value);
        break;
      case 6:
        message.key = std::move(value);
        break;
      default:
        break;
    }
  });
  if (!decoded) return decoded.error();
  return message;
}

// Iterates the length-delimited sub-messages with `number` in `encoded`, bounded.
bool is_bytes(const ProtoField& f, std::uint32_t number) {
  return f.number == number && f.type == WireType::kLengthDelimited;
}

// Visits each `number` sub-message; more than kMaxRpcEntries of them is an error.
template <typename Visit>
Status for_each_submessage(ByteView encoded, std::uint32_t number, Visit visit) {
  std::size_t count = 0;
  return for_each_field(encoded, [&](const ProtoField& f) -> Status {
    if (!is_bytes(f, number)) return {};
    if (++count > kMaxRpcEntries) return Error{"bad_rpc", "too many entries"};
    return visit(f.bytes);
  });
}

// Decodes each `number` sub-message with `decode(bytes, entry)` and appends the entries.
template <typename Entry, typename Decode>
Status decode_entries(ByteView encoded, std::uint32_t number, std::vector<Entry>& entries,
                      Decode decode) {
  return for_each_submessage(encoded, number, [&](ByteView bytes) -> Status {
    Entry entry{};
    if (auto decoded = decode(bytes, entry); !decoded) return decoded;
    entries.push_back(std::move(entry));
    return {};
  });
}

Status decode_ihave(ByteView bytes, PubsubRpc::IHave& entry) {
  return for_each_field(bytes, [&](const ProtoField& f) {
    if (is_bytes(f, 1)) entry.topic = as_string(f.bytes);
    if (is_bytes(f, 2) && entry.message_ids.size() < kMaxRpcEntries) {
      entry.message_ids.emplace_back(f.bytes.begin(), f.bytes.end());
    }
  });
}

Status decode_prune(ByteView bytes, PubsubRpc::Prune& entry) {
  return for_each_field(bytes, [&](const ProtoField& f) {
    if (is_bytes(f, 1)) entry.topic = as_string(f.bytes);
    if (f.number == 3 && f.type == WireType::kVarint) entry.backoff_s = f.varint;
  });
}

// IWANT {messageIDs = 1} and GRAFT {topicID = 1}: one repeated or single bytes field.
template <typename Value>
Status decode_field_one(ByteView bytes, std::vector<Value>& out) {
  return for_each_field(bytes, [&](const ProtoField& f) {
    if (is_bytes(f, 1) && out.size() < kMaxRpcEntries)
      out.emplace_back(f.bytes.begin(), f.bytes.end());
  });
}

Status decode_control(ByteView encoded, PubsubRpc& rpc) {
  if (auto ihave = decode_entries(encoded, 1, rpc.ihave, decode_ihave); !ihave) return ihave;
  auto iwant = for_each_submessage(
      encoded, 2, [&](ByteView bytes) { return decode_field_one(bytes, rpc.iwant); });
  if (!iwant) return iwant;
  auto graft = for_each_submessage(
      encoded, 3, [&](ByteView bytes) { return decode_field_one(bytes, rpc.graft); });
  if (!graft) return graft;
  return decode_entries(encoded, 4, rpc.prune, decode_prune);
}

Status decode_subscription(ByteView bytes, PubsubRpc::Subscription& entry) {
  return for_each_field(bytes, [&](const ProtoField& f) {
    if (f.number == 1 && f.type == WireType::kVarint) entry.subscribe = f.varint != 0;
    if (is_bytes(f, 2)) entry.topic = as_string(f.bytes);
  });
}

Status decode_message_into(ByteView bytes, PubsubMessage& entry) {
  auto message = decode_message(bytes);
  if (!message) return message.error();
  entry = std::move(message.value());
  return {};
}
}  // namespace

// ---- codec ----

Bytes encode_pubsub_rpc(const PubsubRpc& rpc) {
  ProtoWriter writer;
  for (const auto& subscription : rpc.subscriptions) {
    ProtoWriter sub;
    sub.add_varint(1, subscription.subscribe ? 1 : 0);
    sub.add_string(2, subscription.topic);
    writer.add_bytes(1, sub.bytes());
  }
  for (const auto& message : rpc.messages) {
    ProtoWriter encoded;
    encode_message_fields(encoded, message, true);
    writer.add_bytes(2, encoded.bytes());
  }
  if (!rpc.ihave.empty() || !rpc.iwant.empty() || !rpc.graft.empty() || !rpc.prune.empty()) {
    ProtoWriter control;
    for (const auto& ihave : rpc.ihave) {
      ProtoWriter entry;
      entry.add_string(1, ihave.topic);
      for (const auto& id : ihave.message_ids) entry.add_bytes(2, id);
      control.add_bytes(1, entry.bytes());
    }
    if (!rpc.iwant.empty()) {
      ProtoWriter entry;
      for (const auto& id : rpc.iwant) entry.add_bytes(1, id);
      control.add_bytes(2, entry.bytes());
    }
    for (const auto& topic : rpc.graft) {
      ProtoWriter entry;
      entry.add_string(1, topic);
      control.add_bytes(3, entry.bytes());
    }
    for (const auto& prune : rpc.prune) {
      ProtoWriter entry;
      entry.add_string(1, prune.topic);
      if (prune.backoff_s > 0) entry.add_varint(3, prune.backoff_s);
      control.add_bytes(4, entry.bytes());
    }
    writer.add_bytes(3, control.bytes());
  }
  return writer.take();
}

Result<PubsubRpc> decode_pubsub_rpc(ByteView encoded) {
  if (encoded.size() > kMaxRpcBytes) return Error{"rpc_too_large", "pubsub: RPC too large"};
  PubsubRpc rpc;
  auto subscriptions = decode_entries(encoded, 1, rpc.subscriptions, decode_subscription);
  if (!subscriptions) return Error{"bad_rpc", "pubsub: " + subscriptions.error().message};
  auto messages = decode_entries(encoded, 2, rpc.messages, decode_message_into);
  if (!messages) return Error{"bad_rpc", "pubsub: " + messages.error().message};
  auto control =
      for_each_submessage(encoded, 3, [&](ByteView bytes) { return decode_control(bytes, rpc); });
  if (!control) return Error{"bad_rpc", "pubsub: " + control.error().message};
  return rpc;
}

Bytes pubsub_signing_bytes(const PubsubMessage& message) {
  ProtoWriter writer;
  encode_message_fields(writer, message, false);
  Bytes out(kSignaturePrefix.begin(), kSignaturePrefix.end());
  const Bytes& encoded = writer.bytes();
  out.insert(out.end(), encoded.begin(), encoded.end());
  return out;
}

Bytes pubsub_message_id(const PubsubMessage& message) {
  Bytes id = message.from;
  id.insert(id.end(), message.seqno.begin(), message.seqno.end());
  return id;
}

Status verify_pubsub_message(const PubsubMessage& message) {
  if (message.from.empty() || message.seqno.empty() || message.signature.empty()) {
    return Error{"unsigned_message", "pubsub: unsigned message (StrictSign)"};
  }
  auto author = PeerId::from_bytes(message.from);
  if (!author) return Error{"bad_rpc", "pubsub: bad author: " + author.error().message};
  std::optional<PublicKey> key = author->public_key();
  if (!message.key.empty()) {
    auto embedded = PublicKey::from_protobuf(message.key);
    if (!embedded || PeerId::from_public_key(embedded.value()) != author.value()) {
      return Error{"bad_signature", "pubsub: message key does not match its author"};
    }
    key = embedded.value();
  }
  if (!key) return Error{"bad_signature", "pubsub: author's key is unknown"};
  if (!key->verify(pubsub_signing_bytes(message), message.signature)) {
    return Error{"bad_signature", "pubsub: invalid signature"};
  }
  return {};
}

// ---- router ----

GossipsubRouter::GossipsubRouter(const KeyPair& key, GossipsubConfig config, std::uint64_t seed)
    : key_(key), self_(PeerId::from_public_key(key.public_key())), config_(config), random_(seed) {
  // Sequence numbers start at a random point so a restarted node does not reuse IDs.
  std::array<std::uint8_t, 8> start{};
  random_bytes(start);
  next_seqno_ = 0;
  for (auto byte : start) next_seqno_ = (next_seqno_ << 8) | byte;
  next_seqno_ >>= 1;
  history_.emplace_front();
}

PubsubRpc& GossipsubRouter::rpc_for(std::map<PeerId, PubsubRpc>& batch, const PeerId& peer) {
  return batch[peer];
}

void GossipsubRouter::flush(std::map<PeerId, PubsubRpc>& batch, GossipsubOutput& out) {
  for (auto& [peer, rpc] : batch) {
    if (!rpc.empty()) out.send.emplace_back(peer, std::move(rpc));
  }
  batch.clear();
}

std::vector<PeerId> GossipsubRouter::pick(const std::set<PeerId>& candidates, std::size_t count,
                                          const std::set<PeerId>& exclude) {
  std::vector<PeerId> pool;
  for (const auto& peer : candidates) {
    if (!exclude.contains(peer)) pool.push_back(peer);
  }
  std::shuffle(pool.begin(), pool.end(), random_);
  if (pool.size() > count)
    pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(count), pool.end());
  return pool;
}

std::set<PeerId> GossipsubRouter::topic_peers(const std::string& topic) const {
  std::set<PeerId> result;
  for (const auto& [peer, state] : peers_) {
    if (state.topics.contains(topic)) result.insert(peer);
  }
  return result;
}

std::size_t GossipsubRouter::mesh_size(const std::string& topic) const {
  auto it = mesh_.find(topic);
  return it == mesh_.end() ? 0 : it->second.size();
}

void GossipsubRouter::start_backoff(const std::string& topic, const PeerId& peer,
                                    std::uint64_t seconds) {
  const std::uint64_t heartbeats = std::max<std::uint64_t>(
      1, seconds * 1000 / std::max<std::uint32_t>(1, config_.heartbeat_interval_ms));
  auto& until = backoff_until_[{topic, peer}];
  until = std::max(until, heartbeat_count_ + heartbeats);
}

bool GossipsubRouter::in_backoff(const std::string& topic, const PeerId& peer) const {
  auto it = backoff_until_.find({topic, peer});
  return it != backoff_until_.end() && it->second > heartbeat_count_;
}

std::set<PeerId> GossipsubRouter::backed_off(const std::string& topic,
                                             std::set<PeerId> also) const {
  for (const auto& [key, until] : backoff_until_) {
    if (key.first == topic && until > heartbeat_count_) also.insert(key.second);
  }
  return also;
}

std::set<PeerId> GossipsubRouter::mesh_peers(const std::string& topic) const {
  auto it = mesh_.find(topic);
  return it == mesh_.end() ? std::set<PeerId>{} : it->second;
}

void GossipsubRouter::add_peer(const PeerId& peer, GossipsubOutput& out) {
  peers_.try_emplace(peer);
  if (subscribed_.empty()) return;
  PubsubRpc hello;
  for (const auto& topic : subscribed_) hello.subscriptions.push_back({true, topic});
  out.send.emplace_back(peer, std::move(hello));
}

void GossipsubRouter::remove_peer(const PeerId& peer) {
  peers_.erase(peer);
  for (auto& [topic, members] : mesh_) members.erase(peer);
  for (auto& [topic, members] : fanout_) members.erase(peer);
  std::erase_if(backoff_until_, [&](const auto& entry) { return entry.first.second == peer; });
}

void GossipsubRouter::subscribe(const std::string& topic, GossipsubOutput& out) {
  if (!subscribed_.insert(topic).second) return;
  std::map<PeerId, PubsubRpc> batch;
  for (const auto& [peer, state] : peers_)
    rpc_for(batch, peer).subscriptions.push_back({true, topic});
  auto& mesh = mesh_[topic];
  if (auto fanout = fanout_.find(topic); fanout != fanout_.end()) {
    for (const auto& peer : fanout->second) {
      if (mesh.size() < config_.d) mesh.insert(peer);
    }
    fanout_.erase(fanout);
    fanout_last_publish_.erase(topic);
  }
  for (const auto& peer : pick(topic_peers(topic), config_.d - std::min(config_.d, mesh.size()),
                               backed_off(topic, mesh))) {
    mesh.insert(peer);
  }
  for (const auto& peer : mesh) rpc_for(batch, peer).graft.push_back(topic);
  flush(batch, out);
}

void GossipsubRouter::unsubscribe(const std::string& topic, GossipsubOutput& out) {
  if (subscribed_.erase(topic) == 0) return;
  std::map<PeerId, PubsubRpc> batch;
  for (const auto& [peer, state] : peers_) {
    rpc_for(batch, peer).subscriptions.push_back({false, topic});
  }
  for (const auto& peer : mesh_[topic]) {
    rpc_for(batch, peer).prune.push_back({topic, config_.prune_backoff_s});
    start_backoff(topic, peer, config_.prune_backoff_s);
  }
  mesh_.erase(topic);
  flush(batch, out);
}

bool GossipsubRouter::remember(const Bytes& id, const PubsubMessage& message) {
  if (seen_.contains(id)) return false;
  seen_.emplace(id, heartbeat_count_);
  seen_order_.emplace_back(heartbeat_count_, id);
  cache_.emplace(id, message);
  history_.front().emplace_back(id, message.topic);
  return true;
}

void GossipsubRouter::forward(const PubsubMessage& message, const PeerId* source,
                              std::map<PeerId, PubsubRpc>& batch) {
  auto mesh = mesh_.find(message.topic);
  if (mesh == mesh_.end()) return;
  for (const auto& peer : mesh->second) {
    if (source && peer == *source) continue;
    if (peer.bytes() == message.from) continue;
    rpc_for(batch, peer).messages.push_back(message);
  }
}

Status GossipsubRouter::publish(const std::string& topic, Bytes data, GossipsubOutput& out) {
  PubsubMessage message;
  message.from = self_.bytes();
  message.data = std::move(data);
  const std::uint64_t seqno = next_seqno_++;
  for (int shift = 56; shift >= 0; shift -= 8) {
    message.seqno.push_back(static_cast<std::uint8_t>(seqno >> shift));
  }
  message.topic = topic;
  const auto signature = key_.sign(pubsub_signing_bytes(message));
  message.signature.assign(signature.begin(), signature.end());

  // Flood publishing (the v1.1 default): our own messages go to every subscribed peer.
  std::set<PeerId> recipients = topic_peers(topic);
  if (!subscribed_.contains(topic)) {
    auto& fanout = fanout_[topic];
    for (const auto& peer :
         pick(recipients, config_.d - std::min(config_.d, fanout.size()), fanout)) {
      fanout.insert(peer);
    }
    fanout_last_publish_[topic] = heartbeat_count_;
  }
  if (recipients.empty()) return Error{"no_peers", "pubsub: no peers subscribed to " + topic};
  remember(pubsub_message_id(message), message);
  std::map<PeerId, PubsubRpc> batch;
  for (const auto& peer : recipients) rpc_for(batch, peer).messages.push_back(message);
  flush(batch, out);
  return {};
}

void GossipsubRouter::handle_rpc(const PeerId& from, const PubsubRpc& rpc, GossipsubOutput& out) {
  auto peer = peers_.find(from);
  if (peer == peers_.end()) peer = peers_.try_emplace(from).first;
  std::map<PeerId, PubsubRpc> batch;
  for (const auto& subscription : rpc.subscriptions) {
    if (subscription.subscribe) {
      peer->second.topics.insert(subscription.topic);
    } else {
      peer->second.topics.erase(subscription.topic);
      if (auto mesh = mesh_.find(subscription.topic); mesh != mesh_.end()) mesh->second.erase(from);
      if (auto fanout = fanout_.find(subscription.topic); fanout != fanout_.end()) {
        fanout->second.erase(from);
      }
    }
  }
  for (const auto& message : rpc.messages) {
    if (!verify_pubsub_message(message).ok()) continue;
    if (!remember(pubsub_message_id(message), message)) continue;
    if (subscribed_.contains(message.topic)) out.deliver.push_back(message);
    forward(message, &from, batch);
  }
  for (const auto& ihave : rpc.ihave) {
    if (!subscribed_.contains(ihave.topic)) continue;
    auto& wanted = rpc_for(batch, from).iwant;
    for (const auto& id : ihave.message_ids) {
      if (wanted.size() >= kMaxIWantPerIHave) break;
      if (!seen_.contains(id)) wanted.push_back(id);
    }
  }
  for (const auto& id : rpc.iwant) {
    auto cached = cache_.find(id);
    if (cached != cache_.end()) rpc_for(batch, from).messages.push_back(cached->second);
  }
  for (const auto& topic : rpc.graft) {
    if (subscribed_.contains(topic) && !in_backoff(topic, from)) {
      mesh_[topic].insert(from);
    } else {
      rpc_for(batch, from).prune.push_back({topic, config_.prune_backoff_s});
    }
  }
  for (const auto& prune : rpc.prune) {
    if (auto mesh = mesh_.find(prune.topic); mesh != mesh_.end()) mesh->second.erase(from);
    start_backoff(prune.topic, from, std::max(prune.backoff_s, config_.prune_backoff_s));
  }
  flush(batch, out);
}

void GossipsubRouter::heartbeat(GossipsubOutput& out) {
  std::map<PeerId, PubsubRpc> batch;
  for (auto& [topic, mesh] : mesh_) {
    const std::set<PeerId> candidates = topic_peers(topic);
    std::erase_if(mesh, [&](const PeerId& peer) { return !candidates.contains(peer); });
    if (mesh.size() < config_.d_low) {
      for (const auto& peer : pick(candidates, config_.d - mesh.size(), backed_off(topic, mesh))) {
        mesh.insert(peer);
        rpc_for(batch, peer).graft.push_back(topic);
      }
    } else if (mesh.size() > config_.d_high) {
      for (const auto& peer : pick(mesh, mesh.size() - config_.d, {})) {
        mesh.erase(peer);
        start_backoff(topic, peer, config_.prune_backoff_s);
        rpc_for(batch, peer).prune.push_back({topic, config_.prune_backoff_s});
      }
    }
  }
  for (auto it = fanout_.begin(); it != fanout_.end();) {
    const auto last = fanout_last_publish_[it->first];
    if (heartbeat_count_ - last > config_.fanout_ttl_heartbeats) {
      fanout_last_publish_.erase(it->first);
      it = fanout_.erase(it);
      continue;
    }
    const std::set<PeerId> candidates = topic_peers(it->first);
    std::erase_if(it->second, [&](const PeerId& peer) { return !candidates.contains(peer); });
    for (const auto& peer :
         pick(candidates, config_.d - std::min(config_.d, it->second.size()), it->second)) {
      it->second.insert(peer);
    }
    ++it;
  }
  // Gossip: advertise recent message IDs to peers outside the mesh.
  std::map<std::string, std::vector<Bytes>> recent;
  for (std::size_t window = 0; window < std::min(config_.history_gossip, history_.size());
       ++window) {
    for (const auto& [id, topic] : history_[window]) recent[topic].push_back(id);
  }
  for (const auto& [topic, ids] : recent) {
    std::set<PeerId> exclude;
    if (auto mesh = mesh_.find(topic); mesh != mesh_.end()) exclude = mesh->second;
    if (auto fanout = fanout_.find(topic); fanout != fanout_.end()) {
      exclude.insert(fanout->second.begin(), fanout->second.end());
    }
    for (const auto& peer : pick(topic_peers(topic), config_.d_lazy, exclude)) {
      rpc_for(batch, peer).ihave.push_back({topic, ids});
    }
  }
  // Shift the message cache and expire the seen cache.
  history_.emplace_front();
  while (history_.size() > config_.history_length) {
    for (const auto& [id, topic] : history_.back()) cache_.erase(id);
    history_.pop_back();
  }
  ++heartbeat_count_;
  std::erase_if(backoff_until_,
                [&](const auto& entry) { return entry.second <= heartbeat_count_; });
  while (!seen_order_.empty() &&
         (heartbeat_count_ - seen_order_.front().first > config_.seen_ttl_heartbeats ||
          seen_order_.size() > config_.max_seen_messages)) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
  flush(batch, out);
}

}  // namespace aethel::p2p
