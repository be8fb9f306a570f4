// libFuzzer target for every decoder of outside bytes in the ledger: genesis JSON,
// snapshots, proofs (bytes and JSON) and transactions (transfers, invocations of a
// deployed intent, deployments). The first input byte picks
// the decoder. Besides "never crash", accepted input must be canonical: encoding
// what was decoded gives back the same bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ledger/ledger.h"

using namespace aethel::ledger;

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

void fuzz_genesis(std::string_view text) {
  const auto genesis = parse_genesis(text);
  if (!genesis.ok()) return;
  require(make_genesis(genesis.value().accounts).ok());
  const auto again = parse_genesis(genesis_to_json(genesis.value()));
  require(again.ok() && again.value() == genesis.value());
  const Ledger ledger(genesis.value());
  require(!ledger.check_invariants().has_value());
}

void fuzz_snapshot(std::string_view bytes) {
  const auto ledger = Ledger::deserialize(bytes);
  if (!ledger.ok()) return;
  // Older format versions are read and written back in the current one, which is
  // canonical: the same state, the same bytes.
  const std::string written = ledger.value().serialize();
  const auto again = Ledger::deserialize(written);
  require(again.ok() && again.value().serialize() == written &&
          again.value().root() == ledger.value().root());
  if (bytes.substr(8, 4) == std::string_view(written).substr(8, 4)) require(written == bytes);
  require(!ledger.value().check_invariants().has_value());
}

void fuzz_proof_bytes(std::string_view bytes) {
  const auto proof = decode_proof(bytes);
  if (!proof.ok()) return;
  require(encode_proof(proof.value()) == bytes);
  // Checking it against something must not crash either.
  (void)verify_proof(kEmptyHash, "Alice", std::nullopt, proof.value());
}

void fuzz_proof_json(std::string_view text) {
  const auto proof = proof_from_json(text);
  if (!proof.ok()) return;
  const auto again = proof_from_json(proof_to_json(proof.value()));
  require(again.ok() && again.value() == proof.value());
  (void)verify_proof(kEmptyHash, "Bob", Account{1, 2}, proof.value());
}

// The default genesis with one intent deployed at height 1, so that invocations
// reach the intent runner (deployments in the input compile their own).
const Ledger& ledger_with_intent() {
  static const Ledger ledger = [] {
    Ledger l(default_genesis());
    const Transaction deploy = Transaction::deploy(
        "intent split(payer: Account, left: Account, right: Account, amount: Amount) {"
        " guard { amount > 0; old_payer >= amount; } solve { p: q; }"
        " verify { payer == old_payer - amount; left == old_left + amount / 2;"
        " right == old_right + (amount - amount / 2); } }",
        "fuzz");
    require(
        l.apply_block(1, std::span<const Transaction>(&deploy, 1)).value().outcomes[0].committed());
    return l;
  }();
  return ledger;
}

void fuzz_transaction(std::string_view bytes) {
  const auto tx = decode_transaction(bytes);
  if (!tx.ok()) return;
  require(encode_transaction(tx.value()) == bytes);
  Ledger ledger = ledger_with_intent();
  const auto result = ledger.apply_block(2, std::span<const Transaction>(&tx.value(), 1));
  require(result.ok() && !ledger.check_invariants().has_value());
  // Whatever it did, the state still round-trips through a snapshot.
  const auto restored = Ledger::deserialize(ledger.serialize());
  require(restored.ok() && restored.value().root() == ledger.root());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      fuzz_genesis(rest);
      break;
    case 1:
      fuzz_snapshot(rest);
      break;
    case 2:
      fuzz_proof_bytes(rest);
      break;
    case 3:
      fuzz_proof_json(rest);
      break;
    default:
      fuzz_transaction(rest);
      break;
  }
  return 0;
}
