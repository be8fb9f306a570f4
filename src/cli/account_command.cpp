// `aethel account new` and `aethel account open` (SPEC §8).
#include <fmt/format.h>

#include <boost/json.hpp>

#include "cli/account_key.h"
#include "cli/cli.h"
#include "cli/node_client.h"

namespace aethel::cli {
namespace json = boost::json;
namespace {

constexpr uint32_t kOpenTimeout_ms = 30'000;
constexpr const char* kUsage =
    "usage: aethel account new [--out FILE]\n"
    "       aethel account open NAME --key FILE --node URL [--id ID]\n";

// The value after `name` in args, if any.
std::optional<std::string> option(const Args& args, std::string_view name) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == name) return args[i + 1];
  }
  return std::nullopt;
}

int account_new(const Args& args) {
  if (args.size() != 0 && !(args.size() == 2 && args[0] == "--out")) {
    fmt::print(stderr, "{}", kUsage);
    return kExitUsage;
  }
  const std::string path = option(args, "--out").value_or("account.key");
  auto key = create_account_key(path);
  if (!key.ok()) {
    fmt::print(stderr, "aethel account new: {}\n", key.error().message);
    return kExitFailed;
  }
  fmt::print("{}\n", ledger::to_hex(key.value().public_key));
  fmt::print(stderr,
             "key written to {} (mode 0600: keep it secret). The line above is its public "
             "key: give it as an account's \"owner\" in the genesis, or open an account with "
             "aethel account open NAME --key {} --node URL\n",
             path, path);
  return kExitOk;
}

// POSTs a signed open_account of `name` for the key and prints the outcome.
int account_open(const Args& args) {
  const auto key_path = option(args, "--key");
  const auto node_text = option(args, "--node");
  if (args.empty() || args[0].starts_with("-") || !key_path || !node_text) {
    fmt::print(stderr, "{}", kUsage);
    return kExitUsage;
  }
  auto node = http::parse_url(*node_text);
  auto key = read_account_key(*key_path);
  if (!node.ok() || !key.ok()) {
    fmt::print(stderr, "aethel account open: {}\n",
               node.ok() ? key.error().message : node.error().message);
    return kExitUsage;
  }
  auto signed_item =
      sign_open_account(args[0], option(args, "--id").value_or(""), key.value(), node.value());
  if (!signed_item.ok()) {
    fmt::print(stderr, "aethel account open: {}\n", signed_item.error().message);
    return signed_item.error().code == "unreachable" ? kExitUnreachable : kExitFailed;
  }
  json::object request{{"transactions", json::array{signed_item.value()}}};
  auto reply = http::call(node.value(), "POST", "/api/lattice/transactions",
                          json::serialize(request), client_options(kOpenTimeout_ms));
  if (!reply.ok()) {
    fmt::print(stderr, "aethel account open: {}\n", reply.error().message);
    return kExitUnreachable;
  }
  json::error_code ec;
  json::value body = json::parse(reply.value().body, ec);
  const json::array* results = nullptr;
  if (!ec && body.is_object()) results = body.as_object()["results"].if_array();
  if (reply.value().status != 200 || results == nullptr || results->empty()) {
    fmt::print(stderr, "aethel account open: HTTP {}: {}\n", reply.value().status,
               reply.value().body);
    return kExitFailed;
  }
  const json::object& outcome = results->front().as_object();
  fmt::print("{}\n", json::serialize(outcome));
  return string_field(outcome, "code") == "committed" ? kExitOk : kExitFailed;
}

}  // namespace

int run_account(const Args& args) {
  const Args rest(args.begin() + (args.empty() ? 0 : 1), args.end());
  if (!args.empty() && args[0] == "new") return account_new(rest);
  if (!args.empty() && args[0] == "open") return account_open(rest);
  fmt::print(stderr, "{}", kUsage);
  return kExitUsage;
}

}  // namespace aethel::cli
