// The real ledger behind the simulator's Machine interface (built when aethel_ledger is
// available: AETHEL_SIM_WITH_LEDGER).
#include <string>

#include "ledger/ledger.h"
#include "sim/machine.h"

namespace aethel::sim {
namespace {

std::string account_name(std::uint32_t account) {
  return "acct" + std::to_string(account);
}

std::string client_id(std::uint64_t client, std::uint64_t seq) {
  return "c" + std::to_string(client) + "-" + std::to_string(seq);
}

// Parses "c<client>-<seq>" back; false for anything else.
bool parse_client_id(const std::string& id, std::uint64_t& client, std::uint64_t& seq) {
  const auto dash = id.find('-');
  if (id.size() < 4 || id[0] != 'c' || dash == std::string::npos) return false;
  try {
    client = std::stoull(id.substr(1, dash - 1));
    seq = std::stoull(id.substr(dash + 1));
  } catch (...) {
    return false;
  }
  return true;
}

ledger::Genesis sim_genesis() {
  std::vector<ledger::GenesisAccount> accounts;
  for (std::uint32_t i = 0; i < kAccounts; ++i) {
    accounts.push_back({account_name(i), static_cast<std::int64_t>(kInitialBalance)});
  }
  return ledger::make_genesis(std::move(accounts)).value();
}

class LedgerMachine final : public Machine {
 public:
  explicit LedgerMachine(ledger::Ledger ledger) : ledger_(std::move(ledger)) {}

  consensus::Bytes encode(const Transfer& t) const override {
    const std::string bytes = ledger::encode_transaction(ledger::Transaction::transfer(
        account_name(t.from), account_name(t.to), static_cast<std::int64_t>(t.amount),
        client_id(t.client, t.seq)));
    return consensus::Bytes(bytes.begin(), bytes.end());
  }

  std::optional<AppliedTransfer> apply(consensus::Index index, std::span<const std::uint8_t> data,
                                       std::string& error) override {
    std::vector<ledger::Transaction> block;
    if (!data.empty()) {
      auto tx = ledger::decode_transaction(
          std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
      if (!tx.ok()) {
        error = "ledger refused a committed entry: " + tx.error().message;
        return std::nullopt;
      }
      block.push_back(std::move(tx).value());
    }
    auto result = ledger_.apply_block(index, block);
    if (!result.ok()) {
      error = "ledger refused block " + std::to_string(index) + ": " + result.error().message;
      return std::nullopt;
    }
    if (block.empty()) return std::nullopt;
    const ledger::Outcome& outcome = result.value().outcomes.front();
    AppliedTransfer applied;
    if (!parse_client_id(outcome.tx_id, applied.client, applied.seq)) return std::nullopt;
    applied.first_index = outcome.height;
    return applied;
  }

  consensus::Index applied() const override { return ledger_.height(); }

  std::uint64_t state_hash() const override {
    const ledger::Hash& root = ledger_.root();
    return hash_bytes(ledger_.height(), root);
  }

  std::uint64_t total() const override {
    std::uint64_t sum = 0;
    for (std::uint32_t i = 0; i < kAccounts; ++i) {
      const auto account = ledger_.account(account_name(i));
      if (!account || account->balance < 0) return 0;  // reported as a conservation failure
      sum += static_cast<std::uint64_t>(account->balance);
    }
    return sum;
  }

  bool has_applied(std::uint64_t client, std::uint64_t seq,
                   consensus::Index& index) const override {
    const auto outcome = ledger_.find_transaction(client_id(client, seq));
    if (!outcome) return false;
    index = outcome->height;
    return true;
  }

  consensus::Bytes serialize() const override {
    const std::string bytes = ledger_.serialize();
    return consensus::Bytes(bytes.begin(), bytes.end());
  }

 private:
  ledger::Ledger ledger_;
};

}  // namespace

std::unique_ptr<Machine> make_ledger_machine() {
  return std::make_unique<LedgerMachine>(ledger::Ledger(sim_genesis()));
}

std::unique_ptr<Machine> restore_ledger_machine(std::span<const std::uint8_t> bytes) {
  auto restored = ledger::Ledger::deserialize(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!restored.ok()) return nullptr;
  return std::make_unique<LedgerMachine>(std::move(restored).value());
}

}  // namespace aethel::sim
