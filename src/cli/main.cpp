// Entry point of the `aethel` binary: dispatches to a subcommand.
#include <fmt/format.h>

#include <array>
#include <string_view>

#include "cli/cli.h"

namespace {

constexpr std::string_view kVersion = "0.1.0";

struct Command {
  std::string_view name;
  std::string_view usage;
  std::string_view summary;
  int (*run)(const aethel::cli::Args&);
};

constexpr std::array kCommands = {
    Command{"verify", "verify FILE|- [--json]",
            "verify Aethel source locally (exit 0 all PROVED, 1 any FAILED/REJECTED, 2 parse "
            "error)",
            aethel::cli::run_verify},
#if AETHEL_WITH_NODE
    Command{"node", "node [--env FILE] [--host H] [--port P] [--log-format F]",
            "run a node (reads ./.env or FILE; flags > environment > file; F: text|json)",
            aethel::cli::run_node},
    Command{"rebuild", "rebuild [--env FILE]",
            "stopped node whose state diverged: set its store aside, rebuild from the "
            "majority on next start",
            aethel::cli::run_rebuild},
    Command{"keygen", "keygen [--out FILE] [--force]",
            "create a node identity key (default data/node.key), print its peer ID",
            aethel::cli::run_keygen},
    Command{"submit", "submit --node URL [--key FILE [--account NAME]] SOURCE|-",
            "send source to a node's /api/verify, signed with --key (--dry-run, --json; exit "
            "as verify, 3 unreachable)",
            aethel::cli::run_submit},
    Command{"account", "account new [--out FILE] | open NAME --key FILE --node URL",
            "create an account key (prints its public key); open an account owned by it",
            aethel::cli::run_account},
    Command{"deploy", "deploy --node URL [--id ID] SOURCE|-",
            "deploy one proven intent definition (exit 0 deployed, 1 refused, 3 unreachable)",
            aethel::cli::run_deploy},
    Command{"proof-check", "proof-check --root HEX FILE|-",
            "check a Merkle proof document offline against a root (exit 0 valid, 1 invalid)",
            aethel::cli::run_proof_check},
    Command{"audit", "audit URL",
            "replay a node's history from genesis; exit 0 only if it reaches the node's root",
            aethel::cli::run_audit},
    Command{"status", "status --nodes URL,URL,... [--json]",
            "one table row per node: reachable, role, mode, peers, height, root",
            aethel::cli::run_status},
    Command{"admin", "admin <switch MODE|p2p-stop|p2p-start> [--node URL]",
            "admin route with the node's token (AETHEL_ADMIN_TOKEN or data/admin.token)",
            aethel::cli::run_admin},
    Command{"member", "member <list | add PEER --url URL | promote PEER | remove PEER>",
            "list or change the lattice's members (admin token; --node URL)",
            aethel::cli::run_member},
    Command{"check", "check URL... [--json] [--settle-ms N]",
            "lattice test: exit 0 only if all healthy, >= N-1 peers each, same root",
            aethel::cli::run_check},
#endif
};

void print_help() {
  fmt::print("aethel {} - Aethel Lattice, a replicated ledger of verified intents\n\n", kVersion);
  fmt::print("usage: aethel <command> [options]\n\ncommands:\n");
  for (const Command& c : kCommands) fmt::print("  {:<56} {}\n", c.usage, c.summary);
  fmt::print("\n  {:<56} {}\n  {:<56} {}\n", "--help", "show this help", "--version",
             "print the version");
}

}  // namespace

int main(int argc, char** argv) {
  aethel::cli::Args args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    fmt::print("aethel {}\n", kVersion);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (args[0] == c.name) return c.run(aethel::cli::Args(args.begin() + 1, args.end()));
  }
  fmt::print(stderr, "aethel: unknown command '{}' (see aethel --help)\n", args[0]);
  return 2;
}
