// Internal: the leader's view of one follower's replication (etcd's Progress).
//   probe      — we do not know where the logs match: one append at a time, then wait.
//   replicate  — logs match up to `match`: stream appends without waiting for acks,
//                bounded by the inflight window (flow control).
//   snapshot   — the entries the follower needs are compacted: a snapshot is in flight.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>

#include "consensus/consensus.h"

namespace aethel::consensus {

struct Progress {
  enum class State : std::uint8_t { kProbe, kReplicate, kSnapshot };

  Index match = 0;
  Index next = 1;
  State state = State::kProbe;
  bool probe_sent = false;     // probe: an append is outstanding
  Index pending_snapshot = 0;  // snapshot: index of the snapshot sent
  std::uint32_t snapshot_elapsed_ticks = 0;
  bool recent_active = false;     // heard from within the current election timeout
  std::uint64_t acked_round = 0;  // the last heartbeat round it answered
  std::deque<Index> inflight;     // replicate: last index of each unacknowledged append
  std::uint32_t heartbeats_without_progress = 0;

  bool paused(std::uint32_t max_inflight) const {
    switch (state) {
      case State::kProbe:
        return probe_sent;
      case State::kReplicate:
        return inflight.size() >= max_inflight;
      case State::kSnapshot:
        return true;
    }
    return true;
  }

  void become_probe() {
    // After a snapshot the follower holds at least pending_snapshot.
    const Index floor = state == State::kSnapshot ? std::max(match, pending_snapshot) : match;
    state = State::kProbe;
    next = floor + 1;
    probe_sent = false;
    pending_snapshot = 0;
    inflight.clear();
  }

  void become_replicate() {
    state = State::kReplicate;
    next = match + 1;
    probe_sent = false;
    inflight.clear();
  }

  void become_snapshot(Index snapshot_index) {
    state = State::kSnapshot;
    pending_snapshot = snapshot_index;
    snapshot_elapsed_ticks = 0;
    inflight.clear();
  }

  // An acknowledgement that the follower matches up to `index`. False if stale.
  bool maybe_update(Index index) {
    bool updated = false;
    if (match < index) {
      match = index;
      updated = true;
      heartbeats_without_progress = 0;
    }
    if (next < index + 1) next = index + 1;
    while (!inflight.empty() && inflight.front() <= index) inflight.pop_front();
    return updated;
  }

  // The follower rejected an append after `rejected`; `hint` is where it may match.
  // False if the rejection is stale (answers an append we already moved past).
  bool maybe_decrease_to(Index rejected, Index hint) {
    // The follower no longer holds entries it acknowledged. Raft's durability rule
    // forbids that except after an operator rebuilt the node (`aethel rebuild`); start
    // over from where it says its log ends. (A duplicated old rejection can look the
    // same: then the entries are merely sent again.)
    if (state != State::kSnapshot && rejected == match && hint < match) {
      match = hint;
      next = hint + 1;
      probe_sent = false;
      inflight.clear();
      return true;
    }
    if (state == State::kReplicate) {
      if (rejected <= match) return false;
      next = match + 1;
      return true;
    }
    if (next == 0 || next - 1 != rejected) return false;
    next = std::max(std::min(rejected, hint + 1), match + 1);
    probe_sent = false;
    return true;
  }
};

}  // namespace aethel::consensus
