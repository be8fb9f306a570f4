// Internal: the Raft core behind the Raft facade (consensus.h). Declared here, not in
// raft.cpp, so that the core's own tests can build a state that breaks an invariant and
// see check_invariants() stop it. Nothing outside src/consensus and tests/consensus
// includes this header.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "consensus/consensus.h"
#include "consensus/progress.h"
#include "consensus/raft_log.h"

namespace aethel::consensus {

class RaftImpl {
 public:
  RaftImpl(const Config& config, const DurableState& durable, Index applied_index);

  void tick();
  void step(const Message& m);
  ProposeResult propose(Bytes data);
  Error read_index(std::uint64_t context);
  Error transfer_leadership(NodeId target);
  ProposeResult propose_membership(const Membership& next, Bytes data);
  Membership membership() const;
  Index match_of(NodeId peer) const;
  Error compact(Index index, Bytes data);
  void fence_votes_through(Term term);
  void stagger_election_after_recovery();
  std::uint32_t staggered_election_timeout() const;
  bool has_ready() const;
  Ready ready();
  void advance();

  // Stops the process through base::fatal (AETHEL_CHECK) unless the core's invariants
  // hold: commit <= last index, applied <= commit, stable <= last, the snapshot within
  // the commit, terms and commit never decreasing, no entry from a future term, and a
  // leader consistent with itself (and with `sender`'s progress, when it is a peer).
  // O(1): tick(), step() and advance() run it every time, in every build type.
  void check_invariants(NodeId sender = kNoNode);

  Config config_;
  Prng prng_;
  RaftLog log_;
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  Role role_ = Role::kFollower;
  // A node that lost its log: no election, votes only above the floor (Raft::set_recovering).
  bool recovering_ = false;
  std::optional<Raft::VoteFloor> vote_floor_;
  std::optional<Snapshot> snapshot_;  // latest snapshot, sent to far-behind followers

 private:
  struct PendingRead {
    std::uint64_t sequence = 0;
    std::uint64_t context = 0;
    NodeId requester = kNoNode;
    Index index = 0;
  };
  // What a Ready handed out to be made durable, until its advance().
  struct InFlight {
    std::optional<Entry> last_entry;  // index and term only; data cleared
  };

  // Roles.
  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(Term term);
  void campaign(bool pre_vote, bool leader_transfer);
  std::size_t quorum() const { return config_.voters.size() / 2 + 1; }
  // Membership: learners are replicated to but count toward no quorum.
  std::vector<NodeId> members() const;          // voters, then learners
  bool is_voter(NodeId id = kNoNode) const;     // kNoNode: this node
  std::uint32_t election_jitter_ticks() const;  // 0 in the config means election / 2
  Error membership_change_error(const Membership& next) const;
  ProposeResult append_proposal(Bytes data);
  void track_membership(const Entry& entry);
  void track_appended(const std::vector<Entry>& entries);
  void refresh_membership();
  void update_progress_for_members();

  // Message plumbing.
  bool acceptable(const Message& m) const;
  void receive(const Message& m);
  void send(Message m);
  void handle_vote_request(const Message& m);
  void step_leader(const Message& m);
  void step_candidate(const Message& m);
  void step_follower(const Message& m);

  // Follower side.
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);

  // Leader side.
  void handle_append_response(const Message& m);
  void handle_heartbeat_response(const Message& m);
  void handle_read_request(NodeId requester, std::uint64_t context);
  void release_reads(std::uint64_t up_to_sequence);
  std::uint64_t start_round();
  std::uint64_t quorum_acked_round() const;
  bool lease_valid() const;
  bool maybe_send_append(NodeId to, bool send_if_empty);
  void send_snapshot(NodeId to, Progress& progress);
  void send_heartbeat(NodeId to, std::uint64_t context);
  void broadcast_heartbeat();
  void flush_appends();
  bool maybe_commit();
  Index self_match() const;
  bool quorum_active() const;
  bool committed_in_current_term() const;
  void tick_election();
  void tick_leader();
  void maybe_transfer_to_preferred();
  std::vector<Entry> next_committed_entries() const;
  void commit_to(Index index);

  // Invariants (invariants.cpp).
  void check_leader() const;
  void check_progress(NodeId peer) const;

  std::uint32_t election_elapsed_ = 0;
  std::uint32_t heartbeat_elapsed_ = 0;
  std::uint32_t randomized_election_timeout_ = 0;
  std::map<NodeId, Progress> progress_;  // ordered: iteration order is deterministic
  std::map<NodeId, bool> votes_;
  NodeId transferee_ = kNoNode;
  // Membership: the one at the snapshot (or configured), and every change in the log
  // after it by index; config_.voters/learners hold the latest (refresh_membership()).
  Membership base_membership_;
  std::map<Index, Membership> changes_;
  std::optional<Snapshot> pending_install_;  // received, not yet handed out in a Ready
  HardState offered_hard_state_;             // the latest handed out in a Ready, durable or not
  std::vector<Message> messages_;
  std::vector<ReadState> read_states_;
  std::deque<PendingRead> pending_reads_;
  // Heartbeat rounds: every round (periodic, or started for a read) has a number,
  // carried as the heartbeats' context and echoed back; a follower's acked_round in
  // its Progress says which round it answered last.
  std::uint64_t round_ = 0;
  std::map<std::uint64_t, std::uint64_t> round_sent_tick_;  // round → ticks_ when sent
  std::uint64_t ticks_ = 0;                                 // ticks since start
  bool appends_pending_ = false;    // new entries or acks since the last flush
  bool commit_changed_ = false;     // followers should learn the new commit index
  std::deque<InFlight> in_flight_;  // oldest first; at most config_.max_readies_in_flight
  // What check_invariants() saw last: neither may go down.
  Term checked_term_ = 0;
  Index checked_commit_ = 0;
};

}  // namespace aethel::consensus
