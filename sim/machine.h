// The replicated state machine as the simulator sees it. Two implementations:
//   kBank   — sim/bank.h, a tiny 8-account bank (fast; no dependency)
//   kLedger — the real aethel::ledger (sparse Merkle tree, idempotency by client id):
//             Raft entry i is ledger block i, so "same height => same root" is checked
//             directly on the ledger's Merkle root.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "consensus/consensus.h"

namespace aethel::sim {

enum class MachineKind : std::uint8_t { kBank, kLedger };
// "bank" or "ledger" ("" = ledger when built with it, else bank); false for anything else
// (or "ledger" when built without it).
bool parse_machine(const std::string& name, MachineKind& kind);
const char* machine_name(MachineKind kind);

// A transfer request. (client, seq) is its idempotency key: a client sends seq n+1 only
// after n was acknowledged, and retries n until then.
struct Transfer {
  std::uint64_t client = 0;
  std::uint64_t seq = 0;
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  std::uint64_t amount = 0;
};

inline constexpr std::size_t kAccounts = 8;
inline constexpr std::uint64_t kInitialBalance = 1000;
inline constexpr std::uint64_t kTotalBalance = kAccounts * kInitialBalance;

struct AppliedTransfer {
  std::uint64_t client = 0;
  std::uint64_t seq = 0;
  consensus::Index first_index = 0;  // where it was first applied (retries: earlier)
};

class Machine {
 public:
  virtual ~Machine() = default;
  // The bytes a client's transfer travels as in a log entry.
  virtual consensus::Bytes encode(const Transfer& transfer) const = 0;
  // Applies committed entry `index` (== applied() + 1); empty data is a no-op entry.
  // Returns the transfer it carried, if any. False in `ok` if the machine refused.
  virtual std::optional<AppliedTransfer> apply(consensus::Index index,
                                               std::span<const std::uint8_t> data,
                                               std::string& error) = 0;
  virtual consensus::Index applied() const = 0;
  // A digest of the whole state (the ledger's Merkle root folded to 64 bits).
  virtual std::uint64_t state_hash() const = 0;
  // Sum of all balances (conservation).
  virtual std::uint64_t total() const = 0;
  // Whether (client, seq) was applied; `index` is where, when known.
  virtual bool has_applied(std::uint64_t client, std::uint64_t seq,
                           consensus::Index& index) const = 0;
  virtual consensus::Bytes serialize() const = 0;
};

std::unique_ptr<Machine> make_machine(MachineKind kind);
// Null when the bytes are not a valid snapshot of that kind.
std::unique_ptr<Machine> restore_machine(MachineKind kind, std::span<const std::uint8_t> bytes);

std::uint64_t hash_bytes(std::uint64_t seed, std::span<const std::uint8_t> bytes);

}  // namespace aethel::sim
