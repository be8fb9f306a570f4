// The lattice: how a node reaches the other validators and watches them (SPEC §6).
//
// Two lungs. Every consensus envelope for a peer goes over a libp2p request stream
// (/aethel/raft/1.0.0) when that peer is connected, authenticated by a hello with
// the same lattice id, and answering; otherwise, immediately, over HTTP
// (POST /api/lattice/internal/messages, signed with the node key). A P2P request
// that stays unanswered for kP2pStallMs moves that peer to HTTP until P2P answers
// again, so cutting the P2P port never stops commits.
//
// The heartbeat monitor runs every AETHEL_HEARTBEAT_INTERVAL seconds: it dials
// bootstrap peers that are not connected, learns the peer IDs behind
// AETHEL_LATTICE_NODES, pings every P2P peer, and moves the sync mode
// (AUTO → P2P → HTTP and back) with the log lines of SPEC §6.3. While the mode is
// HTTP it polls the other nodes' heights and roots every AETHEL_HTTP_POLL_INTERVAL
// seconds and reports a divergence; missing blocks arrive through consensus
// (append or snapshot) over whichever lung works.
//
// Threads: one io thread runs the libp2p host; one monitor thread runs the heartbeat;
// one sender thread per peer carries the HTTP lung. Public methods are thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "node/node.h"

namespace aethel::metrics {
class Metrics;
}

namespace aethel::api {

inline constexpr std::string_view kInternalMessagesPath = "/api/lattice/internal/messages";
// Node-to-node requests older or newer than this are refused (replay window).
inline constexpr uint64_t kSignedRequestWindowMs = 30'000;

struct LatticeOptions {
  node::Config config;
  std::string lattice_id;
  // Operator log lines (SPEC §6.3); default: stdout.
  std::function<void(std::string_view)> log;
  // When set, fallback activations and divergences are counted here as they happen.
  metrics::Metrics* metrics = nullptr;
};

// A snapshot of the lattice's numbers, for /metrics (polled when it is rendered).
struct LatticeCounters {
  size_t p2p_peers = 0;   // alive over P2P (SPEC §6.2 peer_count)
  size_t http_peers = 0;  // not alive over P2P, but answered over HTTP
  std::string sync_mode;  // "auto", "p2p" or "http"
  uint64_t fallback_activations = 0;
  uint64_t divergences = 0;
};

// The headers of a signed node-to-node request.
struct SignedHeaders {
  std::string peer_id;       // X-Aethel-Peer
  std::string timestamp_ms;  // X-Aethel-Timestamp (Unix time, ms)
  std::string signature;     // X-Aethel-Signature: hex Ed25519 over signing_text()
};

// Wall-clock Unix time in ms: signed-request and signed-state timestamps.
uint64_t unix_time_ms();

// "<METHOD>\n<path>\n<timestamp_ms>\n<hex SHA-256 of the body>".
std::string signing_text(std::string_view method, std::string_view path,
                         std::string_view timestamp_ms, std::string_view body);

class Lattice : public node::Transport {
 public:
  // Starts the P2P host (when enabled), the monitor and the HTTP senders, and
  // registers itself as the node's transport. Errors name the setting at fault.
  static node::Result<std::unique_ptr<Lattice>> start(node::Node& node, LatticeOptions options);
  ~Lattice() override;  // detaches from the node, stops every thread

  void send(const std::string& peer_id, std::string envelope) override;

  // The HTTP lung's inbound side: checks a signed request (a validator's key, inside
  // the replay window, never seen before) and returns the sender's peer ID.
  node::Result<std::string> authenticate(const SignedHeaders& headers, std::string_view method,
                                         std::string_view path, std::string_view body);
  // Splits the body of POST /api/lattice/internal/messages and hands each envelope
  // to the node. Returns how many there were, or an Error for a malformed body.
  node::Result<size_t> deliver(const std::string& from_peer_id, std::string_view body);

  // JSON bodies of the status routes (SPEC §4, §6.2).
  boost::json::object p2p_status() const;
  boost::json::object identity() const;
  boost::json::object health() const;
  boost::json::object nodes() const;
  LatticeCounters counters() const;
  // Fans out to every node (this one included) with short timeouts.
  boost::json::object network() const;

  // Manual sync mode: "p2p", "http" or "auto"; an Error for anything else.
  node::Result<std::string> switch_mode(std::string_view mode);
  // The guide's fallback drill: stop or restart the libp2p host without a restart.
  void stop_p2p();
  node::Result<std::string> start_p2p();

  class Impl;

 private:
  explicit Lattice(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aethel::api
