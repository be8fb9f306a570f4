#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "lang/lang.h"

namespace aethel::lang {
namespace {

IntentDef definition(std::string_view guard, std::string_view verify) {
  std::string source = "intent t(amount: Balance) { guard { " + std::string(guard) +
                       " } solve { priority: security; } verify { " + std::string(verify) + " } }";
  ParseResult r = parse(source);
  EXPECT_TRUE(r.ok()) << (r.error ? r.error->message : "");
  return std::get<IntentDef>(r.program->items.at(0));
}

constexpr std::string_view kDebitCredit =
    "sender_balance == old_sender_balance - amount; receiver_balance == old_receiver_balance + "
    "amount;";

// An independent evaluator for counterexamples: 128-bit integers, division
// truncating toward zero. Returns nullopt on division by zero.
__extension__ typedef __int128 Wide;  // wide enough for products of int64 values
using Values = std::map<std::string, Wide>;

std::optional<Wide> eval(const Expr& e, const Values& values) {
  switch (e.kind) {
    case Expr::Kind::kNumber:
      return static_cast<Wide>(std::stoll(e.text));
    case Expr::Kind::kName:
      return values.at(e.text);
    case Expr::Kind::kNegate: {
      auto v = eval(e.operands[0], values);
      return v ? std::optional<Wide>(-*v) : std::nullopt;
    }
    case Expr::Kind::kBinary:
      break;
  }
  auto l = eval(e.operands[0], values);
  auto r = eval(e.operands[1], values);
  if (!l || !r) return std::nullopt;
  switch (e.op) {
    case BinaryOp::kAdd:
      return *l + *r;
    case BinaryOp::kSub:
      return *l - *r;
    case BinaryOp::kMul:
      return *l * *r;
    case BinaryOp::kDiv:
      return *r == 0 ? std::nullopt : std::optional<Wide>(*l / *r);
    case BinaryOp::kMod:
      return *r == 0 ? std::nullopt : std::optional<Wide>(*l % *r);
  }
  return std::nullopt;
}

bool holds(const Comparison& c, const Values& values) {
  Wide l = eval(c.left, values).value();
  Wide r = eval(c.right, values).value();
  switch (c.op) {
    case CompareOp::kEq:
      return l == r;
    case CompareOp::kNe:
      return l != r;
    case CompareOp::kGe:
      return l >= r;
    case CompareOp::kLe:
      return l <= r;
    case CompareOp::kGt:
      return l > r;
    case CompareOp::kLt:
      return l < r;
  }
  return false;
}

bool holds(const IntentDef& def, const Values& values) {
  for (const auto* block : {&def.guard, &def.verify}) {
    for (const Condition& c : *block) {
      if (c.premise && !holds(*c.premise, values)) continue;
      if (!holds(c.conclusion, values)) return false;
    }
  }
  return true;
}

Values values_of(const std::vector<Assignment>& assignments) {
  Values values;
  for (const Assignment& a : assignments) values[a.name] = std::stoll(a.value);
  return values;
}

// One of these costs the solver its whole 3 s timer (nonlinear: it gives up).
std::string hard_definition(const std::string& name) {
  return "intent " + name + R"((a: Account, b: Account, x: Int, y: Int, z: Int) {
  guard { x > 1; y > 1; z > 1; x * x * x + y * y * y == z * z * z; }
  solve { priority: security; }
  verify { a == old_a - x; b == old_b + x; a >= 0; }
}
)";
}

TEST(CheckProgram, ARequestBudgetBoundsTheSolverTimeOfAllItsDefinitions) {
  ParseResult parsed = parse(hard_definition("h1") + hard_definition("h2") + hard_definition("h3"));
  ASSERT_TRUE(parsed.ok());
  VerifyLimits limits;
  limits.request_budget_ms = 1'000;
  const auto started = std::chrono::steady_clock::now();
  const std::vector<IntentOutcome> outcomes = check_program(*parsed.program, limits);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_LT(elapsed, std::chrono::milliseconds(2'500)) << "three 3 s timers would be 9 s";
  ASSERT_EQ(outcomes.size(), 3u);
  // The first ran with its timer cut to the budget, the others found it spent.
  EXPECT_EQ(outcomes[0].report.verdict, Verdict::kRejected);
  EXPECT_NE(outcomes[0].report.message.find("1000 ms"), std::string::npos)
      << outcomes[0].report.message;
  for (size_t i = 1; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i].report.verdict, Verdict::kRejected);
    EXPECT_EQ(outcomes[i].report.message,
              "not proven (fail closed): the request's solver budget of 1000 ms was spent "
              "before this definition");
    EXPECT_EQ(outcomes[i].name, "h" + std::to_string(i + 1));
  }
}

TEST(Verifier, ProvesThePrototypeTransfer) {
  VerifyReport r = verify(definition("sender_balance >= amount; amount > 0;", kDebitCredit));
  EXPECT_EQ(r.verdict, Verdict::kProved) << r.message;
  EXPECT_TRUE(r.violations.empty());
  EXPECT_EQ(r.message,
            "consistency, conservation, non-negativity and no overflow hold for all inputs");
}

TEST(Verifier, MissingFundsGuardGivesARealCounterexample) {
  IntentDef def = definition("amount > 0;", kDebitCredit);
  VerifyReport r = verify(def);
  ASSERT_EQ(r.verdict, Verdict::kFailed);
  ASSERT_EQ(r.violations.size(), 1u);
  const Violation& v = r.violations[0];
  EXPECT_EQ(v.property, Property::kNonNegativity);
  // The counterexample satisfies guard and verify, starts from non-negative
  // balances, and ends with a negative sender balance.
  Values values = values_of(v.counterexample);
  EXPECT_TRUE(holds(def, values));
  EXPECT_GE(values.at("old_sender_balance"), 0);
  EXPECT_GE(values.at("old_receiver_balance"), 0);
  EXPECT_LT(values.at("sender_balance"), 0);
  EXPECT_NE(v.message.find("sender_balance = "), std::string::npos) << v.message;
}

TEST(Verifier, MintViolatesConservationWithAPlausibleCounterexample) {
  IntentDef def = definition("amount > 0;", "balance == old_balance + amount;");
  VerifyReport r = verify(def);
  ASSERT_EQ(r.verdict, Verdict::kFailed);
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].property, Property::kConservation);
  Values values = values_of(r.violations[0].counterexample);
  EXPECT_TRUE(holds(def, values));
  EXPECT_NE(values.at("balance"), values.at("old_balance"));
  EXPECT_GE(values.at("old_balance"), 0);  // preferred: no negative balances
  EXPECT_NE(r.violations[0].message.find("value is created"), std::string::npos);
}

TEST(Verifier, ContradictionNamesTheConflictingConditions) {
  VerifyReport r = verify(definition("x > 5; amount > 0;", "x < 3;"));
  ASSERT_EQ(r.verdict, Verdict::kFailed);
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].property, Property::kConsistency);
  EXPECT_NE(r.violations[0].message.find("`x > 5`"), std::string::npos);
  EXPECT_NE(r.violations[0].message.find("`x < 3`"), std::string::npos);
  EXPECT_EQ(r.violations[0].message.find("amount > 0"), std::string::npos) << "not in the core";
}

TEST(Verifier, OverflowNamesTheExpressionAndItsValue) {
  IntentDef def = definition("amount > 0; b > 0;", "r == amount * b - amount * b + 1;");
  VerifyReport r = verify(def);
  ASSERT_EQ(r.verdict, Verdict::kFailed);
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].property, Property::kNoOverflow);
  EXPECT_NE(r.violations[0].message.find("`amount * b` = "), std::string::npos)
      << r.violations[0].message;
  Values values = values_of(r.violations[0].counterexample);
  EXPECT_TRUE(holds(def, values));
  EXPECT_GT(values.at("amount") * values.at("b"), static_cast<Wide>(INT64_MAX));
}

TEST(Verifier, DivisionTruncatesTowardZero) {
  EXPECT_EQ(verify(definition("amount == 7;", "-amount / 2 == -3; -amount % 2 == -1;")).verdict,
            Verdict::kProved);
  EXPECT_EQ(verify(definition("amount == 7;", "-amount / 2 == -4;")).verdict, Verdict::kFailed);
}

TEST(Verifier, ResourceLimitRejectsInsteadOfGuessing) {
  VerifyLimits limits;
  limits.solver_rlimit = 2000;
  VerifyReport r = verify(
      definition("x > 0; y > 0; z > 0;", "x * x * x + y * y * y == z * z * z + amount - amount;"),
      limits);
  EXPECT_EQ(r.verdict, Verdict::kRejected) << r.message;
  // Which limit trips first depends on the solver's path; either must say so.
  EXPECT_TRUE(
      r.message.starts_with("not proven (fail closed): consistency undecided: the solver "
                            "gave up ("))
      << r.message;
  EXPECT_NE(r.message.find("limits per query: 2000 resource units"), std::string::npos);
}

TEST(Verifier, VariableLimitRejects) {
  VerifyLimits limits;
  limits.max_variables = 3;
  VerifyReport r = verify(definition("a > 0; b > 0; c > 0;", "d == a;"), limits);
  EXPECT_EQ(r.verdict, Verdict::kRejected);
  EXPECT_EQ(r.message, "definition has 4 variables, the limit is 3");
}

TEST(Verifier, SameInputSameVerdictAndMessageWhateverCameBefore) {
  std::vector<IntentDef> defs;
  for (const auto& entry : std::filesystem::directory_iterator(AETHEL_CORPUS_DIR)) {
    std::ifstream file(entry.path(), std::ios::binary);
    std::string source{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    ParseResult r = parse(source);
    if (!r.ok()) continue;
    for (const ProgramIntent& i : intents_of(*r.program)) {
      if (i.definition) defs.push_back(*i.definition);
    }
  }
  ASSERT_GE(defs.size(), 20u);
  std::vector<VerifyReport> first;
  for (const IntentDef& d : defs) first.push_back(verify(d));
  for (size_t i = defs.size(); i-- > 0;) {  // again, in the reverse order
    VerifyReport again = verify(defs[i]);
    EXPECT_EQ(again.verdict, first[i].verdict) << defs[i].name;
    EXPECT_EQ(again.message, first[i].message) << defs[i].name;
    EXPECT_EQ(again.violations, first[i].violations) << defs[i].name;
  }
}

}  // namespace
}  // namespace aethel::lang
