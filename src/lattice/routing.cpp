// The lung of each envelope: the peer's P2P channel while it is open, accepts more and
// is not stalled; HTTP otherwise. Runs on the io thread.
#include <fmt/format.h>

#include "lattice/lattice_impl.h"

namespace aethel::lattice {

void Lattice::Impl::route(const std::string& peer_id, std::string envelope) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end() || stopped_) return;
  Peer& peer = it->second;
  check_link(peer, now_ms());
  if (!manual_http() && peer.link.p2p_usable() && send_p2p(peer, envelope)) return;
  if (manual_p2p()) return;  // "P2P only": the HTTP lung is switched off
  send_http(peer, envelope);
}

// Takes acknowledged envelopes off the channels, feeds the link's RTT, and acts on the
// link policy: a stall resends what is in flight over HTTP; a long stall closes the
// connection so that the heartbeat dials it again.
void Lattice::Impl::check_link(Peer& peer, TimeMs now) {
  take_acks(peer.bulk);
  if (take_acks(peer.main)) {
    p2p::ChannelStats stats = peer.main.channel->stats();
    if (stats.smoothed_rtt_ms) {
      peer.link.rtt_measured(now, *stats.smoothed_rtt_ms, stats.rtt_variance_ms.value_or(0));
    }
  }
  LinkPolicy::Decision decision = peer.link.decide(now, oldest_unacked_sent(peer, now));
  if (decision.resend_unacked) {
    log(
        fmt::format("[P2P] Peer {} ({}) left {} messages unanswered for {:.0f} ms: HTTP carries "
                    "its messages until P2P answers again",
                    peer.id, peer.name, peer.main.unacked.size(), peer.link.stall_after_ms()));
    resend_over_http(peer, peer.main);
  }
  if (decision.close_p2p) drop_stalled_connection(peer);
}

// True when the channel acknowledged frames since the last look.
bool Lattice::Impl::take_acks(ChannelSlot& slot) {
  if (!slot.channel) return false;
  uint64_t acked = slot.channel->stats().frames_acked;
  if (acked <= slot.frames_acked) return false;
  for (uint64_t n = slot.frames_acked; n < acked && !slot.unacked.empty(); ++n) {
    slot.unacked.pop_front();
  }
  slot.frames_acked = acked;
  return true;
}

std::optional<TimeMs> Lattice::Impl::oldest_unacked_sent(const Peer& peer, TimeMs now) const {
  if (!peer.main.channel) return std::nullopt;
  std::optional<double> age_ms = peer.main.channel->oldest_unacked_age_ms();
  if (!age_ms) return std::nullopt;
  TimeMs age = static_cast<TimeMs>(*age_ms);
  return now - std::min(now, age);
}

// False when the channel is not there or refuses the frame (back pressure): HTTP then.
bool Lattice::Impl::send_p2p(Peer& peer, std::string_view envelope) {
  bool large = envelope.size() > kBulkEnvelopeBytes;
  ChannelSlot& slot = large ? peer.bulk : peer.main;
  if (!open_channel(peer, slot, large ? kBulkProtocol : kRaftProtocol)) return false;
  if (!slot.channel->send(p2p::Bytes(envelope.begin(), envelope.end()))) return false;
  slot.unacked.emplace_back(envelope);
  return true;
}

void Lattice::Impl::resend_over_http(Peer& peer, ChannelSlot& slot) {
  std::deque<std::string> unacked = std::move(slot.unacked);
  slot.unacked.clear();
  if (manual_p2p()) return;
  for (const std::string& envelope : unacked) send_http(peer, envelope);
}

// A P2P connection whose frames stay unanswered (a dropped port, a partition) still
// looks connected to TCP for minutes: close it; the heartbeat dials again.
void Lattice::Impl::drop_stalled_connection(Peer& peer) {
  log(
      fmt::format("[P2P] Peer {} ({}) stopped answering for {:.0f} ms: closing the connection, "
                  "HTTP carries its messages",
                  peer.id, peer.name, peer.link.close_after_ms()));
  close_channels(peer);
  peer.connected = peer.hello_ok = false;
  auto id = p2p::PeerId::parse(peer.id);
  if (host_ && id.ok()) host_->drop(id.value(), "stopped answering");
}

}  // namespace aethel::lattice
