// aethel::lattice — how a node reaches the other validators (SPEC §6, §12).
//
// Two lungs, chosen per peer and per message (link_policy.h):
//   P2P   one persistent libp2p channel per peer and direction (/aethel/raft/2.0.0),
//         opened once the peer proved our lattice id in a hello; envelopes travel as
//         frames, many in flight, acknowledged by the channel itself, which measures
//         the link's round-trip time;
//   HTTP  signed POST /api/lattice/internal/messages to the peer's URL (http:// or
//         https://), up to four requests in flight per peer, bodies within the
//         receiver's AETHEL_MAX_BODY_BYTES (lung.h fragments larger envelopes).
// A peer goes over HTTP whenever its channel is not open, refuses more (back
// pressure), or stalled: frames unacknowledged for longer than its measured RTT
// allows — what was in flight is then resent over HTTP at once. Latency alone never
// stalls a link.
//
// A node reachable only by its outbound connections (a Space behind an HTTPS proxy)
// is still a full peer: channels run over whichever connection exists.
//
// The heartbeat monitor (every AETHEL_HEARTBEAT_INTERVAL seconds, faster while peers
// are missing) learns the peer IDs behind AETHEL_LATTICE_NODES, dials bootstrap peers,
// pings P2P peers, gossips this node's head, moves the sync mode (sync_mode.h) with
// the log lines of SPEC §6.3 and, in HTTP mode, polls the other nodes' heads every
// AETHEL_HTTP_POLL_INTERVAL seconds to report divergence.
//
// The lattice knows nothing of ledgers or consensus: envelopes are opaque bytes, and
// the node is reached through Hooks.
//
// Threads: one io thread runs the libp2p host, the HTTP client and every timer, and
// owns all link state. Public methods may be called from any thread; send() and
// deliver() never block, status() returns a copy published by the io thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "lattice/link_policy.h"
#include "lattice/sync_mode.h"
#include "p2p/p2p.h"

namespace aethel::lattice {

inline constexpr std::string_view kRaftProtocol = "/aethel/raft/2.0.0";
inline constexpr std::string_view kHelloProtocol = "/aethel/hello/1.0.0";
inline constexpr std::string_view kInternalMessagesPath = "/api/lattice/internal/messages";
// Node-to-node requests older or newer than this are refused (the replay window).
inline constexpr uint64_t kSignedRequestWindowMs = 30'000;

// Who this node is among the validators.
struct Identity {
  p2p::KeyPair key;
  std::string peer_id;
  // The genesis validators' peer IDs (a joining node's is not among them); members
  // added later come through add_member().
  std::vector<std::string> validators;
  std::string lattice_id;  // node::lattice_id: peers must present the same
};

// The settings of SPEC §3 the lattice uses.
struct Settings {
  std::string node_name;
  std::string public_url;
  bool p2p_enabled = true;
  std::vector<std::string> p2p_listen;
  std::vector<std::string> p2p_bootstrap;
  std::string p2p_topic = "aethel/lattice/v1";
  std::vector<std::string> lattice_nodes;  // HTTP base URLs of the other nodes
  uint32_t heartbeat_interval_s = 5;
  uint32_t peerless_timeout_s = 60;
  uint32_t http_poll_interval_s = 10;
  std::string tls_ca_file;  // extra CAs for https:// peers
  // Every HTTP lung body stays within this; receivers share the setting.
  uint64_t max_body_bytes = 4ull << 20;
  LinkTiming link_timing;
};

// A node's head: its height and Merkle root (lower-case hex).
struct Head {
  uint64_t height = 0;
  std::string root;
};

struct Hooks {
  // An envelope from a validator; must not block (the node queues it).
  std::function<void(const std::string& from_peer, std::string envelope)> deliver;
  // This node's head, for hellos, gossip and divergence checks.
  std::function<Head()> head;
  // Operator lines (SPEC §6.3); default: stdout.
  std::function<void(std::string_view)> log;
  // For metrics: the HTTP fallback was activated; a peer's root differs from ours.
  std::function<void()> on_fallback_activation;
  std::function<void()> on_divergence;
};

// The headers of a signed node-to-node request.
struct SignedHeaders {
  std::string peer_id;       // X-Aethel-Peer: the sender
  std::string to;            // X-Aethel-To: the receiver's peer ID
  std::string timestamp_ms;  // X-Aethel-Timestamp: Unix time, ms
  std::string nonce;         // X-Aethel-Nonce: 16 lower-case hex digits, random per request
  std::string body_sha256;   // X-Aethel-Body-Sha256: lower-case hex
  std::string signature;     // X-Aethel-Signature: lower-case hex Ed25519 over signing_text()
};

// The signed bytes (docs/API.md):
// "aethel-lattice-request-v3\n<METHOD>\n<path>\n<from>\n<to>\n<timestamp_ms>\n<nonce>\n
// <body sha256 hex>". The nonce keeps two identical requests in one millisecond apart:
// without it they would carry one signature and the second would be refused as a replay.
std::string signing_text(std::string_view method, std::string_view path, const SignedHeaders& h);

// What status pages show of one peer.
struct PeerStatus {
  std::string peer_id;
  std::string name;
  std::string url;
  LinkState transport = LinkState::kDown;
  std::optional<uint64_t> last_seen_ms;  // ago; nullopt: never
  std::optional<uint64_t> last_sync_ms;  // its head reached us (gossip or poll), ago
  std::optional<double> rtt_ms;
  bool stalled = false;
  std::optional<uint64_t> height;
  std::string root;
};

struct Status {
  std::string peer_id;
  std::string node_name;
  std::string public_url;
  std::string lattice_id;
  std::string public_key_hex;
  bool p2p_enabled = true;
  bool p2p_started = false;
  std::vector<std::string> listen_addrs;
  std::vector<std::string> bootstrap;
  std::vector<std::string> lattice_nodes;
  std::string topic;
  size_t peer_count = 0;  // alive over P2P (SPEC §6.2)
  size_t http_peers = 0;  // not alive over P2P, answering over HTTP
  SyncMode sync_mode = SyncMode::kAuto;
  SyncMode manual_mode = SyncMode::kAuto;
  bool heartbeat_active = false;
  uint64_t peerless_ms = 0;
  uint64_t peerless_timeout_ms = 0;
  uint64_t fallback_activations = 0;
  uint64_t divergences = 0;
  bool diverged = false;
  std::vector<PeerStatus> peers;
};

class Lattice {
 public:
  // Starts the io thread, the P2P host (when enabled) and the monitor. Errors name
  // the setting at fault.
  static base::Result<std::unique_ptr<Lattice>> start(Identity identity, Settings settings,
                                                      Hooks hooks);
  ~Lattice();  // stops every thread; nothing is delivered afterwards
  Lattice(const Lattice&) = delete;
  Lattice& operator=(const Lattice&) = delete;

  // Best effort (consensus retransmits); never blocks.
  void send(const std::string& peer_id, std::string envelope);

  // A member added after genesis (SPEC §10): its signed requests are accepted, its
  // URL (when given) carries the HTTP lung and its multiaddrs are dialled like
  // bootstrap peers. Idempotent; never blocks.
  void add_member(const std::string& peer_id, const std::string& url,
                  const std::vector<std::string>& p2p_addrs);

  // The HTTP lung's inbound side, before the body is read: a validator's key, this
  // node as receiver, inside the replay window, never seen before (signatures are
  // compared as bytes). Returns the sender's peer ID; Error "unauthorized" naming why.
  base::Result<std::string> authenticate(std::string_view method, std::string_view path,
                                         const SignedHeaders& headers);
  // ... and with the body: checks it against the signed hash, splits it into
  // envelopes (assembling fragments) and hands them over. Returns how many.
  base::Result<size_t> deliver(const std::string& from_peer, const SignedHeaders& headers,
                               std::string_view body);

  Status status() const;

  // Manual sync mode: "p2p", "http" or "auto"; Error "bad_mode" for anything else.
  base::Result<SyncMode> switch_mode(std::string_view mode);
  // The guide's fallback drill: stop or restart the libp2p host without a restart.
  void stop_p2p();
  base::Result<std::string> start_p2p();

  class Impl;

 private:
  explicit Lattice(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Wall-clock Unix time in ms: signed-request and signed-state timestamps.
uint64_t unix_time_ms();

}  // namespace aethel::lattice
