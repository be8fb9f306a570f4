// Which definitions can be deployed (SPEC §11): the syntactic form and the
// solver's executability check.
#include <gtest/gtest.h>

#include "lang/lang.h"

namespace aethel::lang {
namespace {

IntentDef definition(std::string_view source) {
  ParseResult parsed = parse(source);
  EXPECT_TRUE(parsed.ok()) << parsed.error->message;
  return std::get<IntentDef>(parsed.program->items.at(0));
}

std::string form_error(std::string_view source) {
  return executable_form(definition(source)).error;
}

constexpr std::string_view kSplit = R"(
intent split(payer: Account, left: Account, right: Account, amount: Amount) {
  guard { amount > 0; old_payer >= amount; }
  solve { priority: fee; }
  verify {
    payer == old_payer - amount;
    left == old_left + amount / 2;
    old_right + (amount - amount / 2) == right;
  }
})";

TEST(ExecutableForm, EveryAccountGetsTheEquationThatComputesIt) {
  const ExecutableForm form = executable_form(definition(kSplit));
  ASSERT_TRUE(form.ok()) << form.error;
  ASSERT_EQ(form.updates.size(), 3u);
  EXPECT_EQ(form.updates[0].param, "payer");
  EXPECT_EQ(print(form.updates[0].value), "old_payer - amount");
  EXPECT_EQ(form.updates[1].variable, "left");
  EXPECT_EQ(print(form.updates[2].value), "old_right + (amount - amount / 2)");  // either side
}

TEST(ExecutableForm, ABalanceNamedAfterItsAccountWithTheBalanceSuffix) {
  const ExecutableForm form = executable_form(definition(R"(
intent t(sender: Account, receiver: Account, amount: Balance) {
  guard { old_sender_balance >= amount; amount > 0; }
  solve { priority: fee; }
  verify {
    sender_balance == old_sender_balance - amount;
    receiver_balance == old_receiver_balance + amount;
  }
})"));
  ASSERT_TRUE(form.ok()) << form.error;
  EXPECT_EQ(form.updates[0].variable, "sender_balance");
  EXPECT_EQ(form.updates[1].param, "receiver");
}

TEST(ExecutableForm, NamesWhatKeepsADefinitionFromRunning) {
  // Only inequalities: `a` has no single value.
  EXPECT_EQ(form_error(R"(intent v(a: Account, b: Account, n: Int) {
    guard { n > 0; } solve { p: q; }
    verify { a >= old_a - n; a <= old_a; b == old_b + (old_a - a); } })"),
            "undetermined variable 'a': verify needs an equation `a == <expression over "
            "parameters and old_ values>` so that every run has exactly one result");
  // The equation reads another post-state value.
  EXPECT_NE(form_error(R"(intent v(a: Account, b: Account, n: Int) {
    guard { n > 0; } solve { p: q; }
    verify { a == old_a - n; b == old_b + old_a - a; } })")
                .find("undetermined variable 'b'"),
            std::string::npos);
  EXPECT_EQ(form_error(R"(intent transfer(a: Account, n: Int) {
    guard { n > 0; } solve { p: q; } verify { a == old_a; } })"),
            "'transfer' is the built-in intent; choose another name");
  EXPECT_EQ(form_error(R"(intent g(a: Account, b: Account, n: Int) {
    guard { a >= n; } solve { p: q; } verify { a == old_a - n; b == old_b + n; } })"),
            "the guard reads 'a', the balance after the intent; a guard reads old_a");
  EXPECT_EQ(form_error(R"(intent g(a: Account, n: Int) {
    guard { n > 0; } solve { p: q; } verify { a == old_a + fee; } })"),
            "undetermined variable 'fee': not a parameter nor the balance of an Account "
            "parameter");
  EXPECT_EQ(form_error(R"(intent g(a: Account, b: Account, n: Int) {
    guard { n > 0; } solve { p: q; } verify { a == old_a; } })"),
            "Account parameter 'b' is unused: neither old_b nor old_b_balance appears");
  EXPECT_EQ(form_error(R"(intent g(n: Int) {
    guard { n > 0; } solve { p: q; } verify { n == n; } })"),
            "the intent has no Account parameter, so it moves nothing");
}

TEST(VerifyExecutable, ProvedWhenTheGuardKeepsEveryRunInsideVerify) {
  const IntentDef def = definition(kSplit);
  const VerifyReport report = verify_executable(def, executable_form(def));
  EXPECT_EQ(report.verdict, Verdict::kProved) << report.message;
}

TEST(VerifyExecutable, FailedWithACounterexampleWhenARunCanLeaveVerify) {
  // PROVED as a definition (verify demands a >= 0), but nothing in the guard keeps a
  // run there: old_a < amount gives a negative `a`.
  const IntentDef def = definition(R"(intent risky(a: Account, b: Account, amount: Amount) {
    guard { amount > 0; } solve { p: q; }
    verify { a == old_a - amount; b == old_b + amount; a >= 0; } })");
  EXPECT_EQ(verify(def).verdict, Verdict::kProved);
  const VerifyReport report = verify_executable(def, executable_form(def));
  ASSERT_EQ(report.verdict, Verdict::kFailed);
  ASSERT_EQ(report.violations.size(), 1u);
  EXPECT_EQ(report.violations[0].property, Property::kExecutability);
  EXPECT_NE(report.violations[0].message.find("`a >= 0`"), std::string::npos)
      << report.violations[0].message;
  EXPECT_FALSE(report.violations[0].counterexample.empty());
}

}  // namespace
}  // namespace aethel::lang
