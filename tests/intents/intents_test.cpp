// Verified intents → ledger transactions → verdicts (src/intents), on real programs
// parsed and checked by lang and a real ledger.
#include "intents/intents.h"

#include <gtest/gtest.h>

namespace aethel::intents {
namespace {

std::vector<lang::IntentOutcome> checked(std::string_view source) {
  lang::ParseResult parsed = lang::parse(source);
  EXPECT_TRUE(parsed.ok()) << (parsed.error ? parsed.error->message : "");
  if (!parsed.ok()) return {};
  return lang::check_program(*parsed.program);
}

constexpr std::string_view kDefinition = R"(
intent pay(sender: Account, receiver: Account, amount: Balance) {
  guard { sender_balance >= amount; amount > 0; }
  solve { priority: security; }
  verify {
    sender_balance == old_sender_balance - amount;
    receiver_balance == old_receiver_balance + amount;
  }
}
)";

TEST(Intents, SingleInvocationsBecomeOneTransferEach) {
  auto intents = checked(
      "intent transfer { from: Alice, to: Bob, amount: 5, id: \"t-1\" }\n"
      "intent transfer { from: Bob, to: Charlie, amount: 7, memo: \"rent\" }");
  ASSERT_EQ(intents.size(), 2u);
  Plan p = plan(intents);
  ASSERT_EQ(p.transactions.size(), 2u);
  EXPECT_EQ(p.transaction_of, (std::vector<std::optional<size_t>>{0, 1}));
  EXPECT_EQ(p.transactions[0].kind, ledger::TxKind::kTransfer);
  EXPECT_EQ(p.transactions[0].client_id, "t-1");
  EXPECT_EQ(p.transactions[1].client_id, "");
  EXPECT_EQ(p.transactions[1].transfers.at(0).memo, "rent");
  EXPECT_EQ(p.transactions[1].transfers.at(0).amount, 7);
}

TEST(Intents, CallsOfDeployedIntentsBecomeInvocationsAlsoInsideABatch) {
  auto intents = checked(
      "intent split { payer: Alice, left: Bob, right: Dave, amount: 101, id: \"s-1\" }\n"
      "atomic_batch b {\n"
      "  intent transfer { from: Alice, to: Bob, amount: 1 }\n"
      "  intent split { payer: Bob, left: Alice, right: Dave, amount: 3, memo: \"m\" }\n"
      "}");
  ASSERT_EQ(intents.size(), 3u);
  Plan p = plan(intents);
  ASSERT_EQ(p.transactions.size(), 2u);
  const ledger::Transaction& single = p.transactions[0];
  EXPECT_EQ(single.client_id, "s-1");
  ASSERT_TRUE(single.transfers.at(0).invocation.has_value());
  EXPECT_EQ(single.transfers[0].invocation->intent, "split");
  EXPECT_EQ(single.transfers[0].invocation->arguments.at(3),
            (std::pair<std::string, std::string>{"amount", "101"}));
  const ledger::Transaction& batch = p.transactions[1];
  EXPECT_EQ(batch.kind, ledger::TxKind::kAtomicBatch);
  ASSERT_EQ(batch.transfers.size(), 2u);
  EXPECT_FALSE(batch.transfers[0].invocation.has_value());
  EXPECT_EQ(batch.transfers[1].memo, "m");
  EXPECT_EQ(batch.transfers[1].invocation->arguments.at(0).second, "Bob");
}

TEST(Intents, DefinitionsAndFailedInvocationsMakeNoTransaction) {
  auto intents = checked(std::string(kDefinition) +
                         "intent transfer { from: Alice, to: Alice, amount: 5 }\n"
                         "intent transfer { from: Alice, to: Bob, amount: 5 }");
  ASSERT_EQ(intents.size(), 3u);
  EXPECT_EQ(intents[0].report.verdict, lang::Verdict::kProved);
  EXPECT_EQ(intents[1].report.verdict, lang::Verdict::kFailed);  // sender == receiver
  Plan p = plan(intents);
  ASSERT_EQ(p.transactions.size(), 1u);
  EXPECT_EQ(p.transaction_of, (std::vector<std::optional<size_t>>{std::nullopt, std::nullopt, 0}));
}

TEST(Intents, AnAtomicBatchIsOneTransactionWithItsFirstId) {
  auto intents = checked(
      "atomic_batch rent {\n"
      "  intent transfer { from: Alice, to: Bob, amount: 5 }\n"
      "  intent transfer { from: Bob, to: Charlie, amount: 3, id: \"b-1\" }\n"
      "}\n"
      "intent transfer { from: Charlie, to: Alice, amount: 1 }");
  Plan p = plan(intents);
  ASSERT_EQ(p.transactions.size(), 2u);
  EXPECT_EQ(p.transaction_of, (std::vector<std::optional<size_t>>{0, 0, 1}));
  EXPECT_EQ(p.transactions[0].kind, ledger::TxKind::kAtomicBatch);
  EXPECT_EQ(p.transactions[0].client_id, "b-1");
  EXPECT_EQ(p.transactions[0].transfers.size(), 2u);
}

TEST(Intents, ABatchWithAFailedIntentCommitsNothing) {
  auto intents = checked(
      "atomic_batch rent {\n"
      "  intent transfer { from: Alice, to: Bob, amount: 5 }\n"
      "  intent transfer { from: Bob, to: Bob, amount: 3 }\n"
      "}");
  EXPECT_EQ(lang::overall_verdict(intents), lang::Verdict::kFailed);
  EXPECT_TRUE(plan(intents).transactions.empty());
}

TEST(Intents, TheLedgerRefusalTurnsAnIntentFailedWithItsReason) {
  auto intents = checked(
      "intent transfer { from: Alice, to: Bob, amount: 5 }\n"
      "intent transfer { from: Charlie, to: Bob, amount: 999999 }");
  Plan p = plan(intents);
  ledger::Ledger ledger(ledger::default_genesis());
  std::vector<ledger::Outcome> outcomes;
  for (const ledger::Transaction& tx : p.transactions) outcomes.push_back(ledger.check(tx));
  apply_ledger_outcomes(intents, p, outcomes);
  EXPECT_EQ(intents[0].report.verdict, lang::Verdict::kProved);
  EXPECT_EQ(intents[1].report.verdict, lang::Verdict::kFailed);
  EXPECT_TRUE(intents[1].report.message.starts_with("insufficient_funds: "))
      << intents[1].report.message;
  EXPECT_EQ(lang::overall_verdict(intents), lang::Verdict::kFailed);
}

TEST(Intents, CheckProgramTimesEveryIntentAndKnowsWhenTheSolverIsNeeded) {
  lang::ParseResult with = lang::parse(kDefinition);
  lang::ParseResult without = lang::parse("intent transfer { from: Alice, to: Bob, amount: 5 }");
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_TRUE(lang::has_definitions(*with.program));
  EXPECT_FALSE(lang::has_definitions(*without.program));
  auto intents = lang::check_program(*with.program);
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_GT(intents[0].elapsed_ms, 0.0);
}

}  // namespace
}  // namespace aethel::intents
