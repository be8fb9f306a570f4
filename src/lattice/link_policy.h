// The per-peer link policy: which lung carries the next consensus message to one
// peer, and when a P2P link that stopped answering is given up. Pure: no clock, no
// socket; time comes in as milliseconds from the caller's monotonic clock, so the
// policy is tested as transcripts on a fake clock (tests/lattice).
//
// Every timeout follows the link's measured round-trip time, never a constant tuned
// on loopback: a link is "stalled" when its oldest unacknowledged P2P frame is older
// than stall_after_ms() = max(floor, multiple × (srtt + 4·rttvar)) (RFC 6298's
// estimator), so latency alone never moves a link to HTTP; a link stalled for
// close_after_ms() is closed so the heartbeat dials it again.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace aethel::lattice {

using TimeMs = uint64_t;

// Smoothed round-trip time (RFC 6298 §2): srtt and its mean deviation.
class RttEstimator {
 public:
  void sample(double rtt_ms);
  // Takes an estimate made elsewhere (a P2P channel measures its own).
  void set(double srtt_ms, double rttvar_ms);
  bool has_sample() const { return samples_ > 0; }
  double srtt_ms() const { return srtt_ms_; }
  double rttvar_ms() const { return rttvar_ms_; }
  // srtt + 4·rttvar: how long an answer may reasonably take; 0 without a sample.
  double timeout_ms() const { return has_sample() ? srtt_ms_ + 4 * rttvar_ms_ : 0; }

 private:
  uint64_t samples_ = 0;
  double srtt_ms_ = 0;
  double rttvar_ms_ = 0;
};

struct LinkTiming {
  // No link is called stalled sooner than this, however short its RTT: scheduling
  // hiccups on a busy host must not flap a healthy link.
  double stall_floor_ms = 500;
  // ... nor sooner than this many RTT timeouts.
  double stall_rtt_multiple = 3;
  // A stalled link is closed after max(close_floor_ms, 4 × stall_after_ms()).
  double close_floor_ms = 2000;
  // A ready link heard from (an acknowledgement, a ping answer) longer ago than
  // max(this, close_after_ms()) is closed too: an idle connection that died silently
  // has no unacknowledged frame to stall on. 0: off.
  double max_silence_ms = 0;
};

enum class Lung : uint8_t { kP2p, kHttp };
// What status pages call the link: P2P alive, HTTP answering, or neither.
enum class LinkState : uint8_t { kP2p, kHttp, kDown };
std::string_view link_state_name(LinkState state);  // "p2p", "http", "down"

class LinkPolicy {
 public:
  explicit LinkPolicy(LinkTiming timing = {}) : timing_(timing) {}

  // --- events ---
  // A P2P channel is open and the peer proved our lattice id.
  void p2p_ready(TimeMs now);
  // The P2P channel or connection is gone.
  void p2p_lost();
  // Something came back over P2P (an acknowledgement, a ping answer); `rtt_ms` when
  // it measured a round trip.
  void p2p_answered(TimeMs now, std::optional<double> rtt_ms);
  // The same, with the channel's own smoothed RTT and its variance.
  void rtt_measured(TimeMs now, double srtt_ms, double rttvar_ms);
  void http_answered(TimeMs now, bool ok);

  // --- decisions ---
  struct Decision {
    Lung lung = Lung::kHttp;
    // The link just stalled: what is in flight on P2P must be resent over HTTP now.
    bool resend_unacked = false;
    // The link stalled too long: close the P2P connection (the heartbeat redials).
    bool close_p2p = false;
  };
  // For a message sent at `now`; `oldest_unacked_sent` is when the oldest P2P frame
  // still waiting for its acknowledgement was sent (none: nullopt).
  Decision decide(TimeMs now, std::optional<TimeMs> oldest_unacked_sent);

  // --- observations ---
  double stall_after_ms() const;
  double close_after_ms() const;
  bool p2p_usable() const { return p2p_ready_ && !stalled_since_; }
  bool stalled() const { return stalled_since_.has_value(); }
  // P2P alive: usable and heard from within `window_ms`; else HTTP when HTTP answered
  // within the window; else down.
  LinkState state(TimeMs now, double window_ms) const;
  // The same as if P2P were not there (an operator chose HTTP only).
  LinkState http_state(TimeMs now, double window_ms) const;
  const RttEstimator& rtt() const { return rtt_; }
  std::optional<TimeMs> last_p2p_heard() const { return last_p2p_heard_; }
  std::optional<TimeMs> last_http_ok() const { return last_http_ok_; }

 private:
  LinkTiming timing_;
  RttEstimator rtt_;
  bool p2p_ready_ = false;
  std::optional<TimeMs> stalled_since_;
  std::optional<TimeMs> last_p2p_heard_;
  std::optional<TimeMs> last_http_ok_;
};

}  // namespace aethel::lattice
