#include "sim/machine.h"

#include "sim/bank.h"

namespace aethel::sim {

#ifdef AETHEL_SIM_WITH_LEDGER
std::unique_ptr<Machine> make_ledger_machine();
std::unique_ptr<Machine> restore_ledger_machine(std::span<const std::uint8_t> bytes);
#endif

bool parse_machine(const std::string& name, MachineKind& kind) {
  if (name.empty()) {  // the default: the real ledger whenever the build has it
#ifdef AETHEL_SIM_WITH_LEDGER
    kind = MachineKind::kLedger;
#else
    kind = MachineKind::kBank;
#endif
    return true;
  }
  if (name == "bank") {
    kind = MachineKind::kBank;
    return true;
  }
#ifdef AETHEL_SIM_WITH_LEDGER
  if (name == "ledger") {
    kind = MachineKind::kLedger;
    return true;
  }
#endif
  return false;
}

const char* machine_name(MachineKind kind) {
  return kind == MachineKind::kLedger ? "ledger" : "bank";
}

std::unique_ptr<Machine> make_machine(MachineKind kind) {
#ifdef AETHEL_SIM_WITH_LEDGER
  if (kind == MachineKind::kLedger) return make_ledger_machine();
#endif
  (void)kind;
  return std::make_unique<Bank>();
}

std::unique_ptr<Machine> restore_machine(MachineKind kind, std::span<const std::uint8_t> bytes) {
#ifdef AETHEL_SIM_WITH_LEDGER
  if (kind == MachineKind::kLedger) return restore_ledger_machine(bytes);
#endif
  (void)kind;
  std::optional<Bank> bank = Bank::deserialize(bytes);
  if (!bank) return nullptr;
  return std::make_unique<Bank>(std::move(*bank));
}

std::uint64_t hash_bytes(std::uint64_t seed, std::span<const std::uint8_t> bytes) {
  std::uint64_t h = seed ^ 0xcbf29ce484222325ULL;
  for (std::uint8_t b : bytes) h = (h ^ b) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

}  // namespace aethel::sim
