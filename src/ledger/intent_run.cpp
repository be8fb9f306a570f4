// Deployed intents on the ledger (SPEC §11): compiling a deployment, and running an
// invocation with exact 64-bit arithmetic. The proof was checked by the node that
// accepted the deployment; here every run is checked again (guard, verify,
// conservation, non-negativity), so a definition that slipped through unproven
// can refuse a run but never break an invariant.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "ledger/ledger_state.h"
#include "ledger/overlay.h"

namespace aethel::ledger {
namespace {

constexpr std::string_view kOldPrefix = "old_";

std::optional<int64_t> parse_int64(std::string_view text) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Values of the names one run reads: integer parameters, old_ and new balances.
class Environment {
 public:
  void set(std::string name, int64_t value) { values_.emplace_back(std::move(name), value); }
  std::optional<int64_t> get(std::string_view name) const {
    for (const auto& [n, v] : values_) {
      if (n == name) return v;
    }
    return std::nullopt;
  }
  // "old_payer = 10, amount = 100" for the names `condition` reads.
  std::string describe(const lang::Condition& condition) const {
    const std::string text = lang::print(condition);
    std::vector<std::string> parts;
    for (const auto& [n, v] : values_) {
      if (text.find(n) != std::string::npos) {
        parts.push_back(fmt::format("{} = {}", n, v));
      }
    }
    return fmt::format("{}", fmt::join(parts, ", "));
  }

 private:
  std::vector<std::pair<std::string, int64_t>> values_;
};

// Exact int64 evaluation; nullopt on overflow, division by zero or an unknown name.
std::optional<int64_t> evaluate(const lang::Expr& e, const Environment& env) {
  using Kind = lang::Expr::Kind;
  if (e.kind == Kind::kNumber) return parse_int64(e.text);
  if (e.kind == Kind::kName) return env.get(e.text);
  const auto left = evaluate(e.operands[0], env);
  if (!left) return std::nullopt;
  int64_t out = 0;
  if (e.kind == Kind::kNegate) {
    if (__builtin_sub_overflow(int64_t{0}, *left, &out)) return std::nullopt;
    return out;
  }
  const auto right = evaluate(e.operands[1], env);
  if (!right) return std::nullopt;
  switch (e.op) {
    case lang::BinaryOp::kAdd:
      if (__builtin_add_overflow(*left, *right, &out)) return std::nullopt;
      return out;
    case lang::BinaryOp::kSub:
      if (__builtin_sub_overflow(*left, *right, &out)) return std::nullopt;
      return out;
    case lang::BinaryOp::kMul:
      if (__builtin_mul_overflow(*left, *right, &out)) return std::nullopt;
      return out;
    case lang::BinaryOp::kDiv:
    case lang::BinaryOp::kMod:
      if (*right == 0 || (*left == INT64_MIN && *right == -1)) return std::nullopt;
      return e.op == lang::BinaryOp::kDiv ? *left / *right : *left % *right;
  }
  return std::nullopt;
}

std::optional<bool> holds(const lang::Comparison& c, const Environment& env) {
  const auto l = evaluate(c.left, env);
  const auto r = evaluate(c.right, env);
  if (!l || !r) return std::nullopt;
  switch (c.op) {
    case lang::CompareOp::kEq:
      return *l == *r;
    case lang::CompareOp::kNe:
      return *l != *r;
    case lang::CompareOp::kGe:
      return *l >= *r;
    case lang::CompareOp::kLe:
      return *l <= *r;
    case lang::CompareOp::kGt:
      return *l > *r;
    case lang::CompareOp::kLt:
      return *l < *r;
  }
  return std::nullopt;
}

std::optional<bool> holds(const lang::Condition& c, const Environment& env) {
  if (c.premise) {
    const auto premise = holds(*c.premise, env);
    if (!premise) return std::nullopt;
    if (!*premise) return true;
  }
  return holds(c.conclusion, env);
}

// One account an invocation touches: its overlay entry (if it exists yet) and the
// balances before and after.
struct Touch {
  std::string_view param;
  std::string_view account;
  std::optional<size_t> entry;
  int64_t before = 0;
  int64_t after = 0;
};

const std::string* argument(const Invocation& invocation, std::string_view name) {
  for (const auto& [n, v] : invocation.arguments) {
    if (n == name) return &v;
  }
  return nullptr;
}

std::string signature(const DeployedIntent& info) {
  std::vector<std::string> parts;
  for (const auto& [name, type] : info.params) parts.push_back(name + ": " + type);
  return fmt::format("{}({})", info.name, fmt::join(parts, ", "));
}

// Binds the arguments to the parameters: integers into `env`, accounts into `touches`.
std::optional<Verdict> bind(const IntentEntry& entry, const Invocation& invocation,
                            Environment& env, std::vector<Touch>& touches) {
  const auto fail = [&](std::string why) {
    return refuse(
        OutcomeCode::kInvalidArguments,
        bounded(fmt::format("{}; {} takes {}", why, entry.info.name, signature(entry.info))));
  };
  if (invocation.arguments.size() > kMaxIntentArguments) return fail("too many arguments");
  for (const auto& argument : invocation.arguments) {
    const std::string& name = argument.first;  // named: clang 14 lambdas cannot capture bindings
    const auto& params = entry.info.params;
    if (std::none_of(params.begin(), params.end(), [&](const auto& p) { return p.first == name; }))
      return fail(fmt::format("unknown argument '{}'", name));
    if (std::count_if(invocation.arguments.begin(), invocation.arguments.end(),
                      [&](const auto& a) { return a.first == name; }) > 1)
      return fail(fmt::format("argument '{}' is given twice", name));
  }
  for (const auto& [name, type] : entry.info.params) {
    const std::string* value = argument(invocation, name);
    if (value == nullptr) return fail(fmt::format("missing argument '{}'", name));
    if (type != "Account") {
      const auto number = parse_int64(*value);
      if (!number) {
        return fail(fmt::format("'{}' must be an integer in the signed 64-bit range, got '{}'",
                                name, *value));
      }
      env.set(name, *number);
      continue;
    }
    if (!is_valid_account_name(*value)) {
      return fail(fmt::format("'{}' must be an account name (1-{} of A-Z a-z 0-9 _ . -)", name,
                              kMaxAccountNameBytes));
    }
    for (const Touch& t : touches) {
      if (t.account == *value) {
        return fail(
            fmt::format("'{}' and '{}' are both {}; each Account parameter needs its "
                        "own account",
                        t.param, name, *value));
      }
    }
    touches.push_back({name, *value, std::nullopt, 0, 0});
  }
  return std::nullopt;
}

// Guard, then the equations, then verify, conservation and non-negativity.
std::optional<Verdict> compute(const IntentEntry& entry, Environment& env,
                               std::vector<Touch>& touches) {
  for (const lang::Condition& c : entry.definition.guard) {
    const auto ok = holds(c, env);
    if (!ok) {
      return refuse(OutcomeCode::kOverflow,
                    bounded(fmt::format("guard `{}` overflows or divides by zero with {}",
                                        lang::print(c), env.describe(c))));
    }
    if (!*ok) {
      return refuse(
          OutcomeCode::kGuardFailed,
          bounded(fmt::format("guard `{}` does not hold: {}", lang::print(c), env.describe(c))));
    }
  }
  const auto& updates = entry.form.updates;
  for (size_t i = 0; i < updates.size(); ++i) {
    const auto value = evaluate(updates[i].value, env);
    if (!value) {
      return refuse(OutcomeCode::kOverflow,
                    bounded(fmt::format("computing {} = `{}` overflows", updates[i].variable,
                                        lang::print(updates[i].value))));
    }
    touches[i].after = *value;
  }
  for (size_t i = 0; i < updates.size(); ++i) env.set(updates[i].variable, touches[i].after);
  int64_t delta_sum = 0;
  for (const Touch& t : touches) {
    if (t.after < 0 || __builtin_add_overflow(delta_sum, t.after - t.before, &delta_sum)) {
      return refuse(
          OutcomeCode::kInvariantBreach,
          fmt::format("{} would hold {}: a balance may not become negative", t.account, t.after));
    }
  }
  if (delta_sum != 0) {
    return refuse(OutcomeCode::kInvariantBreach,
                  fmt::format("the run would change the total by {}", delta_sum));
  }
  for (const lang::Condition& c : entry.definition.verify) {
    if (holds(c, env) != std::optional(true)) {
      return refuse(OutcomeCode::kInvariantBreach,
                    bounded(fmt::format("verify `{}` would not hold", lang::print(c))));
    }
  }
  return std::nullopt;
}

// The one debited account that needs a signature may be lowered only by a signed
// item (SPEC §8); one item carries one signature, so two such accounts are refused.
std::optional<Verdict> authorize_debits(const LedgerState& state, Overlay& overlay,
                                        const Transaction& tx, size_t index,
                                        const std::vector<Touch>& touches) {
  const Touch* signer = nullptr;
  for (const Touch& t : touches) {
    if (!t.entry || t.after >= t.before) continue;
    if (!debit_needs_signature(state, overlay.at(*t.entry).after)) continue;
    if (signer != nullptr) {
      return refuse(OutcomeCode::kUnauthorized,
                    fmt::format("the run lowers {} and {}, which both need their owner's "
                                "signature; an invocation carries one",
                                signer->account, t.account));
    }
    signer = &t;
  }
  if (signer == nullptr) return std::nullopt;
  return authorize_debit(state, tx, index, signer->account, overlay.at(*signer->entry).after);
}

// Writes the computed balances into the overlay, creating credited accounts.
std::optional<Verdict> write_back(const LedgerState& state, Overlay& overlay,
                                  std::vector<Touch>& touches) {
  for (Touch& t : touches) {
    if (t.after == t.before) continue;
    if (!t.entry && !state.open_accounts) {
      return refuse(OutcomeCode::kUnknownAccount,
                    fmt::format("{} does not exist; on this lattice accounts are created by "
                                "open_account",
                                t.account));
    }
    if (!t.entry) {
      if (state.slots.size() + overlay.created() >= state.limits.max_accounts) {
        return refuse(OutcomeCode::kAccountLimit,
                      fmt::format("{} does not exist and the ledger is at its limit of {} "
                                  "accounts",
                                  t.account, state.limits.max_accounts));
      }
      t.entry = overlay.create(t.account);
    }
    Account& account = overlay.at(*t.entry).after;
    if (t.after < t.before) account.nonce += 1;
    account.balance = t.after;
  }
  return std::nullopt;
}

}  // namespace

Result<IntentEntry> compile_intent(std::string_view source, std::string deployed_by) {
  const auto bad = [](std::string message) { return Error{"invalid_intent", std::move(message)}; };
  if (source.size() > kMaxIntentSourceBytes) {
    return bad(fmt::format("definition of {} bytes exceeds the limit of {}", source.size(),
                           kMaxIntentSourceBytes));
  }
  lang::ParseResult parsed = lang::parse(source);
  if (!parsed.ok()) return bad(parsed.error->message);
  const auto& items = parsed.program->items;
  if (items.size() != 1 || !std::holds_alternative<lang::IntentDef>(items[0])) {
    return bad("a deployment holds exactly one intent definition");
  }
  IntentEntry entry;
  entry.definition = std::get<lang::IntentDef>(items[0]);
  entry.form = lang::executable_form(entry.definition);
  if (!entry.form.ok()) return bad(entry.form.error);
  entry.info.name = entry.definition.name;
  entry.info.source = std::string(source);
  entry.info.deployed_by = std::move(deployed_by);
  for (const lang::Param& p : entry.definition.params)
    entry.info.params.emplace_back(p.name, p.type);
  return entry;
}

std::optional<Verdict> run_invocation(const LedgerState& state, Overlay& overlay,
                                      const Transaction& tx, size_t index) {
  const Invocation& invocation = *tx.transfers[index].invocation;
  auto it = state.intents.find(invocation.intent);
  if (it == state.intents.end()) {
    return refuse(OutcomeCode::kUnknownIntent,
                  bounded(fmt::format("no deployed intent is named '{}'", invocation.intent)),
                  index);
  }
  const IntentEntry& entry = it->second;
  Environment env;
  std::vector<Touch> touches;
  std::optional<Verdict> failure = bind(entry, invocation, env, touches);
  if (!failure) {
    for (Touch& t : touches) {
      t.entry = overlay.find(state, t.account);
      t.before = t.entry ? overlay.at(*t.entry).after.balance : 0;
      const auto& update = entry.form.updates[&t - touches.data()];
      env.set(std::string(kOldPrefix) + update.variable, t.before);
    }
    failure = compute(entry, env, touches);
  }
  if (!failure) failure = authorize_debits(state, overlay, tx, index, touches);
  if (!failure) failure = write_back(state, overlay, touches);
  if (failure) failure->failed_transfer = static_cast<uint32_t>(index);
  return failure;
}

}  // namespace aethel::ledger
