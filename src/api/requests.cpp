// Request bodies of the write routes: JSON objects without duplicate keys, and the
// transfer items of POST /api/lattice/transactions. Pure functions of their input
// (fuzz/api fuzzes them).
#include <fmt/format.h>

#include <boost/json.hpp>
#include <set>
#include <vector>

#include "api/routes.h"

namespace aethel::api {
namespace json = boost::json;
namespace {

// The end of the JSON string starting at text[open] (a '"'): the index of its
// closing quote. `text` is valid JSON (json::parse accepted it).
size_t string_end(std::string_view text, size_t open) {
  size_t i = open + 1;
  while (text[i] != '"') i += text[i] == '\\' ? 2 : 1;
  return i;
}

// The first key that appears twice in one object of `text` (valid JSON), decoded
// (so "dry_run" and "dry\u005frun" are the same key). Boost.JSON keeps the last
// one; SPEC §9 wants a 400 instead of a guess.
std::optional<std::string> duplicate_key(std::string_view text) {
  std::vector<std::optional<std::set<std::string>>> open;  // per container: its keys
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{') open.emplace_back(std::set<std::string>{});
    if (c == '[') open.emplace_back(std::nullopt);
    if ((c == '}' || c == ']') && !open.empty()) open.pop_back();
    if (c != '"') continue;
    size_t end = string_end(text, i);
    size_t next = text.find_first_not_of(" \t\r\n", end + 1);
    bool is_key = next != std::string_view::npos && text[next] == ':';
    if (is_key && !open.empty() && open.back()) {
      json::error_code ec;
      json::value key = json::parse(text.substr(i, end - i + 1), ec);
      std::string name = ec ? std::string(text.substr(i + 1, end - i - 1))
                            : std::string(key.as_string().c_str(), key.as_string().size());
      if (!open.back()->insert(name).second) return name;
    }
    i = end;
  }
  return std::nullopt;
}

std::optional<std::string> optional_string(const json::object& item, std::string_view key,
                                           bool& ok) {
  const json::value* v = item.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) {
    ok = false;
    return std::nullopt;
  }
  return std::string(v->as_string());
}

// `nonce`, `signature` and `owner` of an item into `t`; the problem otherwise.
std::optional<std::string> read_authorization(const json::object& item, ledger::Transfer& t) {
  if (const json::value* nonce = item.if_contains("nonce")) {
    if (nonce->is_uint64()) {
      t.nonce = nonce->as_uint64();
    } else if (nonce->is_int64() && nonce->as_int64() >= 0) {
      t.nonce = static_cast<uint64_t>(nonce->as_int64());
    } else {
      return "\"nonce\" must be an integer in 0..18446744073709551615";
    }
  }
  bool ok = true;
  auto signature = optional_string(item, "signature", ok);
  auto owner = optional_string(item, "owner", ok);
  if (!ok) return "\"signature\" and \"owner\" must be strings";
  if (signature && !(t.signature = ledger::signature_from_hex(*signature))) {
    return "\"signature\" must be 128 hex digits (an Ed25519 signature)";
  }
  if (owner && !(t.owner = ledger::public_key_from_hex(*owner))) {
    return "\"owner\" must be 64 hex digits (an Ed25519 public key)";
  }
  return std::nullopt;
}

// The transfer fields of an item into `t`; the problem otherwise.
std::optional<std::string> read_transfer(const json::object& item, ledger::Transfer& t) {
  bool ok = true;
  auto from = optional_string(item, "from", ok);
  auto to = optional_string(item, "to", ok);
  auto memo = optional_string(item, "memo", ok);
  if (!ok) return "\"from\", \"to\" and \"memo\" must be strings";
  if (!from || !to) return "\"from\" and \"to\" are required";
  const json::value* amount = item.if_contains("amount");
  if (!amount) return "\"amount\" is required";
  if (amount->is_uint64() && !amount->is_int64()) {
    return "\"amount\" is larger than a 64-bit signed integer";
  }
  if (!amount->is_int64()) return "\"amount\" must be an integer";
  t.from = std::move(*from);
  t.to = std::move(*to);
  t.amount = amount->as_int64();
  t.memo = memo.value_or("");
  return std::nullopt;
}

// open_account {"account", "owner", "signature"} and set_owner {"account", "owner",
// "nonce", "signature"}: the account goes where the ledger reads it.
std::optional<std::string> read_account_change(const json::object& item, ledger::TxKind kind,
                                               ledger::Transfer& t) {
  bool ok = true;
  auto account = optional_string(item, "account", ok);
  if (!ok || !account) return "\"account\" (a string) is required";
  if (!item.contains("owner")) return "\"owner\" is required";
  (kind == ledger::TxKind::kOpenAccount ? t.to : t.from) = std::move(*account);
  return std::nullopt;
}

std::optional<ledger::TxKind> kind_of(const json::object& item, std::string& error) {
  bool ok = true;
  auto kind = optional_string(item, "kind", ok);
  if (!kind || *kind == "transfer") {
    if (ok) return ledger::TxKind::kTransfer;
  } else if (*kind == "open_account") {
    return ledger::TxKind::kOpenAccount;
  } else if (*kind == "set_owner") {
    return ledger::TxKind::kSetOwner;
  }
  error = "\"kind\" must be \"transfer\", \"open_account\" or \"set_owner\"";
  return std::nullopt;
}

// One item → a transaction, or a 400 naming the item and field.
std::optional<ledger::Transaction> item_to_transaction(const json::value& value, size_t index,
                                                       Response& error) {
  auto fail = [&](std::string_view what) {
    error = bad_request("bad_field", fmt::format("transactions[{}]: {}", index, what));
    return std::nullopt;
  };
  if (!value.is_object()) return fail("must be an object");
  const json::object& item = value.as_object();
  bool ok = true;
  auto id = optional_string(item, "id", ok);
  if (!ok) return fail("\"id\" must be a string");
  std::string problem;
  const std::optional<ledger::TxKind> kind = kind_of(item, problem);
  if (!kind) return fail(problem);
  ledger::Transaction tx;
  tx.kind = *kind;
  tx.client_id = id.value_or("");
  ledger::Transfer& t = tx.transfers.emplace_back();
  std::optional<std::string> bad = *kind == ledger::TxKind::kTransfer
                                       ? read_transfer(item, t)
                                       : read_account_change(item, *kind, t);
  if (!bad) bad = read_authorization(item, t);
  if (bad) return fail(*bad);
  return tx;
}

}  // namespace

std::optional<json::object> parse_object(const std::string& body, Response& error) {
  json::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec) {
    error = bad_request("malformed_json",
                        fmt::format("request body is not valid JSON: {}", ec.message()));
    return std::nullopt;
  }
  if (auto key = duplicate_key(body)) {
    error = bad_request("duplicate_key",
                        fmt::format("the key \"{}\" appears twice in one JSON object of the "
                                    "request body",
                                    printable(*key)));
    return std::nullopt;
  }
  if (!value.is_object()) {
    error = bad_request("malformed_json", "request body must be a JSON object");
    return std::nullopt;
  }
  return std::move(value.as_object());
}

std::optional<std::vector<ledger::Transaction>> parse_transactions(const Request& request,
                                                                   Response& error) {
  auto body = parse_object(request.body, error);
  if (!body) return std::nullopt;
  const json::value* items = body->if_contains("transactions");
  if (!items) {
    error = bad_request("missing_field", "the request needs a \"transactions\" array");
    return std::nullopt;
  }
  if (!items->is_array()) {
    error = bad_request("bad_field", "\"transactions\" must be an array");
    return std::nullopt;
  }
  const json::array& array = items->as_array();
  if (array.empty()) {
    error = bad_request("bad_field", "\"transactions\" is empty");
    return std::nullopt;
  }
  if (array.size() > ledger::kMaxBatchTransfers) {
    error = error_response(413, "too_many_transactions",
                           fmt::format("{} transactions; at most {} per request", array.size(),
                                       ledger::kMaxBatchTransfers));
    return std::nullopt;
  }
  std::vector<ledger::Transaction> txs;
  txs.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    auto tx = item_to_transaction(array[i], i, error);
    if (!tx) return std::nullopt;
    txs.push_back(std::move(*tx));
  }
  return txs;
}

}  // namespace aethel::api
