// Printing a parsed program and parsing it again gives the same tree: checked on
// random trees (RapidCheck) and on every parseable program of the corpus.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <filesystem>
#include <fstream>

#include "lang/lang.h"

namespace aethel::lang {
namespace {

const std::vector<std::string> kNamePool = {
    "a",  "b",    "amount", "old_a", "sender_balance", "old_sender_balance",
    "x1", "_tmp", "Alice",  "fee"};

rc::Gen<std::string> gen_name() {
  return rc::gen::oneOf(
      rc::gen::elementOf(kNamePool),
      rc::gen::map(rc::gen::inRange(0, 1'000'000), [](int n) { return "v" + std::to_string(n); }));
}

rc::Gen<std::string> gen_digits() {
  return rc::gen::oneOf(rc::gen::map(rc::gen::inRange<int64_t>(0, 1'000'000),
                                     [](int64_t n) { return std::to_string(n); }),
                        rc::gen::map(rc::gen::container<std::string>(
                                         rc::gen::inRange('0', static_cast<char>('9' + 1))),
                                     [](std::string s) {
                                       s = "1" + s.substr(0, 38);  // canonical: no leading zero
                                       return s;
                                     }));
}

Expr gen_expr_of_depth(int depth) {
  int choice = *rc::gen::inRange(0, depth <= 0 ? 2 : 6);
  switch (choice) {
    case 0:
      return Expr::number(*gen_digits());
    case 1:
      return Expr::name(*gen_name());
    case 2:
      return Expr::negate(gen_expr_of_depth(depth - 1));
    default: {
      auto op = *rc::gen::element(BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv,
                                  BinaryOp::kMod);
      Expr left = gen_expr_of_depth(depth - 1);
      return Expr::binary(op, std::move(left), gen_expr_of_depth(depth - 1));
    }
  }
}

Comparison gen_comparison() {
  Comparison c;
  c.left = gen_expr_of_depth(*rc::gen::inRange(0, 5));
  c.op = *rc::gen::element(CompareOp::kEq, CompareOp::kNe, CompareOp::kGe, CompareOp::kLe,
                           CompareOp::kGt, CompareOp::kLt);
  c.right = gen_expr_of_depth(*rc::gen::inRange(0, 5));
  return c;
}

std::vector<Condition> gen_conditions() {
  std::vector<Condition> result(*rc::gen::inRange(1, 4));
  for (Condition& c : result) {
    c.secret = *rc::gen::arbitrary<bool>();
    c.external = *rc::gen::arbitrary<bool>();
    if (*rc::gen::arbitrary<bool>()) c.premise = gen_comparison();
    c.conclusion = gen_comparison();
  }
  return result;
}

IntentDef gen_definition() {
  IntentDef def;
  def.name = *gen_name();
  int params = *rc::gen::inRange(0, 4);
  for (int i = 0; i < params; ++i) {
    def.params.push_back({*rc::gen::arbitrary<bool>(), *rc::gen::arbitrary<bool>(),
                          "p" + std::to_string(i), *gen_name()});
  }
  def.guard = gen_conditions();
  int entries = *rc::gen::inRange(1, 3);
  for (int i = 0; i < entries; ++i) def.solve.push_back({*gen_name(), *gen_name()});
  def.verify = gen_conditions();
  return def;
}

std::string gen_string_value() {
  static const std::vector<std::string> pieces = {"a",  "Z",  " ", "\"", "\\",
                                                  "\n", "\t", "é", "€",  "9"};
  std::string s;
  int n = *rc::gen::inRange(0, 12);
  for (int i = 0; i < n; ++i) s += *rc::gen::elementOf(pieces);
  return s;
}

IntentCall gen_call() {
  IntentCall call;
  call.name = *gen_name();
  int fields = *rc::gen::inRange(1, 5);
  for (int i = 0; i < fields; ++i) {
    Field f;
    f.name = "f" + std::to_string(i);
    f.kind = *rc::gen::element(Field::Kind::kName, Field::Kind::kNumber, Field::Kind::kString);
    if (f.kind == Field::Kind::kName) f.value = *gen_name();
    if (f.kind == Field::Kind::kNumber) {
      f.value = *gen_digits();
      if (f.value != "0" && *rc::gen::arbitrary<bool>()) f.value = "-" + f.value;
    }
    if (f.kind == Field::Kind::kString) f.value = gen_string_value();
    call.fields.push_back(std::move(f));
  }
  return call;
}

BatchItem gen_batch_item() {
  if (*rc::gen::arbitrary<bool>()) return gen_definition();
  return gen_call();
}

Program gen_program() {
  Program p;
  int items = *rc::gen::inRange(1, 5);
  for (int i = 0; i < items; ++i) {
    switch (*rc::gen::inRange(0, 3)) {
      case 0:
        p.items.push_back(gen_definition());
        break;
      case 1:
        p.items.push_back(gen_call());
        break;
      default: {
        AtomicBatch batch{*gen_name(), {}, {}};
        int inner = *rc::gen::inRange(1, 4);
        for (int j = 0; j < inner; ++j) batch.items.push_back(gen_batch_item());
        p.items.push_back(std::move(batch));
      }
    }
  }
  return p;
}

RC_GTEST_PROP(Roundtrip, PrintThenParseGivesTheSameTree, ()) {
  Program original = gen_program();
  std::string text = print(original);
  ParseResult reparsed = parse(text);
  RC_ASSERT(reparsed.ok());
  RC_ASSERT(*reparsed.program == original);
  RC_ASSERT(print(*reparsed.program) == text);
}

TEST(Roundtrip, TreesThatDifferAreNotEqual) {
  // Guards the property above against an equality that ignores too much.
  ParseResult a = parse("intent t { x: 1 }");
  ParseResult b = parse("intent t { x: 2 }");
  ParseResult c =
      parse("intent t() { guard { a - b - c > 0; } solve { k: v; } verify { a > 0; } }");
  ParseResult d =
      parse("intent t() { guard { a - (b - c) > 0; } solve { k: v; } verify { a > 0; } }");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_FALSE(*a.program == *b.program);
  EXPECT_FALSE(*c.program == *d.program);
}

TEST(Roundtrip, EveryParseableCorpusProgram) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(AETHEL_CORPUS_DIR)) {
    std::ifstream file(entry.path(), std::ios::binary);
    std::string source{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    ParseResult first = parse(source);
    if (!first.ok()) continue;
    ParseResult second = parse(print(*first.program));
    ASSERT_TRUE(second.ok()) << entry.path() << ": " << second.error->message;
    EXPECT_EQ(*second.program, *first.program) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

}  // namespace
}  // namespace aethel::lang
