// The simulated world around the production replica (node::Replica): an event queue in
// simulated microseconds, a lossy network carrying the replica's envelopes, a disk with
// synced and unsynced writes, crashing nodes and retrying clients, plus the invariant
// checker. Each node is the replica the runtime runs, over the real ledger.
#include "sim/simulator.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "base/base.h"
#include "node/block.h"
#include "node/outcome_index.h"
#include "node/replica.h"
#include "sim/disk.h"

namespace aethel::sim {
namespace {

using consensus::Index;
using consensus::NodeId;
using consensus::Prng;
using consensus::Role;
using consensus::Term;

// 2 ms ticks: a 100 ms election timeout spans 50 ticks, so randomized timeouts rarely tie.
constexpr std::uint64_t kTickUs = 2'000;
constexpr std::uint32_t kElectionTicks = 50;
constexpr std::uint32_t kHeartbeatTicks = 5;
constexpr std::uint64_t kClientTimeoutUs = 300'000;
constexpr std::uint64_t kFaultStepUs = 20'000;
constexpr std::uint64_t kLogCheckIntervalUs = 100'000;
constexpr std::uint32_t kAccounts = 8;
constexpr std::int64_t kInitialBalance = 1000;

struct SimFailure {
  std::string what;
};

[[noreturn]] void fail(const std::string& what) {
  throw SimFailure{what};
}

[[noreturn]] void throwing_fatal_handler(std::string_view what) {
  throw SimFailure{"fatal: " + std::string(what)};
}

// Fault intensities, drawn from the seed so that runs differ in character, not only in
// detail. Probabilities are per mille.
struct Profile {
  std::uint64_t drop_pm = 0;
  std::uint64_t duplicate_pm = 0;
  std::uint64_t min_delay_us = 200;
  std::uint64_t max_delay_us = 2'000;
  std::uint64_t crash_pm = 0;  // per fault step
  std::uint64_t restart_pm = 150;
  std::uint64_t partition_pm = 0;
  std::uint64_t heal_pm = 60;
  std::uint64_t slow_disk_pm = 0;
  bool torn_writes = false;
  std::uint64_t disk_replace_pm = 0;    // per restart: the node comes back with an empty disk
  std::uint64_t membership_pm = 0;      // per fault step, with spares: one membership change
  std::uint32_t readies_in_flight = 1;  // consensus::Config::max_readies_in_flight
};

Profile draw_profile(Prng& prng) {
  Profile p;
  const std::uint64_t drops[] = {0, 10, 50, 150};
  const std::uint64_t dups[] = {0, 10, 50};
  const std::uint64_t delays[] = {2'000, 10'000, 40'000};
  const std::uint64_t crashes[] = {0, 15, 40, 80};
  const std::uint64_t partitions[] = {0, 20, 60};
  p.drop_pm = drops[prng.below(4)];
  p.duplicate_pm = dups[prng.below(3)];
  p.max_delay_us = delays[prng.below(3)];
  p.crash_pm = crashes[prng.below(4)];
  p.restart_pm = 100 + prng.below(200);
  p.partition_pm = partitions[prng.below(3)];
  p.slow_disk_pm = prng.below(2) * 30;
  p.torn_writes = prng.below(2) == 1;
  const std::uint64_t replaces[] = {0, 0, 150, 400};
  p.disk_replace_pm = replaces[prng.below(4)];
  p.membership_pm = 20 + prng.below(60);
  const std::uint32_t readies[] = {1, 2, 4, 8};  // the classic loop, and pipelines
  p.readies_in_flight = readies[prng.below(4)];
  return p;
}

std::string peer_name(NodeId id) {
  return (id < 10 ? "node0" : "node") + std::to_string(id);  // sorts as the ids do
}

std::string account_name(std::uint64_t account) {
  return "acct" + std::to_string(account);
}

std::string client_tx_id(std::uint64_t client, std::uint64_t seq) {
  return "c" + std::to_string(client) + "-" + std::to_string(seq);
}

ledger::Genesis sim_genesis() {
  std::vector<ledger::GenesisAccount> accounts;
  for (std::uint32_t i = 0; i < kAccounts; ++i)
    accounts.push_back({account_name(i), kInitialBalance});
  return ledger::make_genesis(std::move(accounts)).value();
}

class Simulation;

// One node's disk and network, as its replica sees them.
class NodeIo : public node::Disk, public node::Transport {
 public:
  NodeIo(Simulation& sim, NodeId id) : sim_(sim), id_(id) {}
  void write(storage::WriteBatch batch) override;
  void build_snapshot(consensus::Index index,
                      std::function<void(const storage::PieceSink&)> build) override;
  consensus::Bytes read_built_snapshot(consensus::Index index, uint64_t data_bytes) override;
  void send(const std::string& peer_id, std::string envelope) override;

 private:
  Simulation& sim_;
  NodeId id_;
};

struct Node {
  NodeId id = 0;
  bool up = true;
  std::uint64_t incarnation = 0;
  SimDisk disk;
  std::unique_ptr<NodeIo> io;
  std::unique_ptr<node::LedgerPair> ledgers;  // outlives the replica
  std::unique_ptr<node::Replica> replica;
  std::uint64_t last_sync_due_us = 0;  // writes complete in order
  bool slow_disk = false;
  Index seen_commit = 0;
};

struct Client {
  std::uint64_t id = 0;
  std::uint64_t seq = 0;
  bool outstanding = false;
  ledger::Transaction tx;
  NodeId target = 1;
  std::uint64_t attempt = 0;
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& options, std::size_t failover_samples = 0)
      : options_(options),
        prng_(options.seed),
        intent_prng_(options.seed ^ 0x5eed'1e7e'1a7eULL),
        failover_samples_(failover_samples) {}

  SimResult run();
  std::vector<double> failover_samples() const { return failover_; }

  void disk_write(NodeId id, storage::WriteBatch batch);
  void build_snapshot(NodeId id, Index index, std::function<void(const storage::PieceSink&)> build);
  consensus::Bytes read_built_snapshot(NodeId id, Index index, uint64_t data_bytes);
  void send(NodeId from, const std::string& to_peer, std::string envelope);
  void observe_vote(NodeId from, const std::string& envelope);

 private:
  using Action = std::function<void()>;

  void schedule(std::uint64_t delay_us, Action action) {
    events_.emplace(std::make_pair(now_us_ + delay_us, next_event_++), std::move(action));
  }

  node::ReplicaOptions replica_options(const Node& n);
  // The outcome index as a node's store answers it. A node with a gap in its history
  // reads the other nodes' records too: the model of a back-fill that has completed (in
  // production the node refuses until it has; node/history.h).
  std::optional<ledger::Outcome> indexed_outcome(NodeId id, const std::string& key) const;
  // Blocks below the node's ledger height are missing from its disk.
  static bool history_incomplete(const Node& n) {
    return n.disk.history_gap() || n.disk.last_block_height() < n.ledgers->height();
  }
  base::Result<std::vector<std::optional<ledger::Outcome>>> recorded_outcomes(
      NodeId id, std::span<const ledger::Transaction> txs) const;
  void start_node(Node& node);
  void schedule_tick(NodeId id, std::uint64_t delay_us);
  void pump(Node& node);
  void on_synced(NodeId id, std::uint64_t incarnation);
  void schedule_store(Node& n);
  void on_block_applied(NodeId id, const node::AppliedBlock& block);
  void observe_leader(Node& node);
  void check_commit(Node& node);
  void check_log_matching();
  void check_acknowledged(const Node& node);
  void deliver(NodeId from, NodeId to, const std::string& envelope);

  ledger::Transaction next_transaction(const Client& client);
  void start_next_transfer(Client& client);
  void start_read(NodeId node_id);
  void send_request(Client& client);
  void on_request(NodeId node_id, std::uint64_t client_id, std::uint64_t seq);
  void on_reply(std::uint64_t client_id, std::uint64_t seq, const node::CommitResult& result);
  void retry_soon(Client& client);

  void fault_step();
  void change_membership();
  std::optional<consensus::Membership> leader_membership();
  bool is_member(const consensus::Membership& membership, NodeId id) const;
  NodeId random_node() { return 1 + prng_.below(nodes_.size()); }
  void crash(Node& node);
  void restart(Node& node);
  bool anyone_recovering() const;
  void partition();
  void heal();
  bool converged();
  std::string describe_nodes() const;
  void failover_step();
  void run_events();
  bool lossy() const { return options_.faults && !healed_; }

  Node& node(NodeId id) { return nodes_[id - 1]; }
  // --trace: one line per notable event, on stderr, with the simulated time.
  void trace(NodeId id, std::string_view what) const {
    if (options_.trace) {
      std::fprintf(stderr, "%10.3f ms node %llu: %.*s\n", static_cast<double>(now_us_) / 1000,
                   static_cast<unsigned long long>(id), static_cast<int>(what.size()), what.data());
    }
  }

  SimOptions options_;
  Prng prng_;
  // Which requests invoke the deployed intent: a stream of its own, so that the
  // faults a seed draws do not depend on the mix of the workload.
  Prng intent_prng_;
  Profile profile_;
  Bugs bugs_;
  ledger::Genesis genesis_ = sim_genesis();
  std::uint64_t now_us_ = 0;
  std::uint64_t next_event_ = 0;
  std::map<std::pair<std::uint64_t, std::uint64_t>, Action> events_;
  std::vector<Node> nodes_;
  std::vector<std::string> validators_;          // genesis
  std::map<std::string, NodeId> index_of_peer_;  // every node, spares included
  std::vector<Client> clients_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  bool healed_ = false;
  bool finished_ = false;
  SimStats stats_;

  // Global knowledge for the invariant checks.
  std::map<Term, NodeId> leader_of_term_;
  std::map<std::pair<NodeId, Term>, NodeId> vote_granted_;  // (voter, term) → candidate
  std::vector<Term> committed_term_;                        // by log index
  Index max_committed_ = 0;
  std::map<std::uint64_t, ledger::Hash> root_at_height_;  // first root seen per height
  std::map<std::string, ledger::Outcome> acknowledged_;   // tx id -> outcome a client saw
  std::uint64_t acknowledged_height_ = 0;                 // highest height acknowledged

  // Failover measurement.
  std::size_t failover_samples_ = 0;
  std::vector<double> failover_;
  NodeId crashed_leader_ = 0;
  Term crashed_term_ = 0;
  std::uint64_t crashed_at_us_ = 0;
  std::uint64_t leader_since_us_ = 0;
  NodeId stable_leader_ = 0;
};

void NodeIo::write(storage::WriteBatch batch) {
  sim_.disk_write(id_, std::move(batch));
}
void NodeIo::build_snapshot(consensus::Index index,
                            std::function<void(const storage::PieceSink&)> build) {
  sim_.build_snapshot(id_, index, std::move(build));
}
consensus::Bytes NodeIo::read_built_snapshot(consensus::Index index, uint64_t data_bytes) {
  return sim_.read_built_snapshot(id_, index, data_bytes);
}
void NodeIo::send(const std::string& peer_id, std::string envelope) {
  sim_.send(id_, peer_id, std::move(envelope));
}

// ---- nodes --------------------------------------------------------------------------

node::ReplicaOptions Simulation::replica_options(const Node& n) {
  node::ReplicaOptions o;
  o.self = peer_name(n.id);
  o.validators = validators_;
  o.consensus.election_timeout_ticks = kElectionTicks;
  o.consensus.heartbeat_interval_ticks = kHeartbeatTicks;
  o.consensus.max_entries_per_append = 256;
  o.consensus.max_inflight_appends = 16;
  o.consensus.max_readies_in_flight = profile_.readies_in_flight;
  o.consensus.prng_seed = options_.seed * 1'000'003 + n.id * 7919 + n.incarnation * 104'729;
  o.consensus.bugs = bugs_.core;
  o.bugs = bugs_.replica;
  o.snapshot_interval_blocks = options_.compact_every_blocks;
  o.snapshot_log_bytes = options_.snapshot_log_bytes;
  o.commit_timeout_ticks = kClientTimeoutUs / kTickUs;
  o.first_request_id = prng_.next();
  o.log = [this, id = n.id](std::string_view line) { trace(id, line); };
  const NodeId id = n.id;
  o.on_block_applied = [this, id](const node::AppliedBlock& b) { on_block_applied(id, b); };
  if (!bugs_.skip_outcome_index) {
    o.recorded_outcomes = [this, id](std::span<const ledger::Transaction> txs) {
      return recorded_outcomes(id, txs);
    };
  }
  if (n.id > options_.nodes) {  // a spare joins through a member: the membership as it is now
    auto members = leader_membership().value_or(consensus::Membership{{}, {}});
    for (NodeId v = 1; v <= nodes_.size(); ++v) {
      bool voter = members.voters.empty()
                       ? v <= options_.nodes
                       : members.is_voter(node::member_node_id(validators_, peer_name(v)));
      if (voter) o.joined_members.push_back(node::Member{{peer_name(v), "", {}}, true});
    }
  }
  return o;
}

std::optional<ledger::Outcome> Simulation::indexed_outcome(NodeId id,
                                                           const std::string& key) const {
  const Node& self = nodes_[id - 1];
  const storage::Bytes* record = self.disk.outcome(key);
  const bool incomplete = history_incomplete(self);
  for (std::size_t k = 0; !record && incomplete && k < nodes_.size(); ++k) {
    record = nodes_[k].disk.outcome(key);
  }
  if (!record) return std::nullopt;
  auto outcome = ledger::decode_outcome(
      std::string_view(reinterpret_cast<const char*>(record->data()), record->size()));
  if (!outcome.ok()) fail("node " + std::to_string(id) + ": " + outcome.error().message);
  outcome.value().exists = true;
  return std::move(outcome).value();
}

base::Result<std::vector<std::optional<ledger::Outcome>>> Simulation::recorded_outcomes(
    NodeId id, std::span<const ledger::Transaction> txs) const {
  std::vector<std::optional<ledger::Outcome>> found(txs.size());
  for (std::size_t i = 0; i < txs.size(); ++i) {
    if (txs[i].client_id.empty()) continue;
    found[i] =
        indexed_outcome(id, node::outcome_key(txs[i].client_id, ledger::client_id_scope(txs[i])));
  }
  return found;
}

void Simulation::start_node(Node& n) {
  node::Recovered recovered = n.disk.recover();
  if (auto broken = consensus::validate(recovered.durable)) {
    fail("node " + std::to_string(n.id) + " recovered a broken log: " + *broken);
  }
  ledger::Limits limits;
  if (options_.retention_transactions != 0) {
    limits.tx_retention_count = options_.retention_transactions;
  }
  ledger::Ledger ledger(genesis_, limits);
  if (recovered.durable.snapshot) {
    const consensus::Bytes& bytes = *recovered.durable.snapshot->data;
    auto data = node::decode_snapshot_data(
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    if (!data) fail("node " + std::to_string(n.id) + ": unreadable snapshot members on disk");
    auto restored = ledger::Ledger::deserialize(data->ledger_snapshot);
    if (!restored.ok()) fail("node " + std::to_string(n.id) + ": unreadable snapshot on disk");
    ledger = std::move(restored).value();
  }
  n.ledgers = std::make_unique<node::LedgerPair>(ledger);
  if (!n.io) n.io = std::make_unique<NodeIo>(*this, n.id);
  n.replica = std::make_unique<node::Replica>(replica_options(n), std::move(recovered), *n.ledgers,
                                              *n.io, *n.io);
  n.up = true;
  trace(n.id, "start: term " + std::to_string(n.replica->raft().term()) + ", last index " +
                  std::to_string(n.replica->raft().last_index()) + ", recovery " +
                  node::recovery_name(n.replica->status().recovery));
  n.last_sync_due_us = now_us_;
  n.seen_commit = n.replica->raft().first_index() - 1;
  pump(n);
  // Ticks start at a random phase: real nodes never tick in lock step.
  schedule_tick(n.id, 1 + prng_.below(kTickUs));
}

void Simulation::schedule_tick(NodeId id, std::uint64_t delay_us) {
  const std::uint64_t incarnation = node(id).incarnation;
  schedule(delay_us, [this, id, incarnation] {
    Node& n = node(id);
    if (!n.up || n.incarnation != incarnation) return;
    n.replica->tick();
    pump(n);
    schedule_tick(id, kTickUs);
  });
}

void Simulation::pump(Node& n) {
  if (!n.up) return;
  n.replica->process();
  observe_leader(n);
  check_commit(n);
}

void Simulation::disk_write(NodeId id, storage::WriteBatch batch) {
  Node& n = node(id);
  n.disk.write(std::move(batch));
  const std::uint64_t latency_us =
      n.slow_disk ? 20'000 + prng_.below(80'000) : 300 + prng_.below(400);
  n.last_sync_due_us = std::max(n.last_sync_due_us, now_us_ + latency_us);
  const std::uint64_t incarnation = n.incarnation;
  schedule(n.last_sync_due_us - now_us_, [this, id, incarnation] { on_synced(id, incarnation); });
}

// A snapshot is built on another thread in production: here it is ready after a
// while, during which the node goes on (and may crash: then it is never built). As
// in production its data goes to a durable file first, so the core keeps only a
// reference and sending it reads the file back; one in eight goes inline instead, as
// when the file cannot be written.
void Simulation::build_snapshot(NodeId id, Index index,
                                std::function<void(const storage::PieceSink&)> build) {
  const std::uint64_t incarnation = node(id).incarnation;
  schedule(1'000 + prng_.below(50'000), [this, id, index, incarnation, build = std::move(build)] {
    Node& n = node(id);
    if (!n.up || n.incarnation != incarnation) return;
    consensus::Bytes data;
    build([&](std::string_view piece) { data.insert(data.end(), piece.begin(), piece.end()); });
    ++stats_.snapshots_built;
    stats_.snapshot_bytes_built += data.size();
    if (prng_.below(8) == 0) {  // the file could not be written: the data goes inline
      n.replica->on_snapshot_built(std::move(data));
    } else {
      const uint64_t data_bytes = data.size();
      n.disk.prepare_snapshot_file(index, std::move(data));
      n.replica->on_snapshot_stored(data_bytes);
    }
    pump(n);
  });
}

consensus::Bytes Simulation::read_built_snapshot(NodeId id, Index index, uint64_t data_bytes) {
  consensus::Bytes data = node(id).disk.snapshot_file(index);
  AETHEL_CHECK(data.size() == data_bytes);
  return data;
}

void Simulation::on_synced(NodeId id, std::uint64_t incarnation) {
  Node& n = node(id);
  if (!n.up || n.incarnation != incarnation) return;  // the crash came first
  const size_t stored = n.disk.sync_one();
  for (size_t i = 1; i < stored; ++i) n.replica->on_stored();  // the journaled ones before
  n.replica->on_durable();
  if (stored > 0) {
    n.replica->on_stored();
  } else {
    schedule_store(n);
  }
  pump(n);
}

// The database gets a journaled write a while after the journal did: production
// commits them every 10 ms, and a slow disk makes that commit slow too.
void Simulation::schedule_store(Node& n) {
  const NodeId id = n.id;
  const std::uint64_t incarnation = n.incarnation;
  const std::uint64_t count = n.disk.synced_count();
  const std::uint64_t delay_us =
      n.slow_disk ? 20'000 + prng_.below(500'000) : 1'000 + prng_.below(20'000);
  schedule(delay_us, [this, id, incarnation, count] {
    Node& later = node(id);
    if (!later.up || later.incarnation != incarnation) return;
    for (size_t i = later.disk.store_through(count); i > 0; --i) later.replica->on_stored();
    pump(later);
  });
}

// State machine safety at the ledger's level: every node that reaches height H has the
// root every other node had at H.
void Simulation::on_block_applied(NodeId id, const node::AppliedBlock& block) {
  auto [it, first] = root_at_height_.emplace(block.height, block.root);
  if (!first && it->second != block.root) {
    fail("state machine safety: node " + std::to_string(id) + " has a different root at height " +
         std::to_string(block.height) + " than another node had");
  }
}

void Simulation::observe_leader(Node& n) {
  const consensus::Raft& raft = n.replica->raft();
  if (raft.role() != Role::kLeader) return;
  auto [it, inserted] = leader_of_term_.emplace(raft.term(), n.id);
  if (!inserted) {
    if (it->second != n.id) {
      fail("election safety: nodes " + std::to_string(it->second) + " and " + std::to_string(n.id) +
           " both lead term " + std::to_string(raft.term()));
    }
    return;
  }
  ++stats_.leaders_elected;
  trace(n.id, "leader of term " + std::to_string(raft.term()) + ", last index " +
                  std::to_string(raft.last_index()) + ", committed so far " +
                  std::to_string(max_committed_));
  // Leader completeness: the new leader holds every entry committed so far.
  if (max_committed_ > raft.last_index()) {
    fail("leader completeness: leader " + std::to_string(n.id) + " of term " +
         std::to_string(raft.term()) + " lacks committed index " + std::to_string(max_committed_));
  }
  for (Index i = raft.first_index(); i <= max_committed_; ++i) {
    if (committed_term_[i] != 0 && raft.term_at(i) != committed_term_[i]) {
      fail("leader completeness: leader " + std::to_string(n.id) + " of term " +
           std::to_string(raft.term()) + " has a different entry at committed index " +
           std::to_string(i));
    }
  }
}

void Simulation::check_commit(Node& n) {
  const consensus::Raft& raft = n.replica->raft();
  const Index commit = raft.commit_index();
  if (commit >= committed_term_.size()) {
    committed_term_.resize(std::max<std::size_t>(commit + 1, committed_term_.size() * 2), 0);
  }
  for (Index i = std::max(n.seen_commit, raft.first_index() - 1) + 1; i <= commit; ++i) {
    const std::optional<Term> term = raft.term_at(i);
    if (!term) continue;
    if (committed_term_[i] == 0) {
      committed_term_[i] = *term;
    } else if (committed_term_[i] != *term) {
      fail("state machine safety: node " + std::to_string(n.id) + " committed term " +
           std::to_string(*term) + " at index " + std::to_string(i) + ", another node term " +
           std::to_string(committed_term_[i]));
    }
  }
  n.seen_commit = std::max(n.seen_commit, commit);
  max_committed_ = std::max(max_committed_, commit);
}

void Simulation::check_log_matching() {
  for (Node& a : nodes_) {
    for (Node& b : nodes_) {
      if (a.id >= b.id || !a.up || !b.up) continue;
      const consensus::Raft& ra = a.replica->raft();
      const consensus::Raft& rb = b.replica->raft();
      const Index lo = std::max(ra.first_index(), rb.first_index());
      const Index hi = std::min(ra.last_index(), rb.last_index());
      bool agreed = false;
      for (Index i = hi; i >= lo && i > 0; --i) {
        const consensus::Entry* ea = ra.entry_at(i);
        const consensus::Entry* eb = rb.entry_at(i);
        if (ea->term == eb->term) agreed = true;
        if (agreed && !(*ea == *eb)) {
          fail("log matching: nodes " + std::to_string(a.id) + " and " + std::to_string(b.id) +
               " agree on a later entry but differ at index " + std::to_string(i));
        }
      }
    }
  }
}

// No acknowledged transaction lost: every outcome a client was given is, with the same
// height and code, what this node's ledger remembers for that id.
void Simulation::check_acknowledged(const Node& n) {
  n.ledgers->read([&](const ledger::Ledger& l) {
    for (const auto& [id, seen] : acknowledged_) {
      std::optional<ledger::Outcome> held = l.find_transaction(id);
      if (!held) held = indexed_outcome(n.id, node::outcome_key(id, seen.scope));
      // Beyond a small retention window, an outcome whose blocks no node stores any more
      // (every one lost its disk or caught up by snapshot since) cannot be checked here;
      // the supply and the nodes' agreement still are.
      if (!held && history_incomplete(n)) continue;
      if (!held || held->height != seen.height || held->code != seen.code) {
        fail("acknowledged transaction lost: node " + std::to_string(n.id) + " does not hold " +
             id + " as acknowledged at height " + std::to_string(seen.height) +
             (held ? " (it holds it at height " + std::to_string(held->height) + ")" : ""));
      }
    }
    if (l.total_supply() != kAccounts * kInitialBalance) fail("conservation broken");
    return 0;
  });
}

// ---- network ------------------------------------------------------------------------

// One vote per term: a granted vote is a fact once sent, whether or not it arrives, and
// no crash or lost disk may let the node grant that term to someone else. Checked on
// the wire, it catches a forgotten vote as soon as it is cast twice, long before two
// leaders happen to be elected with it.
void Simulation::observe_vote(NodeId from, const std::string& envelope) {
  // Kind, codec version, message type: only vote responses are decoded.
  if (envelope.size() < 3 || envelope[0] != static_cast<char>(node::EnvelopeKind::kRaft) ||
      envelope[2] != static_cast<char>(consensus::MessageType::kVoteResponse)) {
    return;
  }
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(envelope.data()) + 1;
  const consensus::DecodeResult decoded = consensus::decode({bytes, envelope.size() - 1});
  if (!decoded.message) return;
  const consensus::Message& m = *decoded.message;
  if (m.type != consensus::MessageType::kVoteResponse || m.reject) return;
  auto [it, first] = vote_granted_.emplace(std::make_pair(from, m.term), m.to);
  if (!first && it->second != m.to) {
    fail("vote safety: node " + std::to_string(from) + " granted its vote in term " +
         std::to_string(m.term) + " to nodes " + std::to_string(it->second) + " and " +
         std::to_string(m.to));
  }
}

void Simulation::send(NodeId from, const std::string& to_peer, std::string envelope) {
  ++stats_.messages_sent;
  observe_vote(from, envelope);
  if (lossy() && prng_.chance(profile_.drop_pm, 1000)) {
    ++stats_.messages_dropped;
    return;
  }
  auto found = index_of_peer_.find(to_peer);
  if (found == index_of_peer_.end()) fail("envelope addressed to an unknown peer " + to_peer);
  const NodeId to = found->second;
  auto wire = std::make_shared<const std::string>(std::move(envelope));
  const int copies = lossy() && prng_.chance(profile_.duplicate_pm, 1000) ? 2 : 1;
  for (int copy = 0; copy < copies; ++copy) {
    const std::uint64_t delay =
        profile_.min_delay_us + prng_.below(profile_.max_delay_us - profile_.min_delay_us);
    schedule(delay, [this, from, to, wire] { deliver(from, to, *wire); });
  }
}

void Simulation::deliver(NodeId from, NodeId to, const std::string& envelope) {
  Node& n = node(to);
  if (!n.up || cut_.count({from, to})) {
    ++stats_.messages_dropped;
    return;
  }
  n.replica->receive(peer_name(from), envelope);
  pump(n);
}

// ---- clients ------------------------------------------------------------------------

// The workload's deployed intent (SPEC §11): a split of one payment in two.
constexpr const char* kSplitIntent =
    R"(intent split(payer: Account, left: Account, right: Account, amount: Amount) {
  guard { amount > 0; old_payer >= amount; }
  solve { priority: fee; }
  verify {
    payer == old_payer - amount;
    left == old_left + amount / 2;
    right == old_right + (amount - amount / 2);
  }
})";

// Client 1 deploys the split first; then one request in four invokes it (until the
// deployment commits those fail with unknown_intent, as they would in production).
ledger::Transaction Simulation::next_transaction(const Client& c) {
  std::string id = client_tx_id(c.id, c.seq);
  const std::uint64_t from = prng_.below(kAccounts);
  const std::uint64_t to = (from + 1 + prng_.below(kAccounts - 1)) % kAccounts;
  const auto amount = static_cast<std::int64_t>(1 + prng_.below(400));
  if (c.id == 1 && c.seq == 1) return ledger::Transaction::deploy(kSplitIntent, "sim", id);
  if (!intent_prng_.chance(1, 4)) {
    return ledger::Transaction::transfer(account_name(from), account_name(to), amount, id);
  }
  std::uint64_t third = intent_prng_.below(kAccounts);
  while (third == from || third == to) third = (third + 1) % kAccounts;
  return ledger::Transaction::invoke({"split",
                                      {{"payer", account_name(from)},
                                       {"left", account_name(to)},
                                       {"right", account_name(third)},
                                       {"amount", std::to_string(amount)}}},
                                     id);
}

void Simulation::start_next_transfer(Client& c) {
  if (healed_ || finished_) return;  // after healing, clients only finish what they began
  ++c.seq;
  c.tx = next_transaction(c);
  c.outstanding = true;
  send_request(c);
}

void Simulation::send_request(Client& c) {
  const std::uint64_t attempt = ++c.attempt;
  const std::uint64_t client_id = c.id;
  const std::uint64_t seq = c.seq;
  const NodeId target = c.target;
  if (!(lossy() && prng_.chance(profile_.drop_pm, 1000))) {
    schedule(profile_.min_delay_us + prng_.below(profile_.max_delay_us),
             [this, target, client_id, seq] { on_request(target, client_id, seq); });
  }
  schedule(kClientTimeoutUs, [this, client_id, attempt] {
    Client& client = clients_[client_id - 1];
    if (!client.outstanding || client.attempt != attempt) return;
    client.target = random_node();  // idempotent retry, maybe elsewhere
    send_request(client);
  });
}

void Simulation::on_request(NodeId node_id, std::uint64_t client_id, std::uint64_t seq) {
  Node& n = node(node_id);
  Client& c = clients_[client_id - 1];
  if (!n.up || c.seq != seq || !c.outstanding) return;
  n.replica->submit({c.tx}, [this, client_id, seq](node::CommitResult result) {
    if (lossy() && prng_.chance(profile_.drop_pm, 1000)) return;
    auto shared = std::make_shared<node::CommitResult>(std::move(result));
    schedule(profile_.min_delay_us + prng_.below(profile_.max_delay_us),
             [this, client_id, seq, shared] { on_reply(client_id, seq, *shared); });
  });
  pump(n);
}

void Simulation::on_reply(std::uint64_t client_id, std::uint64_t seq,
                          const node::CommitResult& result) {
  Client& c = clients_[client_id - 1];
  if (!c.outstanding || c.seq != seq) return;
  if (result.error || result.outcomes.size() != 1) return retry_soon(c);
  ledger::Outcome outcome = result.outcomes.front();
  outcome.exists = false;
  auto [it, first] = acknowledged_.emplace(outcome.tx_id, outcome);
  if (!first && (it->second.height != outcome.height || it->second.code != outcome.code)) {
    fail("idempotency: " + outcome.tx_id + " got two different outcomes");
  }
  if (first) acknowledged_height_ = std::max(acknowledged_height_, outcome.height);
  if (first && outcome.committed() && c.tx.transfers.size() == 1 && c.tx.transfers[0].invocation) {
    ++stats_.invocations_committed;
  }
  c.outstanding = false;
  ++stats_.acks;
  if (options_.target_acks != 0 && stats_.acks >= options_.target_acks) {
    finished_ = true;
    return;
  }
  schedule(prng_.below(5'000), [this, client_id] { start_next_transfer(clients_[client_id - 1]); });
  if (prng_.chance(1, 2)) start_read(random_node());
}

// A linearizable read: once the node says it may proceed, its ledger must reach every
// height acknowledged to a client before the read was asked.
void Simulation::start_read(NodeId node_id) {
  Node& n = node(node_id);
  if (!n.up) return;
  const std::uint64_t height_before = acknowledged_height_;
  const std::uint64_t incarnation = n.incarnation;
  n.replica->read([this, node_id, incarnation, height_before](base::Status status) {
    Node& reader = node(node_id);
    if (!status.ok() || !reader.up || reader.incarnation != incarnation) return;
    ++stats_.reads;
    std::uint64_t height = reader.ledgers->height();
    if (height < height_before) {
      fail("linearizability: node " + std::to_string(node_id) + " served a read at height " +
           std::to_string(height) + ", but height " + std::to_string(height_before) +
           " was acknowledged before the read was asked");
    }
  });
  pump(n);
}

void Simulation::retry_soon(Client& c) {
  c.target = random_node();
  const std::uint64_t attempt = c.attempt;
  const std::uint64_t client_id = c.id;
  schedule(5'000, [this, client_id, attempt] {
    Client& client = clients_[client_id - 1];
    if (client.outstanding && client.attempt == attempt) send_request(client);
  });
}

// ---- faults -------------------------------------------------------------------------

void Simulation::fault_step() {
  if (healed_) return;
  std::vector<NodeId> up;
  for (Node& n : nodes_) {
    if (n.up) {
      up.push_back(n.id);
    } else if (prng_.chance(profile_.restart_pm, 1000)) {
      restart(n);
    }
  }
  if (!up.empty() && prng_.chance(profile_.crash_pm, 1000)) {
    // Crashes while writes are waiting for fsync are where durability bugs hide: prefer a
    // node in that window (often the leader, which writes most).
    std::vector<NodeId> syncing;
    for (NodeId id : up) {
      if (node(id).disk.unsynced() > 0 || node(id).disk.unstored() > 0) syncing.push_back(id);
    }
    const bool pick_syncing = !syncing.empty() && prng_.below(2) == 0;
    const std::vector<NodeId>& pool = pick_syncing ? syncing : up;
    crash(node(pool[prng_.below(pool.size())]));
  }
  if (prng_.chance(profile_.partition_pm, 1000)) partition();
  if (!cut_.empty() && prng_.chance(profile_.heal_pm, 1000)) cut_.clear();
  if (prng_.chance(profile_.slow_disk_pm, 1000)) {
    Node& n = node(random_node());
    n.slow_disk = !n.slow_disk;
  }
  if (options_.spares > 0 && prng_.chance(profile_.membership_pm, 1000)) change_membership();
  schedule(kFaultStepUs, [this] { fault_step(); });
}

std::optional<consensus::Membership> Simulation::leader_membership() {
  for (Node& n : nodes_) {
    if (n.up && n.replica && n.replica->raft().role() == Role::kLeader) {
      return n.replica->raft().membership();
    }
  }
  return std::nullopt;
}

bool Simulation::is_member(const consensus::Membership& membership, NodeId id) const {
  return membership.is_member(node::member_node_id(validators_, peer_name(id)));
}

// One change, asked of a random live node (a follower hands it to the leader): add a
// node outside the lattice as a learner, promote a learner, or remove a member (never
// below two validators, so that a crash still leaves a lattice that can repair).
void Simulation::change_membership() {
  auto members = leader_membership();
  if (!members) return;
  std::vector<NodeId> outside, learners, voters;
  for (NodeId id = 1; id <= nodes_.size(); ++id) {
    NodeId raft_id = node::member_node_id(validators_, peer_name(id));
    if (members->is_voter(raft_id))
      voters.push_back(id);
    else if (members->is_member(raft_id))
      learners.push_back(id);
    else
      outside.push_back(id);
  }
  node::MemberChange change = node::MemberChange::kRemove;
  std::vector<NodeId>* pool = &voters;
  switch (prng_.below(3)) {
    case 0:
      change = node::MemberChange::kAdd, pool = &outside;
      break;
    case 1:
      change = node::MemberChange::kPromote, pool = &learners;
      break;
    default:
      if (voters.size() <= 2) pool = &learners;
  }
  if (pool->empty()) return;
  const NodeId target = (*pool)[prng_.below(pool->size())];
  Node& asked = node(random_node());
  if (!asked.up) return;
  trace(asked.id, "membership change of node " + std::to_string(target));
  asked.replica->change_membership(change, node::MemberAddress{peer_name(target), "", {}},
                                   [this](base::Status status) {
                                     if (status.ok()) ++stats_.membership_changes;
                                   });
  pump(asked);
}

void Simulation::crash(Node& n) {
  const bool torn = profile_.torn_writes && prng_.below(2) == 0;
  const bool was_torn = n.disk.crash(prng_, torn);
  stats_.torn_writes += was_torn ? 1 : 0;
  trace(n.id, was_torn ? "crash, tearing a write" : "crash");
  n.up = false;
  ++n.incarnation;
  n.replica.reset();  // unanswered writes are never answered: their clients time out
  n.ledgers.reset();
  ++stats_.crashes;
}

// Sometimes on a new, empty disk under the same identity (an emptied data directory,
// `aethel rebuild`): one node at a time, as SPEC §10 promises it for.
void Simulation::restart(Node& n) {
  if (prng_.chance(profile_.disk_replace_pm, 1000) && !anyone_recovering()) {
    n.disk = SimDisk{};
    ++stats_.disks_replaced;
    trace(n.id, "disk replaced");
  }
  start_node(n);
}

// A node down on an empty disk counts: the crash may have lost its recovery mark.
bool Simulation::anyone_recovering() const {
  for (const Node& n : nodes_) {
    if (n.up && n.replica->status().recovery != node::Recovery::kNone) return true;
    node::Recovered stored = n.disk.recover();
    if (!n.up && (stored.recovery != node::Recovery::kNone || stored.empty())) return true;
  }
  return false;
}

void Simulation::partition() {
  ++stats_.partitions;
  cut_.clear();
  if (prng_.below(2) == 0) {
    // Symmetric: a random side cannot talk to the other.
    std::vector<bool> side(nodes_.size());
    for (std::size_t i = 0; i < side.size(); ++i) side[i] = prng_.below(2) == 1;
    for (NodeId a = 1; a <= nodes_.size(); ++a) {
      for (NodeId b = 1; b <= nodes_.size(); ++b) {
        if (side[a - 1] != side[b - 1]) cut_.insert({a, b});
      }
    }
  } else {
    // One-way: some links deliver in one direction only.
    const std::uint64_t links = random_node();
    for (std::uint64_t i = 0; i < links; ++i) {
      const NodeId a = random_node();
      const NodeId b = random_node();
      if (a != b) cut_.insert({a, b});
    }
  }
}

void Simulation::heal() {
  healed_ = true;
  cut_.clear();
  for (Node& n : nodes_) {
    n.slow_disk = false;
    if (!n.up) start_node(n);
  }
}

// Every member of the leader's membership holds what the leader committed, with its
// root; nodes outside it (spares never added, removed members) are not waited for.
bool Simulation::converged() {
  for (const Client& c : clients_) {
    if (c.outstanding) return false;
  }
  for (const Node& n : nodes_) {
    if (!n.up || n.disk.unsynced() > 0 || n.disk.unstored() > 0) return false;
  }
  const Node* leader = nullptr;
  for (const Node& n : nodes_) {
    const consensus::Raft& raft = n.replica->raft();
    if (raft.role() == Role::kLeader && raft.last_index() == raft.commit_index()) leader = &n;
  }
  if (leader == nullptr) return false;
  const consensus::Membership members = leader->replica->raft().membership();
  const ledger::Hash root = leader->ledgers->root();
  for (const Node& n : nodes_) {
    if (!is_member(members, n.id)) continue;
    const consensus::Raft& raft = n.replica->raft();
    if (raft.commit_index() != leader->replica->raft().commit_index()) return false;
    if (raft.applied_index() != raft.commit_index()) return false;
    if (n.ledgers->root() != root) return false;
  }
  for (const Node& n : nodes_) {
    if (is_member(members, n.id)) check_acknowledged(n);
  }
  return true;
}

// One line per node for a failure report: role, term, commit, applied, recovery.
std::string Simulation::describe_nodes() const {
  std::string out;
  for (const Node& n : nodes_) {
    if (!out.empty()) out += "; ";
    out += "node " + std::to_string(n.id) + ": ";
    if (!n.up) {
      out += "down";
      continue;
    }
    const consensus::Raft& raft = n.replica->raft();
    node::ConsensusStatus status = n.replica->status();
    out += status.role + " term " + std::to_string(raft.term()) + " commit " +
           std::to_string(raft.commit_index()) + " applied " +
           std::to_string(raft.applied_index()) + " last " + std::to_string(raft.last_index());
    if (status.recovery != node::Recovery::kNone)
      out += std::string(" ") + recovery_name(status.recovery);
    if (options_.spares > 0) {
      out += " voters";
      for (const node::MemberStatus& m : n.replica->members()) {
        if (m.voter) out += " " + m.peer_id;
      }
    }
  }
  return out;
}

void Simulation::failover_step() {
  if (failover_.size() >= failover_samples_) {
    finished_ = true;
    return;
  }
  if (crashed_leader_ == 0) {
    NodeId leader = 0;
    for (Node& n : nodes_) {
      if (n.up && n.replica->raft().role() == Role::kLeader) leader = n.id;
    }
    if (leader != stable_leader_) {
      stable_leader_ = leader;
      leader_since_us_ = now_us_;
    }
    if (leader != 0 && now_us_ - leader_since_us_ >= 300'000) {
      crashed_term_ = node(leader).replica->raft().term();
      crashed_leader_ = leader;
      crashed_at_us_ = now_us_ + prng_.below(kTickUs);  // crash at a random tick phase
      schedule(crashed_at_us_ - now_us_, [this] { crash(node(crashed_leader_)); });
    }
  } else if (now_us_ >= crashed_at_us_ && !node(crashed_leader_).up) {
    for (Node& n : nodes_) {
      if (n.up && n.replica->raft().role() == Role::kLeader &&
          n.replica->raft().term() > crashed_term_) {
        failover_.push_back(static_cast<double>(now_us_ - crashed_at_us_) /
                            static_cast<double>(kElectionTicks * kTickUs));
        start_node(node(crashed_leader_));
        crashed_leader_ = 0;
        stable_leader_ = 0;
        break;
      }
    }
  }
  schedule(100, [this] { failover_step(); });
}

void Simulation::run_events() {
  const bool by_count = options_.target_acks != 0 || failover_samples_ > 0;
  const std::uint64_t heal_at_us = options_.fault_ms * 1000;
  const std::uint64_t deadline_us = heal_at_us + options_.heal_limit_ms * 1000;
  std::uint64_t next_log_check_us = kLogCheckIntervalUs;
  std::uint64_t next_convergence_check_us = heal_at_us;
  while (!events_.empty() && !finished_) {
    auto first = events_.begin();
    now_us_ = first->first.first;
    Action action = std::move(first->second);
    events_.erase(first);
    ++stats_.events;
    action();
    if (options_.check_log_matching && now_us_ >= next_log_check_us) {
      check_log_matching();
      next_log_check_us = now_us_ + kLogCheckIntervalUs;
    }
    if (by_count) continue;
    if (!healed_ && now_us_ >= heal_at_us) heal();
    if (healed_ && now_us_ >= next_convergence_check_us) {
      if (converged()) break;
      next_convergence_check_us = now_us_ + 10'000;
      if (now_us_ > deadline_us) {
        fail("liveness: not converged " + std::to_string(options_.heal_limit_ms) +
             " ms after all faults healed (" + describe_nodes() + ")");
      }
    }
  }
  if (options_.check_log_matching) check_log_matching();
}

SimResult Simulation::run() {
  SimResult result;
  result.replay = replay_command(options_);
  if (!parse_bug(options_.bug, bugs_)) {
    result.ok = false;
    result.violation = "unknown bug name: " + options_.bug;
    return result;
  }
  base::set_fatal_handler(throwing_fatal_handler);
  try {
    profile_ = draw_profile(prng_);
    if (!options_.faults) profile_ = Profile{};
    for (NodeId id = 1; id <= options_.nodes; ++id) validators_.push_back(peer_name(id));
    nodes_.resize(options_.nodes + options_.spares);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      nodes_[i].id = i + 1;
      index_of_peer_[peer_name(nodes_[i].id)] = nodes_[i].id;
    }
    for (Node& n : nodes_) start_node(n);
    clients_.resize(failover_samples_ > 0 ? 0 : options_.clients);
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      clients_[i].id = i + 1;
      clients_[i].target = random_node();
      const std::uint64_t id = clients_[i].id;
      schedule(prng_.below(50'000), [this, id] { start_next_transfer(clients_[id - 1]); });
    }
    if (options_.faults) schedule(kFaultStepUs, [this] { fault_step(); });
    if (failover_samples_ > 0) schedule(0, [this] { failover_step(); });
    run_events();
  } catch (const SimFailure& failure) {
    result.ok = false;
    result.violation = failure.what;
  }
  base::set_fatal_handler(nullptr);
  stats_.simulated_us = now_us_;
  for (const Node& n : nodes_) {
    if (n.up && n.replica) {
      stats_.final_commit = std::max(stats_.final_commit, n.replica->raft().commit_index());
    }
  }
  result.stats = stats_;
  return result;
}

}  // namespace

bool parse_bug(const std::string& name, Bugs& bugs) {
  bugs = Bugs{};
  if (name.empty() || name == "none") return true;
  if (name == "commit_without_quorum") {
    bugs.core.commit_without_quorum = true;
  } else if (name == "vote_without_log_check") {
    bugs.core.vote_without_log_check = true;
  } else if (name == "apply_before_persist") {
    bugs.core.apply_before_persist = true;
  } else if (name == "forget_vote") {
    bugs.replica.forget_vote = true;
  } else if (name == "skip_recovery") {
    bugs.replica.skip_recovery = true;
  } else if (name == "stale_reads") {
    bugs.replica.stale_reads = true;
  } else if (name == "release_in_flight_at_durable") {
    bugs.replica.release_in_flight_at_durable = true;
  } else if (name == "skip_outcome_index") {
    bugs.skip_outcome_index = true;
  } else {
    return false;
  }
  return true;
}

std::string replay_command(const SimOptions& options) {
  std::string command = "build/sim/aethel_sim --seed " + std::to_string(options.seed) +
                        " --nodes " + std::to_string(options.nodes) + " --fault-ms " +
                        std::to_string(options.fault_ms) + " --heal-limit-ms " +
                        std::to_string(options.heal_limit_ms) + " --clients " +
                        std::to_string(options.clients);
  if (options.spares != 0) command += " --spares " + std::to_string(options.spares);
  if (!options.bug.empty()) command += " --bug " + options.bug;
  if (options.retention_transactions != 0) {
    command += " --retention " + std::to_string(options.retention_transactions);
  }
  if (!options.faults) command += " --no-faults";
  if (options.target_acks != 0) command += " --target-acks " + std::to_string(options.target_acks);
  return command;
}

SimResult run_simulation(const SimOptions& options) {
  return Simulation(options).run();
}

std::vector<double> measure_failover(std::uint64_t seed, std::size_t samples) {
  SimOptions options;
  options.seed = seed;
  options.nodes = 3;
  options.faults = false;
  options.clients = 0;
  Simulation simulation(options, samples);
  const SimResult result = simulation.run();
  if (!result.ok) return {};
  return simulation.failover_samples();
}

}  // namespace aethel::sim
