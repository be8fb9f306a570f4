// Test helper for the crash test: appends batches to a store forever (as one
// WriteBatch, or as a write_all group of one-entry batches, durable, with its meta
// page's flush deferred, or journaled first as the node's disk thread does) and prints
// each batch's last index on stdout only once it is durable: after the append (and
// its fsync) returned, for a deferred one after the next commit or a sync, for a
// journaled one as soon as the journal returned (before its commit to the database). The parent
// kills it with SIGKILL at a random moment and checks that every printed index survived. Every few
// batches it also saves a snapshot at its last index and compacts the log behind it.
//
// usage: storage_crash_writer DIR TERM SEED
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "storage/storage.h"
#include "test_support.h"

namespace {

using aethel::storage::AppliedState;
using aethel::storage::Bytes;
using aethel::storage::HardState;
using aethel::storage::LogEntry;
using aethel::storage::Snapshot;
using aethel::storage::Store;
using aethel::storage::Sync;
using aethel::storage::WriteBatch;

constexpr std::uint64_t kMaxBatchEntries = 48;
constexpr std::uint64_t kSnapshotEveryBatches = 8;  // on average
constexpr std::uint64_t kRetainedTail = 20;

// Prints `index` as acknowledged; false when stdout is closed.
bool acknowledge(std::uint64_t index) {
  const std::string line = std::to_string(index) + "\n";
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (n <= 0) return false;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "storage_crash_writer: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return fail("usage: storage_crash_writer DIR TERM SEED");
  const std::uint64_t term = std::strtoull(argv[2], nullptr, 10);
  std::mt19937_64 rng(std::strtoull(argv[3], nullptr, 10));
  auto store = Store::open(argv[1]);
  if (!store.ok()) return fail(store.status().to_string());
  auto bounds = store.value()->log_bounds();
  if (!bounds.ok()) return fail(bounds.status().to_string());
  std::uint64_t last = bounds->last_index;
  std::uint64_t lagging = 0;  // committed with Sync::kDataFlushed, not yet acknowledged (0: none)
  while (true) {
    const std::uint64_t count = 1 + rng() % kMaxBatchEntries;
    WriteBatch batch;
    for (std::uint64_t index = last + 1; index <= last + count; ++index) {
      batch.entries.push_back(LogEntry{index, term, aethel::storage::testing::payload_for(index)});
    }
    last += count;
    // The hard state and applied state move with the entries: after a crash
    // they must match the log exactly, proving the batch is atomic.
    batch.hard_state = HardState{term, "self", last};
    batch.applied_state = AppliedState{last, Bytes(32, static_cast<std::uint8_t>(last)), {}};
    const std::uint64_t mode = rng() % 4;
    if (mode == 0) {
      const auto status = store.value()->write(batch);
      if (!status.ok()) return fail(status.to_string());
    } else {
      // The same entries as one group of one-entry batches (write_all): one
      // commit for all, so the hard state in the last one still matches.
      std::vector<WriteBatch> group(batch.entries.size());
      for (std::size_t i = 0; i < group.size(); ++i) group[i].entries = {batch.entries[i]};
      group.back().hard_state = batch.hard_state;
      group.back().applied_state = batch.applied_state;
      if (mode == 3) {
        // Each journal record is atomic, a group is not: a crash may keep a prefix of
        // it. So here every batch carries the hard state its prefix ends with.
        for (WriteBatch& one : group) {
          const std::uint64_t index = one.entries.front().index;
          one.hard_state = HardState{term, "self", index};
          one.applied_state = AppliedState{index, Bytes(32, static_cast<std::uint8_t>(index)), {}};
        }
        if (auto journaled = store.value()->journal(group); !journaled.ok()) {
          return fail(journaled.to_string());
        }
        if (!acknowledge(last)) return fail("stdout closed");
      }
      for (const auto& status :
           store.value()->write_all(group, mode == 1 ? Sync::kDurable : Sync::kDataFlushed)) {
        if (!status.ok()) return fail(status.to_string());
      }
    }
    // A commit whose meta page waits (kDataFlushed) is acknowledged once the next
    // commit, or a sync, returned: the node's disk thread does the same.
    if (lagging > 0 && !acknowledge(lagging)) return fail("stdout closed");
    lagging = 0;
    if (mode == 3) {
      // acknowledged above
    } else if (mode == 2 && rng() % 4 != 0) {
      lagging = last;
    } else {
      if (mode == 2) {
        if (auto synced = store.value()->sync(); !synced.ok()) return fail(synced.to_string());
      }
      if (!acknowledge(last)) return fail("stdout closed");
    }
    // Now and then a snapshot at the last index and a compaction that keeps a
    // short tail, so kills also land inside those transactions.
    if (rng() % kSnapshotEveryBatches == 0) {
      WriteBatch snapshot;
      snapshot.snapshot = Snapshot{last, term, {}, aethel::storage::testing::payload_for(last)};
      if (auto saved = store.value()->write(snapshot); !saved.ok()) {
        return fail(saved.to_string());
      }
      if (last > kRetainedTail) {
        if (auto compacted = store.value()->compact_prefix(last - kRetainedTail); !compacted.ok()) {
          return fail(compacted.to_string());
        }
      }
    }
  }
}
