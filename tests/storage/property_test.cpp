// Property: after any sequence of appends (with conflicting overwrites),
// suffix truncations, snapshots with prefix compaction, snapshot installs
// beyond the log and reopens, the store holds exactly the log of a simple
// in-memory model of Raft's log rules.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <tuple>

#include "storage/storage.h"
#include "test_support.h"

namespace aethel::storage {
namespace {

constexpr std::size_t kMaxOpsPerCase = 25;

// The log as Raft defines it: entries after a compacted prefix.
struct ModelLog {
  std::uint64_t offset_index = 0;
  std::uint64_t offset_term = 0;
  std::uint64_t snapshot_index = 0;
  std::vector<LogEntry> entries;

  std::uint64_t first() const { return offset_index + 1; }
  std::uint64_t last() const { return offset_index + entries.size(); }
  std::uint64_t max_term() const {
    return entries.empty() ? offset_term : std::max(offset_term, entries.back().term);
  }
  std::uint64_t term_at(std::uint64_t index) const {
    return index == offset_index ? offset_term : entries[index - first()].term;
  }
  void truncate_from(std::uint64_t index) { entries.resize(index - first()); }
};

using Op = std::tuple<std::uint8_t, std::uint16_t, std::uint16_t>;

void expect_same(const Store& store, const ModelLog& model) {
  auto bounds = store.log_bounds();
  RC_ASSERT(bounds.ok());
  RC_ASSERT(*bounds == (LogBounds{model.first(), model.last(), model.offset_term}));
  auto entries = store.entries(model.first(), model.last() + 1, UINT64_MAX);
  RC_ASSERT(entries.ok());
  RC_ASSERT(*entries == model.entries);
}

int case_number = 0;

RC_GTEST_PROP(StorageProperty, StoreMatchesTheModelLog, (const std::vector<Op>& ops)) {
  testing::ScratchDir scratch("property-" + std::to_string(++case_number));
  auto opened = Store::open(scratch.path());
  RC_ASSERT(opened.ok());
  std::unique_ptr<Store> store = std::move(opened).value();
  ModelLog model;
  for (std::size_t i = 0; i < std::min(ops.size(), kMaxOpsPerCase); ++i) {
    const auto [kind, a, b] = ops[i];
    const std::uint64_t span = model.entries.size() + 1;
    switch (kind % 5) {
      case 0: {  // append, possibly replacing a suffix
        const std::uint64_t first = model.first() + a % span;
        const std::uint64_t count = 1 + b % 6;
        const std::uint64_t term = model.max_term() + (b / 6) % 2;
        std::vector<LogEntry> batch;
        for (std::uint64_t index = first; index < first + count; ++index) {
          batch.push_back(LogEntry{index, term, testing::payload_for(index ^ (b + 0ull) << 32)});
        }
        RC_ASSERT(store->append(batch).ok());
        model.truncate_from(first);
        model.entries.insert(model.entries.end(), batch.begin(), batch.end());
        break;
      }
      case 1: {  // truncate a suffix
        const std::uint64_t from = model.first() + a % span;
        RC_ASSERT(store->truncate_suffix(from).ok());
        model.truncate_from(from);
        break;
      }
      case 2: {  // snapshot inside the log, then compact up to it
        if (model.entries.empty()) break;
        const std::uint64_t index = model.first() + a % model.entries.size();
        if (index < model.snapshot_index) break;
        WriteBatch batch;
        batch.snapshot = Snapshot{index, model.term_at(index), {}, {}};
        RC_ASSERT(store->write(batch).ok());
        RC_ASSERT(store->compact_prefix(index).ok());
        model.offset_term = model.term_at(index);
        model.entries.erase(model.entries.begin(),
                            model.entries.begin() + static_cast<long>(index - model.offset_index));
        model.offset_index = index;
        model.snapshot_index = index;
        break;
      }
      case 3: {  // install a snapshot from a leader that is ahead
        const std::uint64_t index = model.last() + 1 + a % 5;
        WriteBatch batch;
        batch.snapshot = Snapshot{index, model.max_term() + 1, {}, {}};
        RC_ASSERT(store->write(batch).ok());
        model = ModelLog{index, model.max_term() + 1, index, {}};
        break;
      }
      default: {  // restart
        store.reset();
        auto reopened = Store::open(scratch.path());
        RC_ASSERT(reopened.ok());
        store = std::move(reopened).value();
        break;
      }
    }
    expect_same(*store, model);
  }
}

}  // namespace
}  // namespace aethel::storage
