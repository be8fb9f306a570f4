#include "node/replica.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "node/outcome_index.h"

namespace aethel::node {
namespace {

using consensus::Index;
using consensus::Term;

// Outcomes of recently applied entries, for forward replies that arrive after the
// follower already applied the entry they point at.
constexpr size_t kRecentEntries = 256;
// Forwarded writes remembered per leader, to drop a second delivery of one.
constexpr size_t kRememberedForwards = 65'536;
// A Ready with at least this many committed entries is a backlog worth a progress line.
constexpr size_t kProgressMinEntries = 64;

CommitResult failed(Error error) {
  CommitResult result;
  result.error = std::move(error);
  return result;
}

// The outcomes of a write in submission order: `known` (when set) with its empty slots
// filled, in order, from `proposed`.
std::vector<ledger::Outcome> merge_known(const std::vector<std::optional<ledger::Outcome>>& known,
                                         std::span<const ledger::Outcome> proposed) {
  if (known.empty()) return {proposed.begin(), proposed.end()};
  std::vector<ledger::Outcome> merged;
  merged.reserve(known.size());
  auto next = proposed.begin();
  for (const auto& outcome : known) merged.push_back(outcome ? *outcome : *next++);
  return merged;
}

// A write answered entirely from the outcome index, at the ledger's current height.
CommitResult known_result(const LedgerPair& ledgers,
                          const std::vector<std::optional<ledger::Outcome>>& known) {
  return CommitResult{std::nullopt, ledgers.height(), ledgers.root(), merge_known(known, {})};
}

Error unavailable(std::string message) {
  return Error{"unavailable", std::move(message)};
}

std::string vote_to_string(consensus::NodeId vote) {
  return vote == consensus::kNoNode ? "" : std::to_string(vote);
}

std::string_view as_view(const consensus::Bytes& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

storage::Bytes to_bytes(std::string_view s) {
  return storage::Bytes(s.begin(), s.end());
}

// The data the core keeps for a snapshot whose bytes the Disk holds: a reference that
// send_all replaces with the bytes. Never sent, never stored: the core hands it only
// to send_all (a follower never receives it from the Disk's own snapshot).
constexpr std::string_view kBuiltSnapshotReference = "aethel/built-snapshot-on-disk/v1";

consensus::Bytes built_snapshot_reference(consensus::Index index, uint64_t data_bytes) {
  base::ByteWriter out;
  out.bytes(kBuiltSnapshotReference);
  out.u64(index);
  out.u64(data_bytes);
  const std::string& bytes = out.str();
  return consensus::Bytes(bytes.begin(), bytes.end());
}

// The data bytes a reference names (its index is the snapshot's own); nullopt for data.
std::optional<uint64_t> referenced_data_bytes(const consensus::Bytes& data) {
  constexpr size_t kReferenceBytes = kBuiltSnapshotReference.size() + 16;
  if (data.size() != kReferenceBytes || !as_view(data).starts_with(kBuiltSnapshotReference)) {
    return std::nullopt;
  }
  base::ByteReader in(as_view(data).substr(kBuiltSnapshotReference.size()));
  in.u64();
  return in.u64();
}

// A snapshot as the store keeps it: the core's index, term and membership, and `data`.
storage::Snapshot stored_snapshot(const consensus::SnapshotMeta& meta, storage::Bytes data) {
  std::string configuration =
      encode_configuration(consensus::Membership{meta.voters, meta.learners});
  return storage::Snapshot{meta.index, meta.term, to_bytes(configuration), std::move(data)};
}

// The genesis validators, or for a node joining with an empty store the membership
// it was told of; the log takes over from either.
consensus::Config raft_config(const ReplicaOptions& options, const Recovered& recovered) {
  consensus::Config config = options.consensus;
  config.voters.clear();
  config.learners.clear();
  if (recovered.empty() && !options.joined_members.empty()) {
    for (const Member& m : options.joined_members) {
      auto id = member_node_id(options.validators, m.address.peer_id);
      (m.voter ? config.voters : config.learners).push_back(id);
    }
  } else {
    for (size_t i = 0; i < options.validators.size(); ++i) config.voters.push_back(i + 1);
  }
  config.id = member_node_id(options.validators, options.self);
  return config;
}

Index recovered_applied_index(const Recovered& recovered) {
  return recovered.durable.snapshot ? recovered.durable.snapshot->meta.index : 0;
}

}  // namespace

Replica::Replica(ReplicaOptions options, Recovered recovered, LedgerPair& ledgers, Disk& disk,
                 Transport& transport)
    : options_(std::move(options)),
      raft_(raft_config(options_, recovered), recovered.durable,
            recovered_applied_index(recovered)),
      ledgers_(ledgers),
      disk_(disk),
      transport_(transport),
      next_request_id_(options_.first_request_id),
      next_read_context_(options_.first_request_id),
      last_hard_state_(recovered.durable.hard_state),
      last_stored_height_(recovered.last_stored_height) {
  AETHEL_CHECK(std::is_sorted(options_.validators.begin(), options_.validators.end()));
  for (const std::string& peer : options_.validators) {
    peers_[member_node_id(options_.validators, peer)] = peer;
  }
  peers_[raft_.id()] = options_.self;
  for (const Member& m : options_.joined_members) learn_member(m.address);
  if (const auto& snapshot = recovered.durable.snapshot) {
    auto data = decode_snapshot_data(as_view(*snapshot->data));
    if (!data) base::fatal("the stored snapshot's members do not decode");
    for (const MemberAddress& m : data->members) learn_member(m);
  }
  learn_members_in(recovered.durable.entries);
  recovery_ = recovered.recovery;
  applied_through_ = raft_.applied_index();
  const consensus::Membership members = raft_.membership();
  bool unknown_past = recovered.empty() && members.voters.size() + members.learners.size() > 1;
  if (recovery_ == Recovery::kNone && unknown_past && !options_.bugs.skip_recovery) {
    set_recovery(Recovery::kProbing,
                 "[RECOVERY] empty store: asking the other validators whether the lattice has "
                 "history before voting");
  }
  raft_.set_recovering(recovery_ != Recovery::kNone);
  supply_ = ledgers_.read([](const ledger::Ledger& l) { return l.total_supply(); });
  height_seen_ = ledgers_.height();
  status_ = status();
}

const char* recovery_name(Recovery recovery) {
  switch (recovery) {
    case Recovery::kProbing:
      return "probing";
    case Recovery::kRecovering:
      return "recovering";
    default:
      return "";
  }
}

Replica::~Replica() = default;

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

void Replica::tick() {
  ++now_ticks_;
  raft_.tick();
  expire();
  expire_reads();
  if (recovery_ != Recovery::kNone) probe_peers();
  if (in_flight_.empty()) write_deferred();  // else it goes with the next write
}

void Replica::submit(std::vector<ledger::Transaction> transactions, CommitCallback done) {
  if (stopped_) {
    done(failed(Error{"stopping", "the node is stopping"}));
    return;
  }
  queue_.push_back(Submission{std::move(transactions),
                              std::move(done),
                              now_ticks_ + options_.commit_timeout_ticks,
                              {},
                              0,
                              {}});
}

void Replica::read(ReadCallback done) {
  if (stopped_) return done(Error{"stopping", "the node is stopping"});
  if (options_.bugs.stale_reads) return done(base::Status{});  // planted bug
  reads_asked_.push_back(Read{std::move(done), now_ticks_ + options_.commit_timeout_ticks});
}

void Replica::wait_for_height(uint64_t height, ReadCallback done) {
  if (stopped_) return done(Error{"stopping", "the node is stopping"});
  if (ledgers_.height() >= height) return done(base::Status{});
  height_waiters_.emplace(height,
                          Read{std::move(done), now_ticks_ + options_.catch_up_timeout_ticks});
}

void Replica::receive(const std::string& from_peer, std::string_view envelope) {
  consensus::NodeId from = id_of(from_peer);
  if (envelope.empty() || stopped_) return;
  if (from == consensus::kNoNode) {
    if (static_cast<EnvelopeKind>(envelope[0]) == EnvelopeKind::kRaft) ask_who_votes();
    return;
  }
  std::string_view payload = envelope.substr(1);
  switch (static_cast<EnvelopeKind>(envelope[0])) {
    case EnvelopeKind::kRaft:
      return receive_raft(from, payload);
    case EnvelopeKind::kForward:
      return receive_forward(from_peer, payload);
    case EnvelopeKind::kForwardReply:
      if (auto reply = decode_forward_reply(payload)) receive_forward_reply(std::move(*reply));
      return;
    case EnvelopeKind::kProbe:
      return send(from_peer, probe_reply_envelope(ProbeReply{raft_.term(), raft_.last_position(),
                                                             voting_peers(true)}));
    case EnvelopeKind::kProbeReply:
      return receive_probe_reply(from_peer, payload);
    case EnvelopeKind::kMemberChange:
      return receive_member_change(from_peer, payload);
    case EnvelopeKind::kMemberChangeReply:
      return receive_member_change_reply(payload);
  }
}

void Replica::receive_raft(consensus::NodeId from, std::string_view payload) {
  auto decoded = consensus::decode(
      std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  if (!decoded.message || decoded.message->from != from) return;
  raft_.step(*decoded.message);
}

void Replica::receive_forward(const std::string& from_peer, std::string_view payload) {
  auto forward = decode_forward(payload);
  if (!forward || !first_delivery(from_peer, forward->request_id)) return;
  queue_.push_back(Submission{std::move(forward->transactions),
                              nullptr,
                              now_ticks_ + options_.commit_timeout_ticks,
                              from_peer,
                              forward->request_id,
                              {}});
}

// The transport may deliver a forward twice (a message resent over the other lung);
// proposing it twice could apply it twice.
bool Replica::first_delivery(const std::string& from_peer, uint64_t request_id) {
  auto key = std::make_pair(from_peer, request_id);
  if (!seen_forwards_.insert(key).second) return false;
  seen_order_.push_back(std::move(key));
  if (seen_order_.size() > kRememberedForwards) {
    seen_forwards_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

void Replica::receive_forward_reply(ForwardReply reply) {
  auto it = awaiting_reply_.find(reply.request_id);
  if (it == awaiting_reply_.end()) return;
  Submission submission = std::move(it->second);
  awaiting_reply_.erase(it);
  if (!reply.accepted) {  // the leader moved: route it again
    queue_.push_back(std::move(submission));
    return;
  }
  if (reply.error) {
    if (submission.done) submission.done(failed(*reply.error));
    return;
  }
  const bool all_known =
      !reply.known.empty() && std::count(reply.known.begin(), reply.known.end(), std::nullopt) == 0;
  if ((!reply.known.empty() && reply.known.size() != submission.txs.size()) ||
      (reply.index == 0 && !all_known)) {
    if (submission.done) {
      submission.done(
          failed(unavailable("the leader's answer to this write was malformed; the "
                             "outcome is unknown and a retry with the same id is "
                             "safe")));
    }
    return;
  }
  if (reply.index == 0) {  // nothing proposed: the index answered every transaction
    if (submission.done) answer_forward_known(std::move(reply.known), std::move(submission.done));
    return;
  }
  const auto proposed = static_cast<uint32_t>(
      reply.known.empty() ? submission.txs.size()
                          : std::count(reply.known.begin(), reply.known.end(), std::nullopt));
  Waiter waiter{reply.term,
                reply.offset,
                proposed,
                std::move(submission.done),
                submission.deadline_tick,
                std::move(reply.known)};
  if (reply.index > applied_through_) {
    waiters_.emplace(reply.index, std::move(waiter));
    return;
  }
  CommitResult result = recent_result(reply.index, waiter);
  waiter.done(std::move(result));
}

// ---------------------------------------------------------------------------
// Membership
// ---------------------------------------------------------------------------

void Replica::change_membership(MemberChange change, MemberAddress member, ReadCallback done) {
  if (stopped_) return done(Error{"stopping", "the node is stopping"});
  if (raft_.role() != consensus::Role::kLeader) {
    if (raft_.leader() == consensus::kNoNode) {
      return done(Error{"not_leader", "no leader is known yet; retry in a moment"});
    }
    uint64_t request_id = next_request_id_++;
    send(peer_of(raft_.leader()),
         member_change_envelope(MemberChangeRequest{request_id, change, std::move(member)}));
    member_changes_forwarded_.emplace(
        request_id, Read{std::move(done), now_ticks_ + options_.commit_timeout_ticks});
    return;
  }
  auto next = next_membership(change, member);
  if (!next.ok()) return done(next.error());
  std::string data = change == MemberChange::kAdd ? encode_member(member) : std::string();
  consensus::ProposeResult proposed =
      raft_.propose_membership(next.value(), consensus::Bytes(data.begin(), data.end()));
  switch (proposed.error) {
    case consensus::Error::kNone:
      membership_waiters_.emplace(
          proposed.index,
          MembershipWaiter{proposed.term,
                           Read{std::move(done), now_ticks_ + options_.commit_timeout_ticks}});
      return;
    case consensus::Error::kChangePending:
      return done(Error{"change_pending",
                        "an earlier membership change (or this leader's first entry) is not "
                        "committed yet; retry in a moment"});
    case consensus::Error::kLearnerBehind:
      return done(Error{"learner_behind",
                        member.peer_id + " has not caught up with the log yet; promote it once "
                                         "GET /api/lattice/members shows it caught_up"});
    default:
      return done(unavailable(std::string("consensus refused the change: ") +
                              consensus::error_name(proposed.error)));
  }
}

// The membership after `change`, or why it cannot be made. Removing this leader
// hands leadership to the most up-to-date other validator first.
base::Result<consensus::Membership> Replica::next_membership(MemberChange change,
                                                             const MemberAddress& member) {
  consensus::Membership next = raft_.membership();
  consensus::NodeId id = member_node_id(options_.validators, member.peer_id);
  bool known = next.is_member(id);
  if (change == MemberChange::kAdd) {
    if (known) return Error{"duplicate_member", member.peer_id + " is already a member"};
    next.learners.push_back(id);
    return next;
  }
  if (!known) return Error{"unknown_member", member.peer_id + " is not a member"};
  if (change == MemberChange::kPromote) {
    if (next.is_voter(id))
      return Error{"not_a_learner", member.peer_id + " is already a validator"};
    std::erase(next.learners, id);
    next.voters.push_back(id);
    return next;
  }
  if (next.is_voter(id) && next.voters.size() == 1) {
    return Error{"last_validator", "the lattice keeps at least one validator"};
  }
  if (id == raft_.id()) {
    consensus::NodeId successor = consensus::kNoNode;
    for (consensus::NodeId v : next.voters) {
      if (v != id &&
          (successor == consensus::kNoNode || raft_.match_of(v) > raft_.match_of(successor))) {
        successor = v;
      }
    }
    raft_.transfer_leadership(successor);
    return Error{"leader_handover",
                 fmt::format("this node leads: leadership is handed to {}; ask it to remove {}",
                             peer_of(successor), member.peer_id)};
  }
  std::erase(next.voters, id);
  std::erase(next.learners, id);
  return next;
}

// A second delivery of one request is dropped, like a forwarded write's.
void Replica::receive_member_change(const std::string& from_peer, std::string_view payload) {
  auto request = decode_member_change(payload);
  if (!request || !first_delivery(from_peer, request->request_id)) return;
  uint64_t request_id = request->request_id;
  change_membership(request->change, std::move(request->member),
                    [this, from_peer, request_id](base::Status status) {
                      std::optional<Error> error;
                      if (!status.ok()) error = status.error();
                      send(from_peer, member_change_reply_envelope(
                                          MemberChangeReply{request_id, std::move(error)}));
                    });
}

void Replica::receive_member_change_reply(std::string_view payload) {
  auto reply = decode_member_change_reply(payload);
  if (!reply) return;
  auto it = member_changes_forwarded_.find(reply->request_id);
  if (it == member_changes_forwarded_.end()) return;
  ReadCallback done = std::move(it->second.done);
  member_changes_forwarded_.erase(it);
  if (reply->error) return done(*reply->error);
  done(base::Status{});
}

void Replica::answer_membership_waiter(const consensus::Entry& entry) {
  auto it = membership_waiters_.find(entry.index);
  if (it == membership_waiters_.end()) return;
  auto waiter = std::move(it->second);
  membership_waiters_.erase(it);
  if (waiter.term == entry.term) return waiter.read.done(base::Status{});
  waiter.read.done(unavailable("another leader's entry replaced the change; retry"));
}

void Replica::learn_members_in(const std::vector<consensus::Entry>& entries) {
  for (const consensus::Entry& entry : entries) {
    if (!consensus::is_membership_entry(entry.data)) continue;
    auto change = consensus::decode_membership_entry(entry.data);
    if (!change || change->data.empty()) continue;
    if (auto member = decode_member(as_view(change->data))) learn_member(*member);
  }
}

void Replica::learn_member(const MemberAddress& member) {
  consensus::NodeId id = member_node_id(options_.validators, member.peer_id);
  peers_.emplace(id, member.peer_id);
  addresses_.insert_or_assign(member.peer_id, member);  // its own too: snapshots carry it
  if (member.peer_id == options_.self) return;
  if (options_.on_member_learned) options_.on_member_learned(member);
}

// Every member's address (its own too): snapshots carry them, so a node that installs
// one can reach the members added after genesis before it reads their entries.
std::vector<MemberAddress> Replica::member_addresses() const {
  std::vector<MemberAddress> members;
  for (const auto& [peer, address] : addresses_) members.push_back(address);
  return members;
}

// ---------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------

// Asks every other validator, once per heartbeat interval, where its log ends: those
// of its own membership and of the most up-to-date one the replies name.
void Replica::probe_peers() {
  if (now_ticks_ % std::max<uint32_t>(1, options_.consensus.heartbeat_interval_ticks) != 0) return;
  std::set<std::string> peers;
  for (const std::string& peer : voting_peers(false)) peers.insert(peer);
  for (const std::string& peer : probed_voters()) peers.insert(peer);
  peers.erase(options_.self);
  for (const std::string& peer : peers) send(peer, probe_envelope());
}

// Raft from a peer this node does not know: a member added in entries this node has not
// seen (it was behind when it was removed and added back, say). Its messages are
// dropped, so it could wait forever; the voters it knows tell it who votes now (at
// most once per election timeout), and it accepts the leader among those.
void Replica::ask_who_votes() {
  if (now_ticks_ < next_voters_question_tick_) return;
  next_voters_question_tick_ = now_ticks_ + options_.consensus.election_timeout_ticks;
  for (const std::string& peer : voting_peers(false)) send(peer, probe_envelope());
}

void Replica::receive_probe_reply(const std::string& from_peer, std::string_view payload) {
  auto reply = decode_probe_reply(payload);
  if (!reply) return;
  for (const std::string& voter : reply->voters) {
    if (id_of(voter) == consensus::kNoNode) learn_member(MemberAddress{voter, "", {}});
  }
  if (recovery_ == Recovery::kNone) return;
  probe_replies_[from_peer] = *reply;
  if (recovery_ == Recovery::kProbing) return decide_probing(from_peer, reply->last);
  update_vote_floor();
}

// Any log among the others: history this node lost. Empty logs on every validator of
// some majority without it: a new lattice.
void Replica::decide_probing(const std::string& from_peer, consensus::LogPosition position) {
  if (position.index > 0) {
    set_recovery(Recovery::kRecovering,
                 fmt::format("[RECOVERY] {} holds a log: the lattice has history that "
                             "this node lost; it will not vote until it has caught up",
                             from_peer));
    return update_vote_floor();
  }
  if (voters_replied() >= others_in_every_majority()) {
    set_recovery(Recovery::kNone,
                 fmt::format("[RECOVERY] {} other validators hold no log: a new lattice, voting",
                             voters_replied()));
  }
}

// The most up-to-date log and the highest term among enough others that they share a
// member with every majority this node belonged to: they hold all it could have helped
// commit and every term it could have voted in. Candidates below get no vote; once
// this node's own log reaches the floor, recovery is over.
void Replica::update_vote_floor() {
  if (voters_replied() < others_in_every_majority()) return;
  consensus::Raft::VoteFloor floor;
  for (const auto& [peer, reply] : probe_replies_) {
    floor.log = std::max(floor.log, reply.last);
    floor.term = std::max(floor.term, reply.term);
  }
  if (raft_.last_position() < floor.log) return raft_.set_recovering(true, floor);
  raft_.fence_votes_through(floor.term);
  set_recovery(Recovery::kNone,
               fmt::format("[RECOVERY] this node's log reaches log index {} of term {}, the most "
                           "up to date of {} validators: voting again from term {}",
                           floor.log.index, floor.log.term, probe_replies_.size(), floor.term + 1));
}

// The voters whose majorities matter: those of the most up-to-date log a reply
// describes (the lattice may have changed members since this node lost its log),
// else those of this node's own membership.
std::vector<std::string> Replica::probed_voters() const {
  const ProbeReply* latest = nullptr;
  for (const auto& [peer, reply] : probe_replies_) {
    if (!reply.voters.empty() && (!latest || latest->last < reply.last)) latest = &reply;
  }
  return latest ? latest->voters : voting_peers(true);
}

size_t Replica::voters_replied() const {
  size_t replied = 0;
  for (const std::string& voter : probed_voters()) {
    replied += voter != options_.self && probe_replies_.contains(voter) ? 1 : 0;
  }
  return replied;
}

// n - n/2 of n voters share a member with every majority of them.
size_t Replica::others_in_every_majority() const {
  size_t n = probed_voters().size();
  return n - n / 2;
}

// The voters of the membership in force here, this node included or not.
std::vector<std::string> Replica::voting_peers(bool with_self) const {
  std::vector<std::string> peers;
  for (consensus::NodeId id : raft_.membership().voters) {
    if (with_self || id != raft_.id()) peers.push_back(peer_of(id));
  }
  return peers;
}

// Written before anything that follows it (writes are ordered), so a crash never
// leaves a store without its mark.
void Replica::set_recovery(Recovery recovery, const std::string& why) {
  recovery_ = recovery;
  raft_.set_recovering(recovery != Recovery::kNone);
  storage::WriteBatch batch;
  batch.recovery = static_cast<uint8_t>(recovery);
  write(std::move(batch), PendingWrite{});
  log(why);
}

// ---------------------------------------------------------------------------
// Routing writes
// ---------------------------------------------------------------------------

// Leader: everything queued (up to the block cap) becomes one entry. Follower with
// a known leader: each submission is forwarded. No leader: it waits.
void Replica::route_submissions() {
  reroute_after_leader_change();
  if (queue_.empty() || stopped_) return;
  if (raft_.role() == consensus::Role::kLeader) {
    while (!queue_.empty()) {
      size_t queued = queue_.size();
      propose_group();
      if (queue_.size() == queued) break;
    }
    return;
  }
  consensus::NodeId leader = raft_.leader();
  if (leader == consensus::kNoNode) return;
  while (!queue_.empty()) {
    Submission s = std::move(queue_.front());
    queue_.pop_front();
    forward(std::move(s), leader);
  }
}

void Replica::forward(Submission s, consensus::NodeId leader) {
  if (!s.origin.empty()) {  // a follower asked the wrong node: let it retry
    send(s.origin,
         forward_reply_envelope(ForwardReply{s.request_id, false, 0, 0, 0, {}, std::nullopt}));
    return;
  }
  uint64_t request_id = next_request_id_++;
  send(peer_of(leader), forward_envelope(request_id, s.txs));
  awaiting_reply_.emplace(request_id, std::move(s));
}

// Writes forwarded to a leader that is gone would wait for their deadline; those
// whose transactions all carry client ids go to the new leader instead. Should the
// old leader have committed them after all, idempotency answers with "exists".
// Without client ids a resend could apply twice, so those wait (outcome unknown).
void Replica::reroute_after_leader_change() {
  consensus::NodeId leader = raft_.leader();
  if (leader == routed_leader_) return;
  routed_leader_ = leader;
  for (auto it = awaiting_reply_.begin(); it != awaiting_reply_.end();) {
    const auto& txs = it->second.txs;
    bool idempotent = std::all_of(txs.begin(), txs.end(), [](const ledger::Transaction& tx) {
      return !tx.client_id.empty();
    });
    if (!idempotent) {
      ++it;
      continue;
    }
    queue_.push_front(std::move(it->second));
    it = awaiting_reply_.erase(it);
  }
}

void Replica::propose_group() {
  std::vector<Submission> group;
  std::vector<ledger::Transaction> txs;
  while (!queue_.empty()) {
    const Admission admission = admit(queue_.front());
    if (admission == Admission::kAnswered) {
      queue_.pop_front();
      continue;
    }
    if (admission == Admission::kDefer) break;
    size_t next = queue_.front().txs.size();
    if (!group.empty() && txs.size() + next > options_.max_block_transactions) break;
    for (ledger::Transaction& tx : queue_.front().txs) txs.push_back(tx);
    group.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  if (group.empty()) return propose_empty_block_if_wanted();
  std::string data = encode_entry(txs);
  consensus::ProposeResult proposed = raft_.propose(consensus::Bytes(data.begin(), data.end()));
  if (proposed.error != consensus::Error::kNone) {
    Error error = unavailable(std::string("consensus refused the write: ") +
                              consensus::error_name(proposed.error));
    for (Submission& s : group) {
      if (s.done) s.done(failed(error));  // a follower's request times out there
    }
    return;
  }
  remember_in_flight(txs, proposed.index);
  register_proposal(group, proposed);
}

void Replica::register_proposal(std::vector<Submission>& group,
                                const consensus::ProposeResult& proposed) {
  uint32_t offset = 0;
  for (Submission& s : group) {
    uint32_t count = static_cast<uint32_t>(s.txs.size());
    if (s.origin.empty()) {
      waiters_.emplace(proposed.index, Waiter{proposed.term, offset, count, std::move(s.done),
                                              s.deadline_tick, std::move(s.known)});
    } else {
      send(s.origin,
           forward_reply_envelope(ForwardReply{s.request_id, true, proposed.term, proposed.index,
                                               offset, std::move(s.known), std::nullopt}));
    }
    offset += count;
  }
}

// The leader's admission of a write with client ids. It keeps each id applied once
// without the ledger's window: a retry whose original was applied is answered from the
// outcome index; one whose original this leader proposed and has not applied yet waits
// (kDefer) until it has, and so does every write until this leader has applied an entry
// of its own term, since entries of earlier terms it has not applied may hold originals
// too. The transactions the index answers leave `submission` with their outcomes in
// `known`; kAnswered when none is left to propose (or the index failed: then the
// submission was answered with its error).
Replica::Admission Replica::admit(Submission& submission) {
  if (!options_.recorded_outcomes) return Admission::kPropose;
  std::vector<std::string> keys = client_id_keys(submission.txs);
  if (keys.empty()) return Admission::kPropose;
  if (!applied_own_term_entry()) return Admission::kDefer;
  forget_applied_in_flight();
  for (const std::string& key : keys) {
    if (in_flight_ids_.contains(key)) return Admission::kDefer;
  }
  if (!submission.known.empty()) return Admission::kPropose;  // looked up already
  auto recorded = stored_history_reaches_ledger()
                      ? options_.recorded_outcomes(submission.txs)
                      : base::Result<std::vector<std::optional<ledger::Outcome>>>(Error{
                            "history_incomplete",
                            "this node caught up by installing a snapshot and has not stored the "
                            "blocks before it yet, so it cannot tell whether a client id was "
                            "used there; retry shortly"});
  if (!recorded.ok()) {
    if (!submission.origin.empty()) {
      send(submission.origin, forward_reply_envelope(ForwardReply{
                                  submission.request_id, true, 0, 0, 0, {}, recorded.error()}));
    } else if (submission.done) {
      submission.done(failed(recorded.error()));
    }
    return Admission::kAnswered;
  }
  std::vector<std::optional<ledger::Outcome>>& known = recorded.value();
  if (std::none_of(known.begin(), known.end(), [](const auto& o) { return o.has_value(); })) {
    return Admission::kPropose;
  }
  std::vector<ledger::Transaction> rest;
  for (size_t i = 0; i < known.size(); ++i) {
    if (!known[i]) rest.push_back(std::move(submission.txs[i]));
  }
  submission.txs = std::move(rest);
  submission.known = std::move(known);
  if (!submission.txs.empty()) return Admission::kPropose;
  answer_known(submission);
  return Admission::kAnswered;
}

std::vector<std::string> Replica::client_id_keys(const std::vector<ledger::Transaction>& txs) {
  std::vector<std::string> keys;
  for (const ledger::Transaction& tx : txs) {
    if (!tx.client_id.empty())
      keys.push_back(outcome_key(tx.client_id, ledger::client_id_scope(tx)));
  }
  return keys;
}

// Everything committed before this leader's term is applied, and its blocks written,
// once an entry of its term is (its first, the empty entry a new leader appends,
// commits and applies first).
bool Replica::applied_own_term_entry() const {
  std::optional<consensus::Term> term = raft_.term_at(written_through());
  return term && *term == raft_.term();
}

void Replica::forget_applied_in_flight() {
  if (in_flight_term_ != raft_.term()) {
    in_flight_term_ = raft_.term();
    in_flight_by_index_.clear();
    in_flight_ids_.clear();
  }
  const consensus::Index written = written_through();
  while (!in_flight_by_index_.empty() && in_flight_by_index_.begin()->first <= written) {
    in_flight_ids_.erase(in_flight_by_index_.begin()->second);
    in_flight_by_index_.erase(in_flight_by_index_.begin());
  }
}

void Replica::remember_in_flight(const std::vector<ledger::Transaction>& txs,
                                 consensus::Index index) {
  if (!options_.recorded_outcomes) return;
  forget_applied_in_flight();
  for (std::string& key : client_id_keys(txs)) {
    in_flight_ids_.insert(key);
    in_flight_by_index_.emplace(index, std::move(key));
  }
}

// After a snapshot install the ledger is ahead of the stored blocks, and the outcome
// index lacks the heights in between. The store records that gap with the install
// (its history anchor) and the back-fill fills it, but this replica sees that the
// install is behind it only once it applies a block of its own, so a leader in that
// state proposes an empty block.
bool Replica::stored_history_reaches_ledger() {
  if (ledgers_.height() <= last_stored_height_) return true;
  empty_block_wanted_ = true;
  return false;
}

void Replica::propose_empty_block_if_wanted() {
  if (!empty_block_wanted_ || applied_through_ < empty_block_index_) return;
  empty_block_wanted_ = false;
  std::string data = encode_entry({});
  consensus::ProposeResult proposed = raft_.propose(consensus::Bytes(data.begin(), data.end()));
  if (proposed.error == consensus::Error::kNone) empty_block_index_ = proposed.index;
}

// Answers a submission whose every transaction the outcome index answered.
void Replica::answer_known(Submission& submission) {
  if (!submission.origin.empty()) {
    return send(submission.origin,
                forward_reply_envelope(ForwardReply{submission.request_id, true, 0, 0, 0,
                                                    std::move(submission.known), std::nullopt}));
  }
  if (submission.done) submission.done(known_result(ledgers_, submission.known));
}

// A follower answers a write the leader answered from its index once its own ledger
// holds the originals, so that reads here see them.
void Replica::answer_forward_known(std::vector<std::optional<ledger::Outcome>> known,
                                   CommitCallback done) {
  uint64_t height = 0;
  for (const auto& outcome : known) height = std::max(height, outcome->height);
  auto shared = std::make_shared<std::vector<std::optional<ledger::Outcome>>>(std::move(known));
  wait_for_height(height, [this, shared, done = std::move(done)](base::Status) {
    done(known_result(ledgers_, *shared));
  });
}

// Fails what waited past its deadline; the write may still commit later.
void Replica::expire() {
  std::vector<CommitCallback> expired;
  auto take = [&](auto& container, auto item_of) {
    for (auto it = container.begin(); it != container.end();) {
      auto& item = item_of(*it);
      if (item.deadline_tick > now_ticks_) {
        ++it;
        continue;
      }
      if (item.done) expired.push_back(std::move(item.done));
      it = container.erase(it);
    }
  };
  take(
      queue_, [](auto& x) -> auto& { return x; });
  take(
      awaiting_reply_, [](auto& pair) -> auto& { return pair.second; });
  take(
      waiters_, [](auto& pair) -> auto& { return pair.second; });
  Error error = unavailable(
      "no quorum answered in time; the outcome is unknown and a retry with the same id is safe");
  for (CommitCallback& done : expired) done(failed(error));
}

void Replica::stop(const Error& error) {
  stopped_ = true;
  std::vector<CommitCallback> pending;
  for (Submission& s : queue_) pending.push_back(std::move(s.done));
  for (auto& [id, s] : awaiting_reply_) pending.push_back(std::move(s.done));
  for (auto& [index, w] : waiters_) pending.push_back(std::move(w.done));
  queue_.clear();
  awaiting_reply_.clear();
  waiters_.clear();
  std::vector<Read> reads = std::move(reads_asked_);
  for (auto& [context, batch] : reads_confirming_) {
    for (Read& r : batch.reads) reads.push_back(std::move(r));
  }
  for (ReadBatch& batch : reads_applying_) {
    for (Read& r : batch.reads) reads.push_back(std::move(r));
  }
  for (auto& [height, r] : height_waiters_) reads.push_back(std::move(r));
  for (auto& [index, w] : membership_waiters_) reads.push_back(std::move(w.read));
  for (auto& [id, r] : member_changes_forwarded_) reads.push_back(std::move(r));
  membership_waiters_.clear();
  member_changes_forwarded_.clear();
  reads_asked_.clear();
  reads_confirming_.clear();
  reads_applying_.clear();
  height_waiters_.clear();
  for (Read& r : reads) r.done(error);
  for (CommitCallback& done : pending) {
    if (done) done(failed(error));
  }
}

// ---------------------------------------------------------------------------
// Linearizable reads
// ---------------------------------------------------------------------------

// One confirmation for every read asked since the last: the core answers from the
// leader's lease or after one heartbeat round (a follower asks the leader).
void Replica::issue_reads() {
  if (reads_asked_.empty() ||
      (raft_.role() != consensus::Role::kLeader && raft_.leader() == consensus::kNoNode)) {
    return;
  }
  uint64_t context = next_read_context_++;
  if (raft_.read_index(context) != consensus::Error::kNone) return;  // asked again next time
  ReadBatch batch;
  batch.reads = std::move(reads_asked_);
  reads_asked_.clear();
  batch.asked_tick = now_ticks_;
  reads_confirming_.emplace(context, std::move(batch));
}

void Replica::confirm_reads(const std::vector<consensus::ReadState>& states) {
  for (const consensus::ReadState& state : states) {
    auto it = reads_confirming_.find(state.context);
    if (it == reads_confirming_.end()) continue;
    it->second.index = state.index;
    reads_applying_.push_back(std::move(it->second));
    reads_confirming_.erase(it);
  }
}

void Replica::answer_reads() {
  consensus::Index applied = applied_through_;
  std::vector<Read> ready;
  std::erase_if(reads_applying_, [&](ReadBatch& batch) {
    if (batch.index > applied) return false;
    for (Read& r : batch.reads) ready.push_back(std::move(r));
    return true;
  });
  uint64_t height = ledgers_.height();
  while (!height_waiters_.empty() && height_waiters_.begin()->first <= height) {
    ready.push_back(std::move(height_waiters_.begin()->second));
    height_waiters_.erase(height_waiters_.begin());
  }
  for (Read& r : ready) r.done(base::Status{});
}

// A confirmation that did not come (a leader that went away, one that had not
// committed in its term yet) is asked again after half an election timeout; a read
// still waiting at its deadline fails.
void Replica::expire_reads() {
  uint64_t retry_after = std::max<uint64_t>(1, options_.consensus.election_timeout_ticks / 2);
  for (auto it = reads_confirming_.begin(); it != reads_confirming_.end();) {
    if (now_ticks_ - it->second.asked_tick < retry_after) {
      ++it;
      continue;
    }
    for (Read& r : it->second.reads) reads_asked_.push_back(std::move(r));
    it = reads_confirming_.erase(it);
  }
  std::vector<Read> late;
  auto take_late = [&](std::vector<Read>& reads) {
    std::erase_if(reads, [&](Read& r) {
      if (r.deadline_tick > now_ticks_) return false;
      late.push_back(std::move(r));
      return true;
    });
  };
  take_late(reads_asked_);
  for (ReadBatch& batch : reads_applying_) take_late(batch.reads);
  std::erase_if(reads_applying_, [](const ReadBatch& b) { return b.reads.empty(); });
  Error error = unavailable(
      "no leader confirmed this read in time; the node cannot prove it is current (use "
      "?consistency=stale for its local state)");
  for (Read& r : late) r.done(error);
  expire_height_waiters();
  expire_membership_changes();
}

void Replica::expire_membership_changes() {
  std::vector<Read> late;
  std::erase_if(membership_waiters_, [&](auto& pair) {
    if (pair.second.read.deadline_tick > now_ticks_) return false;
    late.push_back(std::move(pair.second.read));
    return true;
  });
  std::erase_if(member_changes_forwarded_, [&](auto& pair) {
    if (pair.second.deadline_tick > now_ticks_) return false;
    late.push_back(std::move(pair.second));
    return true;
  });
  Error error = unavailable(
      "the membership change was not committed in time; it may still be: GET "
      "/api/lattice/members shows whether it was");
  for (Read& r : late) r.done(error);
}

void Replica::expire_height_waiters() {
  std::vector<Read> late;
  std::erase_if(height_waiters_, [&](auto& pair) {
    if (pair.second.deadline_tick > now_ticks_) return false;
    late.push_back(std::move(pair.second));
    return true;
  });
  Error error{"not_caught_up",
              fmt::format("this node has applied height {} only; ask another node or retry later",
                          ledgers_.height())};
  for (Read& r : late) r.done(error);
}

// ---------------------------------------------------------------------------
// The Ready loop
// ---------------------------------------------------------------------------

void Replica::process() {
  route_submissions();
  issue_reads();
  while (raft_.has_ready()) {  // false while Config::max_readies_in_flight wait
    handle_ready(raft_.ready());
    route_submissions();  // a Ready may have made this node leader, or named one
  }
}

// process() proposes whatever admission lets through; what stays queued waits for
// something only an event brings (a durable write, a message, a tick), so it is no
// reason to run again.
bool Replica::idle() const {
  return !raft_.has_ready();
}

// Steps 1 and 2: apply what is committed, hand the writes to the Disk, hold the
// messages until they are durable.
void Replica::handle_ready(consensus::Ready ready) {
  if (ready.snapshot) install_snapshot(*ready.snapshot);
  learn_members_in(ready.entries);  // before sending: the leader reaches a new member
  storage::WriteBatch batch = persistable(ready);
  apply_committed(ready.committed_entries, batch);
  confirm_reads(ready.read_states);
  answer_reads();
  PendingWrite pending{.advance = true, .messages = std::move(ready.messages)};
  if (options_.consensus.bugs.apply_before_persist) send_all(pending.messages);  // planted bug
  send_before_sync(pending.messages);
  const bool deferrable = may_defer(batch, ready.hard_state);  // an empty one too
  if (ready.hard_state) last_hard_state_ = *ready.hard_state;
  if (!deferrable) return write(std::move(batch), std::move(pending));
  defer(std::move(batch));
  if (in_flight_.empty()) return finish_ready(pending.messages);
  pending.on_disk = false;  // its acknowledgements may promise what is being written
  in_flight_.push_back(std::move(pending));
}

// Step 3, once nothing of the Ready is left to wait for.
void Replica::finish_ready(std::vector<consensus::Message>& messages) {
  send_all(messages);
  raft_.advance();
  maybe_compact();
  publish_status();
}

// Only a higher commit index and blocks without client ids (see the header): a Ready's
// batch holds nothing else than these, a snapshot and entries (persistable).
bool Replica::may_defer(const storage::WriteBatch& batch,
                        const std::optional<consensus::HardState>& hard_state) const {
  if (batch.snapshot || !batch.entries.empty() || !batch.outcomes.empty()) return false;
  return !hard_state ||
         (hard_state->term == last_hard_state_.term && hard_state->vote == last_hard_state_.vote);
}

void Replica::defer(storage::WriteBatch batch) {
  if (batch.hard_state) deferred_.hard_state = std::move(batch.hard_state);
  std::move(batch.blocks.begin(), batch.blocks.end(), std::back_inserter(deferred_.blocks));
}

void Replica::write(storage::WriteBatch batch, PendingWrite pending) {
  if (!deferred_.empty()) {
    if (!batch.hard_state) batch.hard_state = std::move(deferred_.hard_state);
    batch.blocks.insert(batch.blocks.begin(), std::make_move_iterator(deferred_.blocks.begin()),
                        std::make_move_iterator(deferred_.blocks.end()));
    deferred_ = {};
  }
  UnstoredWrite& unstored = unstored_.emplace_back();
  if (!batch.blocks.empty()) unstored.blocks_through = batch.blocks.back().height;
  unstored.applied_through = applied_through_;
  in_flight_.push_back(std::move(pending));
  disk_.write(std::move(batch));
}

void Replica::write_deferred() {
  if (!deferred_.empty()) write({}, PendingWrite{});
}

void Replica::on_durable() {
  AETHEL_CHECK(!in_flight_.empty() && in_flight_.front().on_disk);
  do {
    PendingWrite done = std::move(in_flight_.front());
    in_flight_.pop_front();
    finish_write(done);
  } while (!in_flight_.empty() && !in_flight_.front().on_disk);
}

void Replica::finish_write(PendingWrite& done) {
  if (done.advance) finish_ready(done.messages);
}

void Replica::on_stored() {
  AETHEL_CHECK(!unstored_.empty());
  const UnstoredWrite done = unstored_.front();
  unstored_.pop_front();
  if (done.blocks_through > 0) unwritten_.drop_through(done.blocks_through);
  written_through_ = std::max(written_through_, done.applied_through);
}

// Every block with client ids applied through this log index is in the store. With no
// write unstored, every one applied is: such blocks are never deferred.
consensus::Index Replica::written_through() const {
  if (options_.bugs.release_in_flight_at_durable) {  // planted bug: durable counts as stored
    const auto undurable = static_cast<size_t>(std::count_if(
        in_flight_.begin(), in_flight_.end(), [](const PendingWrite& w) { return w.on_disk; }));
    if (unstored_.size() > undurable)
      return unstored_[unstored_.size() - undurable - 1].applied_through;
  }
  return unstored_.empty() ? applied_through_ : written_through_;
}

storage::WriteBatch Replica::persistable(const consensus::Ready& ready) const {
  storage::WriteBatch batch;
  if (ready.snapshot) {
    batch.snapshot = stored_snapshot(ready.snapshot->meta, *ready.snapshot->data);
    // install_snapshot ran: the ledgers are at the snapshot, and no block is stored there.
    const ledger::Hash root = ledgers_.root();
    batch.history_anchor = storage::HistoryAnchor{ledgers_.height(), {root.begin(), root.end()}};
  }
  for (const consensus::Entry& e : ready.entries) {
    batch.entries.push_back(storage::LogEntry{e.index, e.term, e.data});
  }
  if (ready.hard_state) {
    const consensus::HardState& h = *ready.hard_state;
    std::string vote = options_.bugs.forget_vote ? "" : vote_to_string(h.vote);  // planted bug
    batch.hard_state = storage::HardState{h.term, std::move(vote), h.commit};
  }
  return batch;
}

void Replica::apply_committed(std::vector<consensus::Entry>& entries, storage::WriteBatch& batch) {
  if (entries.empty()) return;
  uint64_t first_height = ledgers_.height() + 1;
  for (const consensus::Entry& entry : entries) apply_entry(entry, batch);
  uint64_t last_height = ledgers_.height();
  if (entries.size() >= kProgressMinEntries && last_height >= first_height) {
    log(fmt::format("[SYNC] applied blocks {}..{} ({} log entries)", first_height, last_height,
                    entries.size()));
  }
  applied_through_ = entries.back().index;
  answer_through(applied_through_);
}

// Entry → block, applied to both ledgers. Blocks already stored (a restart re-applies
// the log after the last snapshot) are not written again.
void Replica::apply_entry(const consensus::Entry& entry, storage::WriteBatch& batch) {
  if (entry.data.empty()) return;  // a new leader's no-op
  if (consensus::is_membership_entry(entry.data)) return answer_membership_waiter(entry);
  auto decoded = decode_block(as_view(entry.data));
  if (!decoded.ok()) {
    base::fatal(fmt::format("committed entry {} does not decode: {}", entry.index,
                            decoded.error().message));
  }
  Block block = std::move(decoded).value();
  block.height = ledgers_.height() + 1;  // as LedgerPair::apply sets them
  block.prev_root = ledgers_.root();
  // Readers see a block from the moment the ledgers show its height (UnwrittenBlocks).
  std::optional<storage::Bytes> unstored;
  if (block.height > last_stored_height_) {
    unstored = to_bytes(encode_block(block));
    unwritten_.add({block.height, *unstored});
  }
  ledger::BlockResult applied = ledgers_.apply(block);
  if (unstored) {
    batch.blocks.push_back({block.height, std::move(*unstored)});
    add_outcome_records(block.transactions, applied.outcomes, batch.outcomes);
    last_stored_height_ = block.height;
  }
  ++blocks_since_snapshot_;
  log_bytes_since_snapshot_ += entry.data.size();
  if (options_.on_block_applied) {
    const auto count = [&](auto predicate) {
      return static_cast<size_t>(
          std::count_if(applied.outcomes.begin(), applied.outcomes.end(), predicate));
    };
    options_.on_block_applied(
        AppliedBlock{applied.height, applied.root, applied.outcomes.size(),
                     count([](const ledger::Outcome& o) { return o.committed(); }),
                     count([](const ledger::Outcome& o) {
                       return o.code == ledger::OutcomeCode::kInvariantBreach;
                     })});
  }
  recent_.push_back(AppliedEntry{entry.index, entry.term, applied.height, applied.root,
                                 std::move(applied.outcomes)});
  while (recent_.size() > kRecentEntries) recent_.pop_front();
}

void Replica::install_snapshot(const consensus::Snapshot& snapshot) {
  log(fmt::format("[SYNC] installing snapshot at log index {} ({} bytes)", snapshot.meta.index,
                  snapshot.data->size()));
  auto data = decode_snapshot_data(as_view(*snapshot.data));
  if (!data) base::fatal("the leader's snapshot members do not decode");
  for (const MemberAddress& m : data->members) learn_member(m);
  auto restored = ledger::Ledger::deserialize(data->ledger_snapshot);
  if (!restored.ok()) {
    base::fatal("the leader's snapshot does not decode: " + restored.error().message);
  }
  if (restored.value().limits().lattice_id == ledger::Hash{}) {  // written before ids
    restored.value().adopt_lattice_id(
        ledgers_.read([](const ledger::Ledger& l) { return l.limits().lattice_id; }));
  }
  ledgers_.replace(restored.value());
  height_seen_ = restored.value().height();
  applied_through_ = snapshot.meta.index;
  abandon_waiters_through(snapshot.meta.index);
  log(fmt::format("[SYNC] installed snapshot at height {} (log index {}, {} bytes)",
                  restored.value().height(), snapshot.meta.index, snapshot.data->size()));
}

// Answers every waiter whose entry is now applied. This runs before the fsync of the
// current Ready: a committed entry is already durable on a majority, which is the
// promise an answer makes, and the local log holds it since an earlier Ready.
void Replica::answer_through(Index applied) {
  std::vector<std::pair<CommitCallback, CommitResult>> answers;
  while (!waiters_.empty() && waiters_.begin()->first <= applied) {
    auto node = waiters_.extract(waiters_.begin());
    Waiter& w = node.mapped();
    answers.emplace_back(std::move(w.done), recent_result(node.key(), w));
  }
  for (auto& [done, result] : answers) done(std::move(result));
}

// Entries a snapshot replaced were never applied here, so their outcomes are not in
// `recent_`: those waiters get "unknown", and a retry with the same id finds the outcome.
void Replica::abandon_waiters_through(Index index) {
  std::vector<CommitCallback> abandoned;
  while (!waiters_.empty() && waiters_.begin()->first <= index) {
    abandoned.push_back(std::move(waiters_.begin()->second.done));
    waiters_.erase(waiters_.begin());
  }
  Error error = unavailable(
      "this node caught up from a snapshot; the outcome is unknown here and a retry with the "
      "same id is safe");
  for (CommitCallback& done : abandoned) done(failed(error));
  while (!membership_waiters_.empty() && membership_waiters_.begin()->first <= index) {
    membership_waiters_.begin()->second.read.done(error);
    membership_waiters_.erase(membership_waiters_.begin());
  }
}

CommitResult Replica::recent_result(Index index, const Waiter& waiter) const {
  for (const AppliedEntry& e : recent_) {
    if (e.index != index) continue;
    if (e.term != waiter.term || waiter.offset + waiter.count > e.outcomes.size()) break;
    CommitResult result{std::nullopt, e.height, e.root, {}};
    auto first = e.outcomes.begin() + waiter.offset;
    result.outcomes = merge_known(waiter.known, std::span(first, first + waiter.count));
    return result;
  }
  return failed(unavailable(
      "the outcome of this write is not known here (its log entry was replaced by another "
      "leader's, or arrived inside a snapshot); a retry with the same id is safe"));
}

// A leader's appends leave before its own fsync: the followers' fsyncs run alongside
// it, and a commit needs one durable write round trip instead of two in sequence.
void Replica::send_before_sync(std::vector<consensus::Message>& messages) {
  auto held = std::stable_partition(
      messages.begin(), messages.end(),
      [](const consensus::Message& m) { return consensus::may_send_before_sync(m); });
  std::vector<consensus::Message> now(std::make_move_iterator(messages.begin()),
                                      std::make_move_iterator(held));
  messages.erase(messages.begin(), held);
  send_all(now);
}

void Replica::send_all(std::vector<consensus::Message>& messages) {
  for (consensus::Message& message : messages) {
    if (message.type == consensus::MessageType::kSnapshot) with_snapshot_data(message);
    consensus::Bytes bytes = consensus::encode(message);
    send(peer_of(message.to), raft_envelope(as_view(bytes)));
  }
  messages.clear();
}

// A snapshot built here goes out with its bytes, read back from the Disk.
void Replica::with_snapshot_data(consensus::Message& message) {
  consensus::Snapshot& snapshot = *message.snapshot;
  const auto data_bytes = referenced_data_bytes(*snapshot.data);
  if (!data_bytes) return;
  snapshot.data = std::make_shared<const consensus::Bytes>(
      disk_.read_built_snapshot(snapshot.meta.index, *data_bytes));
}

void Replica::send(const std::string& peer, std::string envelope) {
  transport_.send(peer, std::move(envelope));
}

// Every snapshot_interval_blocks blocks, once the log since the last snapshot is about
// as large as it (ReplicaOptions), the ledger state at the applied index is frozen and
// serialized off this thread (Disk::build_snapshot): consensus goes on.
void Replica::maybe_compact() {
  if (snapshot_building_ || options_.snapshot_interval_blocks == 0 ||
      blocks_since_snapshot_ < options_.snapshot_interval_blocks ||
      log_bytes_since_snapshot_ < std::min(last_snapshot_bytes_, options_.snapshot_log_bytes)) {
    return;
  }
  Index index = raft_.applied_index();
  if (index > raft_.stable_index()) return;  // compact only what the disk holds
  blocks_since_snapshot_ = 0;
  log_bytes_since_snapshot_ = 0;
  snapshot_building_ = index;
  ledger::SnapshotSource ledger = ledgers_.read([](const ledger::Ledger& l) { return l.freeze(); });
  disk_.build_snapshot(index, [ledger = std::move(ledger),
                               members = member_addresses()](const storage::PieceSink& sink) {
    sink(snapshot_data_header(members));
    ledger.serialize_to(sink);
  });
}

void Replica::on_snapshot_built(consensus::Bytes data) {
  last_snapshot_bytes_ = data.size();
  storage::Bytes inline_data = data;
  compact_to_built_snapshot(std::move(data), std::move(inline_data));
}

void Replica::on_snapshot_stored(uint64_t data_bytes) {
  AETHEL_CHECK(snapshot_building_);
  last_snapshot_bytes_ = data_bytes;
  compact_to_built_snapshot(built_snapshot_reference(*snapshot_building_, data_bytes), {});
}

// The snapshot and the compaction of the log before it, in one write.
void Replica::compact_to_built_snapshot(consensus::Bytes core_data, storage::Bytes inline_data) {
  AETHEL_CHECK(snapshot_building_);
  const Index index = *snapshot_building_;
  snapshot_building_.reset();
  if (raft_.compact(index, std::move(core_data)) != consensus::Error::kNone) {
    return;  // a snapshot installed meanwhile covers more
  }
  // With the membership in force at `index`, as the core keeps it with the snapshot:
  // later changes are in the log after it (and may yet be truncated).
  storage::WriteBatch batch;
  batch.snapshot = stored_snapshot(raft_.snapshot()->meta, std::move(inline_data));
  batch.compact_through = index;
  write(std::move(batch), PendingWrite{});
}

// ---------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------

const std::string& Replica::peer_of(consensus::NodeId id) const {
  static const std::string unknown;
  auto it = peers_.find(id);
  return it == peers_.end() ? unknown : it->second;
}

consensus::NodeId Replica::id_of(std::string_view peer) const {
  consensus::NodeId id = member_node_id(options_.validators, peer);
  auto it = peers_.find(id);
  bool known = it != peers_.end() && it->second == peer;
  return known ? id : consensus::kNoNode;
}

ConsensusStatus Replica::status() const {
  ConsensusStatus s;
  const consensus::Membership members = raft_.membership();
  bool alone =
      members.voters.size() + members.learners.size() == 1 && members.is_member(raft_.id());
  switch (raft_.role()) {
    case consensus::Role::kLeader:
      s.role = alone ? "standalone" : "leader";
      break;
    case consensus::Role::kFollower:
      s.role = alone ? "standalone" : "follower";
      break;
    default:
      s.role = alone ? "standalone" : "candidate";
  }
  s.term = raft_.term();
  if (raft_.leader() != consensus::kNoNode) s.leader_peer_id = peer_of(raft_.leader());
  s.commit_index = raft_.commit_index();
  s.applied_index = raft_.applied_index();
  s.recovery = recovery_;
  return s;
}

std::vector<MemberStatus> Replica::members() const {
  std::vector<MemberStatus> out;
  bool leads = raft_.role() == consensus::Role::kLeader;
  auto member = [&](consensus::NodeId id, bool voter) {
    auto address = addresses_.find(peer_of(id));
    MemberStatus m{peer_of(id), address == addresses_.end() ? "" : address->second.url, voter,
                   std::nullopt};
    if (id == raft_.id()) {
      m.caught_up = recovery_ == Recovery::kNone && raft_.applied_index() >= raft_.commit_index();
    } else if (leads) {
      m.caught_up = raft_.match_of(id) >= raft_.commit_index();
    }
    out.push_back(std::move(m));
  };
  const consensus::Membership membership = raft_.membership();
  for (consensus::NodeId id : membership.voters) member(id, true);
  for (consensus::NodeId id : membership.learners) member(id, false);
  return out;
}

// What must hold after every Ready (AETHEL_CHECK stops the process otherwise; the
// simulator reports it with its replay command).
void Replica::check_invariants() {
  AETHEL_CHECK(raft_.recovering() == (recovery_ != Recovery::kNone));
  AETHEL_CHECK(raft_.applied_index() <= raft_.commit_index());
  AETHEL_CHECK(raft_.applied_index() <= applied_through_);
  AETHEL_CHECK(waiters_.empty() || waiters_.begin()->first > applied_through_);
  // Readys (written or waiting), a compaction, a recovery mark, a deferred write.
  AETHEL_CHECK(in_flight_.size() <= options_.consensus.max_readies_in_flight + 3);
  uint64_t height = ledgers_.height();
  AETHEL_CHECK(height >= height_seen_);  // blocks are never un-applied (snapshots reset it)
  height_seen_ = height;
  AETHEL_CHECK(ledgers_.read([](const ledger::Ledger& l) { return l.total_supply(); }) == supply_);
}

void Replica::publish_status() {
  check_invariants();
  ConsensusStatus now = status();
  bool changed = now.role != status_.role || now.term != status_.term ||
                 now.leader_peer_id != status_.leader_peer_id;
  status_ = now;
  if (changed && options_.on_role_changed) options_.on_role_changed(now);
}

void Replica::log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  }
}

}  // namespace aethel::node
