#include "consensus/raft_log.h"

#include <algorithm>

#include "base/base.h"

namespace aethel::consensus {

RaftLog::RaftLog(Index snapshot_index, Term snapshot_term, std::vector<Entry> entries)
    : snapshot_index_(snapshot_index), snapshot_term_(snapshot_term) {
  for (auto& entry : entries) {
    AETHEL_CHECK(entry.index == last_index() + 1);
    AETHEL_CHECK(entry.term >= last_term());
    entries_.push_back(std::move(entry));
  }
  committed_ = snapshot_index;
  stable_ = last_index();
  offered_ = stable_;
  applied_ = snapshot_index;
}

Term RaftLog::last_term() const {
  return entries_.empty() ? snapshot_term_ : entries_.back().term;
}

std::optional<Term> RaftLog::term_at(Index index) const {
  if (index == snapshot_index_) return snapshot_term_;
  if (index < snapshot_index_ || index > last_index()) return std::nullopt;
  return entries_[index - first_index()].term;
}

bool RaftLog::matches(Index index, Term term) const {
  const auto found = term_at(index);
  return found.has_value() && *found == term;
}

const Entry* RaftLog::entry_at(Index index) const {
  if (index < first_index() || index > last_index()) return nullptr;
  return &entries_[index - first_index()];
}

bool RaftLog::is_up_to_date(Index other_last_index, Term other_last_term) const {
  const Term mine = last_term();
  return other_last_term > mine || (other_last_term == mine && other_last_index >= last_index());
}

Index RaftLog::find_conflict_by_term(Index index, Term term) const {
  index = std::min(index, last_index());
  while (index > snapshot_index_) {
    if (entries_[index - first_index()].term <= term) return index;
    --index;
  }
  return index;
}

void RaftLog::append_as_leader(Entry entry) {
  AETHEL_CHECK(entry.index == last_index() + 1);
  AETHEL_CHECK(entry.term >= last_term());
  entries_.push_back(std::move(entry));
}

void RaftLog::append_from_leader(const std::vector<Entry>& entries) {
  for (const Entry& entry : entries) {
    if (entry.index <= last_index()) {
      if (matches(entry.index, entry.term)) continue;
      // Log matching: a conflicting suffix is never committed; truncating it is safe.
      AETHEL_CHECK(entry.index > committed_);
      truncate_from(entry.index);
    }
    AETHEL_CHECK(entry.index == last_index() + 1);
    AETHEL_CHECK(entry.term >= last_term());
    entries_.push_back(entry);
  }
}

std::vector<Entry> RaftLog::slice(Index from, std::uint64_t max_entries,
                                  std::uint64_t max_bytes) const {
  std::vector<Entry> out;
  if (from > last_index()) return out;
  AETHEL_CHECK(from >= first_index());
  std::uint64_t bytes = 0;
  for (Index index = from; index <= last_index() && out.size() < max_entries; ++index) {
    const Entry& entry = entries_[index - first_index()];
    bytes += entry.data.size() + 16;
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(entry);
  }
  return out;
}

void RaftLog::commit_to(Index index) {
  if (index <= committed_) return;  // commit never moves backwards
  AETHEL_CHECK(index <= last_index());
  committed_ = index;
}

void RaftLog::stable_to(Index index, Term term) {
  // The caller persisted entries up to `index`; they count only if still ours (a later
  // leader may have replaced them while the write was in flight).
  if (index > stable_ && matches(index, term)) stable_ = index;
}

void RaftLog::offered_to(Index index) {
  AETHEL_CHECK(index <= last_index());
  offered_ = std::max(offered_, index);
}

void RaftLog::applied_to(Index index) {
  if (index <= applied_) return;
  AETHEL_CHECK(index <= committed_);
  applied_ = index;
}

void RaftLog::restore(Index index, Term term) {
  AETHEL_CHECK(index > committed_);
  entries_.clear();
  snapshot_index_ = index;
  snapshot_term_ = term;
  committed_ = index;
  stable_ = index;
  offered_ = index;
}

void RaftLog::compact(Index index) {
  AETHEL_CHECK(index <= applied_ && index <= stable_);
  if (index <= snapshot_index_) return;
  const Term term = *term_at(index);
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<long>(index - snapshot_index_));
  snapshot_index_ = index;
  snapshot_term_ = term;
}

void RaftLog::truncate_from(Index index) {
  AETHEL_CHECK(index > snapshot_index_ && index <= last_index());
  entries_.erase(entries_.begin() + static_cast<long>(index - first_index()), entries_.end());
  stable_ = std::min(stable_, index - 1);
  offered_ = std::min(offered_, index - 1);
}

}  // namespace aethel::consensus
