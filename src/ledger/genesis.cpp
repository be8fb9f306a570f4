// Account names and the genesis: validation, parsing, canonical JSON.
#include <fmt/format.h>

#include <algorithm>

#include "ledger/json_util.h"
#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

bool is_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Shows a name inside an error message without letting control bytes or an
// enormous name through.
std::string quoted_for_message(std::string_view name) {
  std::string out = "\"";
  for (char c : name.substr(0, kMaxAccountNameBytes)) {
    out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '?';
  }
  if (name.size() > kMaxAccountNameBytes) out += "...";
  return out + "\"";
}

Result<Genesis> genesis_from_object(const boost::json::object& accounts) {
  std::vector<GenesisAccount> list;
  list.reserve(accounts.size());
  for (const auto& member : accounts) {
    const std::string_view name(member.key());
    const auto balance = json_int64(member.value(), INT64_MIN, INT64_MAX);
    if (!balance) {
      return Error{
          "bad_balance",
          fmt::format("balance of {} must be an integer in 0..{}, got {}", quoted_for_message(name),
                      INT64_MAX, boost::json::serialize(member.value()).substr(0, 64))};
    }
    list.push_back({std::string(name), *balance});
  }
  return make_genesis(std::move(list));
}

}  // namespace

bool is_valid_account_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxAccountNameBytes &&
         std::all_of(name.begin(), name.end(), is_name_char);
}

int64_t Genesis::total_supply() const {
  // make_genesis bounds the sum; unsigned arithmetic keeps a hand-built genesis from
  // being undefined behaviour (the Ledger constructor refuses such a genesis).
  uint64_t total = 0;
  for (const auto& account : accounts) total += static_cast<uint64_t>(account.balance);
  return static_cast<int64_t>(total);
}

Genesis default_genesis() {
  return Genesis{{{"Alice", 1000}, {"Bob", 500}, {"Charlie", 250}}};
}

Result<Genesis> make_genesis(std::vector<GenesisAccount> accounts) {
  if (accounts.empty()) return Error{"empty_genesis", "genesis has no accounts"};
  if (accounts.size() > kMaxGenesisAccounts) {
    return Error{"too_many_accounts", fmt::format("genesis has {} accounts, the limit is {}",
                                                  accounts.size(), kMaxGenesisAccounts)};
  }
  int64_t total = 0;
  for (const auto& account : accounts) {
    if (!is_valid_account_name(account.name)) {
      return Error{"bad_name", fmt::format("account name {} is invalid: names are 1-{} characters "
                                           "of A-Z a-z 0-9 _ . -",
                                           quoted_for_message(account.name), kMaxAccountNameBytes)};
    }
    if (account.balance < 0) {
      return Error{"negative_balance", fmt::format("account {} has a negative balance {}",
                                                   account.name, account.balance)};
    }
    if (__builtin_add_overflow(total, account.balance, &total)) {
      return Error{"supply_overflow",
                   fmt::format("total of genesis balances exceeds {} (at account {})", INT64_MAX,
                               account.name)};
    }
  }
  std::sort(accounts.begin(), accounts.end(),
            [](const GenesisAccount& a, const GenesisAccount& b) { return a.name < b.name; });
  for (size_t i = 1; i < accounts.size(); ++i) {
    if (accounts[i].name == accounts[i - 1].name) {
      return Error{"duplicate_name",
                   fmt::format("account {} appears more than once", accounts[i].name)};
    }
  }
  return Genesis{std::move(accounts)};
}

Result<Genesis> parse_genesis(std::string_view json_text) {
  auto parsed = parse_strict_json(json_text);
  if (!parsed.ok()) {
    const Error& e = parsed.error();
    if (e.code == "duplicate_key") {
      return Error{"duplicate_name", "genesis: " + e.message};
    }
    return Error{e.code, "genesis: " + e.message};
  }
  const boost::json::object* top = parsed.value().if_object();
  if (top == nullptr) {
    return Error{"bad_json", "genesis must be a JSON object: {\"accounts\": {\"Alice\": 1000}}"};
  }
  const boost::json::value* wrapped = top->if_contains("accounts");
  if (wrapped != nullptr && wrapped->is_object()) {
    if (top->size() != 1) {
      return Error{"bad_json", "genesis with \"accounts\" must have no other top-level field"};
    }
    return genesis_from_object(wrapped->get_object());
  }
  return genesis_from_object(*top);
}

std::string genesis_to_json(const Genesis& genesis) {
  // Built by hand so the bytes are fixed by this code, not by a library's choices.
  std::string out = "{\"accounts\":{";
  for (size_t i = 0; i < genesis.accounts.size(); ++i) {
    if (i > 0) out += ',';
    out += fmt::format("\"{}\":{}", genesis.accounts[i].name, genesis.accounts[i].balance);
  }
  return out + "}}";
}

}  // namespace aethel::ledger
