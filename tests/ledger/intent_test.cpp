// Deployed intents on the ledger (SPEC §11): deployment, runs with exact
// arithmetic, refusals that change nothing, the state root, snapshots, encodings,
// and a property test against a naive evaluation of proven random intents.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <fstream>
#include <sstream>

#include "lang/lang.h"
#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

// examples/intents/split.ae: the definition the docs show.
std::string split_source() {
  std::ifstream in(std::string(AETHEL_EXAMPLES_DIR) + "/intents/split.ae");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
const std::string kSplit = split_source();

using Arguments = std::vector<std::pair<std::string, std::string>>;

Outcome apply_one(Ledger& ledger, Transaction tx) {
  auto result = ledger.apply_block(ledger.height() + 1, std::vector<Transaction>{std::move(tx)});
  EXPECT_TRUE(result.ok());
  EXPECT_FALSE(ledger.check_invariants().has_value()) << ledger.check_invariants()->message;
  return result.value().outcomes.at(0);
}

Transaction split(std::string payer, std::string left, std::string right, std::string amount) {
  return Transaction::invoke(
      {"split", {{"payer", payer}, {"left", left}, {"right", right}, {"amount", amount}}});
}

Ledger with_split() {
  Ledger ledger(default_genesis());
  const Outcome deployed = apply_one(ledger, Transaction::deploy(kSplit, "test"));
  EXPECT_TRUE(deployed.committed()) << deployed.message;
  return ledger;
}

TEST(LedgerIntent, ADeployedIntentMovesExactlyWhatItsEquationsSay) {
  Ledger ledger = with_split();
  const Outcome o = apply_one(ledger, split("Alice", "Bob", "Dave", "101"));
  ASSERT_TRUE(o.committed()) << o.message;
  EXPECT_EQ(ledger.account("Alice")->balance, 899);
  EXPECT_EQ(ledger.account("Alice")->nonce, 1u);  // debited: its nonce moves
  EXPECT_EQ(ledger.account("Bob")->balance, 550);
  EXPECT_EQ(ledger.account("Bob")->nonce, 0u);
  EXPECT_EQ(ledger.account("Dave")->balance, 51);  // credited and created
  EXPECT_EQ(ledger.total_supply(), 1750);
}

TEST(LedgerIntent, DeployedIntentsArePartOfTheStateRoot) {
  Ledger plain(default_genesis());
  EXPECT_EQ(plain.root(), plain.accounts_root());
  EXPECT_FALSE(plain.intents_root().has_value());
  Ledger ledger = with_split();
  ASSERT_TRUE(ledger.intents_root().has_value());
  EXPECT_EQ(ledger.accounts_root(), plain.accounts_root());  // no balance moved
  EXPECT_NE(ledger.root(), plain.root());
  EXPECT_EQ(ledger.root(), state_root(ledger.accounts_root(), ledger.intents_root()));
  const auto intents = ledger.intents();
  ASSERT_EQ(intents.size(), 1u);
  EXPECT_EQ(intents[0].name, "split");
  EXPECT_EQ(intents[0].version, 1u);
  EXPECT_EQ(intents[0].deployed_at_height, 1u);
  EXPECT_EQ(intents[0].deployed_by, "test");
  EXPECT_EQ(intents[0].params.size(), 4u);
  EXPECT_EQ(intents[0].params[3], (std::pair<std::string, std::string>{"amount", "Amount"}));
}

TEST(LedgerIntent, RedeployingANameMakesTheNextVersion) {
  Ledger ledger = with_split();
  const Hash before = ledger.root();
  ASSERT_TRUE(apply_one(ledger, Transaction::deploy(kSplit, "again")).committed());
  EXPECT_EQ(ledger.intent("split")->version, 2u);
  EXPECT_EQ(ledger.intent("split")->deployed_by, "again");
  EXPECT_NE(ledger.root(), before);
}

// Each refusal names the problem and leaves balances and root alone.
void expect_refused(Ledger& ledger, Transaction tx, OutcomeCode code, std::string_view words) {
  const Hash root = ledger.root();
  const auto alice = ledger.account("Alice");
  const Outcome o = apply_one(ledger, std::move(tx));
  EXPECT_EQ(o.code, code) << o.message;
  EXPECT_NE(o.message.find(words), std::string::npos) << o.message;
  EXPECT_EQ(ledger.root(), root);
  EXPECT_EQ(ledger.account("Alice"), alice);
}

TEST(LedgerIntent, AFailingGuardIsGuardFailedAndChangesNothing) {
  Ledger ledger = with_split();
  expect_refused(ledger, split("Alice", "Bob", "Dave", "5000"), OutcomeCode::kGuardFailed,
                 "guard `old_payer >= amount` does not hold");
  expect_refused(ledger, split("Alice", "Bob", "Dave", "0"), OutcomeCode::kGuardFailed,
                 "`amount > 0`");
}

TEST(LedgerIntent, BadInvocationsAreRefusedWithTheReason) {
  Ledger ledger = with_split();
  expect_refused(ledger, Transaction::invoke({"nosuch", {}}), OutcomeCode::kUnknownIntent,
                 "no deployed intent is named 'nosuch'");
  expect_refused(ledger, Transaction::invoke({"split", {{"payer", "Alice"}}}),
                 OutcomeCode::kInvalidArguments, "missing argument 'left'");
  Transaction extra = split("Alice", "Bob", "Dave", "10");
  extra.transfers[0].invocation->arguments.emplace_back("tip", "1");
  expect_refused(ledger, extra, OutcomeCode::kInvalidArguments, "unknown argument 'tip'");
  expect_refused(ledger, split("Alice", "Bob", "Dave", "9223372036854775808"),
                 OutcomeCode::kInvalidArguments, "signed 64-bit range");
  expect_refused(ledger, split("Alice", "Bob", "Dave", "ten"), OutcomeCode::kInvalidArguments,
                 "'amount' must be an integer");
  expect_refused(ledger, split("Alice", "Bob", "Alice", "10"), OutcomeCode::kInvalidArguments,
                 "'payer' and 'right' are both Alice");
  expect_refused(ledger, split("Alice", "Bob", "no spaces", "10"), OutcomeCode::kInvalidArguments,
                 "'right' must be an account name");
}

TEST(LedgerIntent, AFailingBatchMemberChangesNothing) {
  Ledger ledger = with_split();
  Transaction batch = Transaction::batch({Transfer{"Alice", "Bob", 10, ""}});
  batch.transfers.push_back(split("Bob", "Charlie", "Dave", "100000").transfers[0]);
  expect_refused(ledger, batch, OutcomeCode::kGuardFailed, "transfer 2 of 2 in the batch");
  batch.transfers[1] = split("Bob", "Charlie", "Dave", "100").transfers[0];
  ASSERT_TRUE(apply_one(ledger, batch).committed());
  EXPECT_EQ(ledger.account("Bob")->balance, 410);
  EXPECT_EQ(ledger.account("Dave")->balance, 50);
}

TEST(LedgerIntent, DeploymentsThatCannotRunAreRefused) {
  Ledger ledger(default_genesis());
  expect_refused(ledger, Transaction::deploy("intent broken(", "t"), OutcomeCode::kInvalidIntent,
                 "line 1");
  expect_refused(ledger, Transaction::deploy(kSplit + "\n" + kSplit, "t"),
                 OutcomeCode::kInvalidIntent, "exactly one intent definition");
  expect_refused(ledger,
                 Transaction::deploy(R"(intent transfer(a: Account, n: Int) {
                   guard { n > 0; } solve { p: q; } verify { a == old_a; } })",
                                     "t"),
                 OutcomeCode::kInvalidIntent, "built-in");
  expect_refused(ledger,
                 Transaction::deploy(R"(intent v(a: Account, b: Account, n: Int) {
                   guard { n > 0; } solve { p: q; }
                   verify { a <= old_a; b == old_b + (old_a - a); } })",
                                     "t"),
                 OutcomeCode::kInvalidIntent, "undetermined variable 'a'");
  EXPECT_TRUE(ledger.intents().empty());
}

TEST(LedgerIntent, AnUnprovenDefinitionCanNeverBreakConservation) {
  // The ledger does not run the solver; it re-checks every run. A mint slipped in by
  // a faulty node is refused at each call, and counted as invariant_breach.
  Ledger ledger(default_genesis());
  ASSERT_TRUE(apply_one(ledger, Transaction::deploy(R"(intent mint(a: Account, n: Int) {
    guard { n > 0; } solve { p: q; } verify { a == old_a + n; } })",
                                                    "faulty"))
                  .committed());
  expect_refused(ledger, Transaction::invoke({"mint", {{"a", "Alice"}, {"n", "5"}}}),
                 OutcomeCode::kInvariantBreach, "change the total by 5");
}

TEST(LedgerIntent, SnapshotsCarryTheIntents) {
  Ledger ledger = with_split();
  const Ledger restored = Ledger::deserialize(ledger.serialize()).value();
  EXPECT_EQ(restored.root(), ledger.root());
  EXPECT_EQ(restored.intents(), ledger.intents());
  Ledger copy = restored;
  ASSERT_TRUE(apply_one(copy, split("Alice", "Bob", "Charlie", "7")).committed());
  ASSERT_TRUE(apply_one(ledger, split("Alice", "Bob", "Charlie", "7")).committed());
  EXPECT_EQ(copy.root(), ledger.root());
  // Snapshots are written in format version 3, with intents or without.
  const std::string plain = Ledger(default_genesis()).serialize();
  EXPECT_EQ(plain.substr(8, 4), std::string("\0\0\0\3", 4));
  EXPECT_EQ(ledger.serialize().substr(8, 4), std::string("\0\0\0\3", 4));
}

TEST(LedgerIntent, EncodingsRoundTripAndTransfersKeepVersion1) {
  Transaction invoke = split("Alice", "Bob", "Dave", "101");
  invoke.client_id = "s-1";
  invoke.transfers[0].memo = "fees";
  const Transaction deploy = Transaction::deploy(kSplit, "node-1");
  Transaction mixed = Transaction::batch({Transfer{"Alice", "Bob", 1, ""}});
  mixed.transfers.push_back(invoke.transfers[0]);
  for (const Transaction& tx : {invoke, deploy, mixed}) {
    const std::string bytes = encode_transaction(tx);
    EXPECT_EQ(bytes[0], 2);
    EXPECT_EQ(decode_transaction(bytes).value(), tx);
    for (size_t cut = 0; cut < bytes.size(); cut += 7) {
      EXPECT_FALSE(decode_transaction(bytes.substr(0, cut)).ok());
    }
  }
  EXPECT_EQ(encode_transaction(Transaction::transfer("Alice", "Bob", 1))[0], 1);
}

TEST(LedgerIntent, ProofDocumentsCarryTheIntentsRoot) {
  Ledger ledger = with_split();
  ProofDocument document = ledger.prove_document("Alice");
  ASSERT_TRUE(document.intents_root.has_value());
  EXPECT_FALSE(verify_proof_document(document).has_value());
  const auto parsed = parse_proof_document(proof_document_to_json(document));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value(), document);
  document.intents_root->at(0) ^= 1;
  EXPECT_TRUE(verify_proof_document(document).has_value());
  document.intents_root.reset();
  EXPECT_TRUE(verify_proof_document(document).has_value());
}

// ---------------------------------------------------------------------------
// Property: random intents, proven by the solver, run exactly as a naive
// evaluation of their equations, and never break conservation or non-negativity.
// ---------------------------------------------------------------------------

// Credits `a` and `b` from non-negative expressions of n and m; `payer` pays both.
// Without the payer's guard old_payer can run short: never PROVED.
struct RandomIntent {
  static std::string fmt_source(const std::string& a, const std::string& b, bool guard_payer) {
    std::string guard = "n > 0; m >= 0; n <= 1000000; m <= 1000000;";
    if (guard_payer) guard += " old_payer >= (" + a + ") + (" + b + ");";
    return "intent r(payer: Account, a: Account, b: Account, n: Int, m: Int) {\n  guard { " +
           guard + " }\n  solve { p: q; }\n  verify {\n    a == old_a + (" + a +
           ");\n    b == old_b + (" + b + ");\n    payer == old_payer - ((" + a + ") + (" + b +
           "));\n  }\n}";
  }
};

// Credits with their naive values.
struct Credit {
  std::string text;
  int64_t (*value)(int64_t n, int64_t m);
};
const Credit kCredits[] = {
    {"n", [](int64_t n, int64_t) { return n; }},
    {"n / 2", [](int64_t n, int64_t) { return n / 2; }},
    {"n - n / 3", [](int64_t n, int64_t) { return n - n / 3; }},
    {"m * 2", [](int64_t, int64_t m) { return m * 2; }},
    {"n % 7 + m", [](int64_t n, int64_t m) { return n % 7 + m; }},
    {"0", [](int64_t, int64_t) { return int64_t{0}; }},
};

RC_GTEST_PROP(LedgerIntentProperty, ProvenIntentsRunAsTheirEquationsSay, ()) {
  const auto& ca = kCredits[*rc::gen::inRange<size_t>(0, std::size(kCredits))];
  const auto& cb = kCredits[*rc::gen::inRange<size_t>(0, std::size(kCredits))];
  const bool guard_payer = *rc::gen::weightedElement<bool>({{4, true}, {1, false}});
  const std::string source = RandomIntent::fmt_source(ca.text, cb.text, guard_payer);
  lang::ParseResult parsed = lang::parse(source);
  RC_ASSERT(parsed.ok());
  const auto& def = std::get<lang::IntentDef>(parsed.program->items[0]);
  const lang::Verdict verdict = lang::verify(def).verdict;
  // Without the payer's guard the solver must find the overdraft, unless both credits
  // are 0 and nothing moves.
  const bool moves = !(std::string_view(ca.text) == "0" && std::string_view(cb.text) == "0");
  RC_ASSERT((verdict == lang::Verdict::kProved) == (guard_payer || !moves));
  RC_PRE(verdict == lang::Verdict::kProved);
  RC_ASSERT(lang::verify_executable(def, lang::executable_form(def)).verdict ==
            lang::Verdict::kProved);

  const int64_t payer = *rc::gen::inRange<int64_t>(0, 5'000'000);
  const int64_t a = *rc::gen::inRange<int64_t>(0, 5'000'000);
  const int64_t n = *rc::gen::inRange<int64_t>(-2, 1'100'000);
  const int64_t m = *rc::gen::inRange<int64_t>(-2, 1'100'000);
  Ledger ledger(make_genesis({{"P", payer}, {"A", a}, {"Pool", 1}}).value());
  RC_ASSERT(ledger.apply_block(1, std::vector{Transaction::deploy(source, "rc")})
                .value()
                .outcomes[0]
                .committed());
  const Transaction call = Transaction::invoke({"r",
                                                {{"payer", "P"},
                                                 {"a", "A"},
                                                 {"b", "B"},
                                                 {"n", std::to_string(n)},
                                                 {"m", std::to_string(m)}}});
  const Outcome o = ledger.apply_block(2, std::vector{call}).value().outcomes[0];
  RC_ASSERT(!ledger.check_invariants().has_value());

  const bool guard = n > 0 && m >= 0 && n <= 1'000'000 && m <= 1'000'000 &&
                     payer >= ca.value(n, m) + cb.value(n, m);
  RC_ASSERT(o.committed() == guard);
  if (!guard) {
    RC_ASSERT(o.code == OutcomeCode::kGuardFailed);
    RC_ASSERT(ledger.account("P")->balance == payer);
    return;
  }
  RC_ASSERT(ledger.account("A")->balance == a + ca.value(n, m));
  RC_ASSERT(ledger.account("B").value_or(Account{}).balance == cb.value(n, m));
  RC_ASSERT(ledger.account("P")->balance == payer - ca.value(n, m) - cb.value(n, m));
}

}  // namespace
}  // namespace aethel::ledger
