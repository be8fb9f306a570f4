// The node's sync mode (SPEC §6.2) as a pure state machine: AUTO after start while no
// peer has connected and the peerless timer has not run out; P2P while peers are
// connected; HTTP once the node has had no P2P peer for the peerless timeout (or an
// operator chose it); back to P2P when a peer returns (in auto mode). It only
// reports: consensus messages pick their lung per peer (link_policy.h), whatever
// the mode says. Each transition yields the operator log lines of SPEC §6.3.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lattice/link_policy.h"

namespace aethel::lattice {

enum class SyncMode : uint8_t { kAuto, kP2p, kHttp };
std::string_view sync_mode_name(SyncMode mode);  // "AUTO", "P2P", "HTTP"
// "auto", "p2p", "http" → the mode; false for anything else.
bool parse_sync_mode(std::string_view text, SyncMode& mode);

class SyncModeMachine {
 public:
  // `has_peers`: other validators are configured (a node alone stays AUTO).
  SyncModeMachine(bool p2p_enabled, bool has_peers, uint64_t peerless_timeout_ms, TimeMs now);

  // Re-evaluates with the number of peers alive over P2P at `now`; returns the log
  // lines of the transitions it made (usually none).
  std::vector<std::string> update(TimeMs now, size_t p2p_peers);
  // An operator's choice (kAuto: automatic again).
  std::vector<std::string> choose(TimeMs now, SyncMode manual, size_t p2p_peers);

  SyncMode mode() const { return mode_; }
  SyncMode manual() const { return manual_; }
  uint64_t fallback_activations() const { return fallback_activations_; }
  // Milliseconds without a P2P peer (0 while one is connected).
  uint64_t peerless_ms(TimeMs now) const { return now - peerless_since_; }
  uint64_t peerless_timeout_ms() const { return peerless_timeout_ms_; }

 private:
  void set(SyncMode mode, std::vector<std::string>& lines);

  bool p2p_enabled_;
  bool has_peers_;
  uint64_t peerless_timeout_ms_;
  SyncMode mode_;
  SyncMode manual_ = SyncMode::kAuto;
  TimeMs peerless_since_;
  uint64_t fallback_activations_ = 0;
};

}  // namespace aethel::lattice
