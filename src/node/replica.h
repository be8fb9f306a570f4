// The replica: one validator's Ready loop, with no thread, clock, disk or socket of
// its own. The production runtime (runtime.cpp) gives it a thread, the LMDB store
// and the lattice transport; the simulator (sim/) drives this same class on a
// simulated disk and network with faults. What runs in the simulator is what runs
// in production.
//
// The rule it keeps (consensus.h, "DURABILITY CONTRACT"), for every Ready:
//
//   1. install a received snapshot, apply committed entries as blocks H+1, H+2, ...
//      (allowed before this Ready's fsync: committed entries are durable on a
//      majority already) and answer the writers waiting for them;
//   2. hand the Ready's entries, hard state, snapshot and the new blocks to the Disk
//      as ONE write (one fsync);
//   3. only once the Disk reports it durable (on_durable()), send the Ready's
//      messages — votes and append acknowledgements promise what step 2 wrote —
//      and advance the core. A leader's appends and heartbeats leave at step 2
//      (consensus::may_send_before_sync): followers persist while the leader does.
//
// A Ready that writes nothing Raft needs durable — no entries, no snapshot, no new term
// or vote, only a higher commit index and the blocks applied from it — is not waited
// for: its write is deferred and goes with the next write, or alone at the next tick
// (etcd syncs its WAL only for entries, terms and votes, likewise). A crash loses at
// most that: the blocks are applied again from the durable log at restart. So one
// commit costs one fsync per node, not two. Blocks whose transactions carry client ids
// are never deferred: the outcome index must hold them as soon as the ledger's window
// may forget them.
//
// Writes: submit() queues transactions; on the leader everything queued (up to
// max_block_transactions) becomes one Raft entry, a follower forwards them to the
// leader as an envelope and waits for its own apply of the entry the leader names.
// A write not committed within commit_timeout_ticks is answered "unavailable": its
// outcome is unknown and a retry with the same client ids is safe.
//
// Recovery (SPEC §10, "Repairs never un-commit"). A validator that starts with an
// empty store cannot tell a new lattice from a lost disk, and with a lost disk its vote
// could elect a leader that lacks what it had acknowledged. So it starts *probing*: it
// neither votes nor campaigns (consensus::Raft::set_recovering) and asks the other
// validators where their logs end. Empty logs on n - n/2 others (enough to share a
// member with every majority it could have belonged to) mean a new lattice: it takes
// part at once. A non-empty log means history: it is *recovering*. It then votes only
// for candidates at least as up to date as the most up-to-date log of n - n/2 others
// (that log holds everything this node could have helped commit) and in terms above
// the highest term they report (it may have voted in any term up to that one), and
// recovery ends when its own log reaches that log, fencing its votes through that
// term. (A leader's commit index is not enough: what this node helped commit before it
// lost its disk may lie beyond what a leader tells a lagging follower; the simulator
// found that.) Until then it follows the leader and acknowledges what it stores. The
// state is written before anything that follows it, so a restart keeps it.
//
// Single-threaded: every call must come from the driver's one thread, and every
// callback (commit answers, hooks) runs on it, from inside these calls.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "consensus/consensus.h"
#include "ledger/ledger.h"
#include "node/block.h"
#include "node/ledger_pair.h"
#include "node/members.h"
#include "node/unwritten_blocks.h"
#include "storage/storage.h"

namespace aethel::node {

// What a write got: the ledger's outcomes (one per transaction, in order) at
// `height` with the `root` after that block, or an error (no quorum in time, the
// node is stopping): then the outcome is unknown, and a retry with the same ids is
// safe.
struct CommitResult {
  std::optional<Error> error;
  uint64_t height = 0;
  ledger::Hash root{};
  std::vector<ledger::Outcome> outcomes;
};
using CommitCallback = std::function<void(CommitResult)>;
// A linearizable read may proceed: everything acknowledged before it was asked is
// applied here. Or an Error ("unavailable": no leader confirmed it in time).
using ReadCallback = std::function<void(base::Status)>;

// How a replica reaches the other validators: best effort (consensus retransmits),
// must not block.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send(const std::string& peer_id, std::string envelope) = 0;
};

// Where a replica's writes go. Writes become durable in the order they were handed
// over; the driver calls Replica::on_durable() once per write, in that order, and
// Replica::on_stored() once per write when the store's readers see all of it (the
// production store may make a write's entries and hard state durable in its journal
// before its blocks reach the database).
class Disk {
 public:
  virtual ~Disk() = default;
  virtual void write(storage::WriteBatch batch) = 0;
  // Runs `build` (the serialization of the snapshot at log `index`, a piece at a time:
  // seconds for a big ledger) off the replica's thread, then reports the result on the
  // replica's thread: Replica::on_snapshot_stored when the driver made the bytes
  // durable on the way (the production store writes them to a file), else
  // Replica::on_snapshot_built with the bytes. One at a time. A driver that stops
  // first may drop it.
  virtual void build_snapshot(consensus::Index index,
                              std::function<void(const storage::PieceSink&)> build) = 0;
  virtual consensus::Bytes read_built_snapshot(consensus::Index index, uint64_t data_bytes) = 0;
};

// One applied block, as the applied hook reports it.
struct AppliedBlock {
  uint64_t height = 0;
  ledger::Hash root{};
  size_t transactions = 0;            // in the block
  size_t committed_transactions = 0;  // of those, the ones whose outcome is committed
  size_t invariant_breaches = 0;      // intent runs refused as invariant_breach (SPEC §11)
};

// Where a replica stands in its recovery (stored as one byte).
enum class Recovery : uint8_t { kNone = 0, kProbing = 1, kRecovering = 2 };
const char* recovery_name(Recovery recovery);  // "", "probing", "recovering"

// One member as this node sees it (SPEC §10).
struct MemberStatus {
  std::string peer_id;
  std::string url;     // as added (empty for genesis validators: their hellos tell)
  bool voter = false;  // a validator; otherwise a learner
  // Known on the leader (and for this node itself): its log holds everything committed.
  std::optional<bool> caught_up;
  bool operator==(const MemberStatus&) const = default;
};

// Consensus facts for status pages.
struct ConsensusStatus {
  std::string role;  // "leader", "follower", "candidate", "standalone"
  uint64_t term = 0;
  std::string leader_peer_id;  // empty: unknown
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  Recovery recovery = Recovery::kNone;
  std::vector<MemberStatus> members;  // validators first, then learners (Replica::members)
  bool operator==(const ConsensusStatus&) const = default;
};

// Test-only switches that plant bugs in the replica's own Ready handling, so the
// simulator can prove it catches them. Off in production.
struct ReplicaBugs {
  // The hard state (term, vote) is left out of the Ready's write: after a crash the
  // node may vote twice in one term.
  bool forget_vote = false;
  // An empty store is taken for a new lattice: no probing, no recovery.
  bool skip_recovery = false;
  // Reads are answered from the local state at once, unconfirmed.
  bool stale_reads = false;
  // The leader's ids in flight are released once the write of their blocks is durable,
  // not once it is in the store: a retry in between finds the id neither in flight nor
  // in the outcome index.
  bool release_in_flight_at_durable = false;
};

struct ReplicaOptions {
  std::string self;                     // this node's peer ID
  std::vector<std::string> validators;  // the genesis validators' peer IDs, sorted
  // A node that joins with an empty store (AETHEL_JOIN): the members as the member it
  // joined through reported them. Its log replaces them as it arrives.
  std::vector<Member> joined_members;
  // Raft settings; id and voters are derived from self and validators (members.h).
  consensus::Config consensus;
  // One block holds at most this many transactions (a request is never split, so a
  // single larger request still forms its own block).
  size_t max_block_transactions = 8192;
  // A ledger snapshot is taken (and the log compacted) after this many blocks, once the
  // log since the last one holds as many bytes as that snapshot or snapshot_log_bytes,
  // whichever is less: the cost of snapshots then grows with the writes, not with the
  // size of the state.
  uint64_t snapshot_interval_blocks = 1000;
  uint64_t snapshot_log_bytes = uint64_t{32} << 20;  // 0: at the interval, whatever the sizes
  uint32_t commit_timeout_ticks = 100;
  uint32_t catch_up_timeout_ticks = 200;  // wait_for_height's bound
  // First id of forwarded writes and read confirmations; ids must not repeat across
  // restarts of one node (production: random), and must be reproducible in the
  // simulator (seeded).
  uint64_t first_request_id = 1;
  // Operator lines (catch-up progress, snapshot installs), without the newline.
  std::function<void(std::string_view)> log;
  // Hooks, called on the driver's thread.
  std::function<void(const AppliedBlock&)> on_block_applied;
  std::function<void(const ConsensusStatus&)> on_role_changed;
  // A member added after genesis became known (from the log, a snapshot or the join):
  // the transport must reach it and accept its messages.
  std::function<void(const MemberAddress&)> on_member_learned;
  // The leader's admission (node/outcome_index.h): the original outcomes of
  // transactions whose client ids were applied before, from the durable index (one
  // slot per transaction; nullopt: not applied, or no client id), or an Error when
  // this node cannot decide. Those found are answered with exists = true and not
  // proposed again, which keeps ids unique beyond the ledger's retention window.
  // Unset (the simulator): the ledger's window alone decides.
  std::function<base::Result<std::vector<std::optional<ledger::Outcome>>>(
      std::span<const ledger::Transaction>)>
      recorded_outcomes;
  ReplicaBugs bugs;
};

// What the disk held at start.
struct Recovered {
  consensus::DurableState durable;
  uint64_t last_stored_height = 0;  // blocks at or below it are stored already
  Recovery recovery = Recovery::kNone;
  // Nothing at all was stored: no term, no log, no snapshot, no block.
  bool empty() const {
    return durable.hard_state.term == 0 && durable.entries.empty() && !durable.snapshot &&
           last_stored_height == 0;
  }
};

class Replica {
 public:
  // `ledgers` hold the state at the recovered snapshot (or genesis); the committed
  // log after it is applied before the constructor returns, so readers start at the
  // recovered height. `disk` and `transport` must outlive the replica.
  Replica(ReplicaOptions options, Recovered recovered, LedgerPair& ledgers, Disk& disk,
          Transport& transport);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Inputs. Each may produce work; call process() after them.
  void tick();
  void submit(std::vector<ledger::Transaction> transactions, CommitCallback done);
  // An envelope another validator sent with Transport::send; anything malformed or
  // from a non-validator is dropped.
  void receive(const std::string& from_peer, std::string_view envelope);
  // Linearizable reads (etcd's ReadIndex): `done` runs once this node has applied
  // everything committed when the read was asked, as a leader confirmed (from its
  // lease, or by a heartbeat round). Reads asked between two process() calls share
  // one confirmation. Unanswered within commit_timeout_ticks: Error "unavailable".
  void read(ReadCallback done);
  // `done` runs once the ledger reaches `height` (at once when it has), or with Error
  // "not_caught_up" after catch_up_timeout_ticks.
  void wait_for_height(uint64_t height, ReadCallback done);
  // Proposes one membership change (a follower hands it to the leader) and runs `done`
  // once the leader applied it, or with an Error: "not_leader" (no leader known),
  // "unknown_member", "duplicate_member",
  // "not_a_learner", "last_validator", "change_pending", "learner_behind",
  // "leader_handover" (this leader handed leadership over to be removed: ask the new
  // one), "unavailable" (not committed in time; it may still be).
  void change_membership(MemberChange change, MemberAddress member, ReadCallback done);

  // Does what is ready: routes queued writes and, while no Ready awaits its fsync,
  // takes the next Ready (steps 1 and 2 above).
  void process();
  // The oldest write handed to the Disk is durable (step 3).
  void on_durable();
  // The oldest write not yet reported here is in the store for its readers (its
  // blocks and outcomes): they no longer need the replica's copies. After its
  // on_durable().
  void on_stored();
  // The snapshot Disk::build_snapshot was asked for is built: it becomes the Raft
  // snapshot and the log before it is dropped, unless a snapshot installed meanwhile
  // covers more. The write that stores it carries `data`.
  void on_snapshot_built(consensus::Bytes data);
  // The same for a snapshot whose `data_bytes` bytes the driver made durable already:
  // the write that stores it carries no data (the Disk knows where it is), and the
  // core keeps only a reference, so memory does not hold a big ledger's snapshot
  // between uses (Disk::read_built_snapshot).
  void on_snapshot_stored(uint64_t data_bytes);
  // Applied blocks not durable yet; other threads may read it.
  const UnwrittenBlocks& unwritten_blocks() const { return unwritten_; }
  // Hands the deferred write to the Disk now (a stopping driver).
  void write_deferred();
  // Fails every waiting write with `error`; the replica takes no more writes.
  void stop(const Error& error);

  // True when a tick's worth of time may pass without a call: no Ready pending. After
  // process(), what is still queued waits for an event (a durable write, a message, a
  // tick), so the driver may sleep until the next tick, on_durable() or receive().
  bool idle() const;
  // Without members: it runs after every Ready.
  ConsensusStatus status() const;
  std::vector<MemberStatus> members() const;
  const consensus::Raft& raft() const { return raft_; }
  const std::string& self() const { return options_.self; }

 private:
  // A write waiting to be proposed. `origin` set: it came from that follower, which
  // waits for a ForwardReply with `request_id`.
  // `known`: set by the leader's admission, one slot per transaction submitted; the
  // ones answered from the outcome index are no longer in `txs`.
  struct Submission {
    std::vector<ledger::Transaction> txs;
    CommitCallback done;
    uint64_t deadline_tick = 0;
    std::string origin;
    uint64_t request_id = 0;
    std::vector<std::optional<ledger::Outcome>> known;
  };
  // A proposed write waiting for its entry to be applied; its `count` outcomes fill the
  // empty slots of `known` (when set).
  struct Waiter {
    consensus::Term term = 0;
    uint32_t offset = 0;
    uint32_t count = 0;
    CommitCallback done;
    uint64_t deadline_tick = 0;
    std::vector<std::optional<ledger::Outcome>> known;
  };
  struct AppliedEntry {
    consensus::Index index = 0;
    consensus::Term term = 0;
    uint64_t height = 0;
    ledger::Hash root{};
    std::vector<ledger::Outcome> outcomes;
  };
  // A read and its deadline (a read asked again keeps its first deadline).
  struct Read {
    ReadCallback done;
    uint64_t deadline_tick = 0;
  };
  // A proposed membership change waiting for its entry (by index) to be applied.
  struct MembershipWaiter {
    consensus::Term term = 0;
    Read read;
  };
  // Reads waiting for their confirmation (by context), then for the apply.
  struct ReadBatch {
    std::vector<Read> reads;
    uint64_t asked_tick = 0;
    consensus::Index index = 0;  // set once confirmed
  };
  // A write handed to the Disk, or (on_disk false) a Ready that wrote nothing but waits
  // behind the writes in flight before its messages go (consensus.h, PIPELINING).
  struct PendingWrite {
    bool advance = false;  // a Ready's: advance the core once durable
    bool on_disk = true;
    std::vector<consensus::Message> messages;
  };
  // A write handed to the Disk, until on_stored().
  struct UnstoredWrite {
    uint64_t blocks_through = 0;  // the highest block height the write carries
    // Every block applied through this log index is in this write or an earlier one.
    consensus::Index applied_through = 0;
  };

  void route_submissions();
  void reroute_after_leader_change();
  void forward(Submission submission, consensus::NodeId leader);
  void propose_group();
  enum class Admission { kPropose, kDefer, kAnswered };
  Admission admit(Submission& submission);
  static std::vector<std::string> client_id_keys(const std::vector<ledger::Transaction>& txs);
  bool applied_own_term_entry() const;
  void forget_applied_in_flight();
  void remember_in_flight(const std::vector<ledger::Transaction>& txs, consensus::Index index);
  bool stored_history_reaches_ledger();
  void propose_empty_block_if_wanted();
  void answer_known(Submission& submission);
  void answer_forward_known(std::vector<std::optional<ledger::Outcome>> known, CommitCallback done);
  void register_proposal(std::vector<Submission>& group, const consensus::ProposeResult& proposed);
  void receive_raft(consensus::NodeId from, std::string_view payload);
  void receive_forward(const std::string& from_peer, std::string_view payload);
  void receive_forward_reply(ForwardReply reply);
  void receive_member_change(const std::string& from_peer, std::string_view payload);
  void receive_member_change_reply(std::string_view payload);
  bool first_delivery(const std::string& from_peer, uint64_t request_id);

  void handle_ready(consensus::Ready ready);
  void finish_ready(std::vector<consensus::Message>& messages);
  void finish_write(PendingWrite& done);
  consensus::Index written_through() const;
  storage::WriteBatch persistable(const consensus::Ready& ready) const;
  bool may_defer(const storage::WriteBatch& batch,
                 const std::optional<consensus::HardState>& hard_state) const;
  void defer(storage::WriteBatch batch);
  // Every write goes through here: a deferred one goes first, in the same write.
  void write(storage::WriteBatch batch, PendingWrite pending);
  void apply_committed(std::vector<consensus::Entry>& entries, storage::WriteBatch& batch);
  void apply_entry(const consensus::Entry& entry, storage::WriteBatch& batch);
  void answer_membership_waiter(const consensus::Entry& entry);
  void install_snapshot(const consensus::Snapshot& snapshot);
  base::Result<consensus::Membership> next_membership(MemberChange change,
                                                      const MemberAddress& member);
  void learn_members_in(const std::vector<consensus::Entry>& entries);
  void learn_member(const MemberAddress& member);
  std::vector<MemberAddress> member_addresses() const;
  std::vector<std::string> voting_peers(bool with_self) const;
  std::vector<std::string> probed_voters() const;
  size_t voters_replied() const;
  void abandon_waiters_through(consensus::Index index);
  void expire_height_waiters();
  void expire_membership_changes();
  void answer_through(consensus::Index applied);
  CommitResult recent_result(consensus::Index index, const Waiter& waiter) const;
  void send_before_sync(std::vector<consensus::Message>& messages);
  void send_all(std::vector<consensus::Message>& messages);
  void with_snapshot_data(consensus::Message& message);
  // `core_data`: what the core keeps (the data, or a reference to where the Disk
  // stored it); `inline_data`: what the store's write carries.
  void compact_to_built_snapshot(consensus::Bytes core_data, storage::Bytes inline_data);
  void send(const std::string& peer, std::string envelope);
  void maybe_compact();
  void expire();
  void issue_reads();
  void confirm_reads(const std::vector<consensus::ReadState>& states);
  void answer_reads();
  void expire_reads();
  void probe_peers();
  void ask_who_votes();
  void receive_probe_reply(const std::string& from_peer, std::string_view payload);
  void decide_probing(const std::string& from_peer, consensus::LogPosition position);
  void update_vote_floor();
  size_t others_in_every_majority() const;
  void set_recovery(Recovery recovery, const std::string& why);
  void publish_status();
  void check_invariants();
  void log(const std::string& line) const;
  const std::string& peer_of(consensus::NodeId id) const;
  consensus::NodeId id_of(std::string_view peer) const;  // kNoNode: not a known member

  ReplicaOptions options_;
  consensus::Raft raft_;
  LedgerPair& ledgers_;
  Disk& disk_;
  Transport& transport_;
  uint64_t now_ticks_ = 0;
  uint64_t next_voters_question_tick_ = 0;  // ask_who_votes
  bool stopped_ = false;
  Recovery recovery_ = Recovery::kNone;
  int64_t supply_ = 0;        // conserved: the genesis supply
  uint64_t height_seen_ = 0;  // the ledger's height at the last check
  // The last entry applied to the ledgers.
  consensus::Index applied_through_ = 0;
  consensus::Index written_through_ = 0;             // applied_through of the last stored write
  std::map<std::string, ProbeReply> probe_replies_;  // their terms and where their logs end

  std::deque<Submission> queue_;                   // not yet proposed or forwarded
  std::map<uint64_t, Submission> awaiting_reply_;  // forwarded, by request id
  std::multimap<consensus::Index, Waiter> waiters_;
  uint64_t next_request_id_;
  std::set<std::pair<std::string, uint64_t>> seen_forwards_;
  std::deque<std::pair<std::string, uint64_t>> seen_order_;
  consensus::NodeId routed_leader_ = consensus::kNoNode;  // where forwards went last

  std::vector<Read> reads_asked_;                   // since the last read_index()
  std::map<uint64_t, ReadBatch> reads_confirming_;  // by context
  std::vector<ReadBatch> reads_applying_;           // confirmed, waiting for the apply
  std::multimap<uint64_t, Read> height_waiters_;    // by the ledger height they wait for
  uint64_t next_read_context_;                      // unique across restarts, like request ids
  std::deque<AppliedEntry> recent_;                 // outcomes of the last applied entries
  std::deque<PendingWrite> in_flight_;
  std::deque<UnstoredWrite> unstored_;
  storage::WriteBatch deferred_;  // hard state and blocks only
  UnwrittenBlocks unwritten_;
  consensus::HardState last_hard_state_;  // the last the core asked to persist
  uint64_t last_stored_height_ = 0;
  // Keys (outcome_key) of the client ids this leader proposed in in_flight_term_ whose
  // blocks are not durable yet (not applied, or applied and still being written), and
  // by the index of their entry.
  std::set<std::string> in_flight_ids_;
  std::multimap<consensus::Index, std::string> in_flight_by_index_;
  consensus::Term in_flight_term_ = 0;
  bool empty_block_wanted_ = false;
  consensus::Index empty_block_index_ = 0;  // the last one proposed
  uint64_t blocks_since_snapshot_ = 0;
  uint64_t log_bytes_since_snapshot_ = 0;              // of the blocks counted above
  uint64_t last_snapshot_bytes_ = 0;                   // of the last one built here; 0 before it
  std::optional<consensus::Index> snapshot_building_;  // its log index, while it is built
  ConsensusStatus status_;
  // Every member ever known (ids are never reused), and the addresses of those added
  // after genesis, which snapshots carry.
  std::map<consensus::NodeId, std::string> peers_;
  std::map<std::string, MemberAddress> addresses_;
  std::multimap<consensus::Index, MembershipWaiter> membership_waiters_;
  std::map<uint64_t, Read> member_changes_forwarded_;  // by request id
};

}  // namespace aethel::node
