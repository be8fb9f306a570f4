// Invariant assertions that stay on in release builds: a broken invariant in the
// ledger means state may be wrong, and stopping is safer than serving it.
#pragma once

#include <cstdio>
#include <cstdlib>

#define AETHEL_LEDGER_ASSERT(condition)                                                    \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      std::fprintf(stderr, "ledger invariant violated at %s:%d: %s\n", __FILE__, __LINE__, \
                   #condition);                                                            \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)
