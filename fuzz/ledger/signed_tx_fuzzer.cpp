// libFuzzer target for signed transactions (SPEC §8): any bytes through the
// transaction decoder, then against a closed ledger whose Alice and Bob have owners.
// Each decoded transaction runs twice: as decoded (its signatures almost never
// verify, so the refusal paths run), and with every item re-signed by the owner of
// its sender (so authorization passes and the paths behind it run). Besides "never
// crash": accepted input is canonical, signing bytes never depend on the signature,
// conservation holds, and a refusal changes nothing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ledger/ledger.h"

using namespace aethel::ledger;

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

KeyPair key_of(uint8_t byte) {
  std::array<uint8_t, 32> seed{};
  seed.fill(byte);
  return key_pair_from_seed(seed);
}

const KeyPair& alice_key() {
  static const KeyPair key = key_of(1);
  return key;
}
const KeyPair& bob_key() {
  static const KeyPair key = key_of(2);
  return key;
}

const Ledger& closed_ledger() {
  static const Ledger ledger = [] {
    Limits limits;
    limits.lattice_id = sha256("fuzz lattice");
    const Genesis genesis = make_genesis({{"Alice", 1000, alice_key().public_key},
                                          {"Bob", 500, bob_key().public_key},
                                          {"Carol", 250}},
                                         false)
                                .value();
    return Ledger(genesis, limits);
  }();
  return ledger;
}

void apply_and_check(const Transaction& tx) {
  Ledger ledger = closed_ledger();
  const Hash before = ledger.root();
  const auto result = ledger.apply_block(1, std::span<const Transaction>(&tx, 1));
  require(result.ok() && !ledger.check_invariants().has_value());
  if (!result.value().outcomes[0].committed()) require(ledger.root() == before);
}

// Every item signed by the owner of the account it debits (Alice's key otherwise).
Transaction resigned(Transaction tx) {
  for (size_t i = 0; i < tx.transfers.size() && i < 64; ++i) {
    const std::string& from = tx.transfers[i].from;
    const KeyPair& key = from == "Bob" ? bob_key() : alice_key();
    if (tx.kind == TxKind::kOpenAccount && tx.transfers[i].owner) {
      // An opening is signed by the key it installs; only ours can sign.
      tx.transfers[i].owner = key.public_key;
    }
    const std::string unsigned_bytes = signing_bytes(closed_ledger().limits().lattice_id, tx, i);
    sign_item(key, closed_ledger().limits().lattice_id, tx, i);
    require(signing_bytes(closed_ledger().limits().lattice_id, tx, i) == unsigned_bytes);
  }
  return tx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto tx = decode_transaction(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!tx.ok()) return 0;
  require(encode_transaction(tx.value()) ==
          std::string_view(reinterpret_cast<const char*>(data), size));
  apply_and_check(tx.value());
  apply_and_check(resigned(tx.value()));
  return 0;
}
