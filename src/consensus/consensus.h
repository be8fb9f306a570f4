// aethel::consensus — Raft as a pure state machine.
//
// The core never touches a clock, a socket, a file or a global random source. Time arrives
// as tick() calls, network input as step(message), client input as propose()/read_index(),
// randomness from a seeded Prng owned by the core. Everything the core wants done in the
// world comes out of ready() as a Ready value; the caller performs it and acknowledges with
// advance(). This is the etcd/raft design: it is what lets the deterministic simulator in
// sim/ run the very same code the node runs, and replay a failing run from its seed.
//
// DURABILITY CONTRACT (the caller's obligation, the core's assumption):
//   For every Ready, the caller must, in this order:
//     1. durably write Ready::snapshot (if any), Ready::hard_state (if any) and
//        Ready::entries (truncating its log from entries.front().index first), and make
//        them durable with ONE fsync covering the whole batch;
//     2. only then send Ready::messages (votes and append acknowledgements in them promise
//        that the writes of step 1 survive a crash) — except those for which
//        may_send_before_sync() holds: a leader's appends, heartbeats, snapshots and
//        TimeoutNow promise nothing about its own disk, so sending them first lets the
//        followers' fsyncs run in parallel with the leader's (Raft §10.2.1, as etcd does);
//     3. install Ready::snapshot into the state machine, then apply
//        Ready::committed_entries in order. These two may also happen before or during
//        step 1: committed entries are already durable locally (the core only hands out
//        committed entries that an earlier, acknowledged Ready persisted), and a snapshot
//        from the leader is committed state;
//     4. call advance().
//   The core counts the leader's own copy of an entry toward a commit quorum only after
//   advance() confirmed it durable, and hands out committed entries only once they are
//   durable here.
//
// PIPELINING. With Config::max_readies_in_flight > 1 the caller may take the next Ready
//   before it advance()s the last one, so that one Ready is written while the next is
//   built and sent. The contract holds per Ready, with two more rules: the writes of
//   successive Readys become durable in the order the Readys were handed out, and
//   advance() acknowledges the oldest Ready not yet acknowledged. A Ready's messages are
//   then sent once its own write and every earlier one are durable — also a Ready that
//   writes nothing, since its acknowledgements may promise entries an earlier Ready is
//   still writing. Committed entries count as applied once handed out: apply them in
//   the order of the Readys, before taking the next one.
//   Sending an append or a vote before its fsync completes breaks "nothing acknowledged is
//   lost" and "one vote per term" after a crash; the simulator's apply_before_persist bug
//   plants exactly that, and the simulator catches it.
//
// Limits: every queue the core owns is bounded by a Config field (entries per append,
// bytes per append, inflight appends per follower, uncommitted entries, pending reads,
// committed entries per Ready).
//
// MEMBERSHIP. Voters elect leaders and form commit quorums; learners receive and
// acknowledge the log but count toward neither (a new server catching up before it may
// vote). Changes are single-server (Raft thesis §4.1): one server added as a learner,
// promoted, or removed per change, proposed as a log entry with propose_membership().
// Each node uses the latest membership in its log, committed or not (the thesis's rule:
// with it any two consecutive memberships share a member in every pair of majorities,
// whereas a node that waited for apply could campaign under a membership two changes
// old). A leader proposes a change only once it has committed an entry of its term
// and no earlier change is uncommitted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace aethel::consensus {

// A validator in the consensus group. The wiring layer maps these small integers to libp2p
// peer IDs; 0 means "nobody" (no vote cast, leader unknown).
using NodeId = std::uint64_t;
inline constexpr NodeId kNoNode = 0;
using Term = std::uint64_t;
using Index = std::uint64_t;
using Bytes = std::vector<std::uint8_t>;

// Deterministic PRNG (xoshiro256** seeded through splitmix64). The only source of
// randomness in the core (randomized election timeouts); the simulator uses it too, so one
// seed reproduces one exact run on every platform.
class Prng {
 public:
  explicit Prng(std::uint64_t seed);
  std::uint64_t next();
  // Uniform in [0, bound); bound must be > 0.
  std::uint64_t below(std::uint64_t bound);
  // True with probability numerator/denominator.
  bool chance(std::uint64_t numerator, std::uint64_t denominator);

 private:
  std::uint64_t s_[4];
};

// One log entry. Empty data is the no-op a new leader appends to commit its term.
struct Entry {
  Term term = 0;
  Index index = 0;
  Bytes data;
  bool operator==(const Entry&) const = default;
};

// What must survive a crash besides the log: the current term, the vote cast in it, and
// (as an optimisation only) the commit index.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;
  bool operator==(const HardState&) const = default;
};

// Who takes part in the group (see MEMBERSHIP above).
struct Membership {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  bool operator==(const Membership&) const = default;
  bool is_voter(NodeId id) const;
  bool is_member(NodeId id) const;  // voter or learner
};

// Empty when `membership` is well formed (1..kMaxVoters voters, at most kMaxVoters
// learners, members distinct and non-zero, no learner also a voter), otherwise what is
// wrong with it.
std::optional<std::string> validate(const Membership& membership);
// Empty when `next` may follow `current` as one change: exactly one server added as a
// learner, promoted from learner to voter, or removed (a voter only while another voter
// stays); otherwise why not.
std::optional<std::string> validate_change(const Membership& current, const Membership& next);

struct SnapshotMeta {
  Index index = 0;               // last log index the snapshot covers
  Term term = 0;                 // term of that entry
  std::vector<NodeId> voters;    // the membership in force at `index`
  std::vector<NodeId> learners;  // (empty voters: the receiver keeps its own)
  bool operator==(const SnapshotMeta&) const = default;
};

// Application state at meta.index, opaque to the core. Shared so that a leader can send the
// same bytes to several followers without copying them.
struct Snapshot {
  SnapshotMeta meta;
  std::shared_ptr<const Bytes> data;
};

enum class MessageType : std::uint8_t {
  kPreVote = 1,        // "would you vote for me in term `term`?" (term not yet taken)
  kPreVoteResponse,    // reject=false: yes
  kVote,               // index/log_term: candidate's last entry
  kVoteResponse,       // reject=false: vote granted
  kAppend,             // index/log_term: entry preceding `entries`; commit: leader's commit
  kAppendResponse,     // index: last index now matching (or the rejected prev index);
                       // reject_hint/log_term: where the follower's log may match
  kHeartbeat,          // commit: min(follower match, leader commit); context: read seq
  kHeartbeatResponse,  // context echoed (ReadIndex quorum confirmation); reject: the
                       // follower's log ends (index) before the commit it was sent
  kSnapshot,           // snapshot: state to install
  kTimeoutNow,         // leadership transfer: campaign now, skipping pre-vote
  kReadIndex,          // follower asks the leader for a read index; context: request id
  kReadIndexResponse,  // index: the read index for `context`
};
inline constexpr std::uint8_t kLastMessageType =
    static_cast<std::uint8_t>(MessageType::kReadIndexResponse);

// One flat message type for every RPC (as etcd does); fields unused by a type stay zero.
struct Message {
  MessageType type = MessageType::kHeartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  Term log_term = 0;
  Index index = 0;
  Index commit = 0;
  bool reject = false;
  Index reject_hint = 0;
  // Vote requests sent because of TimeoutNow: they bypass the leader lease (check-quorum),
  // otherwise followers that still hear from the old leader would ignore them.
  bool leader_transfer = false;
  std::uint64_t context = 0;
  std::vector<Entry> entries;
  std::optional<Snapshot> snapshot;
};

enum class Role : std::uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* role_name(Role role);

// Test-only switches that plant known consensus bugs, so that tests can prove the simulator
// catches them. All off by default; a production node never sets them.
struct BugInjection {
  bool commit_without_quorum = false;   // leader commits what ANY one replica has
  bool vote_without_log_check = false;  // votes granted without the log up-to-date check
  // The leader counts its unsynced entries toward commit and hands them out to apply; a
  // driver that honours the flag (sim/) also sends acks and votes before the fsync.
  bool apply_before_persist = false;
  bool any() const {
    return commit_without_quorum || vote_without_log_check || apply_before_persist;
  }
};

struct Config {
  NodeId id = kNoNode;
  // The membership at start (genesis, or the caller's latest applied membership).
  // Changes in the log (and in a snapshot) take over from it. `id` need not be a
  // member: a node waiting to be added, like a removed one, follows and never campaigns.
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  // An election starts after a random number of ticks in [election, election + jitter).
  // Jitter 0 means election/2: wide enough to make split votes rare (pre-vote and ticks
  // that are never in lock step help too), narrow enough that a leader crash is repaired
  // within two election timeouts at p99 (etcd's [election, 2*election) is not).
  std::uint32_t election_timeout_ticks = 10;
  std::uint32_t election_jitter_ticks = 0;
  std::uint32_t heartbeat_interval_ticks = 1;
  bool pre_vote = true;      // a partitioned node cannot inflate terms and disrupt the group
  bool check_quorum = true;  // a leader steps down when it loses contact with a majority
  // When set, the leader hands leadership to this node whenever it is healthy.
  NodeId preferred_leader = kNoNode;
  std::uint32_t max_entries_per_append = 1024;
  std::uint64_t max_bytes_per_append = 1u << 20;
  std::uint32_t max_inflight_appends = 64;  // pipelining window per follower
  // A learner is promoted only when its log reaches the commit index less this many
  // entries. 0: exactly; under steady load a learner that keeps up still trails the
  // commit index by the entries in flight, so a node allows a few.
  std::uint32_t promotable_lag_entries = 0;
  std::uint64_t max_uncommitted_entries = 1u << 16;
  std::uint64_t max_entry_bytes = 1u << 20;
  std::uint32_t max_committed_entries_per_ready = 4096;
  // Readys handed out and not yet advance()d (DURABILITY CONTRACT): 1 is the classic
  // loop; more lets the caller write one Ready while it takes the next (pipelining).
  std::uint32_t max_readies_in_flight = 1;
  std::uint32_t max_pending_reads = 4096;
  // ReadIndex on the leader answers at once while its lease holds (a quorum answered a
  // heartbeat sent less than election_timeout_ticks - lease_margin_ticks ago); without
  // it, or when the lease has run out, a heartbeat round confirms leadership first.
  // The margin covers clock drift between nodes (0: election_timeout_ticks / 4 + 1).
  bool lease_reads = true;
  std::uint32_t lease_margin_ticks = 0;
  std::uint64_t prng_seed = 1;
  BugInjection bugs;
};

// Empty when the configuration is usable, otherwise what is wrong with it.
std::optional<std::string> validate(const Config& config);

// What a node recovered from its disk at start: the snapshot it holds (if any), the hard
// state and the entries after the snapshot. A fresh node passes the default value.
struct DurableState {
  HardState hard_state;
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;
};

// Empty when `durable` is internally consistent (entries consecutive after the snapshot,
// commit within the log), otherwise the reason. The Raft constructor asserts this.
std::optional<std::string> validate(const DurableState& durable);

// Where a log ends, ordered by Raft's "at least as up to date" rule: by the term of
// the last entry, then by its index.
struct LogPosition {
  Term term = 0;
  Index index = 0;
  friend bool operator<(const LogPosition& a, const LogPosition& b) {
    return a.term < b.term || (a.term == b.term && a.index < b.index);
  }
  bool operator==(const LogPosition&) const = default;
};

// A linearizable read may be served once the state machine has applied `index`.
struct ReadState {
  std::uint64_t context = 0;
  Index index = 0;
};

struct Ready {
  std::optional<HardState> hard_state;   // persist (changed since the last Ready)
  std::optional<Snapshot> snapshot;      // persist, then install (received from a leader)
  std::vector<Entry> entries;            // persist; truncate the log from front().index first
  std::vector<Message> messages;         // send only AFTER the writes above are fsynced,
                                         // except where may_send_before_sync()
  std::vector<Entry> committed_entries;  // apply in order
  std::vector<ReadState> read_states;    // answer once applied >= index
  Role role = Role::kFollower;           // soft state, not persisted
  NodeId leader = kNoNode;
  Term term = 0;
  bool must_sync() const {
    return hard_state.has_value() || snapshot.has_value() || !entries.empty();
  }
};

// True for the messages only a leader sends (appends, heartbeats, snapshots, TimeoutNow):
// they carry entries and a commit index the leader's quorum made durable, never a
// promise about the sender's own unsynced writes. A leader may send them before the
// Ready's fsync; its own copy counts toward a commit only once advance() confirmed it.
bool may_send_before_sync(const Message& message);

enum class Error : std::uint8_t {
  kNone,
  kNotLeader,           // ask `leader_hint` instead (may be kNoNode: unknown)
  kTransferInProgress,  // leadership is moving; retry shortly
  kTooManyUncommitted,  // back-pressure: the log has max_uncommitted_entries in flight
  kEntryTooLarge,
  kNotReady,  // leader has not committed an entry in its term yet (ReadIndex)
  kTooManyPendingReads,
  kInvalidArgument,
  kChangePending,  // a membership change (or a predecessor's entry) is not yet applied
  kLearnerBehind,  // promotion refused: the learner's log trails the commit index (Config)
  kRemovesLeader,  // transfer leadership away before removing this leader
};
const char* error_name(Error error);

struct ProposeResult {
  Error error = Error::kNone;
  Index index = 0;  // where the entry will commit, if it commits
  Term term = 0;
  NodeId leader_hint = kNoNode;
};

class RaftImpl;

class Raft {
 public:
  // Asserts validate(config) and validate(durable). `applied_index` is what the caller's
  // state machine already reflects (at least the snapshot index).
  Raft(const Config& config, const DurableState& durable, Index applied_index = 0);
  ~Raft();
  Raft(Raft&&) noexcept;
  Raft& operator=(Raft&&) noexcept;

  // Advances logical time by one tick: election timeouts, heartbeats, check-quorum,
  // leadership transfer deadlines.
  void tick();
  // Feeds one message from the network. Messages that are malformed, stale, addressed to
  // someone else or from a non-member are ignored: the network is not trusted to be sane.
  void step(const Message& message);
  // Appends `data` to the log if this node leads. The entry is replicated on the next
  // ready(); many proposals between two ready() calls travel in one batch.
  ProposeResult propose(Bytes data);
  // Starts a linearizable read tagged `context`; the answer comes back as a ReadState.
  Error read_index(std::uint64_t context);
  // Leader only: appends a membership change to `next`, carrying `data` for the
  // application (decode_membership_entry() gives both back from the entry). Refused,
  // with nothing appended, unless validate_change(membership(), next) holds and: this
  // leader has committed an entry of its term and no earlier change is uncommitted
  // (kChangePending); a promoted learner holds everything committed (kLearnerBehind);
  // this leader stays a voter (kRemovesLeader: transfer_leadership() first).
  // The change is in force at once: the leader replicates to an added member and stops
  // for a removed one.
  ProposeResult propose_membership(const Membership& next, Bytes data);
  // The membership in force here: the latest in the log, else the snapshot's, else the
  // configured one.
  Membership membership() const;
  // Leader only: the last index `peer` is known to hold (0: not a member or unknown).
  Index match_of(NodeId peer) const;
  // Leader only: hand leadership to `target` (it must be a voter other than self).
  Error transfer_leadership(NodeId target);
  // The application took a snapshot of its state at `index` (<= applied): the log up to
  // `index` is dropped and followers that far behind receive `data` instead.
  Error compact(Index index, Bytes data);

  bool has_ready() const;
  // Collects pending work. At most Config::max_readies_in_flight Readys are outstanding:
  // has_ready() is false while that many wait for advance().
  Ready ready();
  // The oldest outstanding Ready's persistence and sending are done.
  void advance();

  // A node whose log is gone (a rebuilt or emptied data directory, a new disk) must not
  // help elect a leader that lacks what it had acknowledged before, nor vote twice in a
  // term it may have voted in before. While recovering it starts no election and grants
  // a vote or pre-vote only with a `floor` (none: no vote at all), and only to a
  // candidate whose log is at least as up to date as floor.log and whose term is above
  // floor.term: the most up-to-date log and the highest term among validators that
  // share a member with any majority it belonged to — so they hold every entry it could
  // have helped commit, and every term it could have voted in. Otherwise it follows a
  // leader, appends and acknowledges as any follower (those acknowledgements are
  // genuine durable copies). The caller (node/replica.h, "Recovery") gathers the floor,
  // and once this node's own log reaches it, ends recovery with fence_votes_through().
  // Leaving recovery, a node campaigns after its rank among the voters (by id) times
  // jitter / voters ticks, not at once: the validators of a new lattice leave it
  // together and would otherwise split the first vote.
  struct VoteFloor {
    LogPosition log;
    Term term = 0;
  };
  void set_recovering(bool recovering, std::optional<VoteFloor> floor = std::nullopt);
  bool recovering() const;
  // No vote for anyone else in `term` or before: a follower below it moves to `term`,
  // with a vote for itself recorded (persisted by the next Ready), so a vote this node
  // may have cast before it lost its log can never be cast again.
  void fence_votes_through(Term term);
  LogPosition last_position() const;  // the last entry's term and index

  // Observers (tests, simulator, metrics, status API).
  NodeId id() const;
  Role role() const;
  Term term() const;
  NodeId leader() const;
  NodeId vote() const;
  Index commit_index() const;
  Index applied_index() const;
  Index stable_index() const;
  Index first_index() const;  // first entry still in the log (snapshot index + 1)
  Index last_index() const;
  std::optional<Term> term_at(Index index) const;
  const Entry* entry_at(Index index) const;  // null when compacted or beyond the log
  const Snapshot* snapshot() const;          // latest snapshot held, if any

 private:
  std::unique_ptr<RaftImpl> impl_;
};

// ---- Membership entries ----------------------------------------------------------------
//
// A membership change travels as an ordinary entry whose data starts with a marker the
// core owns (propose() refuses data that starts with it), then the membership, then the
// application's bytes.
struct MembershipEntry {
  Membership membership;
  Bytes data;  // the application's part
};
Bytes encode_membership_entry(const Membership& membership, const Bytes& data);
// The change an entry's data holds, or nullopt for any other entry (or a malformed one).
std::optional<MembershipEntry> decode_membership_entry(const Bytes& data);
bool is_membership_entry(const Bytes& data);  // starts with the marker

// ---- Wire codec ----------------------------------------------------------------------
//
// A compact, deterministic binary encoding of Message (LEB128 varints, fields in a fixed
// order; one message has exactly one encoding). Decoding is total: any byte string yields
// a Message or an error, never a crash, and oversized or non-canonical input is refused.
inline constexpr std::size_t kMaxEncodedMessageBytes = 64u << 20;
inline constexpr std::size_t kMaxEntriesPerMessage = 1u << 16;
inline constexpr std::size_t kMaxVoters = 255;
inline constexpr std::uint8_t kCodecVersion = 1;

void encode(const Message& message, Bytes& out);  // appends to out
Bytes encode(const Message& message);

struct DecodeResult {
  std::optional<Message> message;
  std::string error;  // set when message is empty
  std::size_t error_offset = 0;
};
DecodeResult decode(std::span<const std::uint8_t> bytes);

// ---- Invariants ----------------------------------------------------------------------
//
// The core checks its invariants (commit <= last index, applied <= commit, terms and commit
// never decreasing, log matching, a leader consistent with itself, ...) in every build
// type with AETHEL_CHECK, after every tick(), step() and advance(). A violation calls
// base::fatal: by default it prints the failed condition and aborts; the simulator installs
// a handler (base::set_fatal_handler) that throws, so a planted bug is reported with its
// replay command.

}  // namespace aethel::consensus
