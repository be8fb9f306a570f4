// The Raft state machine. Structure follows the Raft paper (and etcd/raft's split into
// roles): term handling first, then vote requests, then per-role message handling.
#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "base/base.h"
#include "consensus/consensus.h"
#include "consensus/progress.h"
#include "consensus/raft_impl.h"
#include "consensus/raft_log.h"

namespace aethel::consensus {
namespace {

constexpr Index kMaxIndex = Index{1} << 62;  // far beyond any real log; guards overflow
constexpr Term kMaxTerm = Term{1} << 62;     // the same for terms

bool carries_leader_authority(MessageType type) {
  return type == MessageType::kAppend || type == MessageType::kHeartbeat ||
         type == MessageType::kSnapshot;
}

bool contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

std::optional<std::string> validate(const Config& config) {
  if (config.id == kNoNode) return "config.id must not be 0";
  const Membership membership{config.voters, config.learners};
  if (auto invalid = validate(membership)) return invalid;
  if (config.heartbeat_interval_ticks == 0) return "heartbeat_interval_ticks must be > 0";
  if (config.election_timeout_ticks <= config.heartbeat_interval_ticks) {
    return "election_timeout_ticks must exceed heartbeat_interval_ticks";
  }
  if (config.max_entries_per_append == 0 || config.max_bytes_per_append == 0 ||
      config.max_inflight_appends == 0 || config.max_uncommitted_entries == 0 ||
      config.max_committed_entries_per_ready == 0 || config.max_pending_reads == 0 ||
      config.max_readies_in_flight == 0) {
    return "limits must be > 0";
  }
  if (config.max_entries_per_append > kMaxEntriesPerMessage) {
    return "max_entries_per_append exceeds the codec limit";
  }
  if (config.preferred_leader != kNoNode && !contains(config.voters, config.preferred_leader)) {
    return "preferred_leader must be a voter";
  }
  if (config.lease_margin_ticks >= config.election_timeout_ticks) {
    return "lease_margin_ticks must be below election_timeout_ticks";
  }
  return std::nullopt;
}

std::optional<std::string> validate(const DurableState& durable) {
  Index previous = durable.snapshot ? durable.snapshot->meta.index : 0;
  Term previous_term = durable.snapshot ? durable.snapshot->meta.term : 0;
  if (durable.snapshot && !durable.snapshot->data) return "snapshot without data";
  if (previous_term > durable.hard_state.term) return "snapshot term beyond the hard state term";
  for (const Entry& entry : durable.entries) {
    if (entry.index != previous + 1) return "entries are not consecutive after the snapshot";
    if (entry.term < previous_term) return "entry terms decrease";
    if (entry.term > durable.hard_state.term) return "entry term beyond the hard state term";
    previous = entry.index;
    previous_term = entry.term;
  }
  if (durable.hard_state.commit > previous) return "commit beyond the last entry";
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------

RaftImpl::RaftImpl(const Config& config, const DurableState& durable, Index applied_index)
    : config_(config),
      prng_(config.prng_seed),
      log_(durable.snapshot ? durable.snapshot->meta.index : 0,
           durable.snapshot ? durable.snapshot->meta.term : 0, durable.entries) {
  AETHEL_CHECK(!validate(config).has_value());
  AETHEL_CHECK(!validate(durable).has_value());
  if (durable.snapshot) snapshot_ = durable.snapshot;
  base_membership_ = Membership{config.voters, config.learners};
  if (durable.snapshot && !durable.snapshot->meta.voters.empty()) {
    base_membership_ = Membership{durable.snapshot->meta.voters, durable.snapshot->meta.learners};
  }
  for (const Entry& entry : durable.entries) track_membership(entry);
  refresh_membership();
  term_ = durable.hard_state.term;
  vote_ = durable.hard_state.vote;
  log_.commit_to(durable.hard_state.commit);
  log_.applied_to(std::min(applied_index, log_.committed()));
  offered_hard_state_ = durable.hard_state;
  become_follower(term_, kNoNode);
  checked_term_ = term_;
  checked_commit_ = log_.committed();
  check_invariants();
}

// ---- roles ------------------------------------------------------------------------------

void RaftImpl::reset(Term term) {
  if (term != term_) {
    AETHEL_CHECK(term > term_);  // terms never go backwards
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  randomized_election_timeout_ = config_.election_timeout_ticks +
                                 static_cast<std::uint32_t>(prng_.below(election_jitter_ticks()));
  votes_.clear();
  transferee_ = kNoNode;
  appends_pending_ = false;
  commit_changed_ = false;
  pending_reads_.clear();
  progress_.clear();
}

void RaftImpl::become_follower(Term term, NodeId leader) {
  reset(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void RaftImpl::become_pre_candidate() {
  // Pre-vote changes neither term nor vote: a node that cannot win disturbs nobody.
  reset(term_);
  role_ = Role::kPreCandidate;
}

// Candidates whose vote split began within one network delay of each other (else the
// later one would have voted for the earlier). Retrying at random times, they split
// again whenever their timeouts fall that close: at 50 ms one way with the default
// timeouts, about one retry in four. Retrying in their slots of the jitter, in id
// order, they are jitter / voters ticks apart.
void RaftImpl::become_candidate() {
  reset(term_ + 1);
  vote_ = config_.id;
  role_ = Role::kCandidate;
  randomized_election_timeout_ = staggered_election_timeout();
}

void RaftImpl::become_leader() {
  AETHEL_CHECK(role_ == Role::kCandidate);
  reset(term_);
  role_ = Role::kLeader;
  leader_ = config_.id;
  for (NodeId peer : members()) {
    if (peer == config_.id) continue;
    Progress& progress = progress_[peer];
    progress.next = log_.last_index() + 1;
  }
  // A leader may only count replicas of entries from its own term (Raft §5.4.2), so it
  // commits its predecessors' entries by committing this no-op.
  log_.append_as_leader(Entry{term_, log_.last_index() + 1, {}});
  appends_pending_ = true;
  maybe_commit();  // a single-node group
}

void RaftImpl::campaign(bool pre_vote, bool leader_transfer) {
  if (pre_vote) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  const Term vote_term = pre_vote ? term_ + 1 : term_;
  votes_[config_.id] = true;
  if (votes_.size() >= quorum()) {
    if (pre_vote) {
      campaign(false, leader_transfer);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId peer : config_.voters) {
    if (peer == config_.id) continue;
    Message m;
    m.type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
    m.to = peer;
    m.term = vote_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    m.leader_transfer = leader_transfer;
    send(std::move(m));
  }
}

// ---- time ---------------------------------------------------------------------------------

void RaftImpl::tick() {
  ++ticks_;
  if (role_ == Role::kLeader) {
    tick_leader();
  } else {
    tick_election();
  }
  check_invariants();
}

void RaftImpl::tick_election() {
  ++election_elapsed_;
  if (election_elapsed_ >= randomized_election_timeout_ && !recovering_ && is_voter()) {
    campaign(config_.pre_vote, false);
  }
}

void RaftImpl::tick_leader() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  for (auto& [peer, progress] : progress_) {
    if (progress.state != Progress::State::kSnapshot) continue;
    // A lost snapshot would leave the follower stranded: retry after a timeout.
    if (++progress.snapshot_elapsed_ticks > config_.election_timeout_ticks) {
      progress.become_probe();
      appends_pending_ = true;
    }
  }
  if (election_elapsed_ >= config_.election_timeout_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum && !quorum_active()) {
      become_follower(term_, kNoNode);
      return;
    }
    if (transferee_ != kNoNode) {
      transferee_ = kNoNode;  // the transfer did not finish within an election timeout
    } else {
      maybe_transfer_to_preferred();
    }
    for (auto& [peer, progress] : progress_) progress.recent_active = false;
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_interval_ticks) {
    heartbeat_elapsed_ = 0;
    broadcast_heartbeat();
  }
}

bool RaftImpl::quorum_active() const {
  std::size_t active = 1;  // self
  for (const auto& [peer, progress] : progress_) {
    active += progress.recent_active && is_voter(peer) ? 1 : 0;
  }
  return active >= quorum();
}

void RaftImpl::maybe_transfer_to_preferred() {
  const NodeId preferred = config_.preferred_leader;
  if (preferred == kNoNode || preferred == config_.id) return;
  const auto found = progress_.find(preferred);
  if (found == progress_.end() || !found->second.recent_active) return;
  transfer_leadership(preferred);
}

// ---- input --------------------------------------------------------------------------------

bool RaftImpl::acceptable(const Message& m) const {
  if (m.to != config_.id || m.from == config_.id) return false;
  // Requests count from anyone: a node whose log is behind (one joining, one that lost
  // its disk) knows an old membership, and learns of members added since only from
  // their appends; its vote may be what a new leader needs. The terms and the log
  // checks keep it safe, and a candidate counts only its own membership's votes.
  // Answers update a leader's or candidate's view of its members: members only.
  const bool answer =
      m.type == MessageType::kPreVoteResponse || m.type == MessageType::kVoteResponse ||
      m.type == MessageType::kAppendResponse || m.type == MessageType::kHeartbeatResponse ||
      m.type == MessageType::kReadIndex;
  if (answer && !contains(config_.voters, m.from) && !contains(config_.learners, m.from)) {
    return false;
  }
  if (m.type < MessageType::kPreVote || static_cast<std::uint8_t>(m.type) > kLastMessageType) {
    return false;
  }
  if (m.index > kMaxIndex || m.commit > kMaxIndex || m.reject_hint > kMaxIndex) return false;
  // Adopting a term this large would leave no term for the next election (found by
  // the codec fuzzer: term 2^64-1, then TimeoutNow, overflowed). No real group gets near.
  if (m.term > kMaxTerm || m.log_term > kMaxTerm) return false;
  if (!m.entries.empty()) {
    if (m.type != MessageType::kAppend || m.entries.size() > kMaxEntriesPerMessage) return false;
    Term previous_term = m.log_term;
    for (std::size_t i = 0; i < m.entries.size(); ++i) {
      const Entry& entry = m.entries[i];
      if (entry.index != m.index + 1 + i) return false;
      if (entry.term < previous_term || entry.term > m.term) return false;
      if (entry.data.size() > config_.max_entry_bytes) return false;
      previous_term = entry.term;
    }
  }
  if (m.type == MessageType::kAppend && m.log_term > m.term) return false;
  if (m.type == MessageType::kSnapshot) {
    if (!m.snapshot || !m.snapshot->data || m.snapshot->meta.term > m.term ||
        m.snapshot->meta.index > kMaxIndex) {
      return false;
    }
    const Membership carried{m.snapshot->meta.voters, m.snapshot->meta.learners};
    // It may leave this node out: a snapshot taken before this node was added.
    if (!carried.voters.empty() && validate(carried)) {
      return false;
    }
  }
  return true;
}

void RaftImpl::step(const Message& m) {
  receive(m);
  check_invariants(m.from);
}

void RaftImpl::receive(const Message& m) {
  if (!acceptable(m)) return;
  if (m.term > term_) {
    const bool vote_request = m.type == MessageType::kPreVote || m.type == MessageType::kVote;
    if (vote_request && !m.leader_transfer && config_.check_quorum && leader_ != kNoNode &&
        election_elapsed_ < config_.election_timeout_ticks) {
      return;  // leader lease: we heard from a live leader recently, ignore the disruptor
    }
    const bool granted_pre_vote = m.type == MessageType::kPreVoteResponse && !m.reject;
    if (m.type != MessageType::kPreVote && !granted_pre_vote) {
      become_follower(m.term, carries_leader_authority(m.type) ? m.from : kNoNode);
    }
  } else if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat)) {
      // A stale leader: tell it our term so it steps down.
      Message response;
      response.type = MessageType::kAppendResponse;
      response.to = m.from;
      send(std::move(response));
    } else if (m.type == MessageType::kPreVote) {
      Message response;
      response.type = MessageType::kPreVoteResponse;
      response.to = m.from;
      response.reject = true;
      send(std::move(response));
    }
    return;
  }

  if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
    handle_vote_request(m);
    return;
  }
  switch (role_) {
    case Role::kLeader:
      step_leader(m);
      break;
    case Role::kPreCandidate:
    case Role::kCandidate:
      step_candidate(m);
      break;
    case Role::kFollower:
      step_follower(m);
      break;
  }
}

void RaftImpl::send(Message m) {
  m.from = config_.id;
  // Vote requests and granted votes set the term they are about; the rest carry ours.
  if (m.term == 0) m.term = term_;
  messages_.push_back(std::move(m));
}

void RaftImpl::handle_vote_request(const Message& m) {
  const bool pre_vote = m.type == MessageType::kPreVote;
  // A node that lost its log could elect a leader that lacks what it had acknowledged.
  const bool above_floor = !recovering_ || (vote_floor_ && m.term > vote_floor_->term &&
                                            !(LogPosition{m.log_term, m.index} < vote_floor_->log));
  const bool can_vote =
      above_floor &&
      (vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre_vote && m.term > term_));
  const bool log_ok =
      config_.bugs.vote_without_log_check || log_.is_up_to_date(m.index, m.log_term);
  // Two pre-candidates with identical logs that grant each other's pre-vote go on to split
  // the real vote and lose a whole election timeout. Break the tie by id: the higher id
  // defers to the lower one when both started within one heartbeat interval of each
  // other. (Pre-votes decide nothing about safety, only who tries first.)
  const bool tie_lost = pre_vote && role_ == Role::kPreCandidate && m.from > config_.id &&
                        election_elapsed_ < config_.heartbeat_interval_ticks &&
                        m.index == log_.last_index() && m.log_term == log_.last_term();
  Message response;
  response.type = pre_vote ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  response.to = m.from;
  if (can_vote && log_ok && !tie_lost) {
    response.term = m.term;
    if (!pre_vote) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    response.term = term_;
    response.reject = true;
  }
  send(std::move(response));
}

// Validators that leave recovery together (every one of a new lattice, once they hear
// from each other) have waited past their timeouts and would all campaign at the next
// tick and split the vote. Each waits instead for its own slot of the jitter, in the
// order of the voters' ids, so the first one's vote requests arrive before the next
// one starts.
void RaftImpl::stagger_election_after_recovery() {
  // The first goes at once.
  election_elapsed_ = std::min(election_elapsed_, config_.election_timeout_ticks - 1);
  randomized_election_timeout_ = staggered_election_timeout();
}

// The election timeout plus this voter's slot of the jitter: jitter / voters ticks per
// voter with a lower id.
std::uint32_t RaftImpl::staggered_election_timeout() const {
  const auto rank =
      static_cast<std::uint32_t>(std::count_if(config_.voters.begin(), config_.voters.end(),
                                               [&](NodeId voter) { return voter < config_.id; }));
  const auto voters = static_cast<std::uint32_t>(std::max<std::size_t>(1, config_.voters.size()));
  return config_.election_timeout_ticks +
         rank * std::max<std::uint32_t>(1, election_jitter_ticks() / voters);
}

std::uint32_t RaftImpl::election_jitter_ticks() const {
  return config_.election_jitter_ticks != 0
             ? config_.election_jitter_ticks
             : std::max<std::uint32_t>(1, config_.election_timeout_ticks / 2);
}

void RaftImpl::fence_votes_through(Term term) {
  if (term_ > term || role_ != Role::kFollower) return;
  if (term_ < term) become_follower(term, kNoNode);
  if (vote_ == kNoNode) vote_ = config_.id;
}

void RaftImpl::step_candidate(const Message& m) {
  const MessageType my_response =
      role_ == Role::kPreCandidate ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  if (carries_leader_authority(m.type)) {
    become_follower(term_, m.from);
    step_follower(m);
    return;
  }
  if (m.type != my_response || !is_voter(m.from)) return;
  votes_.emplace(m.from, !m.reject);
  std::size_t granted = 0;
  for (const auto& [peer, vote] : votes_) granted += vote ? 1 : 0;
  const std::size_t rejected = votes_.size() - granted;
  if (granted >= quorum()) {
    if (role_ == Role::kPreCandidate) {
      campaign(false, false);
    } else {
      become_leader();
    }
  } else if (rejected >= quorum()) {
    become_follower(term_, kNoNode);
  }
}

void RaftImpl::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_heartbeat(m);
      break;
    case MessageType::kSnapshot:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_snapshot(m);
      break;
    case MessageType::kTimeoutNow:
      // The leader asked us to take over: no pre-vote, no lease (unless we cannot lead).
      if (!recovering_ && is_voter()) campaign(false, true);
      break;
    case MessageType::kReadIndexResponse:
      read_states_.push_back(ReadState{m.context, m.index});
      break;
    default:
      break;
  }
}

// ---- follower side ----------------------------------------------------------------------

void RaftImpl::handle_append(const Message& m) {
  Message response;
  response.type = MessageType::kAppendResponse;
  response.to = m.from;
  if (m.index < log_.committed()) {
    response.index = log_.committed();
    send(std::move(response));
    return;
  }
  if (log_.matches(m.index, m.log_term)) {
    const Index last_new = m.index + m.entries.size();
    log_.append_from_leader(m.entries);
    track_appended(m.entries);
    commit_to(std::min(m.commit, last_new));
    response.index = last_new;
    send(std::move(response));
    return;
  }
  const Index hint = log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
  response.index = m.index;
  response.reject = true;
  response.reject_hint = hint;
  response.log_term = log_.term_at(hint).value_or(0);
  send(std::move(response));
}

void RaftImpl::handle_heartbeat(const Message& m) {
  // m.commit is min(our match, leader commit): entries we hold that match the leader's.
  commit_to(std::min(m.commit, log_.last_index()));
  Message response;
  response.type = MessageType::kHeartbeatResponse;
  response.to = m.from;
  response.context = m.context;
  // Our log ends before entries the leader knows we matched: this node lost its disk
  // (or was rebuilt). Say where it ends: an idle leader would otherwise only ever send
  // heartbeats, and never the entries again.
  if (m.commit > log_.last_index()) {
    response.reject = true;
    response.index = log_.last_index();
  }
  send(std::move(response));
}

void RaftImpl::handle_snapshot(const Message& m) {
  const SnapshotMeta& meta = m.snapshot->meta;
  Message response;
  response.type = MessageType::kAppendResponse;
  response.to = m.from;
  if (meta.index <= log_.committed()) {
    response.index = log_.committed();
  } else if (log_.matches(meta.index, meta.term)) {
    commit_to(meta.index);  // we already hold the entries: just fast-forward
    response.index = log_.committed();
  } else {
    log_.restore(meta.index, meta.term);
    changes_.clear();
    if (!meta.voters.empty()) base_membership_ = Membership{meta.voters, meta.learners};
    refresh_membership();
    snapshot_ = *m.snapshot;
    pending_install_ = *m.snapshot;
    response.index = meta.index;
  }
  send(std::move(response));
}

void RaftImpl::commit_to(Index index) {
  if (index <= log_.committed()) return;
  log_.commit_to(index);
}

// ---- leader side --------------------------------------------------------------------------

void RaftImpl::step_leader(const Message& m) {
  auto found = progress_.find(m.from);
  if (found == progress_.end()) return;
  switch (m.type) {
    case MessageType::kAppendResponse:
      handle_append_response(m);
      break;
    case MessageType::kHeartbeatResponse:
      handle_heartbeat_response(m);
      break;
    case MessageType::kReadIndex:
      handle_read_request(m.from, m.context);
      break;
    default:
      break;
  }
}

void RaftImpl::handle_append_response(const Message& m) {
  Progress& progress = progress_.at(m.from);
  progress.recent_active = true;
  if (m.reject) {
    Index hint = m.reject_hint;
    if (m.log_term > 0) hint = log_.find_conflict_by_term(m.reject_hint, m.log_term);
    if (progress.maybe_decrease_to(m.index, hint)) {
      if (progress.state == Progress::State::kReplicate) progress.become_probe();
      appends_pending_ = true;
    }
    return;
  }
  // A follower cannot match beyond our log: such an acknowledgement is forged or corrupt.
  if (m.index > log_.last_index()) return;
  const bool was_paused = progress.paused(config_.max_inflight_appends);
  if (!progress.maybe_update(m.index)) {
    if (was_paused && progress.state == Progress::State::kProbe) progress.probe_sent = false;
    return;
  }
  if (progress.state == Progress::State::kProbe) {
    progress.become_replicate();
  } else if (progress.state == Progress::State::kSnapshot &&
             progress.match >= progress.pending_snapshot) {
    progress.become_probe();
    progress.become_replicate();
  }
  if (maybe_commit()) commit_changed_ = true;
  appends_pending_ = true;
  if (m.from == transferee_ && progress.match == log_.last_index()) {
    Message timeout_now;
    timeout_now.type = MessageType::kTimeoutNow;
    timeout_now.to = m.from;
    send(std::move(timeout_now));
  }
}

void RaftImpl::handle_heartbeat_response(const Message& m) {
  Progress& progress = progress_.at(m.from);
  progress.recent_active = true;
  progress.probe_sent = false;
  if (m.reject && progress.maybe_decrease_to(progress.match, m.index)) {
    if (progress.state == Progress::State::kReplicate) progress.become_probe();
  }
  if (progress.state == Progress::State::kReplicate) {
    if (progress.inflight.size() >= config_.max_inflight_appends) progress.inflight.pop_front();
    // Appends can be lost without a rejection to tell us: if the follower's match has not
    // moved for a few heartbeats while it lags, fall back to probing from `match`.
    if (progress.match < log_.last_index()) {
      if (++progress.heartbeats_without_progress >= 3) {
        progress.heartbeats_without_progress = 0;
        progress.become_probe();
      }
    } else {
      progress.heartbeats_without_progress = 0;
    }
  }
  if (progress.match < log_.last_index() || commit_changed_) appends_pending_ = true;

  if (m.context > progress.acked_round && m.context <= round_) progress.acked_round = m.context;
  release_reads(quorum_acked_round());
}

// A new heartbeat round, remembered with the tick it was sent at (for the lease).
std::uint64_t RaftImpl::start_round() {
  round_sent_tick_[++round_] = ticks_;
  // Rounds every follower has answered since are of no further use.
  std::uint64_t oldest = round_;
  for (const auto& [peer, progress] : progress_) oldest = std::min(oldest, progress.acked_round);
  round_sent_tick_.erase(round_sent_tick_.begin(), round_sent_tick_.lower_bound(oldest));
  return round_;
}

// The latest round a quorum (this leader included) has answered: leadership was
// confirmed after every read registered up to it.
std::uint64_t RaftImpl::quorum_acked_round() const {
  std::vector<std::uint64_t> rounds{round_};
  for (const auto& [peer, progress] : progress_) {
    if (is_voter(peer)) rounds.push_back(progress.acked_round);
  }
  std::sort(rounds.begin(), rounds.end(), std::greater<>());
  return rounds[quorum() - 1];
}

// The leader lease: a quorum answered a round sent less than an election timeout
// (minus a margin for clock drift) ago. Those followers heard from this leader after
// the round was sent, so none of them votes for another candidate (pre-vote and
// check-quorum: they ignore candidates for an election timeout) before the lease ends.
bool RaftImpl::lease_valid() const {
  if (!config_.lease_reads || transferee_ != kNoNode) return false;
  std::uint64_t round = quorum_acked_round();
  auto sent = round_sent_tick_.find(round);
  if (round == 0 || sent == round_sent_tick_.end()) return quorum() == 1;
  std::uint64_t margin = config_.lease_margin_ticks != 0 ? config_.lease_margin_ticks
                                                         : config_.election_timeout_ticks / 4 + 1;
  return ticks_ < sent->second + config_.election_timeout_ticks - margin;
}

// A read is served at the current commit index once leadership is confirmed after it
// arrived: at once under a valid lease, otherwise by a heartbeat round started for it
// (a round already on its way was sent before the read arrived: it proves nothing
// about this read). Callers batch: one read_index() serves many reads.
void RaftImpl::handle_read_request(NodeId requester, std::uint64_t context) {
  if (!committed_in_current_term()) return;  // requester times out and retries
  if (pending_reads_.size() >= config_.max_pending_reads) return;
  PendingRead read;
  read.context = context;
  read.requester = requester;
  read.index = log_.committed();
  read.sequence = start_round();
  pending_reads_.push_back(std::move(read));
  if (quorum() == 1 || lease_valid()) return release_reads(round_);
  for (NodeId peer : config_.voters) {
    if (peer != config_.id) send_heartbeat(peer, round_);
  }
}

void RaftImpl::release_reads(std::uint64_t up_to_sequence) {
  // A quorum confirmed leadership after this read was registered, hence also for every
  // earlier one.
  while (!pending_reads_.empty() && pending_reads_.front().sequence <= up_to_sequence) {
    PendingRead read = std::move(pending_reads_.front());
    pending_reads_.pop_front();
    if (read.requester == config_.id) {
      read_states_.push_back(ReadState{read.context, read.index});
    } else {
      Message response;
      response.type = MessageType::kReadIndexResponse;
      response.to = read.requester;
      response.context = read.context;
      response.index = read.index;
      send(std::move(response));
    }
  }
}

bool RaftImpl::committed_in_current_term() const {
  return log_.term_at(log_.committed()) == term_;
}

Index RaftImpl::self_match() const {
  return config_.bugs.apply_before_persist ? log_.last_index() : log_.stable();
}

bool RaftImpl::maybe_commit() {
  AETHEL_CHECK(role_ == Role::kLeader);
  std::vector<Index> matches;
  matches.push_back(self_match());
  for (const auto& [peer, progress] : progress_) {
    if (is_voter(peer)) matches.push_back(progress.match);
  }
  std::sort(matches.begin(), matches.end(), std::greater<>());
  const Index candidate =
      config_.bugs.commit_without_quorum ? matches.front() : matches[quorum() - 1];
  // Only entries of the current term are committed by counting replicas (Figure 8).
  if (candidate <= log_.committed() || log_.term_at(candidate) != term_) return false;
  commit_to(candidate);
  return true;
}

void RaftImpl::send_heartbeat(NodeId to, std::uint64_t context) {
  const Progress& progress = progress_.at(to);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  m.commit = std::min(progress.match, log_.committed());
  m.context = context;
  send(std::move(m));
}

void RaftImpl::broadcast_heartbeat() {
  const std::uint64_t round = start_round();
  for (const auto& [peer, progress] : progress_) send_heartbeat(peer, round);
}

void RaftImpl::send_snapshot(NodeId to, Progress& progress) {
  AETHEL_CHECK(snapshot_.has_value());
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.snapshot = snapshot_;
  progress.become_snapshot(snapshot_->meta.index);
  send(std::move(m));
}

bool RaftImpl::maybe_send_append(NodeId to, bool send_if_empty) {
  Progress& progress = progress_.at(to);
  if (progress.paused(config_.max_inflight_appends)) return false;
  const Index previous = progress.next - 1;
  const std::optional<Term> previous_term = log_.term_at(previous);
  if (!previous_term) {
    send_snapshot(to, progress);
    return false;
  }
  std::vector<Entry> entries =
      log_.slice(progress.next, config_.max_entries_per_append, config_.max_bytes_per_append);
  if (entries.empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = previous;
  m.log_term = *previous_term;
  m.commit = log_.committed();
  const Index last_sent = entries.empty() ? previous : entries.back().index;
  m.entries = std::move(entries);
  send(std::move(m));
  if (progress.state == Progress::State::kReplicate) {
    if (last_sent > previous) {
      progress.next = last_sent + 1;
      progress.inflight.push_back(last_sent);
    }
  } else {
    progress.probe_sent = true;
  }
  return last_sent > previous;
}

void RaftImpl::flush_appends() {
  if (role_ != Role::kLeader || (!appends_pending_ && !commit_changed_)) return;
  for (auto& [peer, progress] : progress_) {
    bool sent_any = false;
    // Pipelining: keep sending batches until the inflight window is full.
    for (std::uint32_t batch = 0; batch <= config_.max_inflight_appends; ++batch) {
      if (!maybe_send_append(peer, false)) break;
      sent_any = true;
    }
    if (!sent_any && commit_changed_ && progress.state == Progress::State::kReplicate) {
      maybe_send_append(peer, true);  // carry the new commit index
    }
  }
  appends_pending_ = false;
  commit_changed_ = false;
}

// ---- client requests ------------------------------------------------------------------

ProposeResult RaftImpl::propose(Bytes data) {
  if (is_membership_entry(data)) {
    ProposeResult refused;
    refused.leader_hint = leader_;
    refused.error = Error::kInvalidArgument;  // only propose_membership() writes those
    return refused;
  }
  return append_proposal(std::move(data));
}

ProposeResult RaftImpl::append_proposal(Bytes data) {
  ProposeResult result;
  result.leader_hint = leader_;
  if (role_ != Role::kLeader) {
    result.error = Error::kNotLeader;
    return result;
  }
  if (transferee_ != kNoNode) {
    result.error = Error::kTransferInProgress;
    return result;
  }
  if (data.size() > config_.max_entry_bytes) {
    result.error = Error::kEntryTooLarge;
    return result;
  }
  if (log_.last_index() - log_.committed() >= config_.max_uncommitted_entries) {
    result.error = Error::kTooManyUncommitted;
    return result;
  }
  const Index index = log_.last_index() + 1;
  log_.append_as_leader(Entry{term_, index, std::move(data)});
  appends_pending_ = true;
  result.index = index;
  result.term = term_;
  return result;
}

Error RaftImpl::read_index(std::uint64_t context) {
  if (role_ == Role::kLeader) {
    if (!committed_in_current_term()) return Error::kNotReady;
    if (pending_reads_.size() >= config_.max_pending_reads) return Error::kTooManyPendingReads;
    handle_read_request(config_.id, context);
    return Error::kNone;
  }
  if (leader_ == kNoNode) return Error::kNotLeader;
  Message m;
  m.type = MessageType::kReadIndex;
  m.to = leader_;
  m.context = context;
  send(std::move(m));
  return Error::kNone;
}

ProposeResult RaftImpl::propose_membership(const Membership& next, Bytes data) {
  ProposeResult refused;
  refused.leader_hint = leader_;
  refused.error = membership_change_error(next);
  if (refused.error != Error::kNone) return refused;
  ProposeResult result = append_proposal(encode_membership_entry(next, data));
  if (result.error == Error::kNone) {
    track_membership(*log_.entry_at(result.index));
    refresh_membership();
  }
  return result;
}

Error RaftImpl::membership_change_error(const Membership& next) const {
  if (role_ != Role::kLeader) return Error::kNotLeader;
  if (validate_change(membership(), next)) return Error::kInvalidArgument;
  // The thesis's rule, and its fix for changes across leaders: a leader's first change
  // waits for an entry of its own term to commit.
  if (!committed_in_current_term()) return Error::kChangePending;
  if (!changes_.empty() && changes_.rbegin()->first > log_.committed()) {
    return Error::kChangePending;
  }
  if (!next.is_voter(config_.id)) return Error::kRemovesLeader;
  for (NodeId voter : next.voters) {
    if (voter == config_.id || contains(config_.voters, voter)) continue;
    // The promoted learner: as a voter it must not delay commits while it catches up.
    if (progress_.at(voter).match + config_.promotable_lag_entries < log_.committed()) {
      return Error::kLearnerBehind;
    }
  }
  return Error::kNone;
}

void RaftImpl::track_membership(const Entry& entry) {
  if (auto change = decode_membership_entry(entry.data)) {
    changes_[entry.index] = std::move(change->membership);
  }
}

// After append_from_leader(entries): the log holds exactly `entries` in their range,
// and nothing beyond it if a conflict truncated it.
void RaftImpl::track_appended(const std::vector<Entry>& entries) {
  changes_.erase(changes_.upper_bound(log_.last_index()), changes_.end());
  for (const Entry& entry : entries) {
    changes_.erase(entry.index);
    track_membership(entry);
  }
  refresh_membership();
}

// The latest membership in the log is the one in force (consensus.h, MEMBERSHIP).
void RaftImpl::refresh_membership() {
  const Membership latest = changes_.empty() ? base_membership_ : changes_.rbegin()->second;
  if (latest == membership()) return;
  config_.voters = latest.voters;
  config_.learners = latest.learners;
  if (config_.preferred_leader != kNoNode && !latest.is_voter(config_.preferred_leader)) {
    config_.preferred_leader = kNoNode;
  }
  if (role_ == Role::kLeader) {
    update_progress_for_members();
  } else if (role_ != Role::kFollower && !is_voter()) {
    become_follower(term_, kNoNode);  // a campaign for a seat it no longer holds
  }
}

// Progress for every member but this leader; none for a removed one.
void RaftImpl::update_progress_for_members() {
  if (!is_voter()) {
    become_follower(term_, kNoNode);  // cannot happen by propose_membership(); be safe
    return;
  }
  for (auto it = progress_.begin(); it != progress_.end();) {
    it = membership().is_member(it->first) ? std::next(it) : progress_.erase(it);
  }
  for (NodeId peer : members()) {
    if (peer == config_.id || progress_.count(peer) != 0) continue;
    // Probing from the last entry (the change itself): a probe carries at least one
    // entry, so the new member's rejection starts the back-off at once.
    progress_[peer].next = log_.last_index();
    appends_pending_ = true;
  }
  if (transferee_ != kNoNode && !is_voter(transferee_)) transferee_ = kNoNode;
  if (maybe_commit()) commit_changed_ = true;  // the quorum may have shrunk
}

Index RaftImpl::match_of(NodeId peer) const {
  if (role_ != Role::kLeader) return 0;
  if (peer == config_.id) return log_.stable();
  auto found = progress_.find(peer);
  return found == progress_.end() ? 0 : found->second.match;
}

Membership RaftImpl::membership() const {
  return Membership{config_.voters, config_.learners};
}

std::vector<NodeId> RaftImpl::members() const {
  std::vector<NodeId> all = config_.voters;
  all.insert(all.end(), config_.learners.begin(), config_.learners.end());
  return all;
}

bool RaftImpl::is_voter(NodeId id) const {
  return contains(config_.voters, id == kNoNode ? config_.id : id);
}

Error RaftImpl::transfer_leadership(NodeId target) {
  if (role_ != Role::kLeader) return Error::kNotLeader;
  if (target == config_.id || !contains(config_.voters, target)) return Error::kInvalidArgument;
  if (transferee_ == target) return Error::kNone;
  transferee_ = target;
  election_elapsed_ = 0;  // the transfer must complete within one election timeout
  if (progress_.at(target).match == log_.last_index()) {
    Message m;
    m.type = MessageType::kTimeoutNow;
    m.to = target;
    send(std::move(m));
  } else {
    appends_pending_ = true;
  }
  return Error::kNone;
}

Error RaftImpl::compact(Index index, Bytes data) {
  if (index > log_.applied() || index > log_.stable() || index < log_.first_index()) {
    return Error::kInvalidArgument;
  }
  Snapshot snapshot;
  snapshot.meta.index = index;
  snapshot.meta.term = *log_.term_at(index);
  // The membership in force at `index`: the latest change at or before it.
  auto after = changes_.upper_bound(index);
  if (after != changes_.begin()) base_membership_ = std::prev(after)->second;
  changes_.erase(changes_.begin(), after);
  snapshot.meta.voters = base_membership_.voters;
  snapshot.meta.learners = base_membership_.learners;
  snapshot.data = std::make_shared<const Bytes>(std::move(data));
  snapshot_ = std::move(snapshot);
  log_.compact(index);
  return Error::kNone;
}

// ---- Ready ---------------------------------------------------------------------------

std::vector<Entry> RaftImpl::next_committed_entries() const {
  const Index persisted = config_.bugs.apply_before_persist ? log_.last_index() : log_.stable();
  const Index limit = std::min(log_.committed(), persisted);
  const Index from = std::max(log_.applied(), log_.snapshot_index()) + 1;
  std::vector<Entry> out;
  for (Index index = from; index <= limit; ++index) {
    if (out.size() >= config_.max_committed_entries_per_ready) break;
    out.push_back(*log_.entry_at(index));
  }
  return out;
}

bool RaftImpl::has_ready() const {
  if (in_flight_.size() >= config_.max_readies_in_flight) return false;
  if (!messages_.empty() || !read_states_.empty() || pending_install_) return true;
  if (role_ == Role::kLeader && (appends_pending_ || commit_changed_)) return true;
  if (log_.offered() < log_.last_index()) return true;
  if (HardState{term_, vote_, log_.committed()} != offered_hard_state_) return true;
  const Index persisted = config_.bugs.apply_before_persist ? log_.last_index() : log_.stable();
  return std::min(log_.committed(), persisted) > std::max(log_.applied(), log_.snapshot_index());
}

// Committed entries and a received snapshot count as applied once handed out: the
// caller applies them in the Ready's order before it takes the next one.
Ready RaftImpl::ready() {
  AETHEL_CHECK(in_flight_.size() < config_.max_readies_in_flight);  // advance() first
  flush_appends();
  Ready rd;
  InFlight& in_flight = in_flight_.emplace_back();
  const HardState hard_state{term_, vote_, log_.committed()};
  if (hard_state != offered_hard_state_) {
    rd.hard_state = hard_state;
    offered_hard_state_ = hard_state;
  }
  if (pending_install_) {
    rd.snapshot = std::move(pending_install_);
    pending_install_.reset();
    log_.applied_to(rd.snapshot->meta.index);
  }
  if (log_.offered() < log_.last_index()) {
    rd.entries = log_.slice(log_.offered() + 1, ~std::uint64_t{0}, ~std::uint64_t{0});
    in_flight.last_entry = Entry{rd.entries.back().term, rd.entries.back().index, {}};
    log_.offered_to(rd.entries.back().index);
  }
  rd.committed_entries = next_committed_entries();
  if (!rd.committed_entries.empty()) log_.applied_to(rd.committed_entries.back().index);
  rd.messages = std::move(messages_);
  messages_.clear();
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  rd.role = role_;
  rd.leader = leader_;
  rd.term = term_;
  return rd;
}

void RaftImpl::advance() {
  AETHEL_CHECK(!in_flight_.empty());
  const InFlight done = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (done.last_entry) log_.stable_to(done.last_entry->index, done.last_entry->term);
  if (role_ == Role::kLeader && maybe_commit()) commit_changed_ = true;
  check_invariants();
}

// ---- public facade --------------------------------------------------------------------

Raft::Raft(const Config& config, const DurableState& durable, Index applied_index)
    : impl_(std::make_unique<RaftImpl>(config, durable, applied_index)) {}
Raft::~Raft() = default;
Raft::Raft(Raft&&) noexcept = default;
Raft& Raft::operator=(Raft&&) noexcept = default;

void Raft::tick() {
  impl_->tick();
}
void Raft::step(const Message& message) {
  impl_->step(message);
}
ProposeResult Raft::propose(Bytes data) {
  return impl_->propose(std::move(data));
}
ProposeResult Raft::propose_membership(const Membership& next, Bytes data) {
  return impl_->propose_membership(next, std::move(data));
}
Membership Raft::membership() const {
  return impl_->membership();
}
Index Raft::match_of(NodeId peer) const {
  return impl_->match_of(peer);
}
Error Raft::read_index(std::uint64_t context) {
  return impl_->read_index(context);
}
Error Raft::transfer_leadership(NodeId target) {
  return impl_->transfer_leadership(target);
}
Error Raft::compact(Index index, Bytes data) {
  return impl_->compact(index, std::move(data));
}
bool Raft::has_ready() const {
  return impl_->has_ready();
}
Ready Raft::ready() {
  return impl_->ready();
}
void Raft::advance() {
  impl_->advance();
}

NodeId Raft::id() const {
  return impl_->config_.id;
}
Role Raft::role() const {
  return impl_->role_;
}
Term Raft::term() const {
  return impl_->term_;
}
NodeId Raft::leader() const {
  return impl_->leader_;
}
NodeId Raft::vote() const {
  return impl_->vote_;
}
void Raft::set_recovering(bool recovering, std::optional<VoteFloor> floor) {
  if (impl_->recovering_ && !recovering) impl_->stagger_election_after_recovery();
  impl_->recovering_ = recovering;
  impl_->vote_floor_ = recovering ? floor : std::nullopt;
  impl_->check_invariants();
}
void Raft::fence_votes_through(Term term) {
  impl_->fence_votes_through(term);
  impl_->check_invariants();
}
LogPosition Raft::last_position() const {
  return LogPosition{impl_->log_.last_term(), impl_->log_.last_index()};
}
bool Raft::recovering() const {
  return impl_->recovering_;
}
Index Raft::commit_index() const {
  return impl_->log_.committed();
}
Index Raft::applied_index() const {
  return impl_->log_.applied();
}
Index Raft::stable_index() const {
  return impl_->log_.stable();
}
Index Raft::first_index() const {
  return impl_->log_.first_index();
}
Index Raft::last_index() const {
  return impl_->log_.last_index();
}
std::optional<Term> Raft::term_at(Index index) const {
  return impl_->log_.term_at(index);
}
const Entry* Raft::entry_at(Index index) const {
  return impl_->log_.entry_at(index);
}
const Snapshot* Raft::snapshot() const {
  return impl_->snapshot_ ? &*impl_->snapshot_ : nullptr;
}

}  // namespace aethel::consensus
