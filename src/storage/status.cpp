// The store's codes as base::Error codes, and the one helper that has no better home.
#include <array>

#include "storage/storage.h"

namespace aethel::storage {
namespace {

constexpr std::array kCodes = {
    Code::kOk,
    Code::kInvalidArgument,
    Code::kCompacted,
    Code::kOutOfRange,
    Code::kUnsupportedFormat,
    Code::kCorruption,
    Code::kNotWritable,
    Code::kLocked,
    Code::kMapFull,
    Code::kIoError,
};

}  // namespace

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kCompacted:
      return "compacted";
    case Code::kOutOfRange:
      return "out_of_range";
    case Code::kUnsupportedFormat:
      return "unsupported_format";
    case Code::kCorruption:
      return "corruption";
    case Code::kNotWritable:
      return "not_writable";
    case Code::kLocked:
      return "locked";
    case Code::kMapFull:
      return "map_full";
    case Code::kIoError:
      return "io_error";
  }
  return "unknown";
}

base::Error make_error(Code code, std::string message) {
  AETHEL_CHECK(code != Code::kOk);
  return base::Error{std::string(code_name(code)), std::move(message)};
}

Code code_of(const base::Error& error) {
  for (Code code : kCodes) {
    if (code != Code::kOk && code_name(code) == error.code) return code;
  }
  return Code::kIoError;
}

Code code_of(const Status& status) {
  return status.ok() ? Code::kOk : code_of(status.error());
}

bool WriteBatch::empty() const {
  return !snapshot && entries.empty() && !hard_state && blocks.empty() && history.empty() &&
         !replace_state && state_deletes.empty() && state_puts.empty() && outcomes.empty() &&
         !applied_state && !compact_through && !recovery && !history_anchor;
}

}  // namespace aethel::storage
