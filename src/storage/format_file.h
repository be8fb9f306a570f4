// The FORMAT file: one line, "aethel-storage-format <version>\n", in the data
// directory. It is written once, atomically (temp file, fsync, rename, fsync
// of the directory), and lets a node refuse a layout it does not know before
// LMDB touches any page. docs/STORAGE.md explains the version policy.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "storage/storage.h"

namespace aethel::storage::format_file {

// What the FORMAT file of a directory says.
struct Contents {
  enum class State { kMissing, kValid, kGarbage };
  State state = State::kMissing;
  std::uint32_t version = 0;  // kValid only
  std::string found;          // kGarbage: the start of the file, printable, for the message
};

// The exact bytes of a FORMAT file for `version`.
std::string text_for(std::uint32_t version);

// Reads and parses <dir>/FORMAT. Any content other than the exact line (an
// empty or torn file, junk, a version beyond 9 digits) is kGarbage, not an error.
Result<Contents> read(const std::filesystem::path& dir);

// Writes <dir>/FORMAT durably and atomically.
Status write(const std::filesystem::path& dir, std::uint32_t version);

// Message for a directory whose FORMAT cannot be used by this build.
std::string refusal_message(const std::filesystem::path& dir, const Contents& contents);

}  // namespace aethel::storage::format_file
