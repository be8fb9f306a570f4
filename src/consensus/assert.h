// Internal: always-on invariant checks for the consensus core.
#pragma once

namespace aethel::consensus::detail {
[[noreturn]] void assertion_failed(const char* condition, const char* file, int line);
}  // namespace aethel::consensus::detail

// Checked in every build type: a consensus invariant that does not hold means the node
// can no longer promise anything, so it must stop rather than diverge silently.
#define CONSENSUS_ASSERT(condition)                                                  \
  do {                                                                               \
    if (!(condition)) {                                                              \
      ::aethel::consensus::detail::assertion_failed(#condition, __FILE__, __LINE__); \
    }                                                                                \
  } while (0)
