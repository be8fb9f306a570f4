// An index from 64-bit hashes to numbers that arrive in increasing order and are
// forgotten oldest first, as the ledger's remembered outcomes with derived ids are.
// Internal to the ledger.
//
// One FlatIndex over a full window (a million outcomes) is 32 MiB, read at random twice
// per outcome: to insert it, and to erase it when it is forgotten. A random read beyond
// the last-level cache costs about 190 ns on the machines we measure, against about
// 40 ns within a few MiB. Here the numbers are split into generations of
// kGenerationEntries, each with a small table of its own (1 MiB when full): an insert
// touches only the newest, and forgetting drops a whole generation at once instead of
// erasing entry by entry. A lookup probes every generation, newest first: about 30
// probes in a full window, which suits the rare lookup of a derived id.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>

#include "ledger/flat_index.h"

namespace aethel::ledger {

class GenerationIndex {
 public:
  static constexpr uint64_t kAbsent = FlatIndex::kAbsent;
  static constexpr size_t kGenerationEntries = size_t{1} << 15;

  size_t generations() const { return generations_.size(); }

  void clear() {
    generations_.clear();
    spare_.clear();
  }

  // Adds an entry; `number` exceeds every number inserted before, and the caller
  // guarantees no matching entry exists.
  void insert(uint64_t hash, uint64_t number) {
    if (generations_.empty() || generations_.back().index.size() == kGenerationEntries) {
      // The table of the last generation dropped, emptied without a write: a fresh
      // table per generation, or clearing the old one, made a block take milliseconds
      // once a generation (BENCHMARKS.md).
      generations_.push_back({std::exchange(spare_, {}), number});
      generations_.back().index.reuse_for_values_from(number);
    }
    Generation& newest = generations_.back();
    newest.index.insert(hash, number);
    newest.last_number = number;
  }

  // The number of the entry with `hash` that `matches`, or kAbsent. Entries below the
  // last forget_below's bound may still be met: `matches` must refuse them.
  template <class Match>
  uint64_t find(uint64_t hash, Match&& matches) const {
    for (auto g = generations_.rbegin(); g != generations_.rend(); ++g) {
      const uint64_t number = g->index.find(hash, matches);
      if (number != kAbsent) return number;
    }
    return kAbsent;
  }

  // Drops every generation whose numbers are all below `first_kept`.
  void forget_below(uint64_t first_kept) {
    while (!generations_.empty() && generations_.front().last_number < first_kept) {
      spare_ = std::move(generations_.front().index);
      generations_.pop_front();
    }
  }

 private:
  struct Generation {
    FlatIndex index;
    uint64_t last_number = 0;
  };

  std::deque<Generation> generations_;  // oldest first
  FlatIndex spare_;
};

}  // namespace aethel::ledger
