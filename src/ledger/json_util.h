// Strict JSON helpers for the ledger's text formats (genesis, proofs). Internal.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ledger/ledger.h"

namespace aethel::ledger {

// Largest JSON text the ledger's decoders accept (a genesis of a million accounts
// fits; anything bigger is refused before parsing).
constexpr size_t kMaxJsonBytes = 128u << 20;

// Parses `text` into a value, refusing invalid JSON, texts over kMaxJsonBytes, and
// objects with a repeated key (Boost.JSON alone would keep the last one silently,
// and a genesis naming an account twice must be an error, not a guess).
Result<boost::json::value> parse_strict_json(std::string_view text);

// Reads a JSON integer in [min, max]; nullopt for anything else (floats included).
std::optional<int64_t> json_int64(const boost::json::value& v, int64_t min, int64_t max);
std::optional<uint64_t> json_uint64(const boost::json::value& v);

}  // namespace aethel::ledger
