// A simulated disk for one node. Writes land in a volatile queue; sync() makes everything
// written so far durable (one fsync for the batch). A crash keeps the durable image plus
// an arbitrary prefix of the unsynced writes (the kernel may have flushed some), and may
// tear the last surviving write: only a prefix of its entries reaches the platter and the
// partial record is discarded by its checksum at recovery.
#pragma once

#include <optional>
#include <vector>

#include "consensus/consensus.h"

namespace aethel::sim {

struct DiskWrite {
  std::optional<consensus::HardState> hard_state;
  std::optional<consensus::Snapshot> install;  // replaces the whole log
  std::optional<consensus::Snapshot> compact;  // drops the log prefix it covers
  std::vector<consensus::Entry> entries;       // truncate from front().index, then append
};

class SimDisk {
 public:
  void write(DiskWrite write) { unsynced_.push_back(std::move(write)); }

  void sync() {
    for (const DiskWrite& w : unsynced_) apply(w, w.entries.size());
    unsynced_.clear();
  }

  // Returns true when the crash tore a write.
  bool crash(consensus::Prng& prng, bool allow_torn) {
    const std::size_t survivors = prng.below(unsynced_.size() + 1);
    for (std::size_t i = 0; i < survivors; ++i) apply(unsynced_[i], unsynced_[i].entries.size());
    bool torn = false;
    if (allow_torn && survivors < unsynced_.size()) {
      const DiskWrite& w = unsynced_[survivors];
      if (!w.install && !w.compact && !w.entries.empty()) {
        apply(w, prng.below(w.entries.size()));
        torn = true;
      }
    }
    unsynced_.clear();
    return torn;
  }

  // What a restarting node reads back. The commit index is only a hint: when a torn write
  // left it beyond the surviving log, recovery lowers it (the leader will tell us again).
  consensus::DurableState recover() const {
    consensus::DurableState state = durable_;
    const consensus::Index last = !state.entries.empty() ? state.entries.back().index
                                  : state.snapshot       ? state.snapshot->meta.index
                                                         : 0;
    if (state.hard_state.commit > last) state.hard_state.commit = last;
    return state;
  }

 private:
  void apply(const DiskWrite& w, std::size_t entry_count) {
    if (w.install) {
      durable_.snapshot = w.install;
      durable_.entries.clear();
    }
    if (w.compact) {
      const consensus::Index index = w.compact->meta.index;
      const consensus::Index current = durable_.snapshot ? durable_.snapshot->meta.index : 0;
      if (index > current) {
        std::vector<consensus::Entry> kept;
        for (consensus::Entry& e : durable_.entries) {
          if (e.index > index) kept.push_back(std::move(e));
        }
        durable_.entries = std::move(kept);
        durable_.snapshot = w.compact;
      }
    }
    if (w.hard_state) durable_.hard_state = *w.hard_state;
    if (!w.entries.empty()) {
      const consensus::Index from = w.entries.front().index;
      while (!durable_.entries.empty() && durable_.entries.back().index >= from) {
        durable_.entries.pop_back();
      }
      durable_.entries.insert(durable_.entries.end(), w.entries.begin(),
                              w.entries.begin() + static_cast<long>(entry_count));
    }
  }

  consensus::DurableState durable_;
  std::vector<DiskWrite> unsynced_;
};

}  // namespace aethel::sim
