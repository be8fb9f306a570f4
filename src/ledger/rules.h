// The balance arithmetic of one transfer, apart from lookups, so that every branch
// can be tested directly (the overflow branch cannot be reached through a Ledger
// whose supply fits in int64). Internal to the ledger module.
#pragma once

#include <cstdint>

#include "ledger/ledger.h"

namespace aethel::ledger {

// kCommitted when `amount` (> 0) can move from a sender holding `sender_balance`
// to a receiver holding `receiver_balance`; otherwise kInsufficientFunds or kOverflow.
constexpr OutcomeCode check_balances(int64_t sender_balance, int64_t receiver_balance,
                                     int64_t amount) {
  if (sender_balance < amount) return OutcomeCode::kInsufficientFunds;
  if (receiver_balance > INT64_MAX - amount) return OutcomeCode::kOverflow;
  return OutcomeCode::kCommitted;
}

}  // namespace aethel::ledger
