// In-process apply + Merkle update throughput (issue 3 goal: >= 200,000 transfers/s).
//
//   ledger_bench --benchmark_filter=ApplyBlock
//
// Each iteration applies one block of random transfers among `accounts` accounts
// and updates the sparse Merkle tree once for the block (what a node does per
// committed block). Blocks are generated before timing from a fixed seed.
// transfers_per_s is per CPU second of this single thread (the machine may be shared);
// the Time column shows wall-clock time per block.
#include <benchmark/benchmark.h>

#include <chrono>
#include <optional>
#include <random>

#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

constexpr int64_t kStartingBalance = 1'000'000'000;
constexpr size_t kPregeneratedBlocks = 32;

std::string account_name(size_t i) {
  return "account-" + std::to_string(i);
}

Genesis many_accounts(size_t count) {
  std::vector<GenesisAccount> accounts;
  accounts.reserve(count);
  for (size_t i = 0; i < count; ++i) accounts.push_back({account_name(i), kStartingBalance});
  return make_genesis(std::move(accounts)).value();
}

std::vector<std::vector<Transaction>> random_blocks(size_t accounts, size_t block_size) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<size_t> pick(0, accounts - 1);
  std::uniform_int_distribution<int64_t> amount(1, 1000);
  std::vector<std::vector<Transaction>> blocks(kPregeneratedBlocks);
  for (auto& block : blocks) {
    block.reserve(block_size);
    while (block.size() < block_size) {
      const size_t from = pick(rng);
      const size_t to = pick(rng);
      if (from == to) continue;
      block.push_back(Transaction::transfer(account_name(from), account_name(to), amount(rng)));
    }
  }
  return blocks;
}

// Args: accounts, transfers per block, client ids (0/1).
void BM_ApplyBlock(benchmark::State& state) {
  const auto accounts = static_cast<size_t>(state.range(0));
  const auto block_size = static_cast<size_t>(state.range(1));
  const bool client_ids = state.range(2) != 0;
  Ledger ledger(many_accounts(accounts));
  auto blocks = random_blocks(accounts, block_size);
  size_t next = 0;
  uint64_t committed = 0;
  uint64_t serial = 0;
  for (auto _ : state) {
    if (client_ids) {
      // Fresh ids each time a pregenerated block is reused, so every transfer is new
      // work rather than an idempotent retry.
      state.PauseTiming();
      for (Transaction& tx : blocks[next]) tx.client_id = "c-" + std::to_string(serial++);
      state.ResumeTiming();
    }
    auto result = ledger.apply_block(ledger.height() + 1, blocks[next]);
    if (!result.ok()) {
      state.SkipWithError(result.error().message.c_str());
      break;
    }
    for (const Outcome& o : result.value().outcomes) committed += o.committed() ? 1 : 0;
    benchmark::DoNotOptimize(result.value().root);
    next = (next + 1) % blocks.size();
  }
  const double transfers =
      static_cast<double>(state.iterations()) * static_cast<double>(block_size);
  state.counters["transfers_per_s"] = benchmark::Counter(transfers, benchmark::Counter::kIsRate);
  state.counters["committed_ratio"] =
      transfers > 0 ? static_cast<double>(committed) / transfers : 0;
}
BENCHMARK(BM_ApplyBlock)
    ->ArgNames({"accounts", "block", "client_ids"})
    ->Args({10'000, 1'000, 0})
    ->Args({10'000, 4'096, 0})
    ->Args({10'000, 4'096, 1})
    ->Args({100'000, 4'096, 0})
    ->Args({1'000'000, 4'096, 0})
    ->Unit(benchmark::kMillisecond);

// The Merkle update alone: a block touching `touched` random accounts of 10,000.
void BM_MerkleRootFromScratch(benchmark::State& state) {
  const auto accounts = static_cast<size_t>(state.range(0));
  std::vector<std::pair<std::string, Account>> all;
  for (size_t i = 0; i < accounts; ++i) all.push_back({account_name(i), {kStartingBalance, 0}});
  for (auto _ : state) benchmark::DoNotOptimize(merkle_root_from_scratch(all));
  state.counters["leaves_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * accounts), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MerkleRootFromScratch)->Arg(10'000)->Unit(benchmark::kMillisecond);

// A ledger of state.range(0) accounts after random blocks filled the default window of
// a million remembered outcomes, and those blocks; nullopt (the benchmark skipped) when
// a block failed.
struct FullWindow {
  Ledger ledger;
  std::vector<std::vector<Transaction>> blocks;
};
std::optional<FullWindow> full_window(benchmark::State& state) {
  const auto accounts = static_cast<size_t>(state.range(0));
  FullWindow full{Ledger(many_accounts(accounts)), random_blocks(accounts, 4'096)};
  Ledger& ledger = full.ledger;
  while (ledger.remembered_transactions() < Limits{}.tx_retention_count) {
    const auto& block = full.blocks[ledger.height() % full.blocks.size()];
    if (!ledger.apply_block(ledger.height() + 1, block).ok()) {
      state.SkipWithError("a block failed");
      return std::nullopt;
    }
  }
  return full;
}

// Blocks applied once the window is full, as under sustained load: each outcome
// remembered makes the oldest one forgotten. Args: accounts, transfers per block (a
// node at 32 connections forms blocks of about 10).
void BM_ApplyBlockWithFullWindow(benchmark::State& state) {
  auto full = full_window(state);
  if (!full) return;
  Ledger& ledger = full->ledger;
  const auto block_size = static_cast<size_t>(state.range(1));
  const auto blocks = random_blocks(static_cast<size_t>(state.range(0)), block_size);
  for (auto _ : state) {
    auto result = ledger.apply_block(ledger.height() + 1, blocks[ledger.height() % blocks.size()]);
    if (!result.ok()) {
      state.SkipWithError(result.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(result.value().root);
  }
  state.counters["transfers_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * block_size), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ApplyBlockWithFullWindow)
    ->ArgNames({"accounts", "block"})
    ->Args({10'000, 4'096})
    ->Args({10'000, 16})
    ->Args({2, 16})
    ->Unit(benchmark::kMicrosecond);

// What a node's snapshot builder does every AETHEL_SNAPSHOT_INTERVAL blocks: freeze the
// ledger (on the consensus thread) and serialize it in pieces (on its own thread), with
// `accounts` accounts and the default window full of a million remembered outcomes
// (derived ids, as batch load leaves them). Args: accounts.
void BM_FreezeAndSerializeSnapshot(benchmark::State& state) {
  auto full = full_window(state);
  if (!full) return;
  const Ledger& ledger = full->ledger;
  size_t bytes = 0;
  double freeze_s = 0;
  for (auto _ : state) {
    const auto started = std::chrono::steady_clock::now();
    const SnapshotSource frozen = ledger.freeze();
    freeze_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    bytes = 0;
    frozen.serialize_to([&](std::string_view piece) { bytes += piece.size(); });
  }
  state.counters["snapshot_mb"] = static_cast<double>(bytes) / 1e6;
  state.counters["freeze_ms"] = 1e3 * freeze_s / static_cast<double>(state.iterations());
}
BENCHMARK(BM_FreezeAndSerializeSnapshot)
    ->ArgName("accounts")
    ->Arg(1'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace aethel::ledger

BENCHMARK_MAIN();
