// `aethel keygen`, `aethel submit` and `aethel proof-check`.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cli/account_key.h"
#include "cli/cli.h"
#include "cli/node_client.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "p2p/p2p.h"

namespace aethel::cli {
namespace json = boost::json;
namespace {

// A write waits for its commit (5 s at most on the node) and maybe for Z3.
constexpr uint32_t kSubmitTimeout_ms = 30'000;
constexpr size_t kMaxInputBytes = 16 << 20;

std::optional<std::string> read_input(const std::string& path) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream file(path, std::ios::binary);
    if (!file) return std::nullopt;
    text << file.rdbuf();
  }
  std::string out = text.str();
  if (out.size() > kMaxInputBytes) return std::nullopt;
  return out;
}

// Splits `--name value` options from positional arguments; `flags` are options
// without a value.
struct Parsed {
  std::map<std::string, std::string> options;
  std::set<std::string> flags;
  std::vector<std::string> positional;
};
std::optional<Parsed> parse_args(const Args& args, const std::set<std::string>& with_value,
                                 const std::set<std::string>& flags, std::string_view command) {
  Parsed out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (with_value.contains(args[i]) && i + 1 < args.size()) {
      out.options[args[i]] = args[i + 1];
      ++i;
    } else if (flags.contains(args[i])) {
      out.flags.insert(args[i]);
    } else if (args[i] == "-" || !args[i].starts_with("-")) {
      out.positional.push_back(args[i]);
    } else {
      fmt::print(stderr, "aethel {}: unexpected argument '{}'\n", command, args[i]);
      return std::nullopt;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

void print_intent(const json::object& intent) {
  fmt::print("{:<10} {} {}: {}\n", json::value_to<std::string>(intent.at("status")),
             json::value_to<std::string>(intent.at("kind")),
             json::value_to<std::string>(intent.at("name")),
             json::value_to<std::string>(intent.at("message")));
  const json::value& tx = intent.at("transaction");
  if (!tx.is_object() || !tx.as_object().contains("height")) return;
  const json::object& t = tx.as_object();
  fmt::print("           tx {} at height {} root {}{}\n", json::serialize(t.at("id")),
             json::serialize(t.at("height")), json::serialize(t.at("merkle_root")),
             t.contains("exists") && t.at("exists").as_bool() ? " (exists: retry)" : "");
}

int print_verify_reply(const http::Reply& reply, bool raw_json) {
  json::error_code ec;
  json::value body = json::parse(reply.body, ec);
  if (ec || !body.is_object()) {
    fmt::print(stderr, "aethel submit: the node answered HTTP {} with a non-JSON body\n",
               reply.status);
    return kExitUnreachable;
  }
  const json::object& o = body.as_object();
  if (raw_json) fmt::print("{}\n", reply.body);
  if (const json::value* error = o.if_contains("error"); error && error->is_object()) {
    fmt::print(stderr, "aethel submit: HTTP {}: {}\n", reply.status, json::serialize(*error));
    return reply.status == 400 ? kExitUsage : kExitUnreachable;
  }
  std::string status = json::value_to<std::string>(o.at("status"));
  if (!raw_json) {
    for (const json::value& intent : o.at("intents").as_array()) print_intent(intent.as_object());
    for (const json::value& error : o.at("errors").as_array()) {
      fmt::print("{}\n", json::value_to<std::string>(error.at("message")));
    }
    fmt::print("{}: {}\n", status, json::value_to<std::string>(o.at("message")));
  }
  if (status == "PROVED") return kExitOk;
  if (status == "PARSE_ERROR") return kExitUsage;
  return kExitFailed;
}

}  // namespace

int run_keygen(const Args& args) {
  auto parsed = parse_args(args, {"--out"}, {"--force"}, "keygen");
  if (!parsed || !parsed->positional.empty()) {
    fmt::print(stderr, "usage: aethel keygen [--out FILE] [--force]\n");
    return kExitUsage;
  }
  std::filesystem::path path =
      parsed->options.contains("--out") ? parsed->options["--out"] : "data/node.key";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    if (!parsed->flags.contains("--force")) {
      fmt::print(stderr,
                 "aethel keygen: {} exists; it is a node identity (replacing it changes the "
                 "peer ID). Use --force to replace it.\n",
                 path.string());
      return kExitFailed;
    }
    std::filesystem::remove(path, ec);
  }
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  auto key = p2p::load_or_create_key(path.string());
  if (!key.ok()) {
    fmt::print(stderr, "aethel keygen: {}: {}\n", path.string(), key.error().message);
    return kExitFailed;
  }
  fmt::print("{}\n", p2p::PeerId::from_public_key(key.value().public_key()).to_base58());
  fmt::print(stderr, "key written to {}\n", path.string());
  return kExitOk;
}

namespace {

// What `submit` and `deploy` send: the node and the source, from `--node URL SOURCE|-`.
struct SourceCommand {
  Parsed args;
  http::Url node;
  std::string source;
};

// The command's arguments, or nullopt after printing `usage` or the problem.
std::optional<SourceCommand> source_command(const Args& args, std::set<std::string> options,
                                            std::set<std::string> flags, const char* name,
                                            const char* usage) {
  options.insert("--node");
  auto parsed = parse_args(args, options, flags, name);
  if (!parsed || parsed->positional.size() != 1 || !parsed->options.contains("--node")) {
    fmt::print(stderr, "usage: {}\n", usage);
    return std::nullopt;
  }
  auto url = http::parse_url(parsed->options["--node"]);
  if (!url.ok()) {
    fmt::print(stderr, "aethel {}: --node {}\n", name, url.error().message);
    return std::nullopt;
  }
  auto source = read_input(parsed->positional[0]);
  if (!source) {
    fmt::print(stderr, "aethel {}: cannot read '{}'\n", name, parsed->positional[0]);
    return std::nullopt;
  }
  return SourceCommand{std::move(*parsed), url.value(), std::move(*source)};
}

// With --key: the source with every transfer and invocation signed (SPEC §8).
base::Result<std::string> signed_source(const SourceCommand& command) {
  auto key = read_account_key(command.args.options.at("--key"));
  if (!key.ok()) return key.error();
  lang::ParseResult parsed = lang::parse(command.source);
  if (!parsed.ok()) return base::Error{"parse_error", parsed.error->message};
  std::optional<std::string> account;
  if (auto it = command.args.options.find("--account"); it != command.args.options.end()) {
    account = it->second;
  }
  if (base::Status s = sign_program(*parsed.program, key.value(), account, command.node); !s.ok()) {
    return base::Error{s.error().code, "cannot sign: " + s.error().message};
  }
  return lang::print(*parsed.program);
}

}  // namespace

int run_submit(const Args& args) {
  auto command = source_command(
      args, {"--key", "--account"}, {"--json", "--dry-run"}, "submit",
      "aethel submit --node URL SOURCE|- [--key FILE [--account NAME]] [--dry-run] [--json]");
  if (!command) return kExitUsage;
  if (command->args.options.contains("--key")) {
    auto source = signed_source(*command);
    if (!source.ok()) {
      fmt::print(stderr, "aethel submit: {}\n", source.error().message);
      return source.error().code == "unreachable" ? kExitUnreachable : kExitUsage;
    }
    command->source = std::move(source).value();
  }
  json::object request{{"code", command->source},
                       {"dry_run", command->args.flags.contains("--dry-run")}};
  auto reply = http::call(command->node, "POST", "/api/verify", json::serialize(request),
                          client_options(kSubmitTimeout_ms));
  if (!reply.ok()) {
    fmt::print(stderr, "aethel submit: {}\n", reply.error().message);
    return kExitUnreachable;
  }
  return print_verify_reply(reply.value(), command->args.flags.contains("--json"));
}

int run_deploy(const Args& args) {
  auto command =
      source_command(args, {"--id"}, {}, "deploy", "aethel deploy --node URL [--id ID] SOURCE|-");
  if (!command) return kExitUsage;
  json::object request{{"code", command->source}};
  if (command->args.options.contains("--id")) request["id"] = command->args.options["--id"];
  auto reply = http::call(command->node, "POST", "/api/lattice/intents", json::serialize(request),
                          client_options(kSubmitTimeout_ms));
  if (!reply.ok()) {
    fmt::print(stderr, "aethel deploy: {}\n", reply.error().message);
    return kExitUnreachable;
  }
  json::error_code ec;
  json::value body = json::parse(reply.value().body, ec);
  const json::object* answer = ec ? nullptr : body.if_object();
  if (answer == nullptr) {
    fmt::print(stderr, "aethel deploy: HTTP {}: {}\n", reply.value().status, reply.value().body);
    return kExitFailed;
  }
  if (reply.value().status == 200 || reply.value().status == 201) {
    const json::object& intent = answer->at("intent").as_object();
    fmt::print("deployed {} version {} at height {}\n", intent.at("name").as_string().c_str(),
               intent.at("version").to_number<uint64_t>(),
               intent.at("deployed_at_height").to_number<uint64_t>());
    return kExitOk;
  }
  fmt::print("refused (HTTP {}): {}\n", reply.value().status, json::serialize(*answer));
  return kExitFailed;
}

int run_proof_check(const Args& args) {
  auto parsed = parse_args(args, {"--root"}, {}, "proof-check");
  if (!parsed || parsed->positional.size() != 1 || !parsed->options.contains("--root")) {
    fmt::print(stderr, "usage: aethel proof-check --root HEX PROOF_FILE|-\n");
    return kExitUsage;
  }
  auto root = ledger::hash_from_hex(parsed->options["--root"]);
  if (!root) {
    fmt::print(stderr, "aethel proof-check: --root must be 64 hex digits\n");
    return kExitUsage;
  }
  auto text = read_input(parsed->positional[0]);
  if (!text) {
    fmt::print(stderr, "aethel proof-check: cannot read '{}'\n", parsed->positional[0]);
    return kExitUsage;
  }
  auto document = ledger::parse_proof_document(*text);
  if (!document.ok()) {
    fmt::print("invalid: {}\n", document.error().message);
    return kExitFailed;
  }
  const ledger::ProofDocument& d = document.value();
  if (d.root != *root) {
    fmt::print("invalid: the document is for root {}, expected {}\n", ledger::to_hex(d.root),
               ledger::to_hex(*root));
    return kExitFailed;
  }
  if (auto error = ledger::verify_proof_document(d)) {
    fmt::print("invalid: {}\n", error->message);
    return kExitFailed;
  }
  if (d.account) {
    fmt::print("valid: {} has balance {} and nonce {} under root {} (height {})\n", d.name,
               d.account->balance, d.account->nonce, ledger::to_hex(d.root), d.height);
  } else {
    fmt::print("valid: {} does not exist under root {} (height {})\n", d.name,
               ledger::to_hex(d.root), d.height);
  }
  return kExitOk;
}

}  // namespace aethel::cli
