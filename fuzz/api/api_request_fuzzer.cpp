// libFuzzer target for the JSON request bodies of the write routes (SPEC §9): any
// bytes as the body of POST /api/lattice/transactions (and so through the JSON
// object reader every write route shares). Besides "never crash": a refusal is a
// 4xx with a JSON error naming its code, duplicate_key only for valid JSON and
// malformed_json only for what is not a JSON object; an accepted body is the object
// Boost.JSON reads, and reading its serialization is accepted again; each item became
// a transfer, open_account or set_owner with the item's exact values and
// authorization (nonce, signature, owner).
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>

#include "api/routes.h"

namespace json = boost::json;
using namespace aethel;

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

// The error code of a 4xx refusal (which must be JSON with one).
std::string refusal_code(const api::Response& error) {
  require(error.status >= 400 && error.status < 500);
  json::error_code ec;
  json::value body = json::parse(error.body, ec);
  require(!ec && body.is_object() && body.as_object().contains("error"));
  std::string code(body.at("error").at("code").as_string());
  require(!code.empty());
  return code;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  api::Request request;
  request.method = "POST";
  request.target = "/api/lattice/transactions";
  request.body.assign(reinterpret_cast<const char*>(data), size);
  api::Response error;
  auto object = api::parse_object(request.body, error);
  // Boost.JSON 1.74 misreads numbers with huge exponents ("0e5488", "9203e854775808":
  // a syntax error in one call, infinity in another): the comparisons with a second
  // plain parse are made only for bodies without an exponent.
  const bool exponent = std::regex_search(request.body, std::regex("[0-9][eE]"));
  if (!object) {
    const std::string code = refusal_code(error);
    if (!exponent) {
      json::error_code ec;
      const json::value plain = json::parse(request.body, ec);
      if (code == "duplicate_key") require(!ec && plain.is_object());
      if (code == "malformed_json") require(ec || !plain.is_object());
    }
    return 0;
  }
  if (!exponent) {
    json::error_code ec;
    const json::value plain = json::parse(request.body, ec);
    require(!ec && plain == json::value(*object));
    api::Response again_error;
    require(api::parse_object(json::serialize(*object), again_error).has_value());
  }
  api::Response items_error;
  auto txs = api::parse_transactions(request, items_error);
  if (!txs) {
    refusal_code(items_error);
    return 0;
  }
  const json::array& items = object->at("transactions").as_array();
  require(txs->size() == items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const ledger::Transaction& tx = (*txs)[i];
    const ledger::Transfer& t = tx.transfers.at(0);
    const json::object& item = items[i].as_object();
    if (tx.kind == ledger::TxKind::kTransfer) {
      require(t.from == item.at("from").as_string() && t.to == item.at("to").as_string());
      require(t.amount == item.at("amount").as_int64());
    } else {
      const bool opening = tx.kind == ledger::TxKind::kOpenAccount;
      require(opening || tx.kind == ledger::TxKind::kSetOwner);
      require((opening ? t.to : t.from) == item.at("account").as_string());
      require(t.owner == ledger::public_key_from_hex(std::string(item.at("owner").as_string())));
    }
    // The authorization is the item's, byte for byte, whatever the hex case.
    require(t.nonce.has_value() == item.contains("nonce"));
    require(t.signature.has_value() == item.contains("signature"));
    if (t.signature) {
      require(t.signature ==
              ledger::signature_from_hex(std::string(item.at("signature").as_string())));
    }
  }
  return 0;
}
