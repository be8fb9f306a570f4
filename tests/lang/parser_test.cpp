#include <gtest/gtest.h>

#include "lang/lang.h"

namespace aethel::lang {
namespace {

Program parse_ok(std::string_view source) {
  ParseResult r = parse(source);
  EXPECT_TRUE(r.ok()) << (r.error ? r.error->message : "");
  return r.ok() ? *r.program : Program{};
}

ParseError parse_error(std::string_view source, const ParseLimits& limits = {}) {
  ParseResult r = parse(source, limits);
  EXPECT_FALSE(r.ok()) << "parsed unexpectedly: " << source.substr(0, 80);
  return r.error.value_or(ParseError{});
}

constexpr std::string_view kTransfer = R"(
intent transfer(sender: Account, receiver: Account, secret amount: Balance) {
  guard {
    sender_balance >= amount;
    amount > 0;
  }
  solve {
    priority: security;
  }
  verify {
    sender_balance == old_sender_balance - amount;
    external (amount > 10) ==> (receiver_balance > 10);
  }
}
)";

TEST(Parser, DefinitionStructure) {
  Program p = parse_ok(kTransfer);
  ASSERT_EQ(p.items.size(), 1u);
  const auto& def = std::get<IntentDef>(p.items[0]);
  EXPECT_EQ(def.name, "transfer");
  ASSERT_EQ(def.params.size(), 3u);
  EXPECT_EQ(def.params[2].name, "amount");
  EXPECT_EQ(def.params[2].type, "Balance");
  EXPECT_TRUE(def.params[2].secret);
  EXPECT_FALSE(def.params[0].secret);
  ASSERT_EQ(def.guard.size(), 2u);
  EXPECT_EQ(def.guard[0].conclusion.op, CompareOp::kGe);
  EXPECT_EQ(def.guard[0].pos.line, 4u);
  EXPECT_EQ(def.guard[0].pos.column, 5u);
  ASSERT_EQ(def.solve.size(), 1u);
  EXPECT_EQ(def.solve[0].key, "priority");
  EXPECT_EQ(def.solve[0].value, "security");
  ASSERT_EQ(def.verify.size(), 2u);
  EXPECT_FALSE(def.verify[0].premise.has_value());
  EXPECT_TRUE(def.verify[1].external);
  ASSERT_TRUE(def.verify[1].premise.has_value());
  EXPECT_EQ(print(*def.verify[1].premise), "amount > 10");
  EXPECT_EQ(print(def.verify[1].conclusion), "receiver_balance > 10");
}

TEST(Parser, PrecedenceAndAssociativity) {
  Program p = parse_ok(
      "intent t() { guard { a - b - c == a * b + c / d % e; } solve { k: v; } "
      "verify { -x * 2 == (a - (b - c)); } }");
  const auto& def = std::get<IntentDef>(p.items[0]);
  const Expr& left = def.guard[0].conclusion.left;  // (a - b) - c
  ASSERT_EQ(left.kind, Expr::Kind::kBinary);
  EXPECT_EQ(left.op, BinaryOp::kSub);
  EXPECT_EQ(left.operands[1].text, "c");
  EXPECT_EQ(left.operands[0].op, BinaryOp::kSub);
  const Expr& right = def.guard[0].conclusion.right;  // (a * b) + ((c / d) % e)
  EXPECT_EQ(right.op, BinaryOp::kAdd);
  EXPECT_EQ(right.operands[0].op, BinaryOp::kMul);
  EXPECT_EQ(right.operands[1].op, BinaryOp::kMod);
  EXPECT_EQ(right.operands[1].operands[0].op, BinaryOp::kDiv);
  EXPECT_EQ(print(def.verify[0].conclusion), "-x * 2 == a - (b - c)");
}

TEST(Parser, InvocationFieldsAndTrailingComma) {
  Program p =
      parse_ok(R"(intent transfer { from: Alice, to: "Bob Smith", amount: 007, memo: "a\"b\n", })");
  const auto& call = std::get<IntentCall>(p.items[0]);
  EXPECT_EQ(call.name, "transfer");
  ASSERT_EQ(call.fields.size(), 4u);
  EXPECT_EQ(call.field("from")->kind, Field::Kind::kName);
  EXPECT_EQ(call.field("to")->value, "Bob Smith");
  EXPECT_EQ(call.field("amount")->value, "7");  // canonical digits
  EXPECT_EQ(call.field("memo")->value, "a\"b\n");
  EXPECT_EQ(call.field("id"), nullptr);
}

TEST(Parser, NegativeFieldNumberKeepsItsSign) {
  Program p = parse_ok("intent transfer { from: A, to: B, amount: -0012 }");
  EXPECT_EQ(std::get<IntentCall>(p.items[0]).field("amount")->value, "-12");
  Program zero = parse_ok("intent transfer { from: A, to: B, amount: -0 }");
  EXPECT_EQ(std::get<IntentCall>(zero.items[0]).field("amount")->value, "0");
}

TEST(Parser, AtomicBatchHoldsItsIntents) {
  Program p = parse_ok(
      "atomic_batch pay { intent transfer { from: A, to: B, amount: 1 } "
      "intent transfer { from: B, to: C, amount: 2 } }\nintent transfer { from: C, to: A, amount: "
      "3 }");
  ASSERT_EQ(p.items.size(), 2u);
  const auto& batch = std::get<AtomicBatch>(p.items[0]);
  EXPECT_EQ(batch.name, "pay");
  EXPECT_EQ(batch.items.size(), 2u);
  EXPECT_EQ(intents_of(p).size(), 3u);
  EXPECT_EQ(intents_of(p)[0].batch, &batch);
  EXPECT_EQ(intents_of(p)[2].batch, nullptr);
}

TEST(Parser, ErrorsCarryLineColumnAndExpectation) {
  ParseError e = parse_error("intent t(a: Int) {\n  guard { a > 0 }\n}");
  EXPECT_EQ(e.pos.line, 2u);
  EXPECT_EQ(e.pos.column, 17u);
  EXPECT_EQ(e.expected, "';' after the condition");
  EXPECT_EQ(e.found, "'}'");
  EXPECT_EQ(e.message, "line 2, column 17: expected ';' after the condition, found '}'");
}

TEST(Parser, ImplicationErrorReportsTheFurthestReading) {
  ParseError e =
      parse_error("intent t() { guard { (a > 0) ==> (b > ); } solve { k: v; } verify { a > 0; } }");
  EXPECT_EQ(e.expected, "a number, a name, '(' or '-'");
  EXPECT_EQ(e.found, "')'");
}

TEST(Parser, ControlBytesAreShownEscaped) {
  ParseError e = parse_error(std::string("intent \x01"));
  EXPECT_EQ(e.found, "character '\\x01'");
  ParseError nul = parse_error(std::string("intent t\0", 9));
  EXPECT_EQ(nul.found, "character '\\x00'");
}

TEST(Parser, InvalidUtf8InStringIsRejected) {
  ParseError e = parse_error("intent transfer { from: A, to: B, amount: 1, memo: \"\xC3\x28\" }");
  EXPECT_NE(e.message.find("valid UTF-8"), std::string::npos) << e.message;
  parse_ok("intent transfer { from: A, to: B, amount: 1, memo: \"caf\xC3\xA9 \xE2\x82\xAC\" }");
}

TEST(ParserLimits, SourceSize) {
  ParseLimits limits;
  limits.max_source_bytes = 100;
  ParseError e = parse_error(std::string(101, ' '), limits);
  EXPECT_EQ(e.message, "source is 101 bytes, the limit is 100");
}

TEST(ParserLimits, IdentifierLength) {
  std::string name(129, 'a');
  ParseError e = parse_error("intent " + name + " { from: A, to: B, amount: 1 }");
  EXPECT_EQ(e.message, "line 1, column 8: identifier is 129 bytes long, the limit is 128");
  parse_ok("intent " + std::string(128, 'a') + " { from: A, to: B, amount: 1 }");
}

TEST(ParserLimits, NumberDigits) {
  ParseError e = parse_error("intent t { amount: " + std::string(41, '9') + " }");
  EXPECT_NE(e.message.find("41 digits, the limit is 40"), std::string::npos) << e.message;
}

TEST(ParserLimits, StringLength) {
  ParseError e = parse_error("intent t { memo: \"" + std::string(1025, 'm') + "\" }");
  EXPECT_NE(e.message.find("limit of 1024 bytes"), std::string::npos) << e.message;
}

std::string wrap_condition(const std::string& condition) {
  return "intent t() { guard { " + condition + "; } solve { k: v; } verify { a > 0; } }";
}

TEST(ParserLimits, ParenthesisNestingIsBoundedNotRecursedWithoutLimit) {
  // 100,000 levels would overflow the stack of an unbounded recursive parser.
  std::string deep = std::string(100'000, '(') + "a" + std::string(100'000, ')') + " > 0";
  ParseError e = parse_error(wrap_condition(deep));
  EXPECT_NE(e.message.find("nests deeper than 64 levels"), std::string::npos) << e.message;
  std::string ok = std::string(60, '(') + "a" + std::string(60, ')') + " > 0";
  parse_ok(wrap_condition(ok));
}

TEST(ParserLimits, UnaryMinusChainsAreBounded) {
  ParseError e = parse_error(wrap_condition(std::string(100'000, '-') + "a > 0"));
  EXPECT_NE(e.message.find("nests deeper"), std::string::npos) << e.message;
}

TEST(ParserLimits, LongOperatorChainsAreBoundedInTreeDepth) {
  std::string chain = "a";
  for (int i = 0; i < 20'000; ++i) chain += " + a";
  ParseError e = parse_error(wrap_condition(chain + " > 0"));
  EXPECT_NE(e.message.find("nests deeper"), std::string::npos) << e.message;
}

TEST(ParserLimits, NumberOfIntents) {
  std::string source;
  for (int i = 0; i < 1025; ++i) source += "intent transfer { from: A, to: B, amount: 1 }\n";
  ParseError e = parse_error(source);
  EXPECT_EQ(e.message, "line 1025, column 1: more than 1024 intents in one program");
}

TEST(ParserLimits, ManyUnclosedBracesFailFast) {
  // Repeated backtracking candidates must not make parsing exponential.
  std::string source = "intent t() { guard { " + std::string(30, '(') + "a > 0";
  ParseError e = parse_error(source);
  EXPECT_FALSE(e.message.empty());
}

TEST(CheckCall, AcceptsAWellFormedTransfer) {
  Program p =
      parse_ok(R"(intent transfer { from: Alice, to: Bob, amount: 100, id: "x1", memo: "hi" })");
  CallCheck c = check_call(std::get<IntentCall>(p.items[0]));
  ASSERT_TRUE(c.transfer.has_value()) << c.error;
  EXPECT_EQ(c.transfer->from, "Alice");
  EXPECT_EQ(c.transfer->to, "Bob");
  EXPECT_EQ(c.transfer->amount, 100);
  EXPECT_EQ(c.transfer->id, "x1");
  EXPECT_EQ(c.transfer->memo, "hi");
}

TEST(CheckCall, NamesWhatIsWrong) {
  auto error_of = [](std::string_view source) {
    Program p = parse_ok(source);
    return check_call(std::get<IntentCall>(p.items[0])).error;
  };
  EXPECT_EQ(error_of("intent transfer { from: A, to: B, amount: 0 }"),
            "amount must be positive, got 0");
  EXPECT_EQ(error_of("intent transfer { from: A, to: A, amount: 1 }"),
            "sender and receiver are the same account 'A'");
  EXPECT_EQ(error_of("intent transfer { from: A, amount: 1 }"), "transfer needs a 'to' field");
  EXPECT_EQ(error_of("intent transfer { from: 5, to: A, amount: 1 }"),
            "'from' must be an account name, got the number 5");
  EXPECT_EQ(error_of("intent transfer { from: A, to: B, amount: 1, colour: red }"),
            "unknown field 'colour' (transfer takes from, to, amount, id, memo, nonce, signature)");
  EXPECT_EQ(error_of("intent transfer { from: A, to: B, amount: 1, nonce: -1 }"),
            "nonce must be an integer in 0..18446744073709551615, got '-1'");
  EXPECT_EQ(error_of("intent transfer { from: A, to: B, amount: 1, signature: \"ab\" }"),
            "signature must be a string of 128 hex digits (an Ed25519 signature)");
  EXPECT_EQ(error_of("intent pay { payer: A, nonce: \"1\" }"),
            "nonce must be an integer in 0..18446744073709551615, got '1'");
  EXPECT_EQ(error_of("intent transfer { from: A, to: B, amount: -9223372036854775809 }"),
            "amount -9223372036854775809 does not fit in a signed 64-bit integer");
  // Any other name calls a deployed intent; the ledger matches its arguments.
  EXPECT_EQ(error_of("intent pay { payer: \"A\" }"),
            "argument 'payer' must be an account name or an integer, not a string");
  EXPECT_EQ(error_of("intent pay { payer: A, id: 7 }"), "'id' must be a string");
}

TEST(CheckCall, NonceAndSignatureAuthorizeTransfersAndInvocations) {
  const std::string signature(128, 'A');
  Program p = parse_ok(
      "intent transfer { from: A, to: B, amount: 1, nonce: 18446744073709551615, "
      "signature: \"" +
      signature +
      "\" }\n"
      "intent pay { payer: A, nonce: 3, signature: \"" +
      signature + "\" }");
  CallCheck transfer = check_call(std::get<IntentCall>(p.items[0]));
  ASSERT_TRUE(transfer.transfer.has_value()) << transfer.error;
  EXPECT_EQ(transfer.transfer->authorization.nonce, UINT64_MAX);
  EXPECT_EQ(transfer.transfer->authorization.signature_hex, signature);
  CallCheck pay = check_call(std::get<IntentCall>(p.items[1]));
  ASSERT_TRUE(pay.invocation.has_value()) << pay.error;
  EXPECT_EQ(pay.invocation->authorization.nonce, 3u);
  // Annotations, never arguments.
  EXPECT_EQ(pay.invocation->arguments,
            (std::vector<std::pair<std::string, std::string>>{{"payer", "A"}}));
}

TEST(CheckCall, AnyOtherNameIsAnInvocationOfADeployedIntent) {
  Program p = parse_ok("intent split { payer: Alice, amount: -5, id: \"s-1\", memo: \"m\" }");
  CallCheck check = check_call(std::get<IntentCall>(p.items[0]));
  ASSERT_TRUE(check.invocation.has_value()) << check.error;
  EXPECT_FALSE(check.transfer.has_value());
  EXPECT_EQ(check.invocation->intent, "split");
  using Args = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(check.invocation->arguments, (Args{{"payer", "Alice"}, {"amount", "-5"}}));
  EXPECT_EQ(check.invocation->id, "s-1");
  EXPECT_EQ(check.invocation->memo, "m");
}

}  // namespace
}  // namespace aethel::lang
