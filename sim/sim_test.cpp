// The simulator as a test: thousands of seeds must hold every invariant, each planted bug
// must be caught within a bounded number of seeds, and a seed must replay exactly.
#include <gtest/gtest.h>

#include <cstdio>

#include "sim/simulator.h"

namespace aethel::sim {
namespace {

// 2,000 seeds in eight shards (ctest runs them in parallel), alternating 3 and 5 nodes,
// each with 3 s of simulated faults (the long-run mode defaults to 10 s) and the real ledger
// when the build has it. Measured: about 20 s of CPU in a RelWithDebInfo build. The
// sanitizer build, many times slower, runs the first 50 seeds of each shard:
// it looks for memory errors, which the release build's full sweep cannot see, not for
// more schedules.
#ifdef AETHEL_SANITIZED
constexpr std::uint64_t kSeedsRunPerShard = 50;
#else
constexpr std::uint64_t kSeedsRunPerShard = 250;
#endif
constexpr std::uint64_t kSeedsPerShard = 250;
constexpr std::uint64_t kSweepFaultMs = 3000;

// Seeds [first_seed, first_seed + count) with `options`, 3 nodes for even seeds and 5
// for odd ones: every invariant must hold in each.
void expect_seeds_hold(std::uint64_t first_seed, std::uint64_t count, SimOptions options) {
  std::uint64_t failures = 0;
  for (std::uint64_t seed = first_seed; seed < first_seed + count; ++seed) {
    options.seed = seed;
    options.nodes = seed % 2 == 0 ? 3 : 5;
    const SimResult result = run_simulation(options);
    if (!result.ok) {
      ++failures;
      std::printf("FAIL seed %llu: %s\n  replay: %s\n", static_cast<unsigned long long>(seed),
                  result.violation.c_str(), result.replay.c_str());
    }
  }
  EXPECT_EQ(failures, 0u);
}

void sweep(std::uint64_t shard) {
  SimOptions options;
  options.fault_ms = kSweepFaultMs;
  expect_seeds_hold(1 + (shard - 1) * kSeedsPerShard, kSeedsRunPerShard, options);
}

TEST(SimSweep, Shard1) {
  sweep(1);
}
TEST(SimSweep, Shard2) {
  sweep(2);
}
TEST(SimSweep, Shard3) {
  sweep(3);
}
TEST(SimSweep, Shard4) {
  sweep(4);
}
TEST(SimSweep, Shard5) {
  sweep(5);
}
TEST(SimSweep, Shard6) {
  sweep(6);
}
TEST(SimSweep, Shard7) {
  sweep(7);
}
TEST(SimSweep, Shard8) {
  sweep(8);
}

// SPEC §10 under faults: two nodes start outside the lattice; spares are added as
// learners and promoted, members removed, while nodes crash, lose their disks and are
// partitioned. Every invariant holds, and the seeds do change the membership.
TEST(SimMembership, ChangesUnderFaultsKeepEveryInvariant) {
  std::uint64_t failures = 0, changes = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    SimOptions options;
    options.seed = seed;
    options.nodes = seed % 2 == 0 ? 3 : 5;
    options.spares = 2;
    options.fault_ms = kSweepFaultMs;
    const SimResult result = run_simulation(options);
    changes += result.stats.membership_changes;
    if (!result.ok) {
      ++failures;
      std::printf("FAIL seed %llu: %s\n  replay: %s\n", static_cast<unsigned long long>(seed),
                  result.violation.c_str(), result.replay.c_str());
    }
  }
  EXPECT_EQ(failures, 0u);
  EXPECT_GT(changes, 200u) << "the seeds hardly changed the membership";
}

// Ten seconds of membership faults leave some nodes with memberships older than the
// leader's: a node added back after missing its removal does not know the leader, drops
// its messages, and without asking its known voters who votes now (Replica::
// ask_who_votes) waited forever (seeds 20 and 210 here did). What still stalls is a
// two-voter membership whose other voter lost its disk: it must not vote before it has
// caught up, and no leader can be elected to catch it up; that needs an operator.
TEST(SimMembership, UnderLongFaultsOnlyALostDiskAmongTwoVotersStalls) {
#ifdef AETHEL_SANITIZED
  constexpr std::uint64_t kSeeds = 25;
#else
  constexpr std::uint64_t kSeeds = 250;
#endif
  for (std::uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SimOptions options;
    options.seed = seed;
    options.nodes = 3;
    options.spares = 2;
    options.fault_ms = 10'000;
    const SimResult result = run_simulation(options);
    if (result.ok) continue;
    EXPECT_TRUE(result.violation.starts_with("liveness") &&
                result.violation.find("recovering") != std::string::npos)
        << "seed " << seed << ": " << result.violation << "\n  replay: " << result.replay;
  }
}

TEST(SimDeterminism, OneSeedIsOneExactRun) {
  SimOptions options;
  options.seed = 4242;
  options.nodes = 5;
  const SimResult a = run_simulation(options);
  const SimResult b = run_simulation(options);
  ASSERT_TRUE(a.ok) << a.violation;
  EXPECT_EQ(a.stats.events, b.stats.events);
  EXPECT_EQ(a.stats.messages_sent, b.stats.messages_sent);
  EXPECT_EQ(a.stats.acks, b.stats.acks);
  EXPECT_EQ(a.stats.final_commit, b.stats.final_commit);
  EXPECT_EQ(a.stats.simulated_us, b.stats.simulated_us);
  EXPECT_GT(a.stats.acks, 0u);
}

TEST(SimDeterminism, HealthyRunMakesProgress) {
  SimOptions options;
  options.faults = false;
  options.target_acks = 2000;
  const SimResult result = run_simulation(options);
  ASSERT_TRUE(result.ok) << result.violation;
  EXPECT_EQ(result.stats.acks, 2000u);
  EXPECT_EQ(result.stats.crashes, 0u);
  // The workload deploys an intent and runs it (SPEC §11), about one request in four.
  EXPECT_GT(result.stats.invocations_committed, 200u);
}

// A snapshot waits until the log since the last one is as large as it (issue 14): with
// a snapshot due after every block, the state (every outcome remembered) grows with
// the run, so snapshotting at the interval alone costs the square of the writes.
TEST(SimSnapshots, TheirCostGrowsWithTheWritesNotWithTheState) {
  SimOptions options;
  options.faults = false;
  options.target_acks = 1500;
  options.compact_every_blocks = 1;
  options.snapshot_log_bytes = 0;  // at the interval, whatever the sizes
  const SimResult every_block = run_simulation(options);
  options.snapshot_log_bytes = 1 << 20;  // more than any snapshot of this run
  const SimResult by_size = run_simulation(options);
  ASSERT_TRUE(every_block.ok) << every_block.violation;
  ASSERT_TRUE(by_size.ok) << by_size.violation;
  std::printf("every block: %llu snapshots, %llu bytes; by size: %llu snapshots, %llu bytes\n",
              static_cast<unsigned long long>(every_block.stats.snapshots_built),
              static_cast<unsigned long long>(every_block.stats.snapshot_bytes_built),
              static_cast<unsigned long long>(by_size.stats.snapshots_built),
              static_cast<unsigned long long>(by_size.stats.snapshot_bytes_built));
  EXPECT_GE(by_size.stats.snapshots_built, 3 * 3u) << "each node still snapshots now and then";
  EXPECT_LT(by_size.stats.snapshot_bytes_built * 10, every_block.stats.snapshot_bytes_built);
}

// Runs seeds until the planted bug is reported; returns the first failing seed or 0.
std::uint64_t first_seed_catching(const std::string& bug, std::uint64_t max_seeds,
                                  std::uint64_t retention_transactions = 0) {
  for (std::uint64_t seed = 1; seed <= max_seeds; ++seed) {
    SimOptions options;
    options.seed = seed;
    options.nodes = 3;
    options.bug = bug;
    options.retention_transactions = retention_transactions;
    const SimResult result = run_simulation(options);
    if (!result.ok) {
      std::printf("%s caught at seed %llu: %s\n  replay: %s\n", bug.c_str(),
                  static_cast<unsigned long long>(seed), result.violation.c_str(),
                  result.replay.c_str());
      const SimResult again = run_simulation(options);
      EXPECT_FALSE(again.ok);
      EXPECT_EQ(again.violation, result.violation) << "replay must reproduce the failure";
      return seed;
    }
  }
  return 0;
}

constexpr std::uint64_t kBugSeedBound = 200;

// Ids stay unique without the ledger's retention window (issue 14): with a window of one
// outcome, clients' retries land past it, and only the leaders' admission (the outcome
// index, ids in flight, and nothing before an entry of its own term is applied) keeps
// each applied once. Measured: 0 of seeds 1-1000 fail; without the index, 188 of 200.
constexpr std::uint64_t kSmallRetention = 1;

TEST(SimOutcomeIndex, RetriesBeyondTheRetentionWindowApplyOnce) {
#ifdef AETHEL_SANITIZED
  constexpr std::uint64_t kSeeds = 20;
#else
  constexpr std::uint64_t kSeeds = 100;
#endif
  SimOptions options;
  options.retention_transactions = kSmallRetention;
  expect_seeds_hold(1, kSeeds, options);
}

TEST(SimPlantedBugs, SkipOutcomeIndexIsCaught) {
  EXPECT_NE(first_seed_catching("skip_outcome_index", kBugSeedBound, kSmallRetention), 0u);
}

// Ids in flight released when their write is durable, before the outcome index holds
// them in the store: a retry in between is applied a second time.
TEST(SimPlantedBugs, ReleaseInFlightAtDurableIsCaught) {
  EXPECT_NE(first_seed_catching("release_in_flight_at_durable", kBugSeedBound, kSmallRetention),
            0u);
}

TEST(SimPlantedBugs, CommitWithoutQuorumIsCaught) {
  EXPECT_NE(first_seed_catching("commit_without_quorum", kBugSeedBound), 0u);
}

TEST(SimPlantedBugs, VoteWithoutLogCheckIsCaught) {
  EXPECT_NE(first_seed_catching("vote_without_log_check", kBugSeedBound), 0u);
}

TEST(SimPlantedBugs, ApplyBeforePersistIsCaught) {
  EXPECT_NE(first_seed_catching("apply_before_persist", kBugSeedBound), 0u);
}

// A node back on an empty disk takes part as if the lattice were new.
TEST(SimPlantedBugs, SkipRecoveryIsCaught) {
  EXPECT_NE(first_seed_catching("skip_recovery", kBugSeedBound), 0u);
}

// Reads answered from local state without a leader's confirmation.
TEST(SimPlantedBugs, StaleReadsAreCaught) {
  EXPECT_NE(first_seed_catching("stale_reads", kBugSeedBound), 0u);
}

// A bug in the replica's own Ready handling: the vote is not persisted. It shows only
// when a node restarts between granting a vote and the end of that election and another
// candidate of the same term then asks it: 24 of seeds 1–3000 (the first is 228), hence
// the longer bound.
TEST(SimPlantedBugs, ForgetVoteIsCaught) {
  EXPECT_NE(first_seed_catching("forget_vote", 5 * kBugSeedBound), 0u);
}

}  // namespace
}  // namespace aethel::sim
