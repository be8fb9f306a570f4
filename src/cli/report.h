// Verification results as the JSON of SPEC §4 `POST /api/verify`, shared by the
// CLI (`aethel verify --json`) and the node's API.
#pragma once

#include <boost/json.hpp>

#include "lang/lang.h"

namespace aethel::cli {

struct TimedOutcome {
  lang::IntentOutcome outcome;
  double elapsed_ms = 0;
};

// Checks every intent of the program, timing each, and applies the batch rule.
std::vector<TimedOutcome> check_program_timed(const lang::Program& program,
                                              const lang::VerifyLimits& limits = {});
lang::Verdict overall_verdict(const std::vector<TimedOutcome>& outcomes);

boost::json::object intent_json(const TimedOutcome& timed);
boost::json::object verify_response_json(const std::vector<TimedOutcome>& outcomes,
                                         lang::Verdict verdict);
boost::json::object parse_error_json(const lang::ParseError& error);

}  // namespace aethel::cli
