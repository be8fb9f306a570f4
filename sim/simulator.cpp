// The simulated world: an event queue in simulated microseconds, a lossy network that
// carries codec-encoded messages, a disk with synced/unsynced writes, crashing nodes and
// retrying clients, plus the invariant checker.
#include "sim/simulator.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "sim/disk.h"
#include "sim/machine.h"

namespace aethel::sim {
namespace {

using consensus::DurableState;
using consensus::Entry;
using consensus::Error;
using consensus::Message;
using consensus::NodeId;
using consensus::Prng;
using consensus::Raft;
using consensus::Ready;
using consensus::Role;
using consensus::Term;

// 2 ms ticks: a 100 ms election timeout spans 50 ticks, so randomized timeouts rarely tie.
constexpr std::uint64_t kTickUs = 2'000;
constexpr std::uint32_t kElectionTicks = 50;
constexpr std::uint32_t kHeartbeatTicks = 5;
constexpr std::uint64_t kClientTimeoutUs = 300'000;
constexpr std::uint64_t kFaultStepUs = 20'000;
constexpr std::uint64_t kLogCheckIntervalUs = 100'000;

struct SimFailure {
  std::string what;
};

void throwing_assertion_handler(const char* condition, const char* file, int line) {
  throw SimFailure{std::string("core assertion failed: ") + condition + " (" + file + ":" +
                   std::to_string(line) + ")"};
}

[[noreturn]] void fail(const std::string& what) {
  throw SimFailure{what};
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
  return p;
}

struct Node {
  NodeId id = 0;
  bool up = true;
  std::uint64_t incarnation = 0;
  std::unique_ptr<Raft> raft;
  SimDisk disk;
  std::unique_ptr<Machine> machine;
  bool syncing = false;                            // a Ready's writes await fsync completion
  std::vector<Message> held_messages;              // ... and its messages wait with them
  std::map<std::uint64_t, std::uint64_t> waiting;  // client -> seq proposed here
  bool slow_disk = false;
  consensus::Index seen_commit = 0;
};

struct Client {
  std::uint64_t id = 0;
  std::uint64_t seq = 0;
  bool outstanding = false;
  Transfer transfer;
  NodeId target = 1;
  std::uint64_t attempt = 0;
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& options, std::size_t failover_samples = 0)
      : options_(options), prng_(options.seed), failover_samples_(failover_samples) {}

  SimResult run();
  std::vector<double> failover_samples() const { return failover_; }

 private:
  using Action = std::function<void()>;

  void schedule(std::uint64_t delay_us, Action action) {
    events_.emplace(std::make_pair(now_us_ + delay_us, next_event_++), std::move(action));
  }

  consensus::Config node_config(NodeId id, std::uint64_t incarnation) const;
  void start_node(Node& node);
  void schedule_tick(NodeId id, std::uint64_t delay_us);
  void pump(Node& node);
  void on_synced(NodeId id, std::uint64_t incarnation);
  void after_advance(Node& node);
  void apply_entry(Node& node, const Entry& entry);
  void install_snapshot(Node& node, const consensus::Snapshot& snapshot);
  void observe(Node& node, const Ready& rd);
  void check_commit(Node& node);
  void check_log_matching();
  void record_applied(consensus::Index index, std::uint64_t entry_hash, std::uint64_t state_hash,
                      NodeId node);

  void send(NodeId from, const Message& message);
  void deliver(NodeId from, NodeId to, const consensus::Bytes& wire);
  bool lossy() const { return options_.faults && !healed_; }

  void start_next_transfer(Client& client);
  void send_request(Client& client);
  void on_request(NodeId node_id, Transfer transfer);
  void reply(NodeId from, std::uint64_t client, std::uint64_t seq, consensus::Index index,
             NodeId leader_hint, bool redirect);
  void on_reply(std::uint64_t client_id, std::uint64_t seq, consensus::Index index,
                NodeId leader_hint, bool redirect);

  void fault_step();
  void crash(Node& node);
  void restart(Node& node);
  void partition();
  void heal();
  bool converged();
  void failover_step();

  Node& node(NodeId id) { return nodes_[id - 1]; }

  SimOptions options_;
  Prng prng_;
  Profile profile_;
  consensus::BugInjection bugs_;
  MachineKind machine_kind_ = MachineKind::kBank;
  std::unique_ptr<Machine> encoder_;  // encodes client transfers for the ack check
  std::uint64_t now_us_ = 0;
  std::uint64_t next_event_ = 0;
  std::map<std::pair<std::uint64_t, std::uint64_t>, Action> events_;
  std::vector<Node> nodes_;
  std::vector<Client> clients_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  bool healed_ = false;
  bool finished_ = false;
  SimStats stats_;

  // Global knowledge for the invariant checks, indexed by log index.
  std::map<Term, NodeId> leader_of_term_;
  std::vector<Term> committed_term_;
  std::vector<std::uint64_t> applied_entry_hash_;
  std::vector<std::uint64_t> applied_state_hash_;
  std::vector<bool> acknowledged_;
  consensus::Index max_committed_ = 0;
  std::map<std::uint64_t, std::uint64_t> acked_seq_;  // client -> highest acked seq

  // Failover measurement.
  std::size_t failover_samples_ = 0;
  std::vector<double> failover_;
  NodeId crashed_leader_ = 0;
  Term crashed_term_ = 0;
  std::uint64_t crashed_at_us_ = 0;
  std::uint64_t leader_since_us_ = 0;
  NodeId stable_leader_ = 0;
};

consensus::Config Simulation::node_config(NodeId id, std::uint64_t incarnation) const {
  consensus::Config config;
  config.id = id;
  for (NodeId peer = 1; peer <= options_.nodes; ++peer) config.voters.push_back(peer);
  config.election_timeout_ticks = kElectionTicks;
  config.heartbeat_interval_ticks = kHeartbeatTicks;
  config.max_entries_per_append = 256;
  config.max_inflight_appends = 16;
  config.prng_seed = options_.seed * 1'000'003 + id * 7919 + incarnation * 104'729;
  config.bugs = bugs_;
  return config;
}

void Simulation::start_node(Node& n) {
  DurableState durable = n.disk.recover();
  n.machine = durable.snapshot ? restore_machine(machine_kind_, *durable.snapshot->data)
                               : make_machine(machine_kind_);
  if (!n.machine) fail("node " + std::to_string(n.id) + ": unreadable snapshot on disk");
  n.raft = std::make_unique<Raft>(node_config(n.id, n.incarnation), durable, n.machine->applied());
  n.up = true;
  n.syncing = false;
  n.held_messages.clear();
  n.waiting.clear();
  n.seen_commit = n.raft->first_index() - 1;
  // Ticks start at a random phase: real nodes never tick in lock step.
  schedule_tick(n.id, 1 + prng_.below(kTickUs));
}

void Simulation::schedule_tick(NodeId id, std::uint64_t delay_us) {
  const std::uint64_t incarnation = node(id).incarnation;
  schedule(delay_us, [this, id, incarnation] {
    Node& n = node(id);
    if (!n.up || n.incarnation != incarnation) return;
    n.raft->tick();
    pump(n);
    schedule_tick(id, kTickUs);
  });
}

void Simulation::pump(Node& n) {
  while (n.up && !n.syncing && n.raft->has_ready()) {
    Ready rd = n.raft->ready();
    observe(n, rd);
    // Committed entries are durable locally already (core contract), so they may be applied
    // while this Ready's own writes are still on their way to the disk.
    if (rd.snapshot) install_snapshot(n, *rd.snapshot);
    for (const Entry& entry : rd.committed_entries) apply_entry(n, entry);
    if (rd.must_sync()) {
      DiskWrite write;
      write.hard_state = rd.hard_state;
      write.install = rd.snapshot;
      write.entries = std::move(rd.entries);
      n.disk.write(std::move(write));
      n.syncing = true;
      if (bugs_.apply_before_persist) {
        // Planted bug (driver side): acknowledge and vote before the fsync completes.
        for (const Message& m : rd.messages) send(n.id, m);
        rd.messages.clear();
      }
      n.held_messages = std::move(rd.messages);
      const std::uint64_t latency_us =
          n.slow_disk ? 20'000 + prng_.below(80'000) : 300 + prng_.below(400);
      const NodeId id = n.id;
      const std::uint64_t incarnation = n.incarnation;
      schedule(latency_us, [this, id, incarnation] { on_synced(id, incarnation); });
    } else {
      for (const Message& m : rd.messages) send(n.id, m);
      n.raft->advance();
      after_advance(n);
    }
    check_commit(n);
  }
}

void Simulation::on_synced(NodeId id, std::uint64_t incarnation) {
  Node& n = node(id);
  if (!n.up || n.incarnation != incarnation) return;  // the crash came first
  n.disk.sync();
  n.syncing = false;
  std::vector<Message> messages = std::move(n.held_messages);
  n.held_messages.clear();
  for (const Message& m : messages) send(n.id, m);  // only now: the writes are durable
  n.raft->advance();
  after_advance(n);
  check_commit(n);
  pump(n);
}

void Simulation::after_advance(Node& n) {
  const consensus::Index applied = n.raft->applied_index();
  if (applied != n.machine->applied() || applied < n.raft->first_index()) return;
  if (applied - n.raft->first_index() + 1 < options_.compact_every_entries) return;
  if (applied > n.raft->stable_index()) return;
  consensus::Bytes data = n.machine->serialize();
  DiskWrite write;
  consensus::Snapshot snapshot;
  snapshot.meta.index = applied;
  snapshot.meta.term = *n.raft->term_at(applied);
  snapshot.data = std::make_shared<const consensus::Bytes>(data);
  write.compact = snapshot;
  if (n.raft->compact(applied, std::move(data)) != Error::kNone) {
    fail("compact refused at applied index " + std::to_string(applied));
  }
  n.disk.write(std::move(write));
  ++stats_.snapshots_sent_or_taken;
}

void Simulation::install_snapshot(Node& n, const consensus::Snapshot& snapshot) {
  std::unique_ptr<Machine> restored = restore_machine(machine_kind_, *snapshot.data);
  if (!restored || restored->applied() != snapshot.meta.index) {
    fail("node " + std::to_string(n.id) + " received an unreadable snapshot");
  }
  n.machine = std::move(restored);
  const consensus::Index index = snapshot.meta.index;
  if (index < applied_state_hash_.size() && applied_state_hash_[index] != 0 &&
      applied_state_hash_[index] != (n.machine->state_hash() | 1)) {
    fail("state machine safety: snapshot at index " + std::to_string(index) +
         " differs from the state other nodes had there");
  }
  ++stats_.snapshots_sent_or_taken;
}

void Simulation::apply_entry(Node& n, const Entry& entry) {
  if (entry.index != n.machine->applied() + 1) {
    fail("node " + std::to_string(n.id) + " was given entry " + std::to_string(entry.index) +
         " after " + std::to_string(n.machine->applied()));
  }
  std::string error;
  const std::optional<AppliedTransfer> applied = n.machine->apply(entry.index, entry.data, error);
  if (!error.empty()) fail("node " + std::to_string(n.id) + ": " + error);
  if (n.machine->total() != kTotalBalance) {
    fail("conservation: node " + std::to_string(n.id) + " total " +
         std::to_string(n.machine->total()) + " after index " + std::to_string(entry.index));
  }
  record_applied(entry.index, hash_bytes(entry.index, entry.data) | 1, n.machine->state_hash() | 1,
                 n.id);
  if (!applied || applied->first_index == 0) return;
  auto waiting = n.waiting.find(applied->client);
  if (waiting != n.waiting.end() && waiting->second == applied->seq) {
    reply(n.id, applied->client, applied->seq, applied->first_index, consensus::kNoNode, false);
    n.waiting.erase(waiting);
  }
}

void Simulation::record_applied(consensus::Index index, std::uint64_t entry_hash,
                                std::uint64_t state_hash, NodeId id) {
  if (index >= applied_entry_hash_.size()) {
    const std::size_t size = std::max<std::size_t>(index + 1, applied_entry_hash_.size() * 2);
    applied_entry_hash_.resize(size, 0);
    applied_state_hash_.resize(size, 0);
    acknowledged_.resize(size, false);
  }
  if (applied_entry_hash_[index] == 0) {
    applied_entry_hash_[index] = entry_hash;
    applied_state_hash_[index] = state_hash;
    return;
  }
  if (applied_entry_hash_[index] != entry_hash || applied_state_hash_[index] != state_hash) {
    if (acknowledged_[index]) {
      fail("acknowledged transfer lost: node " + std::to_string(id) + " applied a different " +
           "entry at index " + std::to_string(index) + " than the one acknowledged there");
    }
    fail("state machine safety: node " + std::to_string(id) + " applied a different entry " +
         "at index " + std::to_string(index));
  }
}

void Simulation::observe(Node& n, const Ready& rd) {
  if (rd.role != Role::kLeader) return;
  auto [it, inserted] = leader_of_term_.emplace(rd.term, n.id);
  if (!inserted) {
    if (it->second != n.id) {
      fail("election safety: nodes " + std::to_string(it->second) + " and " + std::to_string(n.id) +
           " both lead term " + std::to_string(rd.term));
    }
    return;
  }
  ++stats_.leaders_elected;
  // Leader completeness: the new leader holds every entry committed so far.
  if (max_committed_ > n.raft->last_index()) {
    fail("leader completeness: leader " + std::to_string(n.id) + " of term " +
         std::to_string(rd.term) + " lacks committed index " + std::to_string(max_committed_));
  }
  for (consensus::Index i = n.raft->first_index(); i <= max_committed_; ++i) {
    if (committed_term_[i] != 0 && n.raft->term_at(i) != committed_term_[i]) {
      fail("leader completeness: leader " + std::to_string(n.id) + " of term " +
           std::to_string(rd.term) + " has a different entry at committed index " +
           std::to_string(i));
    }
  }
}

void Simulation::check_commit(Node& n) {
  const consensus::Index commit = n.raft->commit_index();
  if (commit >= committed_term_.size()) {
    committed_term_.resize(std::max<std::size_t>(commit + 1, committed_term_.size() * 2), 0);
  }
  for (consensus::Index i = std::max(n.seen_commit, n.raft->first_index() - 1) + 1; i <= commit;
       ++i) {
    const std::optional<Term> term = n.raft->term_at(i);
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
      const consensus::Index lo = std::max(a.raft->first_index(), b.raft->first_index());
      const consensus::Index hi = std::min(a.raft->last_index(), b.raft->last_index());
      bool agreed = false;
      for (consensus::Index i = hi; i >= lo && i > 0; --i) {
        const Entry* ea = a.raft->entry_at(i);
        const Entry* eb = b.raft->entry_at(i);
        if (ea->term == eb->term) agreed = true;
        if (agreed && !(*ea == *eb)) {
          fail("log matching: nodes " + std::to_string(a.id) + " and " + std::to_string(b.id) +
               " agree on a later entry but differ at index " + std::to_string(i));
        }
      }
    }
  }
}

// ---- network ------------------------------------------------------------------------

void Simulation::send(NodeId from, const Message& message) {
  ++stats_.messages_sent;
  if (lossy() && prng_.chance(profile_.drop_pm, 1000)) {
    ++stats_.messages_dropped;
    return;
  }
  auto wire = std::make_shared<consensus::Bytes>(consensus::encode(message));
  const NodeId to = message.to;
  const int copies = lossy() && prng_.chance(profile_.duplicate_pm, 1000) ? 2 : 1;
  for (int copy = 0; copy < copies; ++copy) {
    const std::uint64_t delay =
        profile_.min_delay_us + prng_.below(profile_.max_delay_us - profile_.min_delay_us);
    schedule(delay, [this, from, to, wire] { deliver(from, to, *wire); });
  }
}

void Simulation::deliver(NodeId from, NodeId to, const consensus::Bytes& wire) {
  if (to == 0 || to > nodes_.size()) fail("message addressed to unknown node");
  Node& n = node(to);
  if (!n.up || cut_.count({from, to})) {
    ++stats_.messages_dropped;
    return;
  }
  consensus::DecodeResult decoded = consensus::decode(wire);
  if (!decoded.message) fail("codec rejected a message it encoded: " + decoded.error);
  n.raft->step(*decoded.message);
  pump(n);
}

// ---- clients ------------------------------------------------------------------------

void Simulation::start_next_transfer(Client& c) {
  if (healed_ || finished_) return;  // after healing, clients only finish what they began
  ++c.seq;
  c.transfer.client = c.id;
  c.transfer.seq = c.seq;
  c.transfer.from = static_cast<std::uint32_t>(prng_.below(kAccounts));
  c.transfer.to =
      static_cast<std::uint32_t>((c.transfer.from + 1 + prng_.below(kAccounts - 1)) % kAccounts);
  c.transfer.amount = 1 + prng_.below(400);
  c.outstanding = true;
  send_request(c);
}

void Simulation::send_request(Client& c) {
  const std::uint64_t attempt = ++c.attempt;
  const std::uint64_t client_id = c.id;
  const NodeId target = c.target;
  const Transfer transfer = c.transfer;
  if (!(lossy() && prng_.chance(profile_.drop_pm, 1000))) {
    schedule(profile_.min_delay_us + prng_.below(profile_.max_delay_us),
             [this, target, transfer] { on_request(target, transfer); });
  }
  schedule(kClientTimeoutUs, [this, client_id, attempt] {
    Client& client = clients_[client_id - 1];
    if (!client.outstanding || client.attempt != attempt) return;
    client.target = 1 + prng_.below(options_.nodes);  // idempotent retry, maybe elsewhere
    send_request(client);
  });
}

void Simulation::on_request(NodeId node_id, Transfer transfer) {
  Node& n = node(node_id);
  if (!n.up) return;
  consensus::Index applied_at = 0;
  if (n.machine->has_applied(transfer.client, transfer.seq, applied_at)) {
    if (applied_at != 0) {
      reply(n.id, transfer.client, transfer.seq, applied_at, consensus::kNoNode, false);
    }
    return;  // already applied: answer with the original outcome, never apply twice
  }
  if (n.raft->role() != Role::kLeader) {
    reply(n.id, transfer.client, transfer.seq, 0, n.raft->leader(), true);
    return;
  }
  if (n.raft->propose(n.machine->encode(transfer)).error != Error::kNone) return;
  n.waiting[transfer.client] = transfer.seq;
  pump(n);
}

void Simulation::reply(NodeId from, std::uint64_t client, std::uint64_t seq, consensus::Index index,
                       NodeId leader_hint, bool redirect) {
  (void)from;
  if (lossy() && prng_.chance(profile_.drop_pm, 1000)) return;
  schedule(profile_.min_delay_us + prng_.below(profile_.max_delay_us),
           [this, client, seq, index, leader_hint, redirect] {
             on_reply(client, seq, index, leader_hint, redirect);
           });
}

void Simulation::on_reply(std::uint64_t client_id, std::uint64_t seq, consensus::Index index,
                          NodeId leader_hint, bool redirect) {
  Client& c = clients_[client_id - 1];
  if (!c.outstanding || c.seq != seq) return;
  if (redirect) {
    c.target = leader_hint != consensus::kNoNode ? leader_hint : 1 + prng_.below(options_.nodes);
    const std::uint64_t attempt = c.attempt;
    schedule(5'000, [this, client_id, attempt] {
      Client& client = clients_[client_id - 1];
      if (client.outstanding && client.attempt == attempt) send_request(client);
    });
    return;
  }
  // The acknowledgement: index must hold exactly this transfer, now and forever.
  const consensus::Bytes bytes = encoder_->encode(c.transfer);
  if (index >= applied_entry_hash_.size() ||
      applied_entry_hash_[index] != (hash_bytes(index, bytes) | 1)) {
    fail("client " + std::to_string(client_id) + " acknowledged seq " + std::to_string(seq) +
         " at index " + std::to_string(index) + " which holds something else");
  }
  acknowledged_[index] = true;
  acked_seq_[client_id] = seq;
  c.outstanding = false;
  ++stats_.acks;
  if (options_.target_acks != 0 && stats_.acks >= options_.target_acks) {
    finished_ = true;
    return;
  }
  schedule(prng_.below(5'000), [this, client_id] { start_next_transfer(clients_[client_id - 1]); });
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
      if (node(id).syncing) syncing.push_back(id);
    }
    const bool pick_syncing = !syncing.empty() && prng_.below(2) == 0;
    const std::vector<NodeId>& pool = pick_syncing ? syncing : up;
    crash(node(pool[prng_.below(pool.size())]));
  }
  if (prng_.chance(profile_.partition_pm, 1000)) partition();
  if (!cut_.empty() && prng_.chance(profile_.heal_pm, 1000)) cut_.clear();
  if (prng_.chance(profile_.slow_disk_pm, 1000)) {
    Node& n = node(1 + prng_.below(options_.nodes));
    n.slow_disk = !n.slow_disk;
  }
  schedule(kFaultStepUs, [this] { fault_step(); });
}

void Simulation::crash(Node& n) {
  const bool torn = profile_.torn_writes && prng_.below(2) == 0;
  stats_.torn_writes += n.disk.crash(prng_, torn) ? 1 : 0;
  n.up = false;
  ++n.incarnation;
  n.raft.reset();
  n.syncing = false;
  n.held_messages.clear();
  n.waiting.clear();
  ++stats_.crashes;
}

void Simulation::restart(Node& n) {
  start_node(n);
}

void Simulation::partition() {
  ++stats_.partitions;
  cut_.clear();
  if (prng_.below(2) == 0) {
    // Symmetric: a random side cannot talk to the other.
    std::vector<bool> side(options_.nodes);
    for (std::size_t i = 0; i < side.size(); ++i) side[i] = prng_.below(2) == 1;
    for (NodeId a = 1; a <= options_.nodes; ++a) {
      for (NodeId b = 1; b <= options_.nodes; ++b) {
        if (side[a - 1] != side[b - 1]) cut_.insert({a, b});
      }
    }
  } else {
    // One-way: some links deliver in one direction only.
    const std::uint64_t links = 1 + prng_.below(options_.nodes);
    for (std::uint64_t i = 0; i < links; ++i) {
      const NodeId a = 1 + prng_.below(options_.nodes);
      const NodeId b = 1 + prng_.below(options_.nodes);
      if (a != b) cut_.insert({a, b});
    }
  }
}

void Simulation::heal() {
  healed_ = true;
  cut_.clear();
  for (Node& n : nodes_) {
    n.slow_disk = false;
    if (!n.up) restart(n);
  }
}

bool Simulation::converged() {
  for (const Client& c : clients_) {
    if (c.outstanding) return false;
  }
  const Node& first = nodes_.front();
  bool has_leader = false;
  for (const Node& n : nodes_) {
    if (!n.up || n.syncing) return false;
    if (n.raft->commit_index() != first.raft->commit_index()) return false;
    if (n.machine->applied() != n.raft->commit_index()) return false;
    if (n.machine->state_hash() != first.machine->state_hash()) return false;
    if (n.raft->role() == Role::kLeader && n.raft->last_index() == n.raft->commit_index()) {
      has_leader = true;
    }
  }
  if (!has_leader) return false;
  // No acknowledged transfer lost: every node reflects every acknowledged seq.
  for (const auto& [client, seq] : acked_seq_) {
    for (const Node& n : nodes_) {
      consensus::Index index = 0;
      if (!n.machine->has_applied(client, seq, index)) {
        fail("acknowledged transfer lost: node " + std::to_string(n.id) + " lacks client " +
             std::to_string(client) + " seq " + std::to_string(seq));
      }
    }
  }
  return true;
}

void Simulation::failover_step() {
  if (failover_.size() >= failover_samples_) {
    finished_ = true;
    return;
  }
  if (crashed_leader_ == 0) {
    NodeId leader = 0;
    for (Node& n : nodes_) {
      if (n.up && n.raft->role() == Role::kLeader) leader = n.id;
    }
    if (leader != stable_leader_) {
      stable_leader_ = leader;
      leader_since_us_ = now_us_;
    }
    if (leader != 0 && now_us_ - leader_since_us_ >= 300'000) {
      crashed_term_ = node(leader).raft->term();
      crashed_leader_ = leader;
      crashed_at_us_ = now_us_ + prng_.below(kTickUs);  // crash at a random tick phase
      schedule(crashed_at_us_ - now_us_, [this] { crash(node(crashed_leader_)); });
    }
  } else if (now_us_ >= crashed_at_us_ && !node(crashed_leader_).up) {
    for (Node& n : nodes_) {
      if (n.up && n.raft->role() == Role::kLeader && n.raft->term() > crashed_term_) {
        failover_.push_back(static_cast<double>(now_us_ - crashed_at_us_) /
                            static_cast<double>(kElectionTicks * kTickUs));
        restart(node(crashed_leader_));
        crashed_leader_ = 0;
        stable_leader_ = 0;
        break;
      }
    }
  }
  schedule(100, [this] { failover_step(); });
}

SimResult Simulation::run() {
  SimResult result;
  result.replay = replay_command(options_);
  if (!parse_bug(options_.bug, bugs_)) {
    result.ok = false;
    result.violation = "unknown bug name: " + options_.bug;
    return result;
  }
  if (!parse_machine(options_.machine, machine_kind_)) {
    result.ok = false;
    result.violation = "unknown state machine: " + options_.machine;
    return result;
  }
  encoder_ = make_machine(machine_kind_);
  consensus::set_assertion_handler(throwing_assertion_handler);
  try {
    profile_ = draw_profile(prng_);
    if (!options_.faults) profile_ = Profile{};
    nodes_.resize(options_.nodes);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      nodes_[i].id = i + 1;
      start_node(nodes_[i]);
    }
    clients_.resize(failover_samples_ > 0 ? 0 : options_.clients);
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      clients_[i].id = i + 1;
      clients_[i].target = 1 + prng_.below(options_.nodes);
      const std::uint64_t id = clients_[i].id;
      schedule(prng_.below(50'000), [this, id] { start_next_transfer(clients_[id - 1]); });
    }
    if (options_.faults) schedule(kFaultStepUs, [this] { fault_step(); });
    if (failover_samples_ > 0) schedule(0, [this] { failover_step(); });
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
               " ms after all faults healed");
        }
      }
    }
    if (options_.check_log_matching) check_log_matching();
  } catch (const SimFailure& failure) {
    result.ok = false;
    result.violation = failure.what;
  }
  consensus::set_assertion_handler(nullptr);
  stats_.simulated_us = now_us_;
  for (const Node& n : nodes_) {
    if (n.up && n.raft) stats_.final_commit = std::max(stats_.final_commit, n.raft->commit_index());
  }
  result.stats = stats_;
  return result;
}

}  // namespace

bool parse_bug(const std::string& name, consensus::BugInjection& bugs) {
  bugs = consensus::BugInjection{};
  if (name.empty() || name == "none") return true;
  if (name == "commit_without_quorum") {
    bugs.commit_without_quorum = true;
  } else if (name == "vote_without_log_check") {
    bugs.vote_without_log_check = true;
  } else if (name == "apply_before_persist") {
    bugs.apply_before_persist = true;
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
  if (!options.bug.empty()) command += " --bug " + options.bug;
  if (!options.faults) command += " --no-faults";
  MachineKind kind = MachineKind::kBank;
  if (parse_machine(options.machine, kind))
    command += std::string(" --machine ") + machine_name(kind);
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
