// Tokens of the Aethel language. Internal to the lang module.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lang/lang.h"

namespace aethel::lang {

enum class TokenKind {
  kEnd,
  kName,
  kNumber,
  kString,
  // keywords
  kIntent,
  kGuard,
  kSolve,
  kVerify,
  kSecret,
  kExternal,
  kAtomicBatch,
  // punctuation and operators
  kLeftParen,
  kRightParen,
  kLeftBrace,
  kRightBrace,
  kColon,
  kSemicolon,
  kComma,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kImplies,  // ==>
  kEq,
  kNe,
  kGe,
  kLe,
  kGt,
  kLt,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // names and numbers as written; strings decoded
  SourcePos pos;
};

// How a token kind is named in "expected X" messages, e.g. "';'" or "a name".
std::string describe(TokenKind kind);
// How a concrete token is named in "found X" messages, e.g. "'}'" or "name 'foo'".
std::string describe(const Token& token);

struct LexResult {
  std::vector<Token> tokens;  // always ends with kEnd when error is empty
  std::optional<ParseError> error;
};

// Splits source into tokens, skipping whitespace and `#` comments.
LexResult lex(std::string_view source, const ParseLimits& limits);

}  // namespace aethel::lang
