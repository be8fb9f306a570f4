// Group commit: durable appends of batches of 1, 64, 512 and 4096 entries of 100
// bytes, each batch one LMDB write transaction with durable commit (fsync on).
// Reports entries/s and fsyncs/s (durable commits per second) over wall time,
// and the p50/p99 latency of one commit.
//
//   ./build/bench/storage/storage_bench --benchmark_min_time=3
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>

#include "storage/storage.h"

namespace aethel::storage {
namespace {

constexpr std::size_t kEntryBytes = 100;

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir =
      std::filesystem::path(AETHEL_STORAGE_BENCH_TMP) / (name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank),
                   values.end());
  return values[rank];
}

// The store in `dir`, or null after telling the benchmark why it is skipped.
std::unique_ptr<Store> open_store(benchmark::State& state, const std::filesystem::path& dir) {
  auto opened = Store::open(dir);
  if (!opened.ok()) {
    state.SkipWithError(opened.status().to_string().c_str());
    return nullptr;
  }
  return std::move(opened).value();
}

void report_rates(benchmark::State& state, const StoreStats& stats) {
  state.counters["entries/s"] =
      benchmark::Counter(static_cast<double>(stats.entries_written), benchmark::Counter::kIsRate);
  state.counters["fsyncs/s"] =
      benchmark::Counter(static_cast<double>(stats.durable_commits), benchmark::Counter::kIsRate);
}

void BM_DurableAppend(benchmark::State& state) {
  const auto batch_entries = static_cast<std::uint64_t>(state.range(0));
  const auto dir = fresh_dir("append-" + std::to_string(batch_entries));
  std::unique_ptr<Store> store = open_store(state, dir);
  if (!store) return;
  std::uint64_t next_index = 1;
  std::vector<LogEntry> batch(batch_entries);
  std::vector<double> latencies_us;
  for (auto _ : state) {
    for (auto& entry : batch) {
      entry = LogEntry{next_index, 1, Bytes(kEntryBytes, static_cast<std::uint8_t>(next_index))};
      ++next_index;
    }
    const auto started = std::chrono::steady_clock::now();
    const Status status = store->append(batch, HardState{1, "self", next_index - 1});
    latencies_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started)
            .count());
    if (!status.ok()) {
      state.SkipWithError(status.to_string().c_str());
      break;
    }
  }
  state.counters["commit_p50_us"] = percentile(latencies_us, 0.50);
  state.counters["commit_p99_us"] = percentile(latencies_us, 0.99);
  const StoreStats stats = store->stats();
  report_rates(state, stats);
  state.SetBytesProcessed(static_cast<std::int64_t>(stats.bytes_written));
  store.reset();
  std::filesystem::remove_all(dir);
}

// The fsync thread's shape: many small independent batches (one entry each,
// as single client requests would give) made durable by one write_all.
void BM_WriteAllSingleEntryBatches(benchmark::State& state) {
  const auto batches_per_commit = static_cast<std::size_t>(state.range(0));
  const auto dir = fresh_dir("write-all-" + std::to_string(batches_per_commit));
  std::unique_ptr<Store> store = open_store(state, dir);
  if (!store) return;
  std::uint64_t next_index = 1;
  std::vector<WriteBatch> batches(batches_per_commit);
  for (auto _ : state) {
    for (auto& batch : batches) {
      batch.entries = {
          LogEntry{next_index, 1, Bytes(kEntryBytes, static_cast<std::uint8_t>(next_index))}};
      batch.hard_state = HardState{1, "self", next_index};
      ++next_index;
    }
    for (const Status& status : store->write_all(batches)) {
      if (!status.ok()) {
        state.SkipWithError(status.to_string().c_str());
        break;
      }
    }
  }
  const StoreStats stats = store->stats();
  report_rates(state, stats);
  store.reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_WriteAllSingleEntryBatches)
    ->Arg(64)
    ->Arg(512)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Baseline in the same conditions: overwrite 4 KiB and fdatasync, the floor
// under any durable commit on this disk (an LMDB commit does two such syncs).
void BM_RawFdatasync4KiB(benchmark::State& state) {
  const auto dir = fresh_dir("raw-fdatasync");
  std::filesystem::create_directories(dir);
  const auto path = dir / "file";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    state.SkipWithError("cannot create the baseline file");
    return;
  }
  const std::vector<char> page(4096, 'x');
  std::uint64_t syncs = 0;
  for (auto _ : state) {
    if (::pwrite(fd, page.data(), page.size(), 0) != static_cast<ssize_t>(page.size()) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("pwrite or fdatasync failed");
      break;
    }
    ++syncs;
  }
  state.counters["fsyncs/s"] =
      benchmark::Counter(static_cast<double>(syncs), benchmark::Counter::kIsRate);
  ::close(fd);
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_RawFdatasync4KiB)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DurableAppend)
    ->Arg(1)
    ->Arg(64)
    ->Arg(512)
    ->Arg(4096)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace aethel::storage

BENCHMARK_MAIN();
