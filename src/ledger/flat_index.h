// A flat hash index from 64-bit hashes to 64-bit values: open addressing, linear
// probing, backward-shift deletion, load factor at most 1/2. Internal to the ledger.
//
// It stores no keys: the caller keeps them (account names, transaction ids) and
// confirms a candidate with a `matches(value)` predicate, so entries are 16 bytes
// and a lookup is usually one cache miss, with no allocation per entry. Only
// lookups are offered, never iteration, so its order can never reach a result.
//
// A slot is empty when its value is kAbsent or below `floor_` (reuse_for_values_from):
// a table can be emptied for larger values without writing to it.
#pragma once

#include <cstdint>
#include <vector>

#include "base/base.h"

namespace aethel::ledger {

class FlatIndex {
 public:
  static constexpr uint64_t kAbsent = UINT64_MAX;

  size_t size() const { return size_; }

  void clear() {
    entries_.clear();
    size_ = 0;
    floor_ = 0;
  }

  // Empties the index but keeps its memory, untouched: every value it holds is below
  // `first`, and every value inserted from now on is at least `first`.
  void reuse_for_values_from(uint64_t first) {
    AETHEL_CHECK(first >= floor_);
    floor_ = first;
    size_ = 0;
  }

  void reserve(size_t count) {
    size_t capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    if (capacity > entries_.size()) rehash(capacity);
  }

  // The value of the entry with `hash` that `matches`, or kAbsent.
  template <class Match>
  uint64_t find(uint64_t hash, Match&& matches) const {
    if (entries_.empty()) return kAbsent;
    const size_t mask = entries_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const Entry& e = entries_[i];
      if (!holds(e)) return kAbsent;
      if (e.hash == hash && matches(e.value)) return e.value;
    }
  }

  // Adds an entry; the caller guarantees no matching entry exists.
  void insert(uint64_t hash, uint64_t value) {
    AETHEL_CHECK(value != kAbsent && value >= floor_);
    if ((size_ + 1) * 2 > entries_.size()) rehash(entries_.empty() ? 16 : entries_.size() * 2);
    place(hash, value);
    ++size_;
  }

  // Removes the entry with `hash` that `matches`; false if there is none.
  template <class Match>
  bool erase(uint64_t hash, Match&& matches) {
    if (entries_.empty()) return false;
    const size_t mask = entries_.size() - 1;
    size_t hole = hash & mask;
    for (;; hole = (hole + 1) & mask) {
      const Entry& e = entries_[hole];
      if (!holds(e)) return false;
      if (e.hash == hash && matches(e.value)) break;
    }
    // Shift later members of the probe run back so no lookup meets a false gap.
    for (size_t next = (hole + 1) & mask;; next = (next + 1) & mask) {
      Entry& e = entries_[next];
      if (!holds(e)) break;
      const size_t home = e.hash & mask;
      const bool home_after_hole =
          hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
      if (home_after_hole) continue;
      entries_[hole] = e;
      hole = next;
    }
    entries_[hole] = Entry{};
    --size_;
    return true;
  }

 private:
  struct Entry {
    uint64_t hash = 0;
    uint64_t value = kAbsent;
  };

  bool holds(const Entry& e) const { return e.value != kAbsent && e.value >= floor_; }

  void place(uint64_t hash, uint64_t value) {
    const size_t mask = entries_.size() - 1;
    size_t i = hash & mask;
    while (holds(entries_[i])) i = (i + 1) & mask;
    entries_[i] = Entry{hash, value};
  }

  void rehash(size_t capacity) {
    AETHEL_CHECK((capacity & (capacity - 1)) == 0);
    std::vector<Entry> old;
    old.swap(entries_);
    entries_.assign(capacity, Entry{});
    for (const Entry& e : old) {
      if (holds(e)) place(e.hash, e.value);
    }
  }

  std::vector<Entry> entries_;  // capacity: a power of two, or empty
  size_t size_ = 0;
  uint64_t floor_ = 0;
};

}  // namespace aethel::ledger
