// Parse + verify of the prototype's transfer definition (goal: p50 under 5 ms).
// Run: build/bench/lang/lang_bench --benchmark_repetitions=20
//      --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "lang/lang.h"

namespace {

constexpr const char* kTransfer = R"(
intent transfer(sender: Account, receiver: Account, amount: Balance) {
    guard {
        sender_balance >= amount;
        amount > 0;
    }
    solve {
        priority: security;
        target: ledger;
    }
    verify {
        sender_balance == old_sender_balance - amount;
        receiver_balance == old_receiver_balance + amount;
    }
}
)";

void BM_ParseTransfer(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(aethel::lang::parse(kTransfer));
}
BENCHMARK(BM_ParseTransfer);

void BM_ParseAndVerifyTransfer(benchmark::State& state) {
  for (auto _ : state) {
    aethel::lang::ParseResult parsed = aethel::lang::parse(kTransfer);
    auto report = aethel::lang::verify(std::get<aethel::lang::IntentDef>(parsed.program->items[0]));
    if (report.verdict != aethel::lang::Verdict::kProved) state.SkipWithError("not PROVED");
    benchmark::DoNotOptimize(report);
  }
}
BENCHMARK(BM_ParseAndVerifyTransfer)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
