// Recursive-descent parser for the grammar of docs/LANGUAGE.md. Every construct
// is parsed in one pass; the only backtracking is a single retry at the start of a
// condition (implication or plain comparison), so time stays linear in the input.
#include <fmt/format.h>

#include <algorithm>

#include "lang/lang.h"
#include "lang/lexer.h"

namespace aethel::lang {
namespace {

// Thrown inside the parser only; parse() turns it into a ParseError value.
struct ParseFailure {
  ParseError error;
};

// An expression with the depth of its tree, so that depth is bounded while parsing
// and nothing downstream (printer, verifier, destructors) recurses without limit.
struct Sized {
  Expr expr;
  size_t depth = 1;
};

class Parser {
 public:
  Parser(std::vector<Token> tokens, const ParseLimits& limits)
      : tokens_(std::move(tokens)), limits_(limits) {}

  Program program() {
    Program result;
    if (peek().kind == TokenKind::kEnd) fail_expected("'intent' or 'atomic_batch'");
    while (peek().kind != TokenKind::kEnd) result.items.push_back(item());
    return result;
  }

 private:
  const Token& peek() const { return tokens_[index_]; }
  bool at(TokenKind kind) const { return peek().kind == kind; }
  const Token& take() {
    const Token& token = tokens_[index_];
    if (token.kind != TokenKind::kEnd) ++index_;
    return token;
  }

  [[noreturn]] void fail_expected(std::string_view expected) const {
    const Token& token = peek();
    throw ParseFailure{{token.pos, std::string(expected), describe(token),
                        fmt::format("line {}, column {}: expected {}, found {}", token.pos.line,
                                    token.pos.column, expected, describe(token))}};
  }

  [[noreturn]] static void fail_at(SourcePos pos, std::string_view what) {
    throw ParseFailure{
        {pos, "", "", fmt::format("line {}, column {}: {}", pos.line, pos.column, what)}};
  }

  const Token& expect(TokenKind kind, std::string_view context = {}) {
    if (!at(kind)) {
      fail_expected(context.empty() ? describe(kind)
                                    : fmt::format("{} {}", describe(kind), context));
    }
    return take();
  }

  std::string expect_name(std::string_view what) {
    if (!at(TokenKind::kName)) fail_expected(what);
    return take().text;
  }

  void count_intent(SourcePos pos) {
    if (++intent_count_ > limits_.max_intents) {
      fail_at(pos, fmt::format("more than {} intents in one program", limits_.max_intents));
    }
  }

  Item item() {
    if (at(TokenKind::kAtomicBatch)) return atomic_batch();
    if (at(TokenKind::kIntent))
      return std::visit([](auto&& i) -> Item { return std::move(i); }, intent());
    fail_expected("'intent' or 'atomic_batch'");
  }

  BatchItem intent() {
    SourcePos pos = expect(TokenKind::kIntent).pos;
    count_intent(pos);
    std::string name = expect_name("the intent's name");
    if (at(TokenKind::kLeftParen)) return definition(std::move(name), pos);
    if (at(TokenKind::kLeftBrace)) return call(std::move(name), pos);
    fail_expected("'(' to start a definition or '{' to start an invocation");
  }

  AtomicBatch atomic_batch() {
    AtomicBatch batch;
    batch.pos = expect(TokenKind::kAtomicBatch).pos;
    batch.name = expect_name("the batch's name");
    expect(TokenKind::kLeftBrace, "to open the batch");
    if (!at(TokenKind::kIntent)) fail_expected("'intent' (a batch holds at least one intent)");
    while (at(TokenKind::kIntent)) batch.items.push_back(intent());
    expect(TokenKind::kRightBrace, "to close the batch");
    return batch;
  }

  IntentDef definition(std::string name, SourcePos pos) {
    IntentDef def;
    def.name = std::move(name);
    def.pos = pos;
    def.params = params();
    expect(TokenKind::kLeftBrace, "to open the definition");
    def.guard = conditions(TokenKind::kGuard);
    def.solve = solve_block();
    def.verify = conditions(TokenKind::kVerify);
    expect(TokenKind::kRightBrace, "to close the definition");
    return def;
  }

  std::vector<Param> params() {
    expect(TokenKind::kLeftParen);
    std::vector<Param> result;
    if (at(TokenKind::kRightParen)) {
      take();
      return result;
    }
    while (true) {
      SourcePos pos = peek().pos;
      Param param;
      param.secret = at(TokenKind::kSecret) && (take(), true);
      param.external = at(TokenKind::kExternal) && (take(), true);
      param.name = expect_name("a parameter name");
      expect(TokenKind::kColon, "after the parameter name");
      param.type = expect_name("a type name");
      bool duplicate = std::any_of(result.begin(), result.end(),
                                   [&](const Param& p) { return p.name == param.name; });
      if (duplicate) fail_at(pos, fmt::format("parameter '{}' appears twice", param.name));
      result.push_back(std::move(param));
      if (at(TokenKind::kRightParen)) break;
      expect(TokenKind::kComma, "or ')' after a parameter");
    }
    take();
    return result;
  }

  std::vector<Condition> conditions(TokenKind block) {
    expect(block);
    expect(TokenKind::kLeftBrace, fmt::format("after {}", describe(block)));
    std::vector<Condition> result;
    do {
      result.push_back(condition());
      expect(TokenKind::kSemicolon, "after the condition");
    } while (!at(TokenKind::kRightBrace));
    take();
    return result;
  }

  std::vector<SolveEntry> solve_block() {
    expect(TokenKind::kSolve);
    expect(TokenKind::kLeftBrace, "after 'solve'");
    std::vector<SolveEntry> result;
    do {
      SolveEntry entry;
      entry.key = expect_name("a solve key such as 'priority'");
      expect(TokenKind::kColon, "after the solve key");
      entry.value = expect_name("a solve value (a name)");
      expect(TokenKind::kSemicolon, "after the solve entry");
      result.push_back(std::move(entry));
    } while (!at(TokenKind::kRightBrace));
    take();
    return result;
  }

  Condition condition() {
    Condition cond;
    cond.pos = peek().pos;
    cond.secret = at(TokenKind::kSecret) && (take(), true);
    cond.external = at(TokenKind::kExternal) && (take(), true);
    if (!at(TokenKind::kLeftParen)) {
      cond.conclusion = comparison();
      return cond;
    }
    // "(a > b) ==> (c > d)" or a comparison whose left side starts with '('.
    size_t start = index_;
    try {
      Comparison premise = parenthesized_comparison("to open the premise");
      expect(TokenKind::kImplies, "after the premise");
      cond.conclusion = parenthesized_comparison("after '==>'");
      cond.premise = std::move(premise);
      return cond;
    } catch (const ParseFailure& as_implication) {
      size_t implication_reach = index_;
      index_ = start;
      try {
        cond.conclusion = comparison();
        return cond;
      } catch (const ParseFailure& as_comparison) {
        // Report whichever reading got further: that is what the author meant.
        throw implication_reach > index_ ? as_implication : as_comparison;
      }
    }
  }

  Comparison parenthesized_comparison(std::string_view context) {
    expect(TokenKind::kLeftParen, context);
    Comparison result = comparison();
    expect(TokenKind::kRightParen, "after the comparison");
    return result;
  }

  Comparison comparison() {
    Comparison result;
    result.left = expr().expr;
    switch (peek().kind) {
      case TokenKind::kEq:
        result.op = CompareOp::kEq;
        break;
      case TokenKind::kNe:
        result.op = CompareOp::kNe;
        break;
      case TokenKind::kGe:
        result.op = CompareOp::kGe;
        break;
      case TokenKind::kLe:
        result.op = CompareOp::kLe;
        break;
      case TokenKind::kGt:
        result.op = CompareOp::kGt;
        break;
      case TokenKind::kLt:
        result.op = CompareOp::kLt;
        break;
      default:
        fail_expected("a comparison operator (==, !=, >=, <=, >, <)");
    }
    take();
    result.right = expr().expr;
    return result;
  }

  Sized combine(BinaryOp op, Sized left, Sized right, SourcePos pos) {
    size_t depth = 1 + std::max(left.depth, right.depth);
    check_depth(depth, pos);
    return {Expr::binary(op, std::move(left.expr), std::move(right.expr), pos), depth};
  }

  void check_depth(size_t depth, SourcePos pos) const {
    if (depth > limits_.max_nesting_depth) {
      fail_at(pos,
              fmt::format("expression nests deeper than {} levels", limits_.max_nesting_depth));
    }
  }

  Sized expr() {
    Sized left = term();
    while (at(TokenKind::kPlus) || at(TokenKind::kMinus)) {
      const Token& op = take();
      BinaryOp binary = op.kind == TokenKind::kPlus ? BinaryOp::kAdd : BinaryOp::kSub;
      left = combine(binary, std::move(left), term(), op.pos);
    }
    return left;
  }

  Sized term() {
    Sized left = factor();
    while (at(TokenKind::kStar) || at(TokenKind::kSlash) || at(TokenKind::kPercent)) {
      const Token& op = take();
      BinaryOp binary = op.kind == TokenKind::kStar    ? BinaryOp::kMul
                        : op.kind == TokenKind::kSlash ? BinaryOp::kDiv
                                                       : BinaryOp::kMod;
      left = combine(binary, std::move(left), factor(), op.pos);
    }
    return left;
  }

  // Parentheses and minus signs recurse; this bounds the recursion.
  class Nesting {
   public:
    Nesting(Parser& parser, SourcePos pos) : parser_(parser) {
      if (++parser_.nesting_ > parser_.limits_.max_nesting_depth) {
        fail_at(pos, fmt::format("expression nests deeper than {} levels",
                                 parser_.limits_.max_nesting_depth));
      }
    }
    ~Nesting() { --parser_.nesting_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;

   private:
    Parser& parser_;
  };

  Sized factor() {
    const Token& token = peek();
    switch (token.kind) {
      case TokenKind::kNumber:
        take();
        return {Expr::number(token.text, token.pos), 1};
      case TokenKind::kName:
        take();
        return {Expr::name(token.text, token.pos), 1};
      case TokenKind::kMinus: {
        Nesting nesting(*this, token.pos);
        take();
        Sized operand = factor();
        size_t depth = operand.depth + 1;
        check_depth(depth, token.pos);
        return {Expr::negate(std::move(operand.expr), token.pos), depth};
      }
      case TokenKind::kLeftParen: {
        Nesting nesting(*this, token.pos);
        take();
        Sized inner = expr();
        expect(TokenKind::kRightParen, "to close '('");
        return inner;
      }
      default:
        fail_expected("a number, a name, '(' or '-'");
    }
  }

  IntentCall call(std::string name, SourcePos pos) {
    IntentCall result;
    result.name = std::move(name);
    result.pos = pos;
    expect(TokenKind::kLeftBrace);
    while (!at(TokenKind::kRightBrace)) {
      Field field = call_field();
      if (result.field(field.name) != nullptr) {
        fail_at(field.pos, fmt::format("field '{}' appears twice", field.name));
      }
      result.fields.push_back(std::move(field));
      if (at(TokenKind::kRightBrace)) break;
      expect(TokenKind::kComma, "or '}' after a field");
    }
    if (result.fields.empty()) fail_expected("a field such as 'from: Alice'");
    take();
    return result;
  }

  Field call_field() {
    Field field;
    field.pos = peek().pos;
    field.name = expect_name("a field name");
    expect(TokenKind::kColon, "after the field name");
    bool negative = at(TokenKind::kMinus) && (take(), true);
    if (negative && !at(TokenKind::kNumber)) fail_expected("a number after '-'");
    switch (peek().kind) {
      case TokenKind::kName:
        field.kind = Field::Kind::kName;
        break;
      case TokenKind::kNumber:
        field.kind = Field::Kind::kNumber;
        break;
      case TokenKind::kString:
        field.kind = Field::Kind::kString;
        break;
      default:
        fail_expected("a field value (a name, a number or a string)");
    }
    field.value = take().text;
    if (negative && field.value != "0") field.value = "-" + field.value;
    return field;
  }

  std::vector<Token> tokens_;
  const ParseLimits& limits_;
  size_t index_ = 0;
  size_t intent_count_ = 0;
  size_t nesting_ = 0;
};

}  // namespace

ParseResult parse(std::string_view source, const ParseLimits& limits) {
  if (source.size() > limits.max_source_bytes) {
    std::string message =
        fmt::format("source is {} bytes, the limit is {}", source.size(), limits.max_source_bytes);
    return {std::nullopt, ParseError{{}, "", "", message}};
  }
  LexResult lexed = lex(source, limits);
  if (lexed.error) return {std::nullopt, std::move(lexed.error)};
  try {
    return {Parser(std::move(lexed.tokens), limits).program(), std::nullopt};
  } catch (const ParseFailure& failure) {
    return {std::nullopt, failure.error};
  }
}

}  // namespace aethel::lang
