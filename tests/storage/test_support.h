// Shared by the storage tests and the crash writer: scratch directories on the
// real disk (under the build tree, never tmpfs) and the deterministic entry
// payloads that let a reader check every byte after a crash.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "storage/storage.h"

namespace aethel::storage::testing {

// The payload of log entry `index`: 40..295 bytes derived from the index
// alone, so any process can recompute what must be stored.
inline Bytes payload_for(std::uint64_t index) {
  std::uint64_t state = index * 0x9e3779b97f4a7c15ULL + 1;
  auto next = [&state] {
    state += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  Bytes data(40 + next() % 256);
  for (auto& byte : data) byte = static_cast<std::uint8_t>(next());
  return data;
}

// A fresh, empty directory named after the test, removed when destroyed.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(std::filesystem::path(AETHEL_STORAGE_TEST_TMP) /
              (name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace aethel::storage::testing
