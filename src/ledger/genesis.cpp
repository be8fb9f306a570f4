// Account names and the genesis: validation, parsing, canonical JSON.
#include <fmt/format.h>
#include <fmt/ranges.h>

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

Error bad_balance(std::string_view name, const boost::json::value& value) {
  return Error{"bad_balance", fmt::format("balance of {} must be an integer in 0..{}, got {}",
                                          quoted_for_message(name), INT64_MAX,
                                          boost::json::serialize(value).substr(0, 64))};
}

// An account's value: a bare balance, or {"balance": N, "owner": "<64 hex>"}.
Result<GenesisAccount> genesis_account(std::string_view name, const boost::json::value& value) {
  GenesisAccount account{std::string(name)};
  const boost::json::object* fields = value.if_object();
  if (fields == nullptr) {
    const auto balance = json_int64(value, INT64_MIN, INT64_MAX);
    if (!balance) return bad_balance(name, value);
    account.balance = *balance;
    return account;
  }
  for (const auto& field : *fields) {
    if (field.key() != "balance" && field.key() != "owner") {
      return Error{"bad_json",
                   fmt::format("account {} has the unknown field {} (known: balance, owner)",
                               quoted_for_message(name), quoted_for_message(field.key()))};
    }
  }
  const boost::json::value* balance_value = fields->if_contains("balance");
  const auto balance =
      balance_value ? json_int64(*balance_value, INT64_MIN, INT64_MAX) : std::nullopt;
  if (!balance) return bad_balance(name, balance_value ? *balance_value : value);
  account.balance = *balance;
  if (const boost::json::value* owner = fields->if_contains("owner")) {
    const boost::json::string* hex = owner->if_string();
    if (hex != nullptr) account.owner = public_key_from_hex(*hex);
    if (!account.owner) {
      return Error{"bad_owner",
                   fmt::format("owner of {} must be an Ed25519 public key as 64 hex digits",
                               quoted_for_message(name))};
    }
  }
  return account;
}

Result<Genesis> genesis_from_object(const boost::json::object& accounts, bool open_accounts) {
  std::vector<GenesisAccount> list;
  list.reserve(accounts.size());
  for (const auto& member : accounts) {
    Result<GenesisAccount> account = genesis_account(member.key(), member.value());
    if (!account.ok()) return account.error();
    list.push_back(std::move(account).value());
  }
  return make_genesis(std::move(list), open_accounts);
}

Error bad_policy(std::string_view why) {
  return Error{"bad_policy",
               fmt::format("genesis \"policy\" {}; it takes \"open_accounts\": true|false and "
                           "\"tx_retention\": {}..{}",
                           why, kMinTxRetention, kMaxTxRetention)};
}

// {"open_accounts": bool, "tx_retention": N}, each optional, into `genesis`.
base::Status parse_policy(const boost::json::value& policy, Genesis& genesis) {
  const boost::json::object* fields = policy.if_object();
  if (fields == nullptr) return bad_policy("must be an object");
  for (const auto& member : *fields) {
    if (member.key() == "open_accounts" && member.value().is_bool()) {
      genesis.open_accounts = member.value().get_bool();
    } else if (member.key() == "tx_retention" && member.value().is_int64() &&
               member.value().get_int64() >= static_cast<int64_t>(kMinTxRetention) &&
               member.value().get_int64() <= static_cast<int64_t>(kMaxTxRetention)) {
      genesis.tx_retention = static_cast<uint64_t>(member.value().get_int64());
    } else {
      return bad_policy(fmt::format("has a bad member {}", quoted_for_message(member.key())));
    }
  }
  return {};
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
  return Genesis{{{"Alice", 1000}, {"Bob", 500}, {"Charlie", 250}}, true};
}

Result<Genesis> make_genesis(std::vector<GenesisAccount> accounts, bool open_accounts) {
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
  return Genesis{std::move(accounts), open_accounts};
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
  if (wrapped == nullptr || !wrapped->is_object()) return genesis_from_object(*top, true);
  Genesis policy;
  for (const auto& member : *top) {
    if (member.key() == "accounts") continue;
    if (member.key() != "policy") {
      return Error{"bad_json",
                   "genesis with \"accounts\" may have no other top-level field than \"policy\""};
    }
    if (base::Status parsed_policy = parse_policy(member.value(), policy); !parsed_policy.ok()) {
      return parsed_policy.error();
    }
  }
  Result<Genesis> genesis = genesis_from_object(wrapped->get_object(), policy.open_accounts);
  if (genesis.ok()) genesis.value().tx_retention = policy.tx_retention;
  return genesis;
}

std::string genesis_to_json(const Genesis& genesis) {
  // Built by hand so the bytes are fixed by this code, not by a library's choices.
  // Without owners and with the default policy, the bytes are those of the format
  // before owners existed, so existing lattices keep their ids.
  std::string out = "{\"accounts\":{";
  for (size_t i = 0; i < genesis.accounts.size(); ++i) {
    const GenesisAccount& account = genesis.accounts[i];
    if (i > 0) out += ',';
    if (account.owner) {
      out += fmt::format("\"{}\":{{\"balance\":{},\"owner\":\"{}\"}}", account.name,
                         account.balance, to_hex(*account.owner));
    } else {
      out += fmt::format("\"{}\":{}", account.name, account.balance);
    }
  }
  out += '}';
  std::vector<std::string> policy;
  if (!genesis.open_accounts) policy.push_back("\"open_accounts\":false");
  if (genesis.tx_retention)
    policy.push_back(fmt::format("\"tx_retention\":{}", *genesis.tx_retention));
  if (!policy.empty()) out += fmt::format(",\"policy\":{{{}}}", fmt::join(policy, ","));
  return out + '}';
}

std::optional<PublicKey> public_key_from_hex(std::string_view hex) {
  return hash_from_hex(hex);
}

std::optional<Signature> signature_from_hex(std::string_view hex) {
  if (hex.size() != Signature{}.size() * 2) return std::nullopt;
  auto bytes = base::from_hex(hex);
  if (!bytes) return std::nullopt;
  Signature out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

}  // namespace aethel::ledger
