// Transfers, batches, idempotency, retention, lookups and determinism.
#include <gtest/gtest.h>

#include <utility>

#include "ledger/ledger.h"
#include "ledger/rules.h"

namespace aethel::ledger {
namespace {

BlockResult apply(Ledger& ledger, std::vector<Transaction> txs) {
  auto result = ledger.apply_block(ledger.height() + 1, txs);
  EXPECT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.value().outcomes.size(), txs.size());
  EXPECT_FALSE(ledger.check_invariants().has_value());
  return std::move(result).value();
}

Outcome apply_one(Ledger& ledger, Transaction tx) {
  return apply(ledger, {std::move(tx)}).outcomes.at(0);
}

int64_t balance(const Ledger& ledger, std::string_view name) {
  const auto account = ledger.account(name);
  EXPECT_TRUE(account.has_value()) << name;
  return account ? account->balance : -1;
}

TEST(LedgerTransfer, GuideExampleMovesMoneyAndChangesTheRoot) {
  Ledger ledger(default_genesis());
  const Hash root_before = ledger.root();
  const Outcome o = apply_one(ledger, Transaction::transfer("Alice", "Bob", 100));
  EXPECT_TRUE(o.committed()) << o.message;
  EXPECT_EQ(o.code, OutcomeCode::kCommitted);
  EXPECT_FALSE(o.exists);
  EXPECT_EQ(o.height, 1u);
  EXPECT_EQ(o.tx_id.size(), 64u);  // derived id: hex SHA-256
  EXPECT_EQ(balance(ledger, "Alice"), 900);
  EXPECT_EQ(balance(ledger, "Bob"), 600);
  EXPECT_EQ(ledger.account("Alice")->nonce, 1u);
  EXPECT_EQ(ledger.account("Bob")->nonce, 0u);
  EXPECT_NE(ledger.root(), root_before);
  EXPECT_EQ(ledger.height(), 1u);
}

struct Refusal {
  Transaction tx;
  OutcomeCode code;
  const char* message_part;
};

class LedgerTransferRefuses : public testing::TestWithParam<Refusal> {};

TEST_P(LedgerTransferRefuses, WithTheReasonAndChangesNoBalance) {
  Ledger ledger(default_genesis());
  const Hash root_before = ledger.root();
  const auto page_before = ledger.accounts_page("", 100);
  const BlockResult block = apply(ledger, {GetParam().tx});
  const Outcome& o = block.outcomes[0];
  EXPECT_FALSE(o.committed());
  EXPECT_EQ(o.code, GetParam().code) << o.message;
  EXPECT_NE(o.message.find(GetParam().message_part), std::string::npos) << o.message;
  EXPECT_EQ(ledger.accounts_page("", 100), page_before);
  EXPECT_EQ(ledger.root(), root_before);
  EXPECT_EQ(block.root, root_before);
  // The failure is remembered like any outcome.
  const auto found = ledger.find_transaction(o.tx_id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->code, GetParam().code);
}

INSTANTIATE_TEST_SUITE_P(
    Checks, LedgerTransferRefuses,
    testing::Values(
        Refusal{Transaction::transfer("Alice", "Bob", 1001), OutcomeCode::kInsufficientFunds,
                "Alice has 1000, needs 1001"},
        Refusal{Transaction::transfer("Dave", "Bob", 1), OutcomeCode::kUnknownAccount,
                "sender Dave does not exist"},
        Refusal{Transaction::transfer("Alice", "Bob", 0), OutcomeCode::kInvalidAmount, "got 0"},
        Refusal{Transaction::transfer("Alice", "Bob", -5), OutcomeCode::kInvalidAmount, "got -5"},
        Refusal{Transaction::transfer("Alice", "Bob", INT64_MIN), OutcomeCode::kInvalidAmount,
                "-9223372036854775808"},
        Refusal{Transaction::transfer("Alice", "Alice", 1), OutcomeCode::kSelfTransfer,
                "both Alice"},
        Refusal{Transaction::transfer("Alice", "no spaces", 1), OutcomeCode::kInvalidName,
                "receiver name"},
        Refusal{Transaction::transfer("", "Bob", 1), OutcomeCode::kInvalidName, "sender name"},
        Refusal{Transaction::transfer("Alice", "Bob", 1, "", std::string(257, 'm')),
                OutcomeCode::kInvalidTransaction, "memo"},
        Refusal{Transaction::transfer("Alice", "Bob", 1, "has space"),
                OutcomeCode::kInvalidTransaction, "transaction id"},
        Refusal{Transaction::batch({}), OutcomeCode::kInvalidTransaction, "at least one"},
        Refusal{Transaction::batch({{"Alice", "Bob", 10, ""}, {"Bob", "Charlie", 600, ""}}),
                OutcomeCode::kInsufficientFunds, "transfer 2 of 2"}));

TEST(LedgerTransfer, AmountEqualToBalanceEmptiesTheAccount) {
  Ledger ledger(default_genesis());
  EXPECT_TRUE(apply_one(ledger, Transaction::transfer("Charlie", "Bob", 250)).committed());
  EXPECT_EQ(balance(ledger, "Charlie"), 0);
  const Outcome again = apply_one(ledger, Transaction::transfer("Charlie", "Bob", 1));
  EXPECT_EQ(again.code, OutcomeCode::kInsufficientFunds);
  EXPECT_NE(again.message.find("Charlie has 0, needs 1"), std::string::npos);
}

TEST(LedgerTransfer, UnknownReceiverIsCreatedWithTheAmount) {
  Ledger ledger(default_genesis());
  EXPECT_FALSE(ledger.account("Dave").has_value());
  EXPECT_TRUE(apply_one(ledger, Transaction::transfer("Alice", "Dave", 10)).committed());
  EXPECT_EQ(ledger.account("Dave"), (Account{10, 0}));
  EXPECT_EQ(ledger.account_count(), 4u);
}

TEST(LedgerTransfer, AccountLimitRefusesNewReceiversOnly) {
  Limits limits;
  limits.max_accounts = 3;
  Ledger ledger(default_genesis(), limits);
  const Outcome o = apply_one(ledger, Transaction::transfer("Alice", "Dave", 10));
  EXPECT_EQ(o.code, OutcomeCode::kAccountLimit);
  EXPECT_FALSE(ledger.account("Dave").has_value());
  EXPECT_TRUE(apply_one(ledger, Transaction::transfer("Alice", "Bob", 10)).committed());
}

TEST(LedgerTransfer, ReceiverAtTheTopOfInt64StillReceivesWithinTheSupply) {
  // With conservation, a receiver can never pass the supply, itself <= INT64_MAX: the
  // overflow check is defence in depth. The edge itself must work.
  const auto genesis = make_genesis({{"A", INT64_MAX - 1}, {"B", 1}});
  ASSERT_TRUE(genesis.ok());
  Ledger ledger(genesis.value());
  EXPECT_TRUE(apply_one(ledger, Transaction::transfer("B", "A", 1)).committed());
  EXPECT_EQ(balance(ledger, "A"), INT64_MAX);
  EXPECT_EQ(balance(ledger, "B"), 0);
  EXPECT_EQ(apply_one(ledger, Transaction::transfer("B", "A", 1)).code,
            OutcomeCode::kInsufficientFunds);
}

TEST(LedgerBatch, CommitsAllInOrderSpendingWhatEarlierTransfersReceived) {
  Ledger ledger(default_genesis());
  const Outcome o = apply_one(
      ledger, Transaction::batch({{"Charlie", "Bob", 250, ""}, {"Bob", "Alice", 750, ""}}, "b1"));
  EXPECT_TRUE(o.committed()) << o.message;
  EXPECT_EQ(balance(ledger, "Alice"), 1750);
  EXPECT_EQ(balance(ledger, "Bob"), 0);
  EXPECT_EQ(balance(ledger, "Charlie"), 0);
  EXPECT_EQ(ledger.account("Bob")->nonce, 1u);
  EXPECT_EQ(ledger.account("Charlie")->nonce, 1u);
}

TEST(LedgerBatch, OneFailureAppliesNothingNotEvenCreatedAccounts) {
  Ledger ledger(default_genesis());
  const Hash root_before = ledger.root();
  const Outcome o = apply_one(ledger, Transaction::batch({{"Alice", "Newcomer", 100, ""},
                                                          {"Bob", "Charlie", 100, ""},
                                                          {"Charlie", "Alice", 0, ""}}));
  EXPECT_EQ(o.code, OutcomeCode::kInvalidAmount);
  EXPECT_EQ(o.failed_transfer, 2u);
  EXPECT_NE(o.message.find("nothing was applied"), std::string::npos);
  EXPECT_EQ(balance(ledger, "Alice"), 1000);
  EXPECT_EQ(balance(ledger, "Bob"), 500);
  EXPECT_EQ(ledger.account("Alice")->nonce, 0u);
  EXPECT_FALSE(ledger.account("Newcomer").has_value());
  EXPECT_EQ(ledger.root(), root_before);
}

TEST(LedgerBatch, LargeBatchUsesTheIndexedOverlayCorrectly) {
  // More than a handful of accounts in one batch: a chain A->x0->x1->...->x39.
  Ledger ledger(default_genesis());
  std::vector<Transfer> chain{{"Alice", "x0", 40, ""}};
  for (int i = 0; i + 1 < 40; ++i) {
    chain.push_back({"x" + std::to_string(i), "x" + std::to_string(i + 1), 40 - i - 1, ""});
  }
  EXPECT_TRUE(apply_one(ledger, Transaction::batch(chain)).committed());
  for (int i = 0; i < 40; ++i) EXPECT_EQ(balance(ledger, "x" + std::to_string(i)), 1) << i;
  EXPECT_EQ(balance(ledger, "Alice"), 960);
}

TEST(LedgerIdempotency, RetryReturnsTheOriginalOutcomeAndChangesNothing) {
  Ledger ledger(default_genesis());
  const Outcome first = apply_one(ledger, Transaction::transfer("Alice", "Bob", 100, "pay-1"));
  ASSERT_TRUE(first.committed());
  EXPECT_EQ(first.tx_id, "pay-1");
  const Hash root = ledger.root();
  const Outcome retry = apply_one(ledger, Transaction::transfer("Alice", "Bob", 100, "pay-1"));
  EXPECT_TRUE(retry.exists);
  EXPECT_TRUE(retry.committed());
  EXPECT_EQ(retry.height, first.height);
  EXPECT_EQ(retry.index, first.index);
  EXPECT_EQ(balance(ledger, "Bob"), 600);
  EXPECT_EQ(ledger.account("Alice")->nonce, 1u);
  EXPECT_EQ(ledger.root(), root);
  // check() answers the same without applying.
  const Outcome checked = ledger.check(Transaction::transfer("Alice", "Bob", 100, "pay-1"));
  EXPECT_TRUE(checked.exists);
  EXPECT_EQ(checked.height, 1u);
}

TEST(LedgerIdempotency, RetryOfAFailureReturnsTheFailureEvenOnceItWouldPass) {
  Ledger ledger(default_genesis());
  const Outcome first = apply_one(ledger, Transaction::transfer("Charlie", "Bob", 300, "c-1"));
  ASSERT_EQ(first.code, OutcomeCode::kInsufficientFunds);
  ASSERT_TRUE(apply_one(ledger, Transaction::transfer("Alice", "Charlie", 100)).committed());
  const Outcome retry = apply_one(ledger, Transaction::transfer("Charlie", "Bob", 300, "c-1"));
  EXPECT_TRUE(retry.exists);
  EXPECT_EQ(retry.code, OutcomeCode::kInsufficientFunds);
  EXPECT_EQ(retry.message, first.message);
  EXPECT_EQ(balance(ledger, "Charlie"), 350);
}

TEST(LedgerIdempotency, DuplicateInsideOneBlockAppliesOnce) {
  Ledger ledger(default_genesis());
  const BlockResult block = apply(ledger, {Transaction::transfer("Alice", "Bob", 1, "dup"),
                                           Transaction::transfer("Alice", "Bob", 1, "dup")});
  EXPECT_FALSE(block.outcomes[0].exists);
  EXPECT_TRUE(block.outcomes[1].exists);
  EXPECT_EQ(block.outcomes[1].index, 0u);
  EXPECT_EQ(balance(ledger, "Bob"), 501);
}

TEST(LedgerIdempotency, RetentionByBlocksForgetsAfterTheWindow) {
  Limits limits;
  limits.tx_retention_blocks = 3;
  Ledger ledger(default_genesis(), limits);
  apply_one(ledger, Transaction::transfer("Alice", "Bob", 1, "old"));  // height 1
  apply(ledger, {});                                                   // height 2
  apply(ledger, {});                                                   // height 3
  ASSERT_TRUE(ledger.find_transaction("old").has_value());             // 3 - 1 < 3
  const Outcome retry = apply_one(ledger, Transaction::transfer("Alice", "Bob", 1, "old"));
  EXPECT_TRUE(retry.exists);  // applied at 4, before expiry at the end of block 4
  EXPECT_FALSE(ledger.find_transaction("old").has_value());  // 4 - 1 >= 3: forgotten
  const Outcome late = apply_one(ledger, Transaction::transfer("Alice", "Bob", 1, "old"));
  EXPECT_FALSE(late.exists);
  EXPECT_TRUE(late.committed());
  EXPECT_EQ(balance(ledger, "Bob"), 502);
}

TEST(LedgerIdempotency, RetentionByCountKeepsTheNewest) {
  Limits limits;
  limits.tx_retention_count = 2;
  Ledger ledger(default_genesis(), limits);
  apply(ledger, {Transaction::transfer("Alice", "Bob", 1, "t1"),
                 Transaction::transfer("Alice", "Bob", 1, "t2"),
                 Transaction::transfer("Alice", "Bob", 1, "t3")});
  EXPECT_EQ(ledger.remembered_transactions(), 2u);
  EXPECT_FALSE(ledger.find_transaction("t1").has_value());
  EXPECT_TRUE(ledger.find_transaction("t2").has_value());
  EXPECT_TRUE(ledger.find_transaction("t3").has_value());
}

TEST(LedgerLookup, FindTransactionByDerivedId) {
  Ledger ledger(default_genesis());
  const BlockResult block = apply(
      ledger, {Transaction::transfer("Alice", "Bob", 5), Transaction::transfer("Alice", "Bob", 5)});
  // Same content, different position: different ids.
  EXPECT_NE(block.outcomes[0].tx_id, block.outcomes[1].tx_id);
  const auto found = ledger.find_transaction(block.outcomes[1].tx_id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->height, 1u);
  EXPECT_EQ(found->index, 1u);
  EXPECT_FALSE(found->exists);
  EXPECT_FALSE(ledger.find_transaction("nope").has_value());
}

// Derived ids are indexed by generations (GenerationIndex), client ids one by one:
// across several generations and a window that turns over, every remembered outcome is
// found by its id, no forgotten one is, and a copy (which rebuilds both indexes) agrees.
TEST(LedgerLookup, EveryRememberedIdIsFoundAndNoForgottenOne) {
  Limits limits;
  limits.tx_retention_count = 40'000;
  Ledger ledger(default_genesis(), limits);
  std::vector<Outcome> applied;
  for (int block = 0; block < 100; ++block) {
    std::vector<Transaction> txs;
    for (int i = 0; i < 999; ++i) {
      txs.push_back(i % 2 ? Transaction::transfer("Alice", "Bob", 1)
                          : Transaction::transfer("Bob", "Alice", 1));
    }
    txs.push_back(Transaction::transfer("Alice", "Bob", 1, "k" + std::to_string(block)));
    for (Outcome& o : apply(ledger, std::move(txs)).outcomes) applied.push_back(std::move(o));
  }
  ASSERT_EQ(ledger.remembered_transactions(), limits.tx_retention_count);
  const size_t first_kept = applied.size() - limits.tx_retention_count;
  const Ledger copy = ledger;
  for (size_t i = 0; i < applied.size(); i += (i % 1000 == 999) ? 1 : 97) {
    const Outcome& o = applied[i];
    for (const Ledger* l : {&std::as_const(ledger), &copy}) {
      const auto found = l->find_transaction(o.tx_id, o.scope);
      if (i < first_kept) {
        EXPECT_FALSE(found.has_value()) << i;
      } else {
        ASSERT_TRUE(found.has_value()) << i;
        EXPECT_EQ(*found, o) << i;
        EXPECT_EQ(l->find_transaction(o.tx_id), o) << i;
      }
    }
  }
}

// Deployments and invocations share the empty scope with derived ids: a client id
// there that equals a remembered derived id is a retry of that transaction. A
// transfer's client ids are its sender's, so there the same id is new.
TEST(LedgerIdempotency, AClientIdEqualToADerivedIdInItsScopeIsARetry) {
  Ledger ledger(default_genesis());
  const Outcome derived = apply_one(ledger, Transaction::transfer("Alice", "Bob", 5));
  const Outcome deploy =
      apply_one(ledger, Transaction::deploy("intent broken(", "test", derived.tx_id));
  EXPECT_TRUE(deploy.exists);
  EXPECT_EQ(deploy.height, derived.height);
  const Outcome scoped = apply_one(ledger, Transaction::transfer("Alice", "Bob", 5, derived.tx_id));
  EXPECT_FALSE(scoped.exists);
  EXPECT_TRUE(scoped.committed());
  EXPECT_EQ(balance(ledger, "Bob"), 510);
  EXPECT_EQ(ledger.find_transaction(derived.tx_id, "Alice")->height, scoped.height);
  EXPECT_EQ(ledger.find_transaction(derived.tx_id, "")->height, derived.height);
  EXPECT_EQ(ledger.find_transaction(derived.tx_id)->height, derived.height);  // the oldest
}

TEST(LedgerLookup, AccountsPageInNameOrder) {
  Ledger ledger(default_genesis());
  apply_one(ledger, Transaction::transfer("Alice", "Bobby", 1));
  const auto first = ledger.accounts_page("", 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].first, "Alice");
  EXPECT_EQ(first[1].first, "Bob");
  const auto next = ledger.accounts_page(first.back().first, 10);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].first, "Bobby");
  EXPECT_EQ(next[1].first, "Charlie");
  EXPECT_TRUE(ledger.accounts_page("Charlie", 10).empty());
}

TEST(LedgerBlock, WrongHeightIsRefusedAndChangesNothing) {
  Ledger ledger(default_genesis());
  const std::vector<Transaction> txs{Transaction::transfer("Alice", "Bob", 1)};
  const auto skipped = ledger.apply_block(2, txs);
  ASSERT_FALSE(skipped.ok());
  EXPECT_EQ(skipped.error().code, "bad_height");
  EXPECT_EQ(ledger.height(), 0u);
  EXPECT_EQ(balance(ledger, "Bob"), 500);
  EXPECT_FALSE(ledger.apply_block(0, txs).ok());
}

TEST(LedgerBlock, CheckPredictsApplyWithoutApplying) {
  Ledger ledger(default_genesis());
  const Outcome predicted = ledger.check(Transaction::transfer("Alice", "Bob", 2000));
  EXPECT_EQ(predicted.code, OutcomeCode::kInsufficientFunds);
  const Outcome ok = ledger.check(Transaction::transfer("Alice", "Eve", 20));
  EXPECT_TRUE(ok.committed());
  EXPECT_FALSE(ledger.account("Eve").has_value());
  EXPECT_EQ(ledger.height(), 0u);
}

TEST(LedgerDeterminism, SameBlocksSameRootsOutcomesAndIds) {
  Ledger a(default_genesis());
  Ledger b(default_genesis());
  const std::vector<std::vector<Transaction>> blocks{
      {Transaction::transfer("Alice", "Bob", 10), Transaction::transfer("Bob", "Zoe", 300, "z")},
      {Transaction::batch({{"Zoe", "Alice", 5, "m"}, {"Charlie", "Bob", 1000, ""}})},
      {Transaction::transfer("Zoe", "Charlie", 295)}};
  for (const auto& block : blocks) {
    const BlockResult ra = apply(a, block);
    const BlockResult rb = apply(b, block);
    EXPECT_EQ(ra.root, rb.root);
    EXPECT_EQ(ra.outcomes, rb.outcomes);
  }
  EXPECT_EQ(a.serialize(), b.serialize());
}

TEST(LedgerDeterminism, CopyIsIndependent) {
  Ledger a(default_genesis());
  apply_one(a, Transaction::transfer("Alice", "Bob", 10, "k"));
  Ledger b = a;
  apply_one(b, Transaction::transfer("Alice", "Bob", 10));
  EXPECT_EQ(balance(a, "Bob"), 510);
  EXPECT_EQ(balance(b, "Bob"), 520);
  EXPECT_TRUE(b.find_transaction("k").has_value());
  EXPECT_NE(a.root(), b.root());
}

TEST(LedgerTransactionEncoding, RoundTripsAndRefusesGarbage) {
  const Transaction tx =
      Transaction::batch({{"Alice", "Bob", 7, "rent"}, {"Bob", "Carl", 3, ""}}, "id-9");
  const std::string bytes = encode_transaction(tx);
  const auto back = decode_transaction(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), tx);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(decode_transaction(std::string_view(bytes).substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(decode_transaction(bytes + "x").ok());
}

}  // namespace
}  // namespace aethel::ledger

namespace aethel::ledger {
namespace {

TEST(LedgerRules, BalanceArithmeticBranches) {
  EXPECT_EQ(check_balances(100, 0, 100), OutcomeCode::kCommitted);
  EXPECT_EQ(check_balances(99, 0, 100), OutcomeCode::kInsufficientFunds);
  EXPECT_EQ(check_balances(100, INT64_MAX - 100, 100), OutcomeCode::kCommitted);
  EXPECT_EQ(check_balances(100, INT64_MAX - 99, 100), OutcomeCode::kOverflow);
  EXPECT_EQ(check_balances(INT64_MAX, INT64_MAX, INT64_MAX), OutcomeCode::kOverflow);
  EXPECT_EQ(check_balances(0, 0, 1), OutcomeCode::kInsufficientFunds);
}

}  // namespace
}  // namespace aethel::ledger

namespace aethel::ledger {
namespace {

TEST(LedgerAssertionsDeathTest, InvalidHandBuiltGenesisStopsTheProcess) {
  // Assertions stay on in release builds: a ledger never starts from a genesis that
  // breaks its rules (make_genesis / parse_genesis would have refused it).
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH({ Ledger ledger(Genesis{{{"Alice", -1}}}); }, "invariant violated");
  EXPECT_DEATH({ Ledger ledger(Genesis{{{"Bob", 1}, {"Bob", 2}}}); }, "invariant violated");
}

}  // namespace
}  // namespace aethel::ledger
