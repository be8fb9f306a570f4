#include "lang/lexer.h"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace aethel::lang {
namespace {

constexpr std::array<std::pair<std::string_view, TokenKind>, 7> kKeywords = {{
    {"intent", TokenKind::kIntent},
    {"guard", TokenKind::kGuard},
    {"solve", TokenKind::kSolve},
    {"verify", TokenKind::kVerify},
    {"secret", TokenKind::kSecret},
    {"external", TokenKind::kExternal},
    {"atomic_batch", TokenKind::kAtomicBatch},
}};

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

// A byte as it can be shown in a message: printable ASCII as itself, else \xNN.
std::string show_byte(char c) {
  auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7f) return std::string(1, c);
  return fmt::format("\\x{:02x}", byte);
}

// Length of the valid UTF-8 sequence starting at s[0], or 0 if invalid.
size_t utf8_sequence_length(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto continuation = [&](size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (lead == 0xED && byte(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (lead == 0xF4 && byte(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

std::string canonical_digits(std::string_view digits) {
  size_t first = digits.find_first_not_of('0');
  return first == std::string_view::npos ? "0" : std::string(digits.substr(first));
}

class Lexer {
 public:
  Lexer(std::string_view source, const ParseLimits& limits) : source_(source), limits_(limits) {}

  LexResult run() {
    LexResult result;
    while (!error_) {
      skip_space_and_comments();
      Token token;
      token.pos = position();
      if (at_end()) {
        token.kind = TokenKind::kEnd;
        result.tokens.push_back(std::move(token));
        break;
      }
      if (!next_token(token)) break;
      result.tokens.push_back(std::move(token));
    }
    result.error = std::move(error_);
    return result;
  }

 private:
  bool at_end() const { return offset_ >= source_.size(); }
  char peek(size_t ahead = 0) const {
    return offset_ + ahead < source_.size() ? source_[offset_ + ahead] : '\0';
  }
  SourcePos position() const { return {line_, column_}; }

  void advance() {
    if (source_[offset_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++offset_;
  }

  void fail(SourcePos pos, std::string expected, std::string found) {
    error_ = ParseError{pos, expected, found,
                        fmt::format("line {}, column {}: expected {}, found {}", pos.line,
                                    pos.column, expected, found)};
  }

  void fail_message(SourcePos pos, std::string_view what) {
    error_ =
        ParseError{pos, "", "", fmt::format("line {}, column {}: {}", pos.line, pos.column, what)};
  }

  void skip_space_and_comments() {
    while (!at_end()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance();
      } else if (c == '#') {
        while (!at_end() && peek() != '\n') advance();
      } else {
        return;
      }
    }
  }

  bool next_token(Token& token) {
    char c = peek();
    if (is_name_start(c)) return lex_name(token);
    if (is_digit(c)) return lex_number(token);
    if (c == '"') return lex_string(token);
    return lex_operator(token);
  }

  bool lex_name(Token& token) {
    size_t start = offset_;
    while (!at_end() && is_name_char(peek())) advance();
    std::string_view text = source_.substr(start, offset_ - start);
    if (text.size() > limits_.max_identifier_bytes) {
      fail_message(token.pos, fmt::format("identifier is {} bytes long, the limit is {}",
                                          text.size(), limits_.max_identifier_bytes));
      return false;
    }
    token.kind = TokenKind::kName;
    for (const auto& [keyword, kind] : kKeywords) {
      if (text == keyword) token.kind = kind;
    }
    token.text = std::string(text);
    return true;
  }

  bool lex_number(Token& token) {
    size_t start = offset_;
    while (!at_end() && is_digit(peek())) advance();
    if (!at_end() && is_name_start(peek())) {
      fail(token.pos, "a number",
           fmt::format("malformed number '{}{}'", source_.substr(start, offset_ - start), peek()));
      return false;
    }
    std::string_view digits = source_.substr(start, offset_ - start);
    if (digits.size() > limits_.max_number_digits) {
      fail_message(token.pos, fmt::format("number has {} digits, the limit is {}", digits.size(),
                                          limits_.max_number_digits));
      return false;
    }
    token.kind = TokenKind::kNumber;
    token.text = canonical_digits(digits);
    return true;
  }

  bool lex_string(Token& token) {
    advance();  // opening quote
    std::string decoded;
    while (true) {
      if (at_end() || peek() == '\n') {
        fail(token.pos, "'\"' to close the string", "end of line");
        return false;
      }
      char c = peek();
      if (c == '"') break;
      if (c == '\\') {
        if (!lex_escape(decoded)) return false;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        fail(position(), "a printable character in the string", "'" + show_byte(c) + "'");
        return false;
      } else {
        size_t length = utf8_sequence_length(source_.substr(offset_));
        if (length == 0) {
          fail(position(), "valid UTF-8 in the string", "byte '" + show_byte(c) + "'");
          return false;
        }
        for (size_t i = 0; i < length; ++i) {
          decoded.push_back(peek());
          advance();
        }
      }
      if (decoded.size() > limits_.max_string_bytes) {
        fail_message(token.pos, fmt::format("string is longer than the limit of {} bytes",
                                            limits_.max_string_bytes));
        return false;
      }
    }
    advance();  // closing quote
    token.kind = TokenKind::kString;
    token.text = std::move(decoded);
    return true;
  }

  bool lex_escape(std::string& decoded) {
    SourcePos pos = position();
    advance();  // backslash
    char c = peek();
    switch (c) {
      case '"':
        decoded.push_back('"');
        break;
      case '\\':
        decoded.push_back('\\');
        break;
      case 'n':
        decoded.push_back('\n');
        break;
      case 't':
        decoded.push_back('\t');
        break;
      default:
        fail(pos, "an escape (\\\" \\\\ \\n \\t)",
             at_end() ? std::string("end of input") : "'\\" + show_byte(c) + "'");
        return false;
    }
    advance();
    return true;
  }

  bool lex_operator(Token& token) {
    static constexpr std::array<std::pair<std::string_view, TokenKind>, 19> kOperators = {{
        {"==>", TokenKind::kImplies}, {"==", TokenKind::kEq},        {"!=", TokenKind::kNe},
        {">=", TokenKind::kGe},       {"<=", TokenKind::kLe},        {">", TokenKind::kGt},
        {"<", TokenKind::kLt},        {"(", TokenKind::kLeftParen},  {")", TokenKind::kRightParen},
        {"{", TokenKind::kLeftBrace}, {"}", TokenKind::kRightBrace}, {":", TokenKind::kColon},
        {";", TokenKind::kSemicolon}, {",", TokenKind::kComma},      {"+", TokenKind::kPlus},
        {"-", TokenKind::kMinus},     {"*", TokenKind::kStar},       {"/", TokenKind::kSlash},
        {"%", TokenKind::kPercent},
    }};
    std::string_view rest = source_.substr(offset_);
    for (const auto& [spelling, kind] : kOperators) {
      if (rest.substr(0, spelling.size()) != spelling) continue;
      for (size_t i = 0; i < spelling.size(); ++i) advance();
      token.kind = kind;
      token.text = std::string(spelling);
      return true;
    }
    if (peek() == '=') {
      fail(token.pos, "'==' (comparison)", "'='");
    } else {
      fail(token.pos, "a token", "character '" + show_byte(peek()) + "'");
    }
    return false;
  }

  std::string_view source_;
  const ParseLimits& limits_;
  size_t offset_ = 0;
  uint32_t line_ = 1;
  uint32_t column_ = 1;
  std::optional<ParseError> error_;
};

}  // namespace

std::string describe(TokenKind kind) {
  switch (kind) {
    case TokenKind::kEnd:
      return "end of input";
    case TokenKind::kName:
      return "a name";
    case TokenKind::kNumber:
      return "a number";
    case TokenKind::kString:
      return "a string";
    case TokenKind::kIntent:
      return "'intent'";
    case TokenKind::kGuard:
      return "'guard'";
    case TokenKind::kSolve:
      return "'solve'";
    case TokenKind::kVerify:
      return "'verify'";
    case TokenKind::kSecret:
      return "'secret'";
    case TokenKind::kExternal:
      return "'external'";
    case TokenKind::kAtomicBatch:
      return "'atomic_batch'";
    case TokenKind::kLeftParen:
      return "'('";
    case TokenKind::kRightParen:
      return "')'";
    case TokenKind::kLeftBrace:
      return "'{'";
    case TokenKind::kRightBrace:
      return "'}'";
    case TokenKind::kColon:
      return "':'";
    case TokenKind::kSemicolon:
      return "';'";
    case TokenKind::kComma:
      return "','";
    case TokenKind::kPlus:
      return "'+'";
    case TokenKind::kMinus:
      return "'-'";
    case TokenKind::kStar:
      return "'*'";
    case TokenKind::kSlash:
      return "'/'";
    case TokenKind::kPercent:
      return "'%'";
    case TokenKind::kImplies:
      return "'==>'";
    case TokenKind::kEq:
      return "'=='";
    case TokenKind::kNe:
      return "'!='";
    case TokenKind::kGe:
      return "'>='";
    case TokenKind::kLe:
      return "'<='";
    case TokenKind::kGt:
      return "'>'";
    case TokenKind::kLt:
      return "'<'";
  }
  return "a token";
}

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::kName:
      return "name '" + token.text + "'";
    case TokenKind::kNumber:
      return "number " + token.text;
    case TokenKind::kString:
      return "a string";
    default:
      return describe(token.kind);
  }
}

LexResult lex(std::string_view source, const ParseLimits& limits) {
  return Lexer(source, limits).run();
}

}  // namespace aethel::lang
