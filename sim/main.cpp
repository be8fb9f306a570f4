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
      "usage: aethel_sim [--seed S | --seeds N --from S] [--nodes 3|5|0] [--spares 0..4]\n"
      "                  [--bug NAME] [--retention N]\n"
      "                  [--fault-ms MS] [--heal-limit-ms MS] [--clients N]\n"
      "                  [--no-faults] [--target-acks N] [--verbose] [--trace]\n"
      "bugs: commit_without_quorum vote_without_log_check apply_before_persist forget_vote\n"
      "      skip_recovery stale_reads skip_outcome_index release_in_flight_at_durable\n");
  return 2;
}

struct Args {
  aethel::sim::SimOptions options;
  std::uint64_t seeds = 1;
  std::uint64_t from = 1;
  std::uint64_t nodes = 3;  // 0: alternate 3 and 5
  bool verbose = false;
};

// One flag and its value (if it takes one); false for anything unknown or malformed.
bool parse_flag(const std::string& arg, const char* value, int& i, Args& a) {
  std::uint64_t number = 0;
  auto take = [&](std::uint64_t& out) {
    if (value == nullptr || !parse_u64(value, out)) return false;
    ++i;
    return true;
  };
  if (arg == "--seed") return a.seeds = 1, take(a.from);
  if (arg == "--seeds") return take(a.seeds);
  if (arg == "--from") return take(a.from);
  if (arg == "--nodes") return take(a.nodes) && (a.nodes == 0 || (a.nodes >= 1 && a.nodes <= 9));
  if (arg == "--spares") return take(number) && number <= 4 && (a.options.spares = number, true);
  if (arg == "--fault-ms") return take(a.options.fault_ms);
  if (arg == "--heal-limit-ms") return take(a.options.heal_limit_ms);
  if (arg == "--target-acks") return take(a.options.target_acks);
  if (arg == "--retention") return take(a.options.retention_transactions);
  if (arg == "--clients") {
    if (!take(number) || number == 0 || number > 1000) return false;
    return a.options.clients = number, true;
  }
  if (arg == "--bug") {
    if (value == nullptr) return false;
    a.options.bug = value;
    return ++i, true;
  }
  if (arg == "--no-faults") return a.options.faults = false, true;
  if (arg == "--verbose") return a.verbose = true, true;
  if (arg == "--trace") return a.options.trace = true, true;
  return false;
}

void print_ok(std::uint64_t seed, const aethel::sim::SimStats& st) {
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "ok seed %llu: %.3f s simulated, %llu events, %llu msgs (%llu dropped), %llu crashes, "
      "%llu torn, %llu disks replaced, %llu partitions, %llu leaders, %llu acks (%llu intent "
      "runs), %llu reads, %llu membership changes, commit %llu\n",
      u(seed), static_cast<double>(st.simulated_us) / 1e6, u(st.events), u(st.messages_sent),
      u(st.messages_dropped), u(st.crashes), u(st.torn_writes), u(st.disks_replaced),
      u(st.partitions), u(st.leaders_elected), u(st.acks), u(st.invocations_committed), u(st.reads),
      u(st.membership_changes), u(st.final_commit));
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    if (!parse_flag(argv[i], i + 1 < argc ? argv[i + 1] : nullptr, i, a)) return usage();
  }
  aethel::sim::Bugs ignored;
  if (!aethel::sim::parse_bug(a.options.bug, ignored)) return usage();
  std::uint64_t failures = 0;
  const auto started = std::chrono::steady_clock::now();
  for (std::uint64_t s = a.from; s < a.from + a.seeds; ++s) {
    a.options.seed = s;
    a.options.nodes = a.nodes != 0 ? a.nodes : (s % 2 == 0 ? 3 : 5);
    const aethel::sim::SimResult result = aethel::sim::run_simulation(a.options);
    if (!result.ok) {
      ++failures;
      std::printf("FAIL seed %llu: %s\n  replay: %s\n", static_cast<unsigned long long>(s),
                  result.violation.c_str(), result.replay.c_str());
    } else if (a.verbose || a.seeds == 1) {
      print_ok(s, result.stats);
    }
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("%llu seeds from %llu: %llu failed (%.1f s wall)\n",
              static_cast<unsigned long long>(a.seeds), static_cast<unsigned long long>(a.from),
              static_cast<unsigned long long>(failures), wall_s);
  return failures == 0 ? 0 : 1;
}
