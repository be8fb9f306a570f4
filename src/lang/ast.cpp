// Syntax-tree helpers, the printer and the shape check of invocations.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "lang/lang.h"

namespace aethel::lang {

Expr Expr::number(std::string digits, SourcePos pos) {
  Expr e;
  e.kind = Kind::kNumber;
  e.text = std::move(digits);
  e.pos = pos;
  return e;
}

Expr Expr::name(std::string name, SourcePos pos) {
  Expr e;
  e.kind = Kind::kName;
  e.text = std::move(name);
  e.pos = pos;
  return e;
}

Expr Expr::negate(Expr operand, SourcePos pos) {
  Expr e;
  e.kind = Kind::kNegate;
  e.operands.push_back(std::move(operand));
  e.pos = pos;
  return e;
}

Expr Expr::binary(BinaryOp op, Expr left, Expr right, SourcePos pos) {
  Expr e;
  e.kind = Kind::kBinary;
  e.op = op;
  e.operands.push_back(std::move(left));
  e.operands.push_back(std::move(right));
  e.pos = pos;
  return e;
}

const Field* IntentCall::field(std::string_view field_name) const {
  for (const Field& f : fields) {
    if (f.name == field_name) return &f;
  }
  return nullptr;
}

const char* to_string(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kMod:
      return "%";
  }
  return "?";
}

const char* to_string(CompareOp op) {
  switch (op) {
    case CompareOp::kEq:
      return "==";
    case CompareOp::kNe:
      return "!=";
    case CompareOp::kGe:
      return ">=";
    case CompareOp::kLe:
      return "<=";
    case CompareOp::kGt:
      return ">";
    case CompareOp::kLt:
      return "<";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Printer: canonical text with the fewest parentheses that keep the tree intact.
// ---------------------------------------------------------------------------
namespace {

constexpr int kPrecedenceSum = 1;
constexpr int kPrecedenceProduct = 2;
constexpr int kPrecedenceUnary = 3;
constexpr int kPrecedenceAtom = 4;

int precedence(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kNumber:
    case Expr::Kind::kName:
      return kPrecedenceAtom;
    case Expr::Kind::kNegate:
      return kPrecedenceUnary;
    case Expr::Kind::kBinary:
      return e.op == BinaryOp::kAdd || e.op == BinaryOp::kSub ? kPrecedenceSum : kPrecedenceProduct;
  }
  return kPrecedenceAtom;
}

void print_expr(const Expr& e, int min_precedence, std::string& out) {
  int own = precedence(e);
  bool parenthesize = own < min_precedence;
  if (parenthesize) out += '(';
  switch (e.kind) {
    case Expr::Kind::kNumber:
    case Expr::Kind::kName:
      out += e.text;
      break;
    case Expr::Kind::kNegate:
      out += '-';
      print_expr(e.operands[0], kPrecedenceUnary, out);
      break;
    case Expr::Kind::kBinary:
      // Operators associate to the left: a right operand of equal precedence needs parentheses.
      print_expr(e.operands[0], own, out);
      out += fmt::format(" {} ", to_string(e.op));
      print_expr(e.operands[1], own + 1, out);
      break;
  }
  if (parenthesize) out += ')';
}

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

std::string annotations(bool secret, bool external) {
  std::string out;
  if (secret) out += "secret ";
  if (external) out += "external ";
  return out;
}

std::string print_field(const Field& field) {
  return field.name + ": " +
         (field.kind == Field::Kind::kString ? quote(field.value) : field.value);
}

void print_definition(const IntentDef& def, const std::string& indent, std::string& out) {
  std::vector<std::string> params;
  for (const Param& p : def.params) {
    params.push_back(annotations(p.secret, p.external) + p.name + ": " + p.type);
  }
  out += fmt::format("{}intent {}({}) {{\n", indent, def.name, fmt::join(params, ", "));
  auto block = [&](const char* keyword, const std::vector<Condition>& conditions) {
    out += fmt::format("{}  {} {{\n", indent, keyword);
    for (const Condition& c : conditions) out += fmt::format("{}    {};\n", indent, print(c));
    out += indent + "  }\n";
  };
  block("guard", def.guard);
  out += indent + "  solve {\n";
  for (const SolveEntry& entry : def.solve) {
    out += fmt::format("{}    {}: {};\n", indent, entry.key, entry.value);
  }
  out += indent + "  }\n";
  block("verify", def.verify);
  out += indent + "}\n";
}

void print_call(const IntentCall& call, const std::string& indent, std::string& out) {
  std::vector<std::string> fields;
  for (const Field& f : call.fields) fields.push_back(print_field(f));
  out += fmt::format("{}intent {} {{ {} }}\n", indent, call.name, fmt::join(fields, ", "));
}

void print_batch_item(const BatchItem& item, const std::string& indent, std::string& out) {
  if (const auto* def = std::get_if<IntentDef>(&item)) {
    print_definition(*def, indent, out);
  } else {
    print_call(std::get<IntentCall>(item), indent, out);
  }
}

}  // namespace

std::string print(const Expr& expr) {
  std::string out;
  print_expr(expr, kPrecedenceSum, out);
  return out;
}

std::string print(const Comparison& comparison) {
  return fmt::format("{} {} {}", print(comparison.left), to_string(comparison.op),
                     print(comparison.right));
}

std::string print(const Condition& condition) {
  std::string body = condition.premise ? fmt::format("({}) ==> ({})", print(*condition.premise),
                                                     print(condition.conclusion))
                                       : print(condition.conclusion);
  return annotations(condition.secret, condition.external) + body;
}

std::string print(const Program& program) {
  std::string out;
  for (const Item& item : program.items) {
    if (!out.empty()) out += '\n';
    if (const auto* batch = std::get_if<AtomicBatch>(&item)) {
      out += fmt::format("atomic_batch {} {{\n", batch->name);
      for (const BatchItem& inner : batch->items) print_batch_item(inner, "  ", out);
      out += "}\n";
    } else if (const auto* def = std::get_if<IntentDef>(&item)) {
      print_definition(*def, "", out);
    } else {
      print_call(std::get<IntentCall>(item), "", out);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Invocations
// ---------------------------------------------------------------------------
namespace {

constexpr std::string_view kTransferFields[] = {"from", "to",    "amount",   "id",
                                                "memo", "nonce", "signature"};

bool is_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

// `nonce` (an unsigned 64-bit integer) and `signature` (128 hex digits), if written.
std::string check_authorization(const IntentCall& call, CallAuthorization& out) {
  if (const Field* nonce = call.field("nonce")) {
    uint64_t value = 0;
    const std::string& text = nonce->value;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (nonce->kind != Field::Kind::kNumber || error != std::errc() ||
        end != text.data() + text.size()) {
      return fmt::format("nonce must be an integer in 0..18446744073709551615, got '{}'", text);
    }
    out.nonce = value;
  }
  if (const Field* signature = call.field("signature")) {
    if (signature->kind != Field::Kind::kString || signature->value.size() != 128 ||
        !is_hex(signature->value)) {
      return "signature must be a string of 128 hex digits (an Ed25519 signature)";
    }
    out.signature_hex = signature->value;
  }
  return "";
}

std::string check_account_field(const IntentCall& call, std::string_view name,
                                std::string& account) {
  const Field* field = call.field(name);
  if (field == nullptr) return fmt::format("transfer needs a '{}' field", name);
  if (field->kind == Field::Kind::kNumber) {
    return fmt::format("'{}' must be an account name, got the number {}", name, field->value);
  }
  if (field->value.empty()) return fmt::format("'{}' must not be empty", name);
  account = field->value;
  return "";
}

std::string check_amount(const IntentCall& call, int64_t& amount) {
  const Field* field = call.field("amount");
  if (field == nullptr) return "transfer needs an 'amount' field";
  if (field->kind != Field::Kind::kNumber) {
    return fmt::format("amount must be an integer, got '{}'", field->value);
  }
  const std::string& text = field->value;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), amount);
  if (error != std::errc() || end != text.data() + text.size()) {
    return fmt::format("amount {} does not fit in a signed 64-bit integer", text);
  }
  if (amount <= 0) return fmt::format("amount must be positive, got {}", amount);
  return "";
}

}  // namespace

namespace {

CallCheck check_transfer(const IntentCall& call) {
  for (const Field& f : call.fields) {
    if (std::find(std::begin(kTransferFields), std::end(kTransferFields), f.name) ==
        std::end(kTransferFields)) {
      return {std::nullopt, std::nullopt,
              fmt::format("unknown field '{}' (transfer takes from, to, amount, id, memo, nonce, "
                          "signature)",
                          f.name)};
    }
  }
  TransferRequest transfer;
  for (const std::string& error :
       {check_account_field(call, "from", transfer.from),
        check_account_field(call, "to", transfer.to), check_amount(call, transfer.amount),
        check_authorization(call, transfer.authorization)}) {
    if (!error.empty()) return {std::nullopt, std::nullopt, error};
  }
  if (transfer.from == transfer.to) {
    return {std::nullopt, std::nullopt,
            fmt::format("sender and receiver are the same account '{}'", transfer.from)};
  }
  if (const Field* id = call.field("id")) transfer.id = id->value;
  if (const Field* memo = call.field("memo")) transfer.memo = memo->value;
  return {std::move(transfer), std::nullopt, ""};
}

CallCheck check_invocation(const IntentCall& call) {
  InvocationRequest invocation;
  invocation.intent = call.name;
  const auto fail = [](std::string error) {
    return CallCheck{std::nullopt, std::nullopt, std::move(error)};
  };
  if (std::string error = check_authorization(call, invocation.authorization); !error.empty()) {
    return fail(std::move(error));
  }
  for (const Field& f : call.fields) {  // each name once: the parser refuses repeats
    if (f.name == "nonce" || f.name == "signature") continue;
    const bool annotation = f.name == "id" || f.name == "memo";
    if (annotation != (f.kind == Field::Kind::kString)) {
      return fail(annotation ? fmt::format("'{}' must be a string", f.name)
                             : fmt::format("argument '{}' must be an account name or an "
                                           "integer, not a string",
                                           f.name));
    }
    if (f.name == "id") {
      invocation.id = f.value;
    } else if (f.name == "memo") {
      invocation.memo = f.value;
    } else {
      invocation.arguments.emplace_back(f.name, f.value);
    }
  }
  return {std::nullopt, std::move(invocation), ""};
}

}  // namespace

CallCheck check_call(const IntentCall& call) {
  return call.name == kBuiltinIntent ? check_transfer(call) : check_invocation(call);
}

}  // namespace aethel::lang
