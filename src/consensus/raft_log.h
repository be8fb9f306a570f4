// Internal: the in-memory Raft log of one node, with the cursors that matter:
//   applied <= committed, and stable (what the caller has made durable) <= offered
//   (what a Ready has handed out to be written) <= last.
// Entries before first_index() were compacted into a snapshot.
#pragma once

#include <deque>
#include <optional>
#include <vector>

#include "consensus/consensus.h"

namespace aethel::consensus {

class RaftLog {
 public:
  RaftLog(Index snapshot_index, Term snapshot_term, std::vector<Entry> entries);

  Index first_index() const { return snapshot_index_ + 1; }
  Index last_index() const { return snapshot_index_ + entries_.size(); }
  Term last_term() const;
  Index snapshot_index() const { return snapshot_index_; }
  std::optional<Term> term_at(Index index) const;
  bool matches(Index index, Term term) const;
  const Entry* entry_at(Index index) const;
  // Raft's election restriction: is a log ending at (last_index, last_term) at least as
  // up to date as this one?
  bool is_up_to_date(Index other_last_index, Term other_last_term) const;
  // Largest index <= index whose term is <= term: where a log ending with `term` at
  // `index` can possibly match this one. Drives fast back-off after a rejected append.
  Index find_conflict_by_term(Index index, Term term) const;

  void append_as_leader(Entry entry);
  // Entries from a leader whose predecessor already matched: skips what we have, truncates
  // at the first conflict (never at or below commit), appends the rest.
  void append_from_leader(const std::vector<Entry>& entries);
  // Entries in [from, last], at most max_entries and about max_bytes (at least one).
  std::vector<Entry> slice(Index from, std::uint64_t max_entries, std::uint64_t max_bytes) const;

  void commit_to(Index index);
  void stable_to(Index index, Term term);
  void offered_to(Index index);
  void applied_to(Index index);
  // Replaces the whole log by a snapshot received from the leader.
  void restore(Index index, Term term);
  // Drops entries up to `index` (<= applied) after the application snapshotted them.
  void compact(Index index);

  Index committed() const { return committed_; }
  Index stable() const { return stable_; }
  Index offered() const { return offered_; }
  Index applied() const { return applied_; }

 private:
  void truncate_from(Index index);

  Index snapshot_index_ = 0;
  Term snapshot_term_ = 0;
  std::deque<Entry> entries_;
  Index committed_ = 0;
  Index stable_ = 0;
  Index offered_ = 0;
  Index applied_ = 0;
};

}  // namespace aethel::consensus
