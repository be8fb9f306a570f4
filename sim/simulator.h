// aethel::sim — deterministic simulation of a lattice (TigerBeetle VOPR style).
//
// One seed fixes everything: fault profile, message delays, drops, duplicates, crash
// points, torn writes, disk latencies and the client workload. Each node is the
// production replica (node::Replica: the Ready loop, forwarding, the real ledger and
// its blocks) unmodified; only its world (network, disk, clock, clients) is simulated,
// in microseconds of simulated time. Invariants are checked continuously; the first
// violation ends the run and is reported with a command that replays it exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "consensus/consensus.h"
#include "node/replica.h"

namespace aethel::sim {

struct SimOptions {
  std::uint64_t seed = 1;
  std::size_t nodes = 3;  // the genesis validators
  // Nodes started outside the lattice (as with AETHEL_JOIN). With spares, membership
  // changes are faults too: spares are added as learners and promoted, members removed.
  std::size_t spares = 0;
  std::uint64_t fault_ms = 10000;      // simulated time with faults injected
  std::uint64_t heal_limit_ms = 5000;  // liveness bound once every fault is healed
  std::size_t clients = 5;
  bool faults = true;
  // Planted bug ("" for none): commit_without_quorum, vote_without_log_check,
  // apply_before_persist (core and replica), forget_vote, skip_recovery, stale_reads and
  // release_in_flight_at_durable (replica), skip_outcome_index (the simulation).
  std::string bug;
  // Stop once this many transfers were acknowledged (0: run by time). Benchmarks use it.
  std::uint64_t target_acks = 0;
  // Each node snapshots its ledger and compacts its log every this many applied blocks
  // (small: snapshots and InstallSnapshot get exercised often).
  std::uint64_t compact_every_blocks = 64;
  // ReplicaOptions::snapshot_log_bytes. Small, like the interval: snapshots stay
  // frequent, and the rule of waiting for a snapshot's size binds at times.
  std::uint64_t snapshot_log_bytes = 16 * 1024;
  // The ledger remembers this many outcomes (Limits::tx_retention_count; 0: the default,
  // which no run reaches). Small: clients' retries land beyond the window, where only
  // the replicas' outcome index keeps each id applied once.
  std::uint64_t retention_transactions = 0;
  bool check_log_matching = true;
  bool verbose = false;
  bool trace = false;  // every notable event on stderr (one seed, for debugging)
};

struct SimStats {
  std::uint64_t simulated_us = 0;
  std::uint64_t events = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_dropped = 0;
  std::uint64_t crashes = 0;
  std::uint64_t torn_writes = 0;
  std::uint64_t disks_replaced = 0;
  std::uint64_t partitions = 0;
  std::uint64_t leaders_elected = 0;
  std::uint64_t acks = 0;
  std::uint64_t invocations_committed = 0;  // acknowledged runs of the deployed intent
  std::uint64_t reads = 0;                  // linearizable reads served and checked
  std::uint64_t snapshots_built = 0;        // by every node, and their bytes
  std::uint64_t snapshot_bytes_built = 0;
  std::uint64_t membership_changes = 0;  // applied by a leader
  consensus::Index final_commit = 0;
};

struct SimResult {
  bool ok = true;
  std::string violation;  // empty when ok
  std::string replay;     // one-line command reproducing this exact run
  SimStats stats;
};

SimResult run_simulation(const SimOptions& options);
std::string replay_command(const SimOptions& options);
// Planted bugs: in the consensus core, and in the replica's own Ready handling.
struct Bugs {
  consensus::BugInjection core;
  node::ReplicaBugs replica;
  // The replicas get no outcome index (ReplicaOptions::recorded_outcomes): only the
  // ledger's window dedupes retries.
  bool skip_outcome_index = false;
};
// Maps a bug name to the switches; false for an unknown name.
bool parse_bug(const std::string& name, Bugs& bugs);

// Failover measurement: a healthy 3-node group whose leader is crashed `samples` times;
// returns, for each crash, the simulated time until a new leader exists, in units of the
// configured election timeout.
std::vector<double> measure_failover(std::uint64_t seed, std::size_t samples);

}  // namespace aethel::sim
