#include <fmt/format.h>

#include "storage/storage.h"

namespace aethel::storage {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kCompacted:
      return "compacted";
    case Code::kOutOfRange:
      return "out of range";
    case Code::kUnsupportedFormat:
      return "unsupported format";
    case Code::kCorruption:
      return "corruption";
    case Code::kNotWritable:
      return "not writable";
    case Code::kLocked:
      return "locked";
    case Code::kMapFull:
      return "map full";
    case Code::kIoError:
      return "i/o error";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return fmt::format("{}: {}", code_name(code_), message_);
}

bool WriteBatch::empty() const {
  return !snapshot && entries.empty() && !hard_state && blocks.empty() && !replace_state &&
         state_deletes.empty() && state_puts.empty() && !applied_state && !compact_through;
}

}  // namespace aethel::storage
