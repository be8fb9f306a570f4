// The Raft core's invariants, checked after every tick(), step() and advance() in every
// build type (docs/CONSENSUS.md, "Invariants"). A violation means this node can no longer
// promise anything: base::fatal stops it (the simulator's handler turns that into a
// reported failure with its replay command).
#include "base/base.h"
#include "consensus/raft_impl.h"

namespace aethel::consensus {

void RaftImpl::check_invariants(NodeId sender) {
  const Index last = log_.last_index();
  AETHEL_CHECK(log_.committed() <= last);
  AETHEL_CHECK(log_.applied() <= log_.committed());
  AETHEL_CHECK(log_.stable() <= log_.offered() && log_.offered() <= last);
  AETHEL_CHECK(in_flight_.size() <= config_.max_readies_in_flight);
  AETHEL_CHECK(log_.snapshot_index() <= log_.committed());  // snapshots hold committed state
  AETHEL_CHECK(term_ >= checked_term_);                     // terms never decrease
  AETHEL_CHECK(log_.last_term() <= term_);                  // no entry from a future term
  AETHEL_CHECK(log_.committed() >= checked_commit_);        // commit never decreases
  AETHEL_CHECK(offered_hard_state_.term <= term_);
  AETHEL_CHECK(offered_hard_state_.commit <= log_.committed());
  if (recovering_) AETHEL_CHECK(role_ == Role::kFollower);  // it cannot have campaigned
  if (role_ == Role::kLeader) {
    check_leader();
    if (sender != kNoNode) check_progress(sender);
  }
  checked_term_ = term_;
  checked_commit_ = log_.committed();
}

void RaftImpl::check_leader() const {
  AETHEL_CHECK(leader_ == config_.id);
  AETHEL_CHECK(vote_ == config_.id);        // it won an election in this term
  AETHEL_CHECK(log_.last_term() == term_);  // its no-op, at least, is from its term
  AETHEL_CHECK(self_match() <= log_.last_index());
  AETHEL_CHECK(is_voter());  // a learner never campaigns, a removed leader steps down
  // One Progress per other member, none for itself.
  AETHEL_CHECK(progress_.size() + 1 == config_.voters.size() + config_.learners.size());
  AETHEL_CHECK(progress_.count(config_.id) == 0);
}

void RaftImpl::check_progress(NodeId peer) const {
  const auto found = progress_.find(peer);
  if (found == progress_.end()) return;  // a message from a non-member is ignored
  const Progress& progress = found->second;
  AETHEL_CHECK(progress.match < progress.next);
  AETHEL_CHECK(progress.next <= log_.last_index() + 1);
}

}  // namespace aethel::consensus
