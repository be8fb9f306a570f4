// A simulated disk for one node, with the semantics of storage::Store (one
// WriteBatch: snapshot, entries, hard state, blocks, compaction) as the node's disk
// threads use it. Writes land in a volatile queue; sync_one() makes the oldest
// durable (one fsync each): a journalable one in the journal, its entries and hard
// state only, until store_through() commits the rest (its blocks, outcomes and
// compaction) to the database; one the journal cannot carry in the database, with
// every journaled write before it. A crash keeps the durable image plus an arbitrary
// prefix of the unsynced writes (the kernel may have flushed some) and of the
// journaled writes' rest, and may tear the first lost write: its term and vote and a
// prefix of its log entries survive, nothing else of it. Not its commit index: no
// store makes a commit index durable before the entries it covers (the Store writes
// a batch atomically; a write-ahead log appends the state after the entries), and a
// commit index without them would name the entries they were to replace.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "consensus/consensus.h"
#include "node/replica.h"
#include "node/restore.h"
#include "storage/storage.h"

namespace aethel::sim {

class SimDisk {
 public:
  void write(storage::WriteBatch batch) { unsynced_.push_back(std::move(batch)); }
  size_t unsynced() const { return unsynced_.size(); }
  // Writes synced but not in the database yet, and the number of writes ever synced.
  size_t unstored() const { return unstored_.size(); }
  uint64_t synced_count() const { return synced_count_; }

  // A built snapshot's data, durable at once (as Store::prepare_snapshot_file makes it);
  // a later write of the snapshot without data takes it from here. As in the Store,
  // files older than the stored snapshot go when the next one is prepared.
  void prepare_snapshot_file(consensus::Index index, consensus::Bytes data) {
    const consensus::Index stored = snapshot_ ? snapshot_->meta.index : 0;
    std::erase_if(snapshot_files_, [&](const auto& file) { return file.first < stored; });
    snapshot_files_[index] = std::move(data);
  }
  const consensus::Bytes& snapshot_file(consensus::Index index) const {
    auto it = snapshot_files_.find(index);
    AETHEL_CHECK(it != snapshot_files_.end());  // deleted while the snapshot needs it
    return it->second;
  }

  // The oldest unsynced write becomes durable. Returns how many writes reached the
  // database with it: 0 when it went to the journal, else itself and every journaled
  // write before it.
  size_t sync_one() {
    if (unsynced_.empty()) return 0;
    storage::WriteBatch w = std::move(unsynced_.front());
    unsynced_.erase(unsynced_.begin());
    if (storage::Store::journalable(w)) {
      ++synced_count_;
      apply_journaled(w);
      unstored_.push_back(std::move(w));
      return 0;
    }
    const size_t stored = store_through(synced_count_) + 1;
    ++synced_count_;
    apply(w, w.entries.size());
    return stored;
  }

  // Commits the rest of the journaled writes through the `count`-th synced write to the
  // database; returns how many it committed (0 when an earlier call did).
  size_t store_through(uint64_t count) {
    size_t stored = 0;
    while (!unstored_.empty() && synced_count_ - unstored_.size() < count) {
      apply_rest(unstored_.front());
      unstored_.pop_front();
      ++stored;
    }
    return stored;
  }

  // Returns true when the crash tore a write.
  bool crash(consensus::Prng& prng, bool allow_torn) {
    const std::size_t stored = prng.below(unstored_.size() + 1);
    for (std::size_t i = 0; i < stored; ++i) apply_rest(unstored_[i]);
    unstored_.clear();
    const std::size_t survivors = prng.below(unsynced_.size() + 1);
    for (std::size_t i = 0; i < survivors; ++i) apply(unsynced_[i], unsynced_[i].entries.size());
    bool torn = false;
    // A write that installs a snapshot is not torn: its entries follow the snapshot, and
    // without it they would leave a gap (the Store writes both in one transaction).
    const bool tearable = survivors < unsynced_.size() && !unsynced_[survivors].snapshot &&
                          !unsynced_[survivors].entries.empty();
    if (allow_torn && tearable) {
      storage::WriteBatch prefix;  // its term and vote and some of its entries
      prefix.hard_state = unsynced_[survivors].hard_state;
      if (prefix.hard_state) prefix.hard_state->commit_index = hard_state_.commit;
      prefix.entries = unsynced_[survivors].entries;
      apply(prefix, prng.below(prefix.entries.size()));
      torn = true;
    }
    unsynced_.clear();
    return torn;
  }

  // What a restarting node reads back (as node::recover does from LMDB). The commit
  // index is only a hint: when a torn write left it beyond the surviving log, recovery
  // lowers it (the leader will tell us again).
  node::Recovered recover() const {
    node::Recovered out;
    out.durable.hard_state = hard_state_;
    out.durable.snapshot = snapshot_;
    const consensus::Index after = snapshot_ ? snapshot_->meta.index : 0;
    for (const consensus::Entry& e : log_) {
      if (e.index > after) out.durable.entries.push_back(e);
    }
    const consensus::Index last = !out.durable.entries.empty() ? out.durable.entries.back().index
                                  : snapshot_                  ? snapshot_->meta.index
                                                               : 0;
    if (out.durable.hard_state.commit > last) out.durable.hard_state.commit = last;
    out.last_stored_height = blocks_.empty() ? 0 : blocks_.rbegin()->first;
    out.recovery = recovery_;
    return out;
  }

  // Stored blocks by height (what /api/lattice/blocks would serve).
  const std::map<uint64_t, storage::Bytes>& blocks() const { return blocks_; }
  // A record of the outcome index (node/outcome_index.h) in the store, by key. Not one
  // only journaled: the replica keeps a client id in flight until its block's write is
  // in the store (the production store shows a commit to readers a little earlier, once
  // written).
  const storage::Bytes* outcome(const std::string& key) const {
    auto it = outcomes_.find(key);
    return it == outcomes_.end() ? nullptr : &it->second;
  }
  uint64_t last_block_height() const { return blocks_.empty() ? 0 : blocks_.rbegin()->first; }
  // Blocks are missing below the last stored one (a snapshot was installed).
  bool history_gap() const { return !blocks_.empty() && blocks_.rbegin()->first != blocks_.size(); }

 private:
  void apply(const storage::WriteBatch& w, std::size_t entry_count) {
    if (w.snapshot) apply_snapshot(*w.snapshot);
    if (entry_count > 0) apply_entries(w.entries, entry_count);
    apply_hard_state(w);
    apply_rest(w);
  }

  void apply_journaled(const storage::WriteBatch& w) {
    if (!w.entries.empty()) apply_entries(w.entries, w.entries.size());
    apply_hard_state(w);
  }

  void apply_hard_state(const storage::WriteBatch& w) {
    if (!w.hard_state) return;
    hard_state_.term = w.hard_state->term;
    hard_state_.vote =
        w.hard_state->voted_for.empty() ? consensus::kNoNode : std::stoull(w.hard_state->voted_for);
    hard_state_.commit = w.hard_state->commit_index;
  }

  // What the journal does not carry.
  void apply_rest(const storage::WriteBatch& w) {
    for (const storage::Block& b : w.blocks) blocks_[b.height] = b.data;
    for (const storage::StateRecord& r : w.outcomes) outcomes_[r.key] = r.value;
    if (w.compact_through) compact(*w.compact_through);
    if (w.recovery) recovery_ = static_cast<node::Recovery>(*w.recovery);
  }

  // Raft's InstallSnapshot rule, as the Store applies it: keep the log when it holds
  // the snapshot's last entry with the same term, otherwise discard it.
  void apply_snapshot(const storage::Snapshot& s) {
    bool matches = false;
    for (const consensus::Entry& e : log_) {
      if (e.index == s.last_included_index) matches = e.term == s.last_included_term;
    }
    if (!matches) log_.clear();
    snapshot_ = node::consensus_snapshot(s);
    if (s.data.empty()) {  // the write of a built snapshot names its file
      snapshot_->data =
          std::make_shared<const consensus::Bytes>(snapshot_file(s.last_included_index));
    }
  }

  void apply_entries(const std::vector<storage::LogEntry>& entries, std::size_t count) {
    const consensus::Index from = entries.front().index;
    while (!log_.empty() && log_.back().index >= from) log_.pop_back();
    for (std::size_t i = 0; i < count; ++i) {
      log_.push_back(consensus::Entry{entries[i].term, entries[i].index, entries[i].data});
    }
  }

  void compact(consensus::Index through) {
    std::vector<consensus::Entry> kept;
    for (consensus::Entry& e : log_) {
      if (e.index > through) kept.push_back(std::move(e));
    }
    log_ = std::move(kept);
  }

  consensus::HardState hard_state_;
  std::optional<consensus::Snapshot> snapshot_;
  std::map<consensus::Index, consensus::Bytes> snapshot_files_;
  std::vector<consensus::Entry> log_;  // may start before the snapshot index
  std::map<uint64_t, storage::Bytes> blocks_;
  std::map<std::string, storage::Bytes> outcomes_;
  node::Recovery recovery_ = node::Recovery::kNone;
  std::vector<storage::WriteBatch> unsynced_;
  std::deque<storage::WriteBatch> unstored_;  // journaled, oldest first
  uint64_t synced_count_ = 0;
};

}  // namespace aethel::sim
