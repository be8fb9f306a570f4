// Property tests (RapidCheck): conservation, non-negativity, incremental root ==
// from-scratch root, proofs hold and tampered proofs fail, snapshots round-trip,
// determinism.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

// Names drawn from a small pool so transfers collide, plus a few unknown ones so
// receivers get created and unknown senders get refused.
rc::Gen<std::string> gen_name(int pool) {
  return rc::gen::map(rc::gen::inRange(0, pool + 3), [](int i) { return "u" + std::to_string(i); });
}

rc::Gen<Transfer> gen_transfer(int pool) {
  return rc::gen::build<Transfer>(
      rc::gen::set(&Transfer::from, gen_name(pool)), rc::gen::set(&Transfer::to, gen_name(pool)),
      rc::gen::set(&Transfer::amount,
                   rc::gen::weightedOneOf<int64_t>({{8, rc::gen::inRange<int64_t>(1, 400)},
                                                    {1, rc::gen::inRange<int64_t>(-3, 1)},
                                                    {1, rc::gen::arbitrary<int64_t>()}})));
}

rc::Gen<Transaction> gen_transaction(int pool) {
  return rc::gen::weightedOneOf<Transaction>(
      {{6, rc::gen::map(gen_transfer(pool),
                        [](Transfer t) { return Transaction::transfer(t.from, t.to, t.amount); })},
       {2,
        rc::gen::map(rc::gen::container<std::vector<Transfer>>(
                         static_cast<size_t>(*rc::gen::inRange(1, 5)), gen_transfer(pool)),
                     [](std::vector<Transfer> ts) { return Transaction::batch(std::move(ts)); })},
       {2, rc::gen::map(rc::gen::pair(gen_transfer(pool), rc::gen::inRange(0, 6)),
                        [](std::pair<Transfer, int> p) {
                          return Transaction::transfer(p.first.from, p.first.to, p.first.amount,
                                                       "id" + std::to_string(p.second));
                        })}});
}

Genesis gen_genesis(int pool) {
  std::vector<GenesisAccount> accounts;
  for (int i = 0; i < pool; ++i) {
    accounts.push_back({"u" + std::to_string(i), *rc::gen::inRange<int64_t>(0, 1000)});
  }
  return make_genesis(accounts).value();
}

std::vector<std::vector<Transaction>> gen_blocks(int pool) {
  const int count = *rc::gen::inRange(1, 8);
  std::vector<std::vector<Transaction>> blocks;
  for (int i = 0; i < count; ++i) {
    blocks.push_back(*rc::gen::container<std::vector<Transaction>>(
        static_cast<size_t>(*rc::gen::inRange(0, 30)), gen_transaction(pool)));
  }
  return blocks;
}

RC_GTEST_PROP(LedgerProperty, RandomTransfersConserveSupplyAndStayNonNegative, ()) {
  const int pool = *rc::gen::inRange(2, 12);
  Ledger ledger(gen_genesis(pool));
  const int64_t supply = ledger.total_supply();
  for (const auto& block : gen_blocks(pool)) {
    const auto result = ledger.apply_block(ledger.height() + 1, block);
    RC_ASSERT(result.ok());
    int64_t sum = 0;
    for (const auto& [name, account] : ledger.accounts_page("", 1'000'000)) {
      RC_ASSERT(account.balance >= 0);
      sum += account.balance;
    }
    RC_ASSERT(sum == supply);
    RC_ASSERT(result.value().root == ledger.root());
  }
}

RC_GTEST_PROP(LedgerProperty, IncrementalRootEqualsFromScratchRoot, ()) {
  const int pool = *rc::gen::inRange(1, 40);
  Ledger ledger(gen_genesis(pool));
  for (const auto& block : gen_blocks(pool)) {
    RC_ASSERT(ledger.apply_block(ledger.height() + 1, block).ok());
    const auto all = ledger.accounts_page("", 1'000'000);
    RC_ASSERT(merkle_root_from_scratch(all) == ledger.root());
  }
}

RC_GTEST_PROP(LedgerProperty, FailedTransactionsChangeNothing, ()) {
  const int pool = *rc::gen::inRange(2, 8);
  Ledger ledger(gen_genesis(pool));
  const auto tx = *gen_transaction(pool);
  const auto before = ledger.accounts_page("", 1'000'000);
  const auto result = ledger.apply_block(1, std::vector<Transaction>{tx});
  RC_ASSERT(result.ok());
  if (!result.value().outcomes[0].committed()) {
    RC_ASSERT(ledger.accounts_page("", 1'000'000) == before);
  }
}

RC_GTEST_PROP(LedgerProperty, ProofsVerifyAndTamperedProofsFail, ()) {
  const int pool = *rc::gen::inRange(1, 30);
  Ledger ledger(gen_genesis(pool));
  for (const auto& block : gen_blocks(pool)) {
    RC_ASSERT(ledger.apply_block(ledger.height() + 1, block).ok());
  }
  const std::string name = *gen_name(pool + 10);
  const auto account = ledger.account(name);
  const Proof proof = ledger.prove(name);
  RC_ASSERT(!verify_proof(ledger.root(), name, account, proof).has_value());
  // Both encodings carry the same proof.
  RC_ASSERT(decode_proof(encode_proof(proof)).value() == proof);
  RC_ASSERT(proof_from_json(proof_to_json(proof)).value() == proof);

  if (!proof.siblings.empty()) {
    Proof bad = proof;
    const size_t s = *rc::gen::inRange<size_t>(0, bad.siblings.size());
    const unsigned b = *rc::gen::inRange(0u, 256u);
    bad.siblings[s][b / 8] ^= static_cast<uint8_t>(1u << (b % 8));
    RC_ASSERT(verify_proof(ledger.root(), name, account, bad).has_value());
  }
  if (account) {
    Account wrong = *account;
    wrong.balance += *rc::gen::inRange<int64_t>(1, 100);
    RC_ASSERT(verify_proof(ledger.root(), name, wrong, proof).has_value());
    RC_ASSERT(verify_proof(ledger.root(), name, std::nullopt, proof).has_value());
  } else {
    RC_ASSERT(verify_proof(ledger.root(), name, Account{0, 0}, proof).has_value());
  }
  const std::string other = name + "x";
  if (!ledger.account(other) && account) {
    RC_ASSERT(verify_proof(ledger.root(), other, account, proof).has_value());
  }
  Hash wrong_root = ledger.root();
  wrong_root[*rc::gen::inRange(0, 32)] ^= 0x80;
  RC_ASSERT(verify_proof(wrong_root, name, account, proof).has_value());
}

RC_GTEST_PROP(LedgerProperty, ReplayingKeyedTransactionsChangesNothing, ()) {
  const int pool = *rc::gen::inRange(2, 10);
  Ledger ledger(gen_genesis(pool));
  std::vector<Transaction> block = *rc::gen::container<std::vector<Transaction>>(
      static_cast<size_t>(*rc::gen::inRange(1, 20)), gen_transaction(pool));
  for (size_t i = 0; i < block.size(); ++i) block[i].client_id = "key-" + std::to_string(i);
  const auto first = ledger.apply_block(1, block);
  RC_ASSERT(first.ok());
  const std::string state_after_first = ledger.serialize();
  // A transaction refused before its sender was found and authorized leaves its id
  // free (it failed, and a retry is evaluated afresh); every other one took its id.
  std::vector<Transaction> taken;
  std::vector<Outcome> expected;
  for (size_t i = 0; i < block.size(); ++i) {
    const Outcome& outcome = first.value().outcomes[i];
    if (outcome.tx_id != block[i].client_id) {
      RC_ASSERT(outcome.code == OutcomeCode::kUnknownAccount ||
                outcome.code == OutcomeCode::kInvalidName);
      continue;
    }
    taken.push_back(block[i]);
    expected.push_back(outcome);
    expected.back().exists = true;
  }
  const auto replay = ledger.apply_block(2, taken);
  RC_ASSERT(replay.ok());
  RC_ASSERT(replay.value().root == first.value().root);
  RC_ASSERT(replay.value().outcomes == expected);
  // Only the height moved: every balance, nonce and remembered outcome is the same.
  RC_ASSERT(ledger.accounts_page("", 1'000'000) ==
            Ledger::deserialize(state_after_first).value().accounts_page("", 1'000'000));
  RC_ASSERT(ledger.remembered_transactions() == block.size());
}

RC_GTEST_PROP(LedgerProperty, SnapshotRoundTripNeverChangesTheRoot, ()) {
  const int pool = *rc::gen::inRange(1, 20);
  Ledger ledger(gen_genesis(pool));
  for (const auto& block : gen_blocks(pool)) {
    RC_ASSERT(ledger.apply_block(ledger.height() + 1, block).ok());
  }
  const std::string bytes = ledger.serialize();
  const auto loaded = Ledger::deserialize(bytes);
  RC_ASSERT(loaded.ok());
  RC_ASSERT(loaded.value().root() == ledger.root());
  RC_ASSERT(loaded.value().serialize() == bytes);
}

RC_GTEST_PROP(LedgerProperty, SameBlocksGiveTheSameRootOnTwoLedgers, ()) {
  const int pool = *rc::gen::inRange(1, 20);
  const Genesis genesis = gen_genesis(pool);
  Ledger a(genesis);
  Ledger b(genesis);
  for (const auto& block : gen_blocks(pool)) {
    const auto ra = a.apply_block(a.height() + 1, block);
    const auto rb = b.apply_block(b.height() + 1, block);
    RC_ASSERT(ra.ok() && rb.ok());
    RC_ASSERT(ra.value().root == rb.value().root);
    RC_ASSERT(ra.value().outcomes == rb.value().outcomes);
  }
  RC_ASSERT(a.serialize() == b.serialize());
}

}  // namespace
}  // namespace aethel::ledger
