#include "api/verify_json.h"

#include <string>

namespace aethel::api {
namespace json = boost::json;
namespace {

json::object counterexample_json(const std::vector<lang::Assignment>& values) {
  json::object out;
  for (const lang::Assignment& a : values) out[a.name] = a.value;
  return out;
}

json::object transfer_json(const lang::TransferRequest& t) {
  json::object out{{"from", t.from}, {"to", t.to}, {"amount", t.amount}};
  if (t.id) out["id"] = *t.id;
  if (t.memo) out["memo"] = *t.memo;
  return out;
}

// Argument values stay strings: an integer may exceed what a JSON number carries.
json::object invocation_json(const lang::InvocationRequest& call) {
  json::object arguments;
  for (const auto& [name, value] : call.arguments) arguments[name] = value;
  json::object out{{"intent", call.intent}, {"arguments", std::move(arguments)}};
  if (call.id) out["id"] = *call.id;
  if (call.memo) out["memo"] = *call.memo;
  return out;
}

json::array violations_json(const std::vector<lang::Violation>& violations) {
  json::array out;
  for (const lang::Violation& v : violations) {
    out.push_back(json::object{{"property", lang::to_string(v.property)},
                               {"message", v.message},
                               {"counterexample", counterexample_json(v.counterexample)}});
  }
  return out;
}

}  // namespace

json::object intent_json(const lang::IntentOutcome& intent) {
  json::value counterexample = nullptr;  // the first violation that has one
  for (const lang::Violation& v : intent.report.violations) {
    if (!v.counterexample.empty()) {
      counterexample = counterexample_json(v.counterexample);
      break;
    }
  }
  json::object out{{"name", intent.name},
                   {"kind", intent.is_definition ? "definition" : "invocation"},
                   {"status", lang::to_string(intent.report.verdict)},
                   {"message", intent.report.message},
                   {"violations", violations_json(intent.report.violations)},
                   {"counterexample", std::move(counterexample)},
                   {"elapsed_ms", intent.elapsed_ms},
                   {"transaction", nullptr}};
  if (!intent.batch.empty()) out["batch"] = intent.batch;
  if (intent.transfer) out["transaction"] = transfer_json(*intent.transfer);
  if (intent.invocation) out["transaction"] = invocation_json(*intent.invocation);
  return out;
}

json::object verify_response_json(const std::vector<lang::IntentOutcome>& intents,
                                  lang::Verdict verdict) {
  json::array rendered;
  size_t proved = 0;
  for (const lang::IntentOutcome& intent : intents) {
    rendered.push_back(intent_json(intent));
    proved += intent.report.verdict == lang::Verdict::kProved;
  }
  std::string message =
      std::to_string(proved) + " of " + std::to_string(intents.size()) + " intents proved";
  return {{"success", verdict == lang::Verdict::kProved},
          {"status", lang::to_string(verdict)},
          {"message", std::move(message)},
          {"intents", std::move(rendered)},
          {"errors", json::array{}}};
}

json::object parse_error_json(const lang::ParseError& error) {
  json::object detail{{"line", error.pos.line},
                      {"column", error.pos.column},
                      {"expected", error.expected},
                      {"found", error.found},
                      {"message", error.message}};
  return {{"success", false},
          {"status", "PARSE_ERROR"},
          {"message", error.message},
          {"intents", json::array{}},
          {"errors", json::array{std::move(detail)}}};
}

}  // namespace aethel::api
