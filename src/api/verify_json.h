// The JSON of a verification (SPEC §4/§5 `POST /api/verify`): one renderer for the
// node's answer and `aethel verify --json`, so both say exactly the same. Depends on
// lang and Boost.JSON only (library aethel_api_json), so the CLI can use it without
// the node.
#pragma once

#include <boost/json.hpp>
#include <vector>

#include "lang/lang.h"

namespace aethel::api {

// {"name", "kind", "status", "message", "violations", "counterexample",
//  "elapsed_ms", "transaction"[, "batch"]}; counterexample values are decimal
// strings (mathematical integers may exceed what a JSON number carries exactly).
boost::json::object intent_json(const lang::IntentOutcome& intent);

// {"success", "status", "message": "<n> of <m> intents proved", "intents", "errors"}.
boost::json::object verify_response_json(const std::vector<lang::IntentOutcome>& intents,
                                         lang::Verdict verdict);

// The PARSE_ERROR shape: {"success": false, "status": "PARSE_ERROR", "message",
// "intents": [], "errors": [{"line", "column", "expected", "found", "message"}]}.
boost::json::object parse_error_json(const lang::ParseError& error);

}  // namespace aethel::api
