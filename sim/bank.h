// The simulator's own tiny state machine: 8 fixed accounts with per-client idempotent
// transfers and a running hash over applied entries as its state digest. Fast, and free of
// dependencies; the real ledger is the other Machine (ledger_machine.cpp).
#pragma once

#include <array>
#include <map>

#include "sim/machine.h"

namespace aethel::sim {

consensus::Bytes encode_transfer(const Transfer& transfer);
std::optional<Transfer> decode_transfer(std::span<const std::uint8_t> bytes);

enum class Outcome : std::uint8_t { kApplied, kInsufficientFunds, kInvalid };

class Bank final : public Machine {
 public:
  struct ClientRecord {
    std::uint64_t seq = 0;
    Outcome outcome = Outcome::kApplied;
    consensus::Index index = 0;  // where seq was applied
  };

  Bank();
  consensus::Bytes encode(const Transfer& transfer) const override {
    return encode_transfer(transfer);
  }
  std::optional<AppliedTransfer> apply(consensus::Index index, std::span<const std::uint8_t> data,
                                       std::string& error) override;
  consensus::Index applied() const override { return applied_; }
  std::uint64_t state_hash() const override { return hash_; }
  std::uint64_t total() const override;
  bool has_applied(std::uint64_t client, std::uint64_t seq, consensus::Index& index) const override;
  consensus::Bytes serialize() const override;
  static std::optional<Bank> deserialize(std::span<const std::uint8_t> bytes);

 private:
  std::array<std::uint64_t, kAccounts> balances_{};
  std::map<std::uint64_t, ClientRecord> clients_;  // ordered: deterministic serialization
  consensus::Index applied_ = 0;
  std::uint64_t hash_ = 0;
};

}  // namespace aethel::sim
