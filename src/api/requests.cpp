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

// One item → a transfer, or a 400 naming the item and field.
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
  auto from = optional_string(item, "from", ok);
  auto to = optional_string(item, "to", ok);
  auto memo = optional_string(item, "memo", ok);
  if (!ok) return fail("\"id\", \"from\", \"to\" and \"memo\" must be strings");
  if (!from || !to) return fail("\"from\" and \"to\" are required");
  const json::value* amount = item.if_contains("amount");
  if (!amount) return fail("\"amount\" is required");
  int64_t amount_value = 0;
  if (amount->is_int64()) {
    amount_value = amount->as_int64();
  } else if (amount->is_uint64()) {
    return fail("\"amount\" is larger than a 64-bit signed integer");
  } else {
    return fail("\"amount\" must be an integer");
  }
  return ledger::Transaction::transfer(*from, *to, amount_value, id.value_or(""),
                                       memo.value_or(""));
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
