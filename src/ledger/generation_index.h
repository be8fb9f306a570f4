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
#include <vector>

#include "base/base.h"

namespace aethel::ledger {

class GenerationIndex {
 public:
  static constexpr uint64_t kAbsent = UINT64_MAX;
  static constexpr size_t kGenerationEntries = size_t{1} << 15;

  size_t generations() const { return generations_.size(); }

  void clear() {
    generations_.clear();
    spare_.clear();
  }

  // Adds an entry; `number` exceeds every number inserted before, and the caller
  // guarantees no matching entry exists.
  void insert(uint64_t hash, uint64_t number) {
    AETHEL_CHECK(number != kAbsent);
    if (generations_.empty() || generations_.back().size == kGenerationEntries) {
      generations_.push_back(Generation{std::exchange(spare_, {}), number});
    }
    generations_.back().insert(hash, number);
  }

  // The number of the entry with `hash` that `matches`, or kAbsent. Entries below the
  // last forget_below's bound may still be met: `matches` must refuse them.
  template <class Match>
  uint64_t find(uint64_t hash, Match&& matches) const {
    for (auto g = generations_.rbegin(); g != generations_.rend(); ++g) {
      const uint64_t number = g->find(hash, matches);
      if (number != kAbsent) return number;
    }
    return kAbsent;
  }

  // Drops every generation whose numbers are all below `first_kept`.
  void forget_below(uint64_t first_kept) {
    while (!generations_.empty() && generations_.front().last_number < first_kept) {
      spare_ = std::move(generations_.front().slots);
      generations_.pop_front();
    }
  }

 private:
  struct Entry {
    uint64_t hash = 0;
    uint64_t number = kAbsent;
  };

  // Open addressing, linear probing, at most half full, no erasure. A slot holding a
  // number below first_number is empty: it is left from an older generation whose
  // table this one reuses, so a reused table needs no clearing (clearing a cold
  // megabyte took 0.3-0.6 ms).
  struct Generation {
    std::vector<Entry> slots;  // a power of two, or empty
    uint64_t first_number = 0;
    uint64_t last_number = 0;
    size_t size = 0;

    bool holds(const Entry& e) const { return e.number != kAbsent && e.number >= first_number; }

    template <class Match>
    uint64_t find(uint64_t hash, Match&& matches) const {
      if (slots.empty()) return kAbsent;
      const size_t mask = slots.size() - 1;
      for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const Entry& e = slots[i];
        if (!holds(e)) return kAbsent;
        if (e.hash == hash && matches(e.number)) return e.number;
      }
    }

    void insert(uint64_t hash, uint64_t number) {
      if ((size + 1) * 2 > slots.size()) grow();
      place(hash, number);
      last_number = number;
      ++size;
    }

    void place(uint64_t hash, uint64_t number) {
      const size_t mask = slots.size() - 1;
      size_t i = hash & mask;
      while (holds(slots[i])) i = (i + 1) & mask;
      slots[i] = Entry{hash, number};
    }

    // Only while a generation's first table fills: a reused one is already full size.
    void grow() {
      std::vector<Entry> old(slots.empty() ? 16 : slots.size() * 2);
      old.swap(slots);
      for (const Entry& e : old) {
        if (holds(e)) place(e.hash, e.number);
      }
    }
  };

  std::deque<Generation> generations_;  // oldest first
  // The table of the last generation dropped, for the next one: allocating and
  // faulting in a fresh megabyte each time took milliseconds.
  std::vector<Entry> spare_;
};

}  // namespace aethel::ledger
