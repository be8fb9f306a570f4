// Whether a definition can run on the ledger (SPEC §11), decided from its syntax.
#include <fmt/format.h>

#include <map>
#include <set>

#include "lang/lang.h"

namespace aethel::lang {
namespace {

constexpr std::string_view kOldPrefix = "old_";
constexpr std::string_view kBalanceSuffix = "_balance";

void collect_names(const Expr& e, std::set<std::string>& names) {
  if (e.kind == Expr::Kind::kName) names.insert(e.text);
  for (const Expr& child : e.operands) collect_names(child, names);
}

std::set<std::string> names_in(const std::vector<Condition>& conditions) {
  std::set<std::string> names;
  for (const Condition& c : conditions) {
    if (c.premise) {
      collect_names(c.premise->left, names);
      collect_names(c.premise->right, names);
    }
    collect_names(c.conclusion.left, names);
    collect_names(c.conclusion.right, names);
  }
  return names;
}

// What each name of the definition stands for.
struct Names {
  std::set<std::string> integers;              // integer parameters
  std::map<std::string, std::string> balance;  // state variable → its Account parameter
  std::set<std::string> accounts;              // Account parameters

  bool is_old_balance(const std::string& name) const {
    return name.starts_with(kOldPrefix) && balance.count(name.substr(kOldPrefix.size())) > 0;
  }
  bool is_input(const std::string& name) const {
    return integers.count(name) > 0 || is_old_balance(name);
  }
};

// Binds every Account parameter to its state variable (P or P_balance).
std::string bind_parameters(const IntentDef& def, const std::set<std::string>& used, Names& names) {
  for (const Param& p : def.params) {  // unique: the parser refuses a repeated name
    if (p.name.starts_with(kOldPrefix)) {
      return fmt::format("parameter '{}' may not start with old_ (old_ names read balances)",
                         p.name);
    }
    if (p.type != "Account") {
      names.integers.insert(p.name);
      continue;
    }
    names.accounts.insert(p.name);
    const std::string plain = p.name;
    const std::string suffixed = p.name + std::string(kBalanceSuffix);
    const bool has_plain = used.count(std::string(kOldPrefix) + plain) > 0;
    const bool has_suffixed = used.count(std::string(kOldPrefix) + suffixed) > 0;
    if (has_plain && has_suffixed) {
      return fmt::format(
          "both old_{} and old_{} appear: the balance of Account '{}' must have "
          "one name",
          plain, suffixed, p.name);
    }
    if (!has_plain && !has_suffixed) {
      return fmt::format("Account parameter '{}' is unused: neither old_{} nor old_{} appears",
                         p.name, plain, suffixed);
    }
    names.balance.emplace(has_plain ? plain : suffixed, p.name);
  }
  if (names.balance.empty()) return "the intent has no Account parameter, so it moves nothing";
  return "";
}

// Every name must be an input, or (in verify only) a balance after the intent.
std::string check_names(const IntentDef& def, const Names& names) {
  for (const std::string& name : names_in(def.guard)) {
    if (names.is_input(name)) continue;
    if (names.balance.count(name) > 0) {
      return fmt::format(
          "the guard reads '{}', the balance after the intent; a guard reads "
          "old_{}",
          name, name);
    }
    return fmt::format(
        "undetermined variable '{}' in the guard: not an integer parameter nor "
        "the old_ balance of an Account parameter",
        name);
  }
  for (const std::string& name : names_in(def.verify)) {
    if (names.is_input(name) || names.balance.count(name) > 0) continue;
    if (names.accounts.count(name) > 0 && names.balance.count(name) == 0) {
      return fmt::format(
          "'{}' is an Account parameter (a name, not a number); its balance is "
          "{}{}",
          name, name, kBalanceSuffix);
    }
    return fmt::format(
        "undetermined variable '{}': not a parameter nor the balance of an "
        "Account parameter",
        name);
  }
  return "";
}

bool reads_only_inputs(const Expr& e, const Names& names) {
  std::set<std::string> used;
  collect_names(e, used);
  for (const std::string& name : used) {
    if (!names.is_input(name)) return false;
  }
  return true;
}

// The first `variable == e` (either side) of verify whose `e` reads only inputs.
const Expr* equation_for(const IntentDef& def, const std::string& variable, const Names& names) {
  for (const Condition& c : def.verify) {
    if (c.premise || c.conclusion.op != CompareOp::kEq) continue;
    const Comparison& eq = c.conclusion;
    const auto is_variable = [&](const Expr& e) {
      return e.kind == Expr::Kind::kName && e.text == variable;
    };
    if (is_variable(eq.left) && reads_only_inputs(eq.right, names)) return &eq.right;
    if (is_variable(eq.right) && reads_only_inputs(eq.left, names)) return &eq.left;
  }
  return nullptr;
}

}  // namespace

ExecutableForm executable_form(const IntentDef& def) {
  ExecutableForm form;
  if (def.name == kBuiltinIntent) {
    form.error = "'transfer' is the built-in intent; choose another name";
    return form;
  }
  std::set<std::string> used = names_in(def.guard);
  used.merge(names_in(def.verify));
  Names names;
  if (form.error = bind_parameters(def, used, names); !form.ok()) return form;
  if (form.error = check_names(def, names); !form.ok()) return form;
  for (const Param& p : def.params) {
    if (p.type != "Account") continue;
    const std::string variable =
        names.balance.count(p.name) ? p.name : p.name + std::string(kBalanceSuffix);
    const Expr* value = equation_for(def, variable, names);
    if (value == nullptr) {
      form.updates.clear();
      form.error = fmt::format(
          "undetermined variable '{}': verify needs an equation `{} == <expression over "
          "parameters and old_ values>` so that every run has exactly one result",
          variable, variable);
      return form;
    }
    form.updates.push_back({p.name, variable, *value});
  }
  return form;
}

}  // namespace aethel::lang
