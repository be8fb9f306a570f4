// The `aethel` command line: one function per subcommand, each taking the
// arguments after the subcommand's name and returning the process exit code.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/base.h"

namespace aethel::cli {

using Args = std::vector<std::string>;

// Exit codes shared by the commands (each command's comment says what they mean there).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

// `aethel verify FILE|- [--json]`: exit 0 when every intent is PROVED, 1 when any
// is FAILED or REJECTED, 2 on a parse error or unreadable input.
int run_verify(const Args& args);

// `aethel node [--env FILE] [--host H] [--port P]`: runs a single node until SIGINT
// or SIGTERM (exit 0); exit 1 when it cannot start (the reason on one line), 2 on
// bad arguments.
int run_node(const Args& args);

// `aethel rebuild [--env FILE]`: for a node whose state diverged (SPEC §6.4) and is
// stopped: moves its store aside (kept as a backup; the key, term and vote stay) so
// that the next start rebuilds the state from the leader's snapshot and log.
// Exit 0 done, 1 failed (e.g. the node is running), 2 bad arguments.
int run_rebuild(const Args& args);

// `aethel keygen [--out FILE] [--force]`: creates a node key (default
// data/node.key) and prints its peer ID; exit 1 if the file exists and --force is
// absent.
int run_keygen(const Args& args);

// `aethel submit --node URL SOURCE|- [--dry-run] [--json]`: posts the source to the
// node's /api/verify. Exit codes as verify (0 PROVED, 1 FAILED/REJECTED, 2 parse
// error or bad input), 3 when the node cannot be reached or answers 503.
int run_submit(const Args& args);

// `aethel account new [--out FILE]`: creates an Ed25519 account key file (default
// account.key, mode 0600, a JWK) and prints its public key in hex; exit 1 if the file
// exists. `aethel account open NAME --key FILE --node URL [--id ID]`: opens account
// NAME owned by the key (a signed open_account); exit 0 committed, 1 refused (the
// outcome printed), 2 bad arguments, 3 unreachable.
int run_account(const Args& args);

// `aethel proof-check --root HEX PROOF_FILE|-`: checks a proof document offline
// against a root. Exit 0 valid, 1 invalid (the reason printed), 2 bad arguments.
int run_proof_check(const Args& args);

// `aethel deploy --node URL [--id ID] SOURCE|-`: sends one intent definition to the
// node's POST /api/lattice/intents (SPEC §11). Exit 0 deployed (name, version and
// height printed), 1 refused (the node's reason printed), 2 bad arguments, 3
// unreachable.
int run_deploy(const Args& args);

// `aethel audit URL`: replays the node's history from genesis (blocks 1..H as it
// serves them) with the ledger's rules and compares the root with the node's root at
// H. Exit 0 they match, 1 they differ or a block is missing or does not chain (the
// height named), 2 bad arguments, 3 the node cannot be reached.
int run_audit(const Args& args);

// `aethel status --nodes URL,URL,... [--json] [--timeout-ms N]` (URLs may also be
// given as arguments): one table row per node (reachable, role, sync mode, peers,
// height, root prefix, health). Exit 0 when every node answered, 1 otherwise, 2 on
// bad arguments.
int run_status(const Args& args);

// `aethel check URL... [--nodes URL,...] [--json] [--timeout-ms N] [--settle-ms N]`:
// the lattice connectivity test (SPEC §6.5). Exit 0 only when every node is
// reachable and healthy, has >= N-1 peers over P2P or HTTP, and all report the same
// merkle_root at the same height (heights that differ are re-polled for up to
// --settle-ms, default 5000); otherwise 1, with one line per failed check. 2 on bad
// arguments.
int run_check(const Args& args);

// `aethel admin <switch p2p|http|auto | p2p-stop | p2p-start> [--node URL]
// [--token-file FILE]`: calls the node's admin route with its bearer token, read
// from --token-file, else AETHEL_ADMIN_TOKEN, else $AETHEL_DATA_DIR/admin.token
// (default ./data/admin.token), the file a node creates when AETHEL_ADMIN_TOKEN is
// unset. --node defaults to http://127.0.0.1:8000. Prints the answer; exit 0 on 200,
// 1 refused (or no token), 2 bad arguments, 3 unreachable.
int run_admin(const Args& args);

// `aethel member list [--node URL] [--json]` and `aethel member add PEER_ID --url URL
// [--p2p-addr MULTIADDR]... | promote PEER_ID | remove PEER_ID [--node URL]
// [--token-file FILE]` (SPEC §10): a change goes to the leader (followed from the
// node named), waits while an earlier change or a leadership handover completes, and
// prints the members after it. Exit 0 done, 1 refused (the reason printed), 2 bad
// arguments, 3 unreachable.
int run_member(const Args& args);

// The admin token: --token-file, else AETHEL_ADMIN_TOKEN, else
// $AETHEL_DATA_DIR/admin.token (./data); `source` names where it came from.
base::Result<std::string> read_admin_token(const std::optional<std::string>& token_file,
                                           std::string& source);

// The token in `path` (created with 32 random bytes as hex, mode 0600, when absent
// or empty; an existing file is set to 0600).
base::Result<std::string> load_or_create_admin_token(const std::filesystem::path& path);

}  // namespace aethel::cli
