#include "intents/intents.h"

#include <fmt/format.h>

#include <map>
#include <string>

namespace aethel::intents {
namespace {

ledger::Transfer to_transfer(const lang::TransferRequest& request) {
  return ledger::Transfer{request.from, request.to, request.amount, request.memo.value_or(""),
                          std::nullopt};
}

bool committable(const lang::IntentOutcome& intent) {
  return !intent.is_definition && intent.transfer &&
         intent.report.verdict == lang::Verdict::kProved;
}

}  // namespace

Plan plan(const std::vector<lang::IntentOutcome>& intents) {
  Plan plan;
  std::map<std::string, size_t> batch_index;  // batch name → index into transactions
  for (const lang::IntentOutcome& intent : intents) {
    if (!committable(intent)) {
      plan.transaction_of.push_back(std::nullopt);
      continue;
    }
    const lang::TransferRequest& request = *intent.transfer;
    if (intent.batch.empty()) {
      plan.transaction_of.push_back(plan.transactions.size());
      plan.transactions.push_back(
          ledger::Transaction::transfer(request.from, request.to, request.amount,
                                        request.id.value_or(""), request.memo.value_or("")));
      continue;
    }
    auto [it, fresh] = batch_index.try_emplace(intent.batch, plan.transactions.size());
    if (fresh) plan.transactions.push_back(ledger::Transaction::batch({}, request.id.value_or("")));
    ledger::Transaction& batch = plan.transactions[it->second];
    if (batch.client_id.empty() && request.id) batch.client_id = *request.id;
    batch.transfers.push_back(to_transfer(request));
    plan.transaction_of.push_back(it->second);
  }
  return plan;
}

void apply_ledger_outcomes(std::vector<lang::IntentOutcome>& intents, const Plan& plan,
                           const std::vector<ledger::Outcome>& outcomes) {
  for (size_t i = 0; i < intents.size() && i < plan.transaction_of.size(); ++i) {
    if (!plan.transaction_of[i]) continue;
    const ledger::Outcome& outcome = outcomes.at(*plan.transaction_of[i]);
    if (outcome.committed()) continue;
    lang::VerifyReport& report = intents[i].report;
    report.verdict = lang::Verdict::kFailed;
    report.message = fmt::format("{}: {}", ledger::to_string(outcome.code), outcome.message);
  }
}

}  // namespace aethel::intents
