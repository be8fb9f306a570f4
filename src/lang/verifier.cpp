// SMT verification of intent definitions with Z3. Each property is one query whose
// satisfiability means "a counterexample exists"; unsat means the property holds
// for all integer inputs. Queries run on fresh simple solvers with a resource
// limit (not a timer), so the verdict and message depend on the input only.
#include <fmt/format.h>
#include <z3++.h>

#include <algorithm>
#include <map>
#include <set>

#include "lang/lang.h"

namespace aethel::lang {
namespace {

constexpr std::string_view kOldPrefix = "old_";
constexpr const char* kInt64Min = "-9223372036854775808";
constexpr const char* kInt64Max = "9223372036854775807";
// Labels of tracked conditions; '!' cannot appear in a user's name.
constexpr std::string_view kCoreLabelPrefix = "cond!";

// An arithmetic term whose value must stay within int64.
struct CheckedTerm {
  const Expr* source;
  z3::expr value;
};

// A divisor that must not be zero.
struct CheckedDivisor {
  const Expr* division;
  z3::expr divisor;
};

struct LabeledCondition {
  std::string where;  // "guard, line 3: `a > b`"
  z3::expr formula;
};

// Everything about one definition, translated to Z3.
struct Encoding {
  std::map<std::string, z3::expr> variables;  // sorted: deterministic output order
  std::vector<std::string> state_variables;   // X such that old_X appears
  std::vector<LabeledCondition> conditions;   // guard then verify
  std::vector<CheckedTerm> terms;             // in source order
  std::vector<CheckedDivisor> divisors;       // in source order
};

size_t count_nodes(const Expr& e) {
  size_t n = 1;
  for (const Expr& child : e.operands) n += count_nodes(child);
  return n;
}

void collect_names(const Expr& e, std::set<std::string>& names) {
  if (e.kind == Expr::Kind::kName) names.insert(e.text);
  for (const Expr& child : e.operands) collect_names(child, names);
}

template <typename F>
void for_each_comparison(const IntentDef& def, F&& f) {
  for (const auto* block : {&def.guard, &def.verify}) {
    for (const Condition& c : *block) {
      if (c.premise) f(*c.premise);
      f(c.conclusion);
    }
  }
}

class Encoder {
 public:
  Encoder(z3::context& ctx, Encoding& out) : ctx_(ctx), out_(out) {}

  z3::expr encode(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kName:
        return out_.variables.at(e.text);
      case Expr::Kind::kNumber:
        return remember(e, ctx_.int_val(e.text.c_str()));
      case Expr::Kind::kNegate:
        return remember(e, -encode(e.operands[0]));
      case Expr::Kind::kBinary:
        break;
    }
    z3::expr left = encode(e.operands[0]);
    z3::expr right = encode(e.operands[1]);
    switch (e.op) {
      case BinaryOp::kAdd:
        return remember(e, left + right);
      case BinaryOp::kSub:
        return remember(e, left - right);
      case BinaryOp::kMul:
        return remember(e, left * right);
      case BinaryOp::kDiv:
        out_.divisors.push_back({&e, right});
        return remember(e, truncated_quotient(left, right));
      case BinaryOp::kMod:
        out_.divisors.push_back({&e, right});
        return remember(e, left - right * truncated_quotient(left, right));
    }
    return left;  // unreachable: every operator is handled above
  }

  z3::expr encode(const Comparison& c) {
    z3::expr l = encode(c.left);
    z3::expr r = encode(c.right);
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
    return l == r;  // unreachable
  }

  z3::expr encode(const Condition& c) {
    z3::expr conclusion = encode(c.conclusion);
    if (!c.premise) return conclusion;
    return z3::implies(encode(*c.premise), conclusion);
  }

 private:
  z3::expr remember(const Expr& e, z3::expr value) {
    out_.terms.push_back({&e, value});
    return value;
  }

  // Division that truncates toward zero, as int64 arithmetic does. SMT-LIB `div`
  // rounds so that the remainder is non-negative; for a non-negative dividend and
  // a positive divisor both agree, so reduce to that case by signs.
  // (z3::abs of Z3 4.8.12 leaves intermediate terms unreferenced, so build our own.)
  // Terms are built one statement at a time: the order in which Z3 terms are
  // created steers the solver, and argument evaluation order varies by compiler.
  static z3::expr truncated_quotient(const z3::expr& a, const z3::expr& b) {
    z3::expr a_non_negative = a >= 0;
    z3::expr b_non_negative = b >= 0;
    z3::expr b_positive = b > 0;
    z3::expr abs_a = z3::ite(a_non_negative, a, -a);
    z3::expr abs_b = z3::ite(b_non_negative, b, -b);
    z3::expr magnitude = abs_a / abs_b;
    z3::expr same_sign = a_non_negative == b_positive;
    return z3::ite(same_sign, magnitude, -magnitude);
  }

  z3::context& ctx_;
  Encoding& out_;
};

std::string value_of(const z3::model& model, const z3::expr& e) {
  z3::expr v = model.eval(e, true);
  return Z3_get_numeral_string(v.ctx(), v);
}

std::vector<Assignment> counterexample(const Encoding& enc, const z3::model& model) {
  std::vector<Assignment> result;
  for (const auto& [name, var] : enc.variables) result.push_back({name, value_of(model, var)});
  return result;
}

struct Query {
  z3::check_result result = z3::unknown;
  std::optional<z3::model> model;
  std::vector<size_t> core;  // indexes of the conditions in an unsat core
  std::string reason;        // why the solver gave up
};

class Prover {
 public:
  Prover(z3::context& ctx, const Encoding& enc, const VerifyLimits& limits)
      : ctx_(ctx), enc_(enc), limits_(limits) {}

  // Is guard ∧ verify ∧ extra satisfiable?
  Query check(const std::optional<z3::expr>& extra, bool track_core = false) {
    z3::solver solver(ctx_, z3::solver::simple());
    z3::params params(ctx_);
    params.set("rlimit", limits_.solver_rlimit);
    params.set("timeout", limits_.solver_timeout_ms);
    solver.set(params);
    for (size_t i = 0; i < enc_.conditions.size(); ++i) {
      if (track_core) {
        solver.add(enc_.conditions[i].formula,
                   (std::string(kCoreLabelPrefix) + std::to_string(i)).c_str());
      } else {
        solver.add(enc_.conditions[i].formula);
      }
    }
    if (extra) solver.add(*extra);
    Query q;
    q.result = solver.check();
    if (q.result == z3::sat) q.model = solver.get_model();
    if (q.result == z3::unknown) q.reason = solver.reason_unknown();
    if (q.result == z3::unsat && track_core) {
      z3::expr_vector core = solver.unsat_core();
      for (unsigned i = 0; i < core.size(); ++i) {
        std::string label = core[i].decl().name().str();
        q.core.push_back(std::stoul(label.substr(kCoreLabelPrefix.size())));
      }
    }
    return q;
  }

 private:
  z3::context& ctx_;
  const Encoding& enc_;
  const VerifyLimits& limits_;
};

std::string describe_unknown(std::string reason, const VerifyLimits& limits) {
  if (reason == "canceled") reason = "resource limit reached";
  reason.erase(std::remove(reason.begin(), reason.end(), '('), reason.end());
  reason.erase(std::remove(reason.begin(), reason.end(), ')'), reason.end());
  return fmt::format("the solver gave up ({}; limits per query: {} resource units, {} ms)", reason,
                     limits.solver_rlimit, limits.solver_timeout_ms);
}

class DefinitionChecker {
 public:
  DefinitionChecker(z3::context& ctx, const IntentDef& def, const VerifyLimits& limits)
      : ctx_(ctx), def_(def), limits_(limits) {}

  VerifyReport run() {
    if (auto rejected = check_limits()) return *rejected;
    encode();
    Prover prover(ctx_, enc_, limits_);
    if (!check_consistency(prover)) return finish();
    check_conservation(prover);
    check_non_negativity(prover);
    check_overflow(prover);
    return finish();
  }

 private:
  std::optional<VerifyReport> check_limits() {
    size_t nodes = 0;
    std::set<std::string> names;
    for_each_comparison(def_, [&](const Comparison& c) {
      nodes += count_nodes(c.left) + count_nodes(c.right);
      collect_names(c.left, names);
      collect_names(c.right, names);
    });
    std::set<std::string> state_names;  // X for every old_X, declared even if X is unused
    for (const std::string& name : names) {
      if (name.starts_with(kOldPrefix) && name.size() > kOldPrefix.size()) {
        state_names.insert(name.substr(kOldPrefix.size()));
      }
    }
    names.merge(state_names);
    auto reject = [](std::string message) {
      return VerifyReport{Verdict::kRejected, std::move(message), {}};
    };
    if (nodes > limits_.max_expression_nodes) {
      return reject(fmt::format("definition has {} expression nodes, the limit is {}", nodes,
                                limits_.max_expression_nodes));
    }
    if (names.size() > limits_.max_variables) {
      return reject(fmt::format("definition has {} variables, the limit is {}", names.size(),
                                limits_.max_variables));
    }
    for (const std::string& name : names)
      enc_.variables.emplace(name, ctx_.int_const(name.c_str()));
    return std::nullopt;
  }

  void encode() {
    for (const auto& [name, var] : enc_.variables) {
      std::string old_name = std::string(kOldPrefix) + name;
      if (enc_.variables.count(old_name)) enc_.state_variables.push_back(name);
    }
    Encoder encoder(ctx_, enc_);
    auto add_block = [&](const char* block, const std::vector<Condition>& conditions) {
      for (const Condition& c : conditions) {
        std::string where = fmt::format("{}, line {}: `{}`", block, c.pos.line, print(c));
        enc_.conditions.push_back({std::move(where), encoder.encode(c)});
      }
    };
    add_block("guard", def_.guard);
    add_block("verify", def_.verify);
  }

  z3::expr var(const std::string& name) const { return enc_.variables.at(name); }
  z3::expr old_var(const std::string& name) const {
    return enc_.variables.at(std::string(kOldPrefix) + name);
  }

  // Decides the property with one query; when it fails, looks for a
  // counterexample without negative balances, which reads best, and keeps the
  // first one if no such exists.
  Query find_counterexample(Prover& prover, const z3::expr& violation) {
    Query q = prover.check(violation);
    if (q.result != z3::sat || enc_.state_variables.empty()) return q;
    z3::expr_vector realistic(ctx_);
    for (const std::string& x : enc_.state_variables) {
      realistic.push_back(var(x) >= 0);
      realistic.push_back(old_var(x) >= 0);
    }
    Query preferred = prover.check(violation && z3::mk_and(realistic));
    return preferred.result == z3::sat ? preferred : q;
  }

  // Returns false when guard ∧ verify has no model: the other properties would
  // then hold vacuously and say nothing.
  bool check_consistency(Prover& prover) {
    Query q = prover.check(std::nullopt);
    if (q.result == z3::sat) return true;
    if (q.result == z3::unknown) {
      reject(Property::kConsistency, q.reason);
      return false;
    }
    q = prover.check(std::nullopt, /*track_core=*/true);  // again, to name the culprits
    std::vector<std::string> conflicting;
    std::sort(q.core.begin(), q.core.end());
    for (size_t index : q.core) conflicting.push_back(enc_.conditions[index].where);
    violate(Property::kConsistency,
            fmt::format("guard and verify can never hold together; these conditions contradict "
                        "each other: {}",
                        fmt::join(conflicting, "; ")),
            {});
    return false;
  }

  void check_conservation(Prover& prover) {
    if (enc_.state_variables.empty()) return;
    z3::expr sum = ctx_.int_val(0);
    for (const std::string& x : enc_.state_variables) sum = sum + (var(x) - old_var(x));
    Query q = find_counterexample(prover, sum != 0);
    if (q.result == z3::unsat) return;
    if (q.result == z3::unknown) return reject(Property::kConservation, q.reason);
    std::vector<std::string> terms;
    for (const std::string& x : enc_.state_variables) terms.push_back(x + " - old_" + x);
    violate(Property::kConservation,
            fmt::format("the total changes: ({}) = {}, not 0, so value is {}",
                        fmt::join(terms, ") + ("), value_of(*q.model, sum),
                        q.model->eval(sum > 0, true).is_true() ? "created" : "destroyed"),
            counterexample(enc_, *q.model));
  }

  void check_non_negativity(Prover& prover) {
    if (enc_.state_variables.empty()) return;
    z3::expr_vector old_non_negative(ctx_);
    z3::expr_vector any_negative(ctx_);
    for (const std::string& x : enc_.state_variables) {
      old_non_negative.push_back(old_var(x) >= 0);
      any_negative.push_back(var(x) < 0);
    }
    z3::expr all_old_non_negative = z3::mk_and(old_non_negative);
    z3::expr some_negative = z3::mk_or(any_negative);
    Query q = prover.check(all_old_non_negative && some_negative);
    if (q.result == z3::unsat) return;
    if (q.result == z3::unknown) return reject(Property::kNonNegativity, q.reason);
    std::vector<std::string> negative;
    for (const std::string& x : enc_.state_variables) {
      if (q.model->eval(var(x) < 0, true).is_true()) {
        negative.push_back(fmt::format("{} = {}", x, value_of(*q.model, var(x))));
      }
    }
    violate(Property::kNonNegativity,
            fmt::format("a balance can become negative although every old_ value is >= 0: {}",
                        fmt::join(negative, ", ")),
            counterexample(enc_, *q.model));
  }

  void check_overflow(Prover& prover) {
    if (enc_.terms.empty() && enc_.divisors.empty()) return;
    z3::expr min = ctx_.int_val(kInt64Min);
    z3::expr max = ctx_.int_val(kInt64Max);
    z3::expr_vector in_range(ctx_);
    for (const auto& [name, v] : enc_.variables) in_range.push_back(within(v, min, max));
    z3::expr_vector bad(ctx_);
    for (const CheckedDivisor& d : enc_.divisors) bad.push_back(d.divisor == 0);
    for (const CheckedTerm& t : enc_.terms) bad.push_back(!within(t.value, min, max));
    z3::expr all_in_range = z3::mk_and(in_range);
    z3::expr some_bad = z3::mk_or(bad);
    Query q = find_counterexample(prover, all_in_range && some_bad);
    if (q.result == z3::unsat) return;
    if (q.result == z3::unknown) return reject(Property::kNoOverflow, q.reason);
    violate(Property::kNoOverflow, describe_overflow(*q.model, min, max),
            counterexample(enc_, *q.model));
  }

  std::string describe_overflow(const z3::model& model, const z3::expr& min, const z3::expr& max) {
    for (const CheckedDivisor& d : enc_.divisors) {
      if (model.eval(d.divisor == 0, true).is_true()) {
        return fmt::format("`{}` divides by zero", print(*d.division));
      }
    }
    for (const CheckedTerm& t : enc_.terms) {
      if (model.eval(!within(t.value, min, max), true).is_true()) {
        return fmt::format("`{}` = {} leaves the signed 64-bit range", print(*t.source),
                           value_of(model, t.value));
      }
    }
    return "an intermediate value leaves the signed 64-bit range";
  }

  static z3::expr within(const z3::expr& v, const z3::expr& min, const z3::expr& max) {
    z3::expr above_min = v >= min;
    z3::expr below_max = v <= max;
    return above_min && below_max;
  }

  void violate(Property property, std::string message, std::vector<Assignment> values) {
    report_.violations.push_back({property, std::move(message), std::move(values)});
  }

  void reject(Property property, const std::string& reason) {
    undecided_.push_back(
        fmt::format("{} undecided: {}", to_string(property), describe_unknown(reason, limits_)));
  }

  VerifyReport finish() {
    if (!report_.violations.empty()) {
      std::vector<std::string> names;
      for (const Violation& v : report_.violations) names.push_back(to_string(v.property));
      report_.verdict = Verdict::kFailed;
      report_.message = fmt::format("violates {}", fmt::join(names, ", "));
      if (!undecided_.empty()) report_.message += fmt::format("; {}", fmt::join(undecided_, "; "));
    } else if (!undecided_.empty()) {
      report_.verdict = Verdict::kRejected;
      report_.message = fmt::format("not proven (fail closed): {}", fmt::join(undecided_, "; "));
    } else {
      report_.verdict = Verdict::kProved;
      report_.message = enc_.state_variables.empty()
                            ? "consistency and no overflow hold for all inputs (no old_ state "
                              "variables, so conservation and non-negativity hold trivially)"
                            : "consistency, conservation, non-negativity and no overflow hold "
                              "for all inputs";
    }
    return report_;
  }

  z3::context& ctx_;
  const IntentDef& def_;
  const VerifyLimits& limits_;
  Encoding enc_;
  VerifyReport report_;
  std::vector<std::string> undecided_;
};

// The executability query of verify_executable: guard, the updates' equations and
// the input bounds are asserted; a model of them that breaks verify is a run the
// proof does not cover.
class ExecutabilityChecker {
 public:
  ExecutabilityChecker(z3::context& ctx, const IntentDef& def, const ExecutableForm& form,
                       const VerifyLimits& limits)
      : ctx_(ctx), def_(def), form_(form), limits_(limits) {}

  VerifyReport run() {
    declare_variables();
    Encoder encoder(ctx_, enc_);
    for (const Condition& c : def_.guard) {
      enc_.conditions.push_back({fmt::format("guard: `{}`", print(c)), encoder.encode(c)});
    }
    const z3::expr min = ctx_.int_val(kInt64Min);
    const z3::expr max = ctx_.int_val(kInt64Max);
    for (const auto& [name, v] : enc_.variables) {
      if (is_post_state(name)) continue;
      z3::expr lower = name.starts_with(kOldPrefix) ? ctx_.int_val(0) : min;
      z3::expr above = v >= lower;
      z3::expr below = v <= max;
      enc_.conditions.push_back({"bounds", above && below});
    }
    for (const StateUpdate& u : form_.updates) {
      z3::expr value = encoder.encode(u.value);
      enc_.conditions.push_back({"update", enc_.variables.at(u.variable) == value});
    }
    z3::expr_vector verify(ctx_);
    for (const Condition& c : def_.verify) verify.push_back(encoder.encode(c));
    Query q = Prover(ctx_, enc_, limits_).check(!z3::mk_and(verify));
    if (q.result == z3::unsat) {
      return {Verdict::kProved,
              "executable: whenever the guard holds, the equations give a state that satisfies "
              "verify",
              {}};
    }
    if (q.result == z3::unknown) {
      return {Verdict::kRejected,
              fmt::format("not proven (fail closed): executability undecided: {}",
                          describe_unknown(q.reason, limits_)),
              {}};
    }
    return failed(*q.model, verify);
  }

 private:
  bool is_post_state(const std::string& name) const {
    for (const StateUpdate& u : form_.updates) {
      if (u.variable == name) return true;
    }
    return false;
  }

  void declare_variables() {
    std::set<std::string> names;
    for_each_comparison(def_, [&](const Comparison& c) {
      collect_names(c.left, names);
      collect_names(c.right, names);
    });
    for (const StateUpdate& u : form_.updates) {
      names.insert(u.variable);
      names.insert(std::string(kOldPrefix) + u.variable);
    }
    for (const std::string& name : names)
      enc_.variables.emplace(name, ctx_.int_const(name.c_str()));
  }

  VerifyReport failed(const z3::model& model, const z3::expr_vector& verify) {
    std::string broken = "verify";
    for (unsigned i = 0; i < verify.size(); ++i) {
      if (model.eval(verify[i], true).is_false()) {
        broken =
            fmt::format("verify, line {}: `{}`", def_.verify[i].pos.line, print(def_.verify[i]));
        break;
      }
    }
    std::string message = fmt::format(
        "not executable: an input satisfies the guard but the equations then break {}; "
        "strengthen the guard",
        broken);
    return {Verdict::kFailed,
            "violates executability",
            {{Property::kExecutability, std::move(message), counterexample(enc_, model)}}};
  }

  z3::context& ctx_;
  const IntentDef& def_;
  const ExecutableForm& form_;
  const VerifyLimits& limits_;
  Encoding enc_;
};

}  // namespace

VerifyReport verify_executable(const IntentDef& definition, const ExecutableForm& form,
                               const VerifyLimits& limits) {
  if (!form.ok())
    return {Verdict::kFailed, form.error, {{Property::kExecutability, form.error, {}}}};
  try {
    z3::context context;
    return ExecutabilityChecker(context, definition, form, limits).run();
  } catch (const z3::exception& e) {
    return {
        Verdict::kRejected, fmt::format("not proven (fail closed): solver error: {}", e.msg()), {}};
  }
}

VerifyReport verify(const IntentDef& definition, const VerifyLimits& limits) {
  try {
    // A fresh context per definition: Z3's models depend on the history of the
    // context (term creation order), and the same input must give the same message.
    z3::context context;
    return DefinitionChecker(context, definition, limits).run();
  } catch (const z3::exception& e) {
    return {
        Verdict::kRejected, fmt::format("not proven (fail closed): solver error: {}", e.msg()), {}};
  }
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kProved:
      return "PROVED";
    case Verdict::kFailed:
      return "FAILED";
    case Verdict::kRejected:
      return "REJECTED";
  }
  return "REJECTED";
}

const char* to_string(Property property) {
  switch (property) {
    case Property::kConsistency:
      return "consistency";
    case Property::kConservation:
      return "conservation";
    case Property::kNonNegativity:
      return "non-negativity";
    case Property::kNoOverflow:
      return "no overflow";
    case Property::kExecutability:
      return "executability";
  }
  return "?";
}

}  // namespace aethel::lang
