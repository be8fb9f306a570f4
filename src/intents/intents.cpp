#include "intents/intents.h"

#include <fmt/format.h>

#include <map>
#include <string>

namespace aethel::intents {
namespace {

// A well-formed invocation as a transaction item, with its id and memo.
struct Item {
  ledger::Transfer transfer;
  std::optional<std::string> id;
};

// check_call has checked the signature's shape: 128 hex digits.
void authorize(ledger::Transfer& item, const lang::CallAuthorization& authorization) {
  item.nonce = authorization.nonce;
  if (authorization.signature_hex) {
    item.signature = ledger::signature_from_hex(*authorization.signature_hex);
  }
}

Item to_item(const lang::IntentOutcome& intent) {
  if (intent.transfer) {
    const lang::TransferRequest& t = *intent.transfer;
    Item item{ledger::Transfer{t.from, t.to, t.amount, t.memo.value_or("")}, t.id};
    authorize(item.transfer, t.authorization);
    return item;
  }
  const lang::InvocationRequest& call = *intent.invocation;
  ledger::Transfer item;
  item.memo = call.memo.value_or("");
  item.invocation = ledger::Invocation{call.intent, call.arguments};
  authorize(item, call.authorization);
  return {std::move(item), call.id};
}

bool committable(const lang::IntentOutcome& intent) {
  return !intent.is_definition && (intent.transfer || intent.invocation) &&
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
    Item item = to_item(intent);
    if (intent.batch.empty()) {
      plan.transaction_of.push_back(plan.transactions.size());
      ledger::Transaction tx;
      tx.client_id = item.id.value_or("");
      tx.transfers.push_back(std::move(item.transfer));
      plan.transactions.push_back(std::move(tx));
      continue;
    }
    auto [it, fresh] = batch_index.try_emplace(intent.batch, plan.transactions.size());
    if (fresh) plan.transactions.push_back(ledger::Transaction::batch({}, item.id.value_or("")));
    ledger::Transaction& batch = plan.transactions[it->second];
    if (batch.client_id.empty() && item.id) batch.client_id = *item.id;
    batch.transfers.push_back(std::move(item.transfer));
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
