#include "lattice/link_policy.h"

#include <algorithm>
#include <cmath>

namespace aethel::lattice {

void RttEstimator::sample(double rtt_ms) {
  rtt_ms = std::max(0.0, rtt_ms);
  if (samples_++ == 0) {
    srtt_ms_ = rtt_ms;
    rttvar_ms_ = rtt_ms / 2;
    return;
  }
  // RFC 6298 §2.3 with alpha = 1/8, beta = 1/4.
  rttvar_ms_ = 0.75 * rttvar_ms_ + 0.25 * std::abs(srtt_ms_ - rtt_ms);
  srtt_ms_ = 0.875 * srtt_ms_ + 0.125 * rtt_ms;
}

void RttEstimator::set(double srtt_ms, double rttvar_ms) {
  samples_ = std::max<uint64_t>(samples_, 1);
  srtt_ms_ = std::max(0.0, srtt_ms);
  rttvar_ms_ = std::max(0.0, rttvar_ms);
}

std::string_view link_state_name(LinkState state) {
  switch (state) {
    case LinkState::kP2p:
      return "p2p";
    case LinkState::kHttp:
      return "http";
    case LinkState::kDown:
      return "down";
  }
  return "down";
}

void LinkPolicy::p2p_ready(TimeMs now) {
  p2p_ready_ = true;
  stalled_since_.reset();
  last_p2p_heard_ = now;
}

void LinkPolicy::p2p_lost() {
  p2p_ready_ = false;
  stalled_since_.reset();
}

void LinkPolicy::p2p_answered(TimeMs now, std::optional<double> rtt_ms) {
  if (rtt_ms) rtt_.sample(*rtt_ms);
  last_p2p_heard_ = now;
  stalled_since_.reset();
}

void LinkPolicy::rtt_measured(TimeMs now, double srtt_ms, double rttvar_ms) {
  rtt_.set(srtt_ms, rttvar_ms);
  last_p2p_heard_ = now;
  stalled_since_.reset();
}

void LinkPolicy::http_answered(TimeMs now, bool ok) {
  if (ok) last_http_ok_ = now;
}

double LinkPolicy::stall_after_ms() const {
  return std::max(timing_.stall_floor_ms, timing_.stall_rtt_multiple * rtt_.timeout_ms());
}

double LinkPolicy::close_after_ms() const {
  return std::max(timing_.close_floor_ms, 4 * stall_after_ms());
}

LinkPolicy::Decision LinkPolicy::decide(TimeMs now, std::optional<TimeMs> oldest_unacked_sent) {
  Decision d;
  if (!p2p_ready_) return d;
  if (stalled_since_) {
    if (static_cast<double>(now - *stalled_since_) >= close_after_ms()) {
      d.close_p2p = true;
      p2p_lost();
    }
    return d;
  }
  bool silent = timing_.max_silence_ms > 0 && last_p2p_heard_ &&
                static_cast<double>(now - std::min(now, *last_p2p_heard_)) >
                    std::max(timing_.max_silence_ms, close_after_ms());
  if (silent) {
    d.close_p2p = true;
    p2p_lost();
    return d;
  }
  bool overdue = oldest_unacked_sent && now > *oldest_unacked_sent &&
                 static_cast<double>(now - *oldest_unacked_sent) > stall_after_ms();
  if (!overdue) {
    d.lung = Lung::kP2p;
    return d;
  }
  stalled_since_ = now;
  d.resend_unacked = true;
  return d;
}

namespace {
bool recent(const std::optional<TimeMs>& t, TimeMs now, double window_ms) {
  return t && static_cast<double>(now - std::min(now, *t)) <= window_ms;
}
}  // namespace

LinkState LinkPolicy::state(TimeMs now, double window_ms) const {
  if (p2p_usable() && recent(last_p2p_heard_, now, window_ms)) return LinkState::kP2p;
  return http_state(now, window_ms);
}

LinkState LinkPolicy::http_state(TimeMs now, double window_ms) const {
  return recent(last_http_ok_, now, window_ms) ? LinkState::kHttp : LinkState::kDown;
}

}  // namespace aethel::lattice
