#include "cli/report.h"

#include <chrono>

namespace aethel::cli {
namespace {

// Counterexample values are decimal strings: they are mathematical integers and
// may lie outside the range a JSON number can carry exactly.
boost::json::object counterexample_json(const std::vector<lang::Assignment>& values) {
  boost::json::object out;
  for (const lang::Assignment& a : values) out[a.name] = a.value;
  return out;
}

boost::json::object transfer_json(const lang::TransferRequest& t) {
  boost::json::object out{{"from", t.from}, {"to", t.to}, {"amount", t.amount}};
  if (t.id) out["id"] = *t.id;
  if (t.memo) out["memo"] = *t.memo;
  return out;
}

}  // namespace

std::vector<TimedOutcome> check_program_timed(const lang::Program& program,
                                              const lang::VerifyLimits& limits) {
  std::vector<TimedOutcome> timed;
  for (const lang::ProgramIntent& intent : lang::intents_of(program)) {
    auto start = std::chrono::steady_clock::now();
    lang::IntentOutcome outcome = lang::check_intent(intent, limits);
    std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
    timed.push_back({std::move(outcome), elapsed.count()});
  }
  std::vector<lang::IntentOutcome> plain;
  for (TimedOutcome& t : timed) plain.push_back(std::move(t.outcome));
  lang::apply_batch_rule(plain);
  for (size_t i = 0; i < timed.size(); ++i) timed[i].outcome = std::move(plain[i]);
  return timed;
}

lang::Verdict overall_verdict(const std::vector<TimedOutcome>& outcomes) {
  std::vector<lang::IntentOutcome> plain;
  for (const TimedOutcome& t : outcomes) plain.push_back(t.outcome);
  return lang::overall_verdict(plain);
}

boost::json::object intent_json(const TimedOutcome& timed) {
  const lang::IntentOutcome& o = timed.outcome;
  boost::json::array violations;
  for (const lang::Violation& v : o.report.violations) {
    violations.push_back(
        boost::json::object{{"property", lang::to_string(v.property)},
                            {"message", v.message},
                            {"counterexample", counterexample_json(v.counterexample)}});
  }
  boost::json::value counterexample = nullptr;
  for (const lang::Violation& v : o.report.violations) {
    if (!v.counterexample.empty()) {
      counterexample = counterexample_json(v.counterexample);
      break;
    }
  }
  boost::json::object out{{"name", o.name},
                          {"kind", o.is_definition ? "definition" : "invocation"},
                          {"status", lang::to_string(o.report.verdict)},
                          {"message", o.report.message},
                          {"violations", std::move(violations)},
                          {"counterexample", std::move(counterexample)},
                          {"elapsed_ms", timed.elapsed_ms},
                          {"transaction", nullptr}};
  if (!o.batch.empty()) out["batch"] = o.batch;
  if (o.transfer) out["transaction"] = transfer_json(*o.transfer);
  return out;
}

boost::json::object verify_response_json(const std::vector<TimedOutcome>& outcomes,
                                         lang::Verdict verdict) {
  boost::json::array intents;
  size_t proved = 0;
  for (const TimedOutcome& t : outcomes) {
    intents.push_back(intent_json(t));
    proved += t.outcome.report.verdict == lang::Verdict::kProved;
  }
  std::string message =
      std::to_string(proved) + " of " + std::to_string(outcomes.size()) + " intents proved";
  return {{"success", verdict == lang::Verdict::kProved},
          {"status", lang::to_string(verdict)},
          {"message", std::move(message)},
          {"intents", std::move(intents)},
          {"errors", boost::json::array{}}};
}

boost::json::object parse_error_json(const lang::ParseError& error) {
  boost::json::object detail{{"line", error.pos.line},
                             {"column", error.pos.column},
                             {"expected", error.expected},
                             {"found", error.found},
                             {"message", error.message}};
  return {{"success", false},
          {"status", "PARSE_ERROR"},
          {"message", error.message},
          {"intents", boost::json::array{}},
          {"errors", boost::json::array{std::move(detail)}}};
}

}  // namespace aethel::cli
