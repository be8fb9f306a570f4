#include "lattice/sync_mode.h"

#include <fmt/format.h>

namespace aethel::lattice {

std::string_view sync_mode_name(SyncMode mode) {
  switch (mode) {
    case SyncMode::kAuto:
      return "AUTO";
    case SyncMode::kP2p:
      return "P2P";
    case SyncMode::kHttp:
      return "HTTP";
  }
  return "AUTO";
}

bool parse_sync_mode(std::string_view text, SyncMode& mode) {
  if (text == "auto") {
    mode = SyncMode::kAuto;
  } else if (text == "p2p") {
    mode = SyncMode::kP2p;
  } else if (text == "http") {
    mode = SyncMode::kHttp;
  } else {
    return false;
  }
  return true;
}

SyncModeMachine::SyncModeMachine(bool p2p_enabled, bool has_peers, uint64_t peerless_timeout_ms,
                                 TimeMs now)
    : p2p_enabled_(p2p_enabled),
      has_peers_(has_peers),
      peerless_timeout_ms_(peerless_timeout_ms),
      mode_(p2p_enabled ? SyncMode::kAuto : SyncMode::kHttp),
      peerless_since_(now) {}

std::vector<std::string> SyncModeMachine::update(TimeMs now, size_t p2p_peers) {
  std::vector<std::string> lines;
  if (p2p_peers > 0 || !has_peers_) peerless_since_ = now;
  if (!p2p_enabled_) {
    set(SyncMode::kHttp, lines);
  } else if (manual_ != SyncMode::kAuto) {
    set(manual_, lines);
  } else if (!has_peers_) {
    set(SyncMode::kAuto, lines);  // standalone: nobody to sync with
  } else if (p2p_peers > 0) {
    if (mode_ == SyncMode::kHttp) lines.push_back("[P2P_HEARTBEAT] Peers back - returning to P2P");
    set(SyncMode::kP2p, lines);
  } else if (peerless_ms(now) >= peerless_timeout_ms_ && mode_ != SyncMode::kHttp) {
    lines.push_back(
        fmt::format("[P2P_HEARTBEAT] 🚨 {} seconds without peers - Activating HTTP "
                    "Fallback",
                    peerless_timeout_ms_ / 1000));
    ++fallback_activations_;
    set(SyncMode::kHttp, lines);
  }
  return lines;
}

std::vector<std::string> SyncModeMachine::choose(TimeMs now, SyncMode manual, size_t p2p_peers) {
  manual_ = manual;
  std::string name(sync_mode_name(manual));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<std::string> lines{"[SYNC_MODE] manual switch to " + name};
  for (std::string& line : update(now, p2p_peers)) lines.push_back(std::move(line));
  return lines;
}

void SyncModeMachine::set(SyncMode mode, std::vector<std::string>& lines) {
  if (mode == mode_) return;
  lines.push_back(fmt::format("[SYNC_MODE] {} -> {}", sync_mode_name(mode_), sync_mode_name(mode)));
  mode_ = mode;
}

}  // namespace aethel::lattice
