#include "node/outcome_index.h"

#include <fmt/format.h>

namespace aethel::node {
namespace {

bool indexable_id(std::string_view id) {
  return !id.empty() && id.size() <= ledger::kMaxClientIdBytes;
}

base::Error store_error(const base::Error& error) {
  return base::Error{"storage_error", "the outcome index: " + error.message};
}

base::Result<ledger::Outcome> decode_record(std::string_view key, const storage::Bytes& value) {
  auto outcome = ledger::decode_outcome(
      std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
  if (!outcome.ok()) {
    return base::Error{"storage_error",
                       fmt::format("the outcome index record {} does not decode: {}", key,
                                   outcome.error().message)};
  }
  outcome.value().exists = true;
  return outcome;
}

// An Error when the store has not indexed every height it applied: a gap in its history.
base::Status history_complete(const storage::Store& store) {
  auto gap = store.history_gap();
  if (!gap.ok()) return store_error(gap.error());
  if (!gap.value()) return {};
  return base::Error{
      "history_incomplete",
      fmt::format("this node has not back-filled blocks {}..{} yet, so it cannot tell whether "
                  "a client id was used there; retry shortly",
                  gap.value()->from, gap.value()->to - 1)};
}

}  // namespace

std::string outcome_key(std::string_view tx_id, std::string_view scope) {
  std::string key;
  key.reserve(tx_id.size() + 1 + scope.size());
  key.append(tx_id);
  key.push_back('\0');
  key.append(scope);
  return key;
}

void add_outcome_records(std::span<const ledger::Transaction> txs,
                         const std::vector<ledger::Outcome>& outcomes,
                         std::vector<storage::StateRecord>& records) {
  for (size_t i = 0; i < outcomes.size() && i < txs.size(); ++i) {
    const ledger::Outcome& outcome = outcomes[i];
    if (outcome.exists || !indexable_id(outcome.tx_id) || txs[i].client_id != outcome.tx_id) {
      continue;
    }
    std::string value = ledger::encode_outcome(outcome);
    records.push_back(storage::StateRecord{outcome_key(outcome.tx_id, outcome.scope),
                                           storage::Bytes(value.begin(), value.end())});
  }
}

base::Result<std::vector<std::optional<ledger::Outcome>>> recorded_outcomes(
    const storage::Store& store, std::span<const ledger::Transaction> txs) {
  std::vector<std::optional<ledger::Outcome>> found(txs.size());
  std::vector<std::string> keys;
  std::vector<size_t> positions;
  for (size_t i = 0; i < txs.size(); ++i) {
    if (!indexable_id(txs[i].client_id)) continue;
    keys.push_back(outcome_key(txs[i].client_id, ledger::client_id_scope(txs[i])));
    positions.push_back(i);
  }
  if (keys.empty()) return found;
  if (base::Status complete = history_complete(store); !complete.ok()) return complete.error();
  auto values = store.outcomes_get(keys);
  if (!values.ok()) return store_error(values.error());
  for (size_t k = 0; k < keys.size(); ++k) {
    if (!values.value()[k]) continue;
    auto outcome = decode_record(keys[k], *values.value()[k]);
    if (!outcome.ok()) return outcome.error();
    found[positions[k]] = std::move(outcome).value();
  }
  return found;
}

base::Result<std::optional<ledger::Outcome>> find_recorded_outcome(
    const storage::Store& store, std::string_view tx_id, std::optional<std::string_view> scope) {
  if (!indexable_id(tx_id)) return std::optional<ledger::Outcome>();
  std::string key = outcome_key(tx_id, scope.value_or(""));
  auto records = store.outcomes_with_prefix(key, 1);
  if (!records.ok()) return store_error(records.error());
  if (records.value().empty() || (scope && records.value().front().key != key)) {
    if (base::Status complete = history_complete(store); !complete.ok()) return complete.error();
    return std::optional<ledger::Outcome>();
  }
  const storage::StateRecord& record = records.value().front();
  auto outcome = decode_record(record.key, record.value);
  if (!outcome.ok()) return outcome.error();
  return std::optional(std::move(outcome).value());
}

}  // namespace aethel::node
