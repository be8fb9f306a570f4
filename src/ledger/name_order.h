// Account slots in name order: what pages of accounts walk (Ledger::accounts_page).
// Internal to the ledger.
//
// Four bytes per account: slot numbers sorted by name, in a long run and a short run
// of recent additions that is merged into the long one when it fills. The std::map
// from name to slot it replaces took about 80 bytes per account (a tree node and a
// second copy of the name): 160 MB for a node's two ledgers at a million accounts.
//
// The caller keeps the names; every call takes `name_of(slot) -> std::string_view`.
// Names are unique and never change.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

namespace aethel::ledger {

class NameOrder {
 public:
  // The short run's capacity: an addition moves at most 16 KiB, and a merge (a binary
  // search per recent slot, one copy of the long run) comes once per this many.
  static constexpr size_t kMaxRecent = 4096;

  size_t size() const { return sorted_.size() + recent_.size(); }

  // Adds a slot whose name is not in the order yet.
  template <class NameOf>
  void insert(uint32_t slot, const NameOf& name_of) {
    const std::string_view name = name_of(slot);
    // Names that come in order (a genesis, a snapshot) extend the long run.
    if (recent_.empty() && (sorted_.empty() || name_of(sorted_.back()) < name)) {
      sorted_.push_back(slot);
      return;
    }
    recent_.insert(first_above(recent_, name, name_of), slot);
    if (recent_.size() >= kMaxRecent) merge_recent(name_of);
  }

  // Calls `visit(slot)` for every slot named above `after`, in name order, until it
  // returns false.
  template <class NameOf, class Visit>
  void visit_after(std::string_view after, const NameOf& name_of, const Visit& visit) const {
    auto a = first_above(sorted_, after, name_of);
    auto b = first_above(recent_, after, name_of);
    while (a != sorted_.end() || b != recent_.end()) {
      const bool recent_first =
          a == sorted_.end() || (b != recent_.end() && name_of(*b) < name_of(*a));
      if (!visit(recent_first ? *b++ : *a++)) return;
    }
  }

 private:
  template <class NameOf>
  static std::vector<uint32_t>::const_iterator first_above(const std::vector<uint32_t>& run,
                                                           std::string_view name,
                                                           const NameOf& name_of) {
    return std::upper_bound(run.begin(), run.end(), name,
                            [&](std::string_view n, uint32_t slot) { return n < name_of(slot); });
  }

  template <class NameOf>
  void merge_recent(const NameOf& name_of) {
    std::vector<uint32_t> merged;
    merged.reserve(size());
    auto from = sorted_.cbegin();
    for (uint32_t slot : recent_) {
      auto to = std::lower_bound(from, sorted_.cend(), name_of(slot),
                                 [&](uint32_t s, std::string_view n) { return name_of(s) < n; });
      merged.insert(merged.end(), from, to);
      merged.push_back(slot);
      from = to;
    }
    merged.insert(merged.end(), from, sorted_.cend());
    sorted_ = std::move(merged);
    recent_.clear();
  }

  std::vector<uint32_t> sorted_;
  std::vector<uint32_t> recent_;
};

}  // namespace aethel::ledger
