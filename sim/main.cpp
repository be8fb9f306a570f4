// aethel_sim: run the deterministic simulator.
//   aethel_sim --seed S [--nodes 3|5] [--bug NAME] ...   replay or run one seed
//   aethel_sim --seeds N --from S [--nodes 0]            long-run mode: N seeds from S
//                                                        (--nodes 0 alternates 3 and 5)
// Exit status 0 when every run held every invariant, 1 otherwise; each failing seed prints
// one line with the command that replays it exactly.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sim/simulator.h"

namespace {

bool parse_u64(const char* text, std::uint64_t& out) {
  char* end = nullptr;
  out = std::strtoull(text, &end, 10);
  return end != text && *end == '\0';
}

int usage() {
  std::fprintf(
      stderr,
      "usage: aethel_sim [--seed S | --seeds N --from S] [--nodes 3|5|0] [--bug NAME]\n"
      "                  [--fault-ms MS] [--heal-limit-ms MS] [--clients N]\n"
      "                  [--no-faults] [--target-acks N] [--verbose] [--trace]\n"
      "bugs: commit_without_quorum vote_without_log_check apply_before_persist forget_vote\n"
      "      skip_recovery\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  aethel::sim::SimOptions options;
  std::uint64_t seeds = 1;
  std::uint64_t from = 1;
  std::uint64_t nodes = 3;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    std::uint64_t number = 0;
    auto take = [&](std::uint64_t& out) {
      if (value == nullptr || !parse_u64(value, out)) return false;
      ++i;
      return true;
    };
    if (arg == "--seed") {
      if (!take(from)) return usage();
      seeds = 1;
    } else if (arg == "--seeds") {
      if (!take(seeds)) return usage();
    } else if (arg == "--from") {
      if (!take(from)) return usage();
    } else if (arg == "--nodes") {
      if (!take(nodes) || (nodes != 0 && (nodes < 1 || nodes > 9))) return usage();
    } else if (arg == "--fault-ms") {
      if (!take(options.fault_ms)) return usage();
    } else if (arg == "--heal-limit-ms") {
      if (!take(options.heal_limit_ms)) return usage();
    } else if (arg == "--clients") {
      if (!take(number) || number == 0 || number > 1000) return usage();
      options.clients = number;
    } else if (arg == "--target-acks") {
      if (!take(options.target_acks)) return usage();
    } else if (arg == "--bug") {
      if (value == nullptr) return usage();
      options.bug = value;
      ++i;
    } else if (arg == "--no-faults") {
      options.faults = false;
    } else if (arg == "--verbose") {
      verbose = true;
    } else if (arg == "--trace") {
      options.trace = true;
    } else {
      return usage();
    }
  }
  aethel::sim::Bugs ignored;
  if (!aethel::sim::parse_bug(options.bug, ignored)) return usage();

  std::uint64_t failures = 0;
  const auto started = std::chrono::steady_clock::now();
  for (std::uint64_t s = from; s < from + seeds; ++s) {
    options.seed = s;
    options.nodes = nodes != 0 ? nodes : (s % 2 == 0 ? 3 : 5);
    const aethel::sim::SimResult result = aethel::sim::run_simulation(options);
    if (!result.ok) {
      ++failures;
      std::printf("FAIL seed %llu: %s\n  replay: %s\n", static_cast<unsigned long long>(s),
                  result.violation.c_str(), result.replay.c_str());
    } else if (verbose || seeds == 1) {
      const auto& st = result.stats;
      std::printf(
          "ok seed %llu: %.3f s simulated, %llu events, %llu msgs (%llu dropped), %llu crashes, "
          "%llu torn, %llu disks replaced, %llu partitions, %llu leaders, %llu acks, commit %llu\n",
          static_cast<unsigned long long>(s), static_cast<double>(st.simulated_us) / 1e6,
          static_cast<unsigned long long>(st.events),
          static_cast<unsigned long long>(st.messages_sent),
          static_cast<unsigned long long>(st.messages_dropped),
          static_cast<unsigned long long>(st.crashes),
          static_cast<unsigned long long>(st.torn_writes),
          static_cast<unsigned long long>(st.disks_replaced),
          static_cast<unsigned long long>(st.partitions),
          static_cast<unsigned long long>(st.leaders_elected),
          static_cast<unsigned long long>(st.acks),
          static_cast<unsigned long long>(st.final_commit));
    }
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("%llu seeds from %llu: %llu failed (%.1f s wall)\n",
              static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(from),
              static_cast<unsigned long long>(failures), wall_s);
  return failures == 0 ? 0 : 1;
}
