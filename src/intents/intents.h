// aethel::intents — what verified intents do to the ledger: PROVED invocations
// become ledger transactions, and the ledger's outcomes become verdicts again.
//
// It sits between `lang`, which proves programs and knows no ledger, and `ledger`,
// which applies transactions (and runs deployed intents) but never proves anything.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "lang/lang.h"
#include "ledger/ledger.h"

namespace aethel::intents {

// Which ledger transaction each intent of a program became.
struct Plan {
  std::vector<ledger::Transaction> transactions;
  // One entry per intent, in program order: an index into `transactions`, or
  // nullopt for definitions and intents that are not PROVED.
  std::vector<std::optional<size_t>> transaction_of;
};

// PROVED invocations outside a batch become one transaction each (a transfer, or a
// call of a deployed intent), with the intent's `id` field as client id (none: the
// ledger derives one). The invocations of one atomic_batch become one
// all-or-nothing transaction, whose id is the first `id` field given inside it.
Plan plan(const std::vector<lang::IntentOutcome>& intents);

// After the ledger ruled (`outcomes`: one per plan.transactions, in order): a
// committed invocation stays PROVED; one the ledger refused becomes FAILED with the
// ledger's reason ("insufficient_funds: Alice has 10, needs 100").
void apply_ledger_outcomes(std::vector<lang::IntentOutcome>& intents, const Plan& plan,
                           const std::vector<ledger::Outcome>& outcomes);

}  // namespace aethel::intents
