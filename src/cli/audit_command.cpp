// `aethel audit URL`: replays a node's whole history from genesis with the ledger's
// own rules (node/history.h, replay_block) and compares the root it reaches with the
// one the node reports for that height.
#include <fmt/format.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>

#include "cli/cli.h"
#include "cli/node_client.h"
#include "node/history.h"
#include "node/node.h"

namespace aethel::cli {
namespace json = boost::json;
namespace {

constexpr uint32_t kBlocksPerPage = 500;
constexpr uint32_t kTimeout_ms = 30'000;

base::Result<json::object> get_object(const http::Url& node, const std::string& target) {
  auto reply = http::call(node, "GET", target, {}, client_options(kTimeout_ms));
  if (!reply.ok()) return base::Error{"unreachable", reply.error().message};
  json::error_code ec;
  json::value body = json::parse(reply.value().body, ec);
  if (reply.value().status != 200 || ec || !body.is_object()) {
    return base::Error{"bad_answer", fmt::format("{} answered {}", target, reply.value().status)};
  }
  return body.as_object();
}

// The starting point and the goal: genesis and the lattice's ledger parameters, and
// the height and root the node holds.
struct Audit {
  ledger::Genesis genesis;
  ledger::Limits limits;
  uint64_t height = 0;
  ledger::Hash root{};
};

// The ledger parameters, from the lattice id the node reports, once that id is
// shown to follow from the genesis and the genesis validators (signatures name it).
base::Result<ledger::Limits> limits_of(const http::Url& node, const ledger::Genesis& genesis) {
  auto members = get_object(node, "/api/lattice/members");
  if (!members.ok()) return members.error();
  std::vector<std::string> validators;
  const json::array* listed = members.value()["genesis_validators"].if_array();
  for (const json::value& v : listed ? *listed : json::array{}) {
    if (v.is_string()) validators.emplace_back(v.as_string());
  }
  const json::string* id = members.value()["lattice_id"].if_string();
  if (id == nullptr || node::lattice_id(validators, genesis) != *id) {
    return base::Error{"bad_answer",
                       "the node's lattice id does not follow from its genesis and validators"};
  }
  return node::ledger_limits(validators, genesis);
}

base::Result<Audit> audit_of(const http::Url& node) {
  auto genesis = get_object(node, "/api/lattice/genesis");
  if (!genesis.ok()) return genesis.error();
  auto parsed = ledger::parse_genesis(json::serialize(genesis.value()["genesis"]));
  if (!parsed.ok()) return base::Error{"bad_answer", "genesis: " + parsed.error().message};
  auto limits = limits_of(node, parsed.value());
  if (!limits.ok()) return limits.error();
  auto state = get_object(node, "/api/lattice/state?limit=0&consistency=stale");
  if (!state.ok()) return state.error();
  auto root = ledger::hash_from_hex(json::value_to<std::string>(state.value()["merkle_root"]));
  if (!root) return base::Error{"bad_answer", "the state has no merkle_root"};
  return Audit{parsed.value(), limits.value(), state.value()["height"].to_number<uint64_t>(),
               *root};
}

void show_progress(uint64_t done, uint64_t total, bool final) {
  if (!isatty(STDERR_FILENO) && !final) return;
  fmt::print(stderr, "\rreplayed {}/{} blocks{}", done, total, final ? "\n" : "");
}

// Replays blocks 1..audit.height into `ledger`; an Error names the block that failed.
base::Status replay_history(const http::Url& node, const Audit& audit, ledger::Ledger& ledger) {
  auto last_shown = std::chrono::steady_clock::now();
  while (ledger.height() < audit.height) {
    uint32_t limit =
        static_cast<uint32_t>(std::min<uint64_t>(kBlocksPerPage, audit.height - ledger.height()));
    auto page = fetch_blocks(node, ledger.height() + 1, limit, client_options(kTimeout_ms));
    if (!page.ok()) return page.error();
    if (page.value().empty()) {
      return base::Error{"missing_history",
                         fmt::format("the node does not serve block {} (history not back-filled "
                                     "yet?)",
                                     ledger.height() + 1)};
    }
    for (const storage::Block& raw : page.value()) {
      auto block = node::decode_block(
          std::string_view(reinterpret_cast<const char*>(raw.data.data()), raw.data.size()));
      if (!block.ok()) return block.error();
      auto replayed = node::replay_block(ledger, block.value());
      if (!replayed.ok()) return replayed.error();
    }
    if (std::chrono::steady_clock::now() - last_shown > std::chrono::milliseconds(200)) {
      show_progress(ledger.height(), audit.height, false);
      last_shown = std::chrono::steady_clock::now();
    }
  }
  show_progress(ledger.height(), audit.height, true);
  return {};
}

}  // namespace

int run_audit(const Args& args) {
  if (args.size() != 1 || args[0].starts_with("-")) {
    fmt::print(stderr, "usage: aethel audit URL\n");
    return kExitUsage;
  }
  auto node = http::parse_url(args[0]);
  if (!node.ok()) {
    fmt::print(stderr, "aethel audit: {}\n", node.error().message);
    return kExitUsage;
  }
  auto audit = audit_of(node.value());
  if (!audit.ok()) {
    fmt::print(stderr, "aethel audit: {}: {}\n", args[0], audit.error().message);
    return audit.error().code == "unreachable" ? kExitUnreachable : kExitFailed;
  }
  ledger::Ledger ledger(audit.value().genesis, audit.value().limits);
  if (base::Status replayed = replay_history(node.value(), audit.value(), ledger); !replayed.ok()) {
    fmt::print("audit failed at height {}: {}\n", ledger.height() + 1, replayed.error().message);
    return replayed.error().code == "unreachable" ? kExitUnreachable : kExitFailed;
  }
  if (ledger.root() != audit.value().root) {
    fmt::print("audit failed: the replay of {} blocks reaches root {}, the node reports {}\n",
               ledger.height(), ledger::to_hex(ledger.root()), ledger::to_hex(audit.value().root));
    return kExitFailed;
  }
  fmt::print(
      "audit ok: {} blocks replayed from genesis reach root {} at height {}, as the node "
      "reports\n",
      ledger.height(), ledger::to_hex(ledger.root()), ledger.height());
  return kExitOk;
}

}  // namespace aethel::cli
