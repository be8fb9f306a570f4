// Gossipsub v1.1 (libp2p/specs pubsub/gossipsub) as a sans-I/O router, plus the pubsub RPC
// protobuf codec. The Host owns the streams; this file owns the protocol logic.
//
// Each peer gets a mesh of D (6) peers per subscribed topic, kept between D_low (4) and
// D_high (12) by a 1 s heartbeat (GRAFT/PRUNE). Full messages flow along mesh links;
// message IDs are gossiped (IHAVE) to D_lazy other peers and fetched on demand (IWANT).
// Publishing to a topic we are not subscribed to goes to a fanout set that expires after
// fanout_ttl. A seen cache drops duplicates. Messages are StrictSign: the author's
// Ed25519 key signs "libp2p-pubsub:" || the protobuf Message without signature/key, and
// unsigned or badly signed messages are dropped.
#pragma once

#include <deque>
#include <map>
#include <random>
#include <set>

#include "p2p/p2p.h"

namespace aethel::p2p {

inline constexpr std::string_view kMeshsub11 = "/meshsub/1.1.0";
inline constexpr std::string_view kMeshsub10 = "/meshsub/1.0.0";
inline constexpr std::size_t kMaxRpcBytes = 1024 * 1024;

// ---- RPC codec ----

struct PubsubMessage {
  Bytes from;  // author's peer ID (multihash bytes)
  Bytes data;
  Bytes seqno;  // 8 bytes, big-endian
  std::string topic;
  Bytes signature;
  Bytes key;  // only for peer IDs that do not inline the key
};

struct PubsubRpc {
  struct Subscription {
    bool subscribe = false;
    std::string topic;
  };
  struct IHave {
    std::string topic;
    std::vector<Bytes> message_ids;
  };
  struct Prune {
    std::string topic;
    std::uint64_t backoff_s = 0;
  };
  std::vector<Subscription> subscriptions;
  std::vector<PubsubMessage> messages;
  std::vector<IHave> ihave;
  std::vector<Bytes> iwant;  // message IDs
  std::vector<std::string> graft;
  std::vector<Prune> prune;

  bool empty() const {
    return subscriptions.empty() && messages.empty() && ihave.empty() && iwant.empty() &&
           graft.empty() && prune.empty();
  }
};

Bytes encode_pubsub_rpc(const PubsubRpc& rpc);
// Bounded: at most kMaxRpcEntries of each repeated field.
Result<PubsubRpc> decode_pubsub_rpc(ByteView encoded);
inline constexpr std::size_t kMaxRpcEntries = 5000;

// The bytes StrictSign signs: "libp2p-pubsub:" || Message{from, data, seqno, topic}.
Bytes pubsub_signing_bytes(const PubsubMessage& message);
// Default message ID (as js-libp2p and go-libp2p): from || seqno.
Bytes pubsub_message_id(const PubsubMessage& message);
// Checks from/seqno presence and the Ed25519 signature of the author.
Status verify_pubsub_message(const PubsubMessage& message);

// ---- router ----

struct GossipsubConfig {
  std::size_t d = 6;
  std::size_t d_low = 4;
  std::size_t d_high = 12;
  std::size_t d_lazy = 6;
  std::uint32_t heartbeat_interval_ms = 1000;
  std::uint32_t fanout_ttl_heartbeats = 60;
  std::size_t history_length = 5;  // heartbeats of messages kept for IWANT
  std::size_t history_gossip = 3;  // heartbeats of message IDs advertised in IHAVE
  std::uint32_t seen_ttl_heartbeats = 120;
  std::size_t max_seen_messages = 100'000;
  std::uint64_t prune_backoff_s = 60;
};

// What the router wants done: RPCs to send and messages to hand to the application.
struct GossipsubOutput {
  std::vector<std::pair<PeerId, PubsubRpc>> send;
  std::vector<PubsubMessage> deliver;
};

class GossipsubRouter {
 public:
  GossipsubRouter(const KeyPair& key, GossipsubConfig config = {}, std::uint64_t seed = 1);

  // A peer opened (or accepted) a pubsub stream; it gets our subscriptions.
  void add_peer(const PeerId& peer, GossipsubOutput& out);
  void remove_peer(const PeerId& peer);
  void subscribe(const std::string& topic, GossipsubOutput& out);
  void unsubscribe(const std::string& topic, GossipsubOutput& out);
  // Signs and sends a new message; fails when no peer would receive it.
  Status publish(const std::string& topic, Bytes data, GossipsubOutput& out);
  void handle_rpc(const PeerId& from, const PubsubRpc& rpc, GossipsubOutput& out);
  // Mesh maintenance, fanout expiry, gossip emission and cache shifting.
  void heartbeat(GossipsubOutput& out);

  std::size_t mesh_size(const std::string& topic) const;
  std::set<PeerId> mesh_peers(const std::string& topic) const;
  std::set<PeerId> topic_peers(const std::string& topic) const;
  std::size_t peer_count() const { return peers_.size(); }

 private:
  struct PeerState {
    std::set<std::string> topics;
  };
  PubsubRpc& rpc_for(std::map<PeerId, PubsubRpc>& batch, const PeerId& peer);
  void forward(const PubsubMessage& message, const PeerId* source,
               std::map<PeerId, PubsubRpc>& batch);
  bool remember(const Bytes& id, const PubsubMessage& message);
  std::vector<PeerId> pick(const std::set<PeerId>& candidates, std::size_t count,
                           const std::set<PeerId>& exclude);
  static void flush(std::map<PeerId, PubsubRpc>& batch, GossipsubOutput& out);
  // After a PRUNE (either way) neither side may GRAFT again until the backoff expires.
  void start_backoff(const std::string& topic, const PeerId& peer, std::uint64_t seconds);
  bool in_backoff(const std::string& topic, const PeerId& peer) const;
  std::set<PeerId> backed_off(const std::string& topic, std::set<PeerId> also) const;

  const KeyPair& key_;
  PeerId self_;
  GossipsubConfig config_;
  std::mt19937_64 random_;
  std::uint64_t next_seqno_;
  std::uint64_t heartbeat_count_ = 0;
  std::map<PeerId, PeerState> peers_;
  std::set<std::string> subscribed_;
  std::map<std::string, std::set<PeerId>> mesh_;
  std::map<std::string, std::set<PeerId>> fanout_;
  std::map<std::string, std::uint64_t> fanout_last_publish_;
  std::map<std::pair<std::string, PeerId>, std::uint64_t> backoff_until_;  // heartbeat
  // Message cache: windows of message IDs, newest first; the messages by ID.
  std::deque<std::vector<std::pair<Bytes, std::string>>> history_;
  std::map<Bytes, PubsubMessage> cache_;
  // Seen cache: ID → heartbeat when first seen.
  std::map<Bytes, std::uint64_t> seen_;
  std::deque<std::pair<std::uint64_t, Bytes>> seen_order_;
};

}  // namespace aethel::p2p
