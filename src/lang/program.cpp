// Checking whole programs: definitions are verified, invocations shape-checked,
// and atomic batches succeed or fail as one.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "lang/lang.h"

namespace aethel::lang {

std::vector<ProgramIntent> intents_of(const Program& program) {
  std::vector<ProgramIntent> result;
  auto add = [&](const auto& item, const AtomicBatch* batch) {
    using T = std::decay_t<decltype(item)>;
    if constexpr (std::is_same_v<T, IntentDef>) result.push_back({&item, nullptr, batch});
    if constexpr (std::is_same_v<T, IntentCall>) result.push_back({nullptr, &item, batch});
  };
  for (const Item& item : program.items) {
    if (const auto* batch = std::get_if<AtomicBatch>(&item)) {
      for (const BatchItem& inner : batch->items) {
        std::visit([&](const auto& i) { add(i, batch); }, inner);
      }
    } else {
      std::visit([&](const auto& i) { add(i, nullptr); }, item);
    }
  }
  return result;
}

IntentOutcome check_intent(const ProgramIntent& intent, const VerifyLimits& limits) {
  IntentOutcome outcome;
  outcome.batch = intent.batch ? intent.batch->name : "";
  outcome.pos = intent.definition ? intent.definition->pos : intent.call->pos;
  if (intent.definition) {
    outcome.name = intent.definition->name;
    outcome.is_definition = true;
    outcome.report = verify(*intent.definition, limits);
    return outcome;
  }
  outcome.name = intent.call->name;
  CallCheck check = check_call(*intent.call);
  if (check.invocation) {
    outcome.report = {Verdict::kProved,
                      fmt::format("well-formed invocation of deployed intent '{}'", outcome.name),
                      {}};
    outcome.invocation = std::move(check.invocation);
    return outcome;
  }
  if (!check.transfer) {
    outcome.report = {Verdict::kFailed, check.error, {}};
    return outcome;
  }
  const TransferRequest& t = *check.transfer;
  outcome.report = {Verdict::kProved,
                    fmt::format("well-formed transfer of {} from {} to {}", t.amount, t.from, t.to),
                    {}};
  outcome.transfer = std::move(check.transfer);
  return outcome;
}

namespace {

// The limits for the next definition of a program: its query timer cut to what is
// left of the request's budget; nullopt when nothing is left.
std::optional<VerifyLimits> within_budget(const VerifyLimits& limits,
                                          std::chrono::steady_clock::time_point started) {
  if (limits.request_budget_ms == 0) return limits;
  const auto spent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
  if (spent_ms >= limits.request_budget_ms) return std::nullopt;
  VerifyLimits cut = limits;
  cut.solver_timeout_ms = std::min<unsigned>(
      limits.solver_timeout_ms, limits.request_budget_ms - static_cast<unsigned>(spent_ms));
  return cut;
}

}  // namespace

std::vector<IntentOutcome> check_program(const Program& program, const VerifyLimits& limits) {
  std::vector<IntentOutcome> outcomes;
  const auto started = std::chrono::steady_clock::now();
  for (const ProgramIntent& intent : intents_of(program)) {
    auto start = std::chrono::steady_clock::now();
    std::optional<VerifyLimits> left = intent.definition ? within_budget(limits, started) : limits;
    if (!left) {
      IntentOutcome& spent = outcomes.emplace_back();
      spent.name = intent.definition->name;
      spent.pos = intent.definition->pos;
      spent.is_definition = true;
      spent.batch = intent.batch ? intent.batch->name : "";
      spent.report = {Verdict::kRejected,
                      fmt::format("not proven (fail closed): the request's solver budget of {} "
                                  "ms was spent before this definition",
                                  limits.request_budget_ms),
                      {}};
      continue;
    }
    outcomes.push_back(check_intent(intent, *left));
    std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
    outcomes.back().elapsed_ms = elapsed.count();
  }
  apply_batch_rule(outcomes);
  return outcomes;
}

bool has_definitions(const Program& program) {
  for (const ProgramIntent& intent : intents_of(program)) {
    if (intent.definition != nullptr) return true;
  }
  return false;
}

void apply_batch_rule(std::vector<IntentOutcome>& outcomes) {
  for (const IntentOutcome& culprit : outcomes) {
    if (culprit.batch.empty() || culprit.report.verdict == Verdict::kProved) continue;
    for (IntentOutcome& other : outcomes) {
      if (&other == &culprit || other.batch != culprit.batch || other.is_definition) continue;
      if (other.report.verdict != Verdict::kProved) continue;
      other.report = {Verdict::kFailed,
                      fmt::format("not applied: intent '{}' at line {} of atomic_batch '{}' is {}",
                                  culprit.name, culprit.pos.line, culprit.batch,
                                  to_string(culprit.report.verdict)),
                      {}};
      other.transfer.reset();
      other.invocation.reset();
    }
  }
}

Verdict overall_verdict(const std::vector<IntentOutcome>& outcomes) {
  Verdict verdict = Verdict::kProved;
  for (const IntentOutcome& o : outcomes) {
    if (o.report.verdict == Verdict::kFailed) return Verdict::kFailed;
    if (o.report.verdict == Verdict::kRejected) verdict = Verdict::kRejected;
  }
  return verdict;
}

}  // namespace aethel::lang
