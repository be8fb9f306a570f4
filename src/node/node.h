// A single Aethel node: its configuration (SPEC §3) and its runtime, which owns
// the durable store, the node identity, the ledger and the Raft replica that
// orders transactions among the validators.
//
// The path of a write:
//
//   submit(txs) ──► pending queue ──► consensus thread: on the leader, everything
//   pending (up to max_block_transactions) becomes ONE Raft entry; a follower forwards
//   it to the leader. Raft replicates the entry; every node persists its log with one
//   fsync per Ready before it answers, and applies committed entries in log order as
//   blocks H+1, H+2, ... Only a committed, applied block answers its submitters:
//   nothing is acknowledged before a majority has it on disk.
//
// Readers (HTTP handlers) see the ledger through `read()`, under a shared lock: a
// consistent state at one height, never a half-applied block (ledger_pair.h). The
// consensus thread is the only writer of the ledgers and of the store.
//
// Inside: the replica (replica.h) is the Ready loop, with no thread of its own; the
// runtime (runtime.cpp) gives it one thread, the LMDB store as its Disk and the
// lattice as its Transport. Other threads never touch the replica: they post
// submissions and envelopes to an inbox the consensus thread drains.
//
// Configuration reference for operators: docs/CONFIGURATION.md.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/ledger.h"
#include "node/block.h"
#include "node/ledger_pair.h"
#include "node/replica.h"
#include "p2p/p2p.h"
#include "storage/storage.h"

namespace aethel::node {

using ledger::Error;
using ledger::Result;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

// Everything a node reads from its environment. Defaults are SPEC §3's.
struct Config {
  std::string node_name;  // default: the host name
  std::string api_host = "0.0.0.0";
  uint16_t api_port = 8000;
  std::string public_url;  // default: http://<api_host or 127.0.0.1>:<api_port>
  std::filesystem::path data_dir = "./data";
  std::filesystem::path node_key_path;                // default: <data_dir>/node.key
  std::optional<std::filesystem::path> genesis_file;  // unset: the built-in genesis
  std::filesystem::path log_dir = "./logs";
  std::optional<std::string> admin_token;

  // Parsed now, wired into the lattice by a later issue.
  bool p2p_enabled = true;
  std::vector<std::string> p2p_listen = {"/ip4/0.0.0.0/tcp/9000"};
  std::vector<std::string> p2p_bootstrap;
  std::string p2p_topic = "aethel/lattice/v1";
  std::vector<std::string> validators;
  std::vector<std::string> lattice_nodes;
  // AETHEL_JOIN: a member's URL; a node with an empty store learns the lattice's
  // genesis and members from it and waits to be added (SPEC §10).
  std::string join_url;
  uint32_t heartbeat_interval_s = 5;
  uint32_t peerless_timeout_s = 60;
  uint32_t http_poll_interval_s = 10;

  // TLS (SPEC §3). Empty: unset. Both cert and key set: the API serves HTTPS.
  std::string tls_cert_file;  // AETHEL_TLS_CERT_FILE: PEM certificate chain
  std::string tls_key_file;   // AETHEL_TLS_KEY_FILE: PEM private key
  std::string tls_ca_file;    // AETHEL_TLS_CA_FILE: extra CAs for https:// node URLs

  // Aethel extensions (docs/CONFIGURATION.md).
  uint64_t max_body_bytes = 4 << 20;         // AETHEL_MAX_BODY_BYTES
  uint64_t snapshot_interval_blocks = 1000;  // AETHEL_SNAPSHOT_INTERVAL
  uint32_t election_timeout_ms = 750;        // AETHEL_ELECTION_TIMEOUT_MS
  // AETHEL_RATE_LIMIT_WRITES_PER_S: public writes per second per client address
  // (0: unlimited); the default is api::kDefaultWriteRatePerS.
  std::optional<uint32_t> rate_limit_writes_per_s;
  // AETHEL_TRUSTED_PROXIES: IP addresses of reverse proxies whose X-Forwarded-For
  // names the client (canonical text, as inet_ntop prints them). Empty: none.
  std::vector<std::string> trusted_proxies;
  // AETHEL_SOLVER_BUDGET_MS: the solver's wall-clock time for all the definitions of
  // one request; unset: api::kDefaultSolverBudgetMs.
  std::optional<uint32_t> solver_budget_ms;
  // AETHEL_MAX_CONNECTIONS: HTTP connections open at once (0: no limit); unset: the
  // soft RLIMIT_NOFILE less 256 (kept for storage, P2P and outgoing calls), in
  // 16..10000.
  std::optional<uint64_t> max_connections;
  // AETHEL_MAX_CONNECTIONS_PER_ADDRESS: HTTP connections open at once from one client
  // address (0: no limit). Not counted: this host (127.0.0.1, ::1) and the trusted
  // proxies, whose clients all share their address.
  uint64_t max_connections_per_address = 64;

  // Accepted but suspicious settings (a host name under /ip4/ read as /dns4/), one
  // line each, naming the variable; the node logs them at start.
  std::vector<std::string> warnings;
};

// Where configuration values come from, highest precedence first: command-line
// flags, the real environment, then the .env file. Keys are variable names
// (`AETHEL_API_PORT`, `DIOTEC360_API_PORT`, `PORT`).
struct ConfigSources {
  std::map<std::string, std::string> flags;
  std::map<std::string, std::string> environment;
  std::map<std::string, std::string> env_file;
};

// The process environment as a map.
std::map<std::string, std::string> current_environment();

// Parses .env text: `KEY=VALUE` lines, `#` comments, blank lines, an optional
// `export ` prefix, values optionally in single or double quotes. A malformed line
// is an Error naming its line number.
Result<std::map<std::string, std::string>> parse_env_file(std::string_view text);

// Builds the Config. An invalid value gives an Error whose message is the one line
// an operator needs: "AETHEL_API_PORT='80a' is invalid: expected an integer port
// 1..65535".
Result<Config> load_config(const ConfigSources& sources);

// ---------------------------------------------------------------------------
// The runtime
// ---------------------------------------------------------------------------

struct NodeOptions {
  std::filesystem::path data_dir;
  std::filesystem::path node_key_path;
  // Shared, never copied: a genesis of a million accounts takes ~80 MB, and the CLI,
  // the node and the history filler all keep it for the process's lifetime.
  std::shared_ptr<const ledger::Genesis> genesis =
      std::make_shared<const ledger::Genesis>(ledger::default_genesis());
  // Group commit caps: one block holds at most this many transactions (a request is
  // never split, so a single larger request still forms its own block).
  size_t max_block_transactions = 8192;
  // A ledger snapshot is written (and the Raft log compacted) after this many blocks,
  // once the log since the last one is as large as it or 32 MiB (ReplicaOptions).
  uint64_t snapshot_interval_blocks = 1000;
  // The genesis validators' peer IDs, this node's included unless it joins. Empty or
  // only this node: a standalone node that commits alone (still through the Raft log).
  // Membership changes (SPEC §10) then add and remove members through the log.
  std::vector<std::string> validators;
  // Set when the node joins a running lattice (AETHEL_JOIN): the members as the node
  // it joined through reported them; used while this node's store is empty.
  std::vector<Member> joined_members;
  // Raft's clock: one tick every tick_ms; an election starts after
  // election_timeout_ticks (plus up to half of it as random jitter) without a leader.
  uint32_t tick_ms = 50;
  uint32_t election_timeout_ticks = 15;
  // A submission not committed within this time gets Error "unavailable": it may
  // still commit later; a retry with the same id is safe.
  uint32_t commit_timeout_ms = 5'000;
  // How long a read with ?min_height waits for this node to apply that height.
  uint32_t catch_up_timeout_ms = 10'000;
  // Operator lines (catch-up progress, snapshot installs), one call per line without
  // the newline; empty: stdout. Called from the consensus thread.
  std::function<void(std::string_view)> log;
  // Called on the disk thread (before start(): the opener's) once per durable write of
  // the log (one group commit), with the time from its start until it was durable;
  // for the fsync latency metric. Must not block.
  std::function<void(double seconds)> on_store_write;
};

class Node {
 public:
  using CommitCallback = node::CommitCallback;

  // Opens the store in options.data_dir, loads or creates the node key, restores
  // the ledger (latest snapshot, then the committed log after it, each block checked
  // against the root it was built on) and starts consensus. Errors name the
  // directory or file and what is wrong with it.
  static Result<std::unique_ptr<Node>> open(const NodeOptions& options);
  ~Node();  // stops consensus; pending submissions get an error
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Queues `transactions` for the next block (forwarded to the leader when this node
  // follows); `done` runs once the block is committed by a majority, durable and
  // applied here, or with an error. Must not block; runs on the consensus thread.
  void submit_async(std::vector<ledger::Transaction> transactions, CommitCallback done);
  // The same, waiting for the answer.
  CommitResult submit(std::vector<ledger::Transaction> transactions);

  // Node-to-node input: an envelope another validator sent with Transport::send.
  // Anything malformed or from a non-validator is dropped.
  void receive(const std::string& from_peer_id, std::string_view envelope);
  // Must be set before peers can be reached; the transport outlives the node's use.
  void set_transport(Transport* transport);

  // Linearizable reads: `done` runs (on the consensus thread; must not block) once this
  // node has applied every write acknowledged anywhere before the call, as the leader
  // confirmed; then read() sees at least that state. Reads arriving together share one
  // confirmation. Error "unavailable" when no leader confirms in time (a minority
  // side of a partition), "stopping" when the node stops.
  void read_linearizable_async(ReadCallback done);
  // The same, waiting for the answer.
  base::Status read_linearizable();
  // `done` runs (on the consensus thread) once this node has applied `height`, or with
  // Error "not_caught_up" after catch_up_timeout_ms.
  void wait_for_height_async(uint64_t height, ReadCallback done);

  // SPEC §10: one membership change, proposed here (this node must lead); `done` runs
  // once the change is applied here, or with an Error (Replica::change_membership).
  void change_membership_async(MemberChange change, MemberAddress member, ReadCallback done);
  // Called on the consensus thread for every member added after genesis that becomes
  // known (at once for those known already): the transport must reach it.
  void on_member_learned(std::function<void(const MemberAddress&)> callback);

  // Runs `reader` with the ledger under a shared lock: one consistent height.
  template <class F>
  auto read(F&& reader) const {
    return ledgers_->read(std::forward<F>(reader));
  }

  // Stored blocks from `from_height`, at most `limit`, at most about max_bytes.
  // The same, as stored (encode_block bytes): what peers back-filling history fetch.
  Result<std::vector<storage::Block>> stored_blocks(uint64_t from_height, uint32_t limit,
                                                    uint64_t max_bytes) const;
  Result<std::vector<Block>> blocks(uint64_t from_height, uint32_t limit, uint64_t max_bytes) const;

  // The lowest range of heights missing up to the stored blocks or the last snapshot
  // install (which leaves one); nullopt when the node holds every block from 1
  // (history.h).
  Result<std::optional<storage::HistoryGap>> history_gap() const;
  // The height and root of the last snapshot install; nullopt when there was none.
  Result<std::optional<storage::HistoryAnchor>> history_anchor() const;
  // Stores back-filled blocks, already proven against the chain (history.h), with the
  // records of their outcomes (outcome_index.h).
  base::Status store_history(std::vector<storage::Block> blocks,
                             std::vector<storage::StateRecord> outcomes);
  // The outcome of `tx_id` in `scope` (any scope without one) from the durable index
  // (outcome_index.h): what GET /api/lattice/tx/{id} answers beyond the ledger's window.
  Result<std::optional<ledger::Outcome>> recorded_outcome(
      std::string_view tx_id, std::optional<std::string_view> scope) const;

  ConsensusStatus consensus_status() const;
  bool is_leader() const;
  // Called on the consensus thread after each applied block; for announcements and
  // metrics. Must not block.
  void on_block_applied(std::function<void(const AppliedBlock&)> callback);
  // Called on the consensus thread when the role or term changes. Must not block.
  void on_role_changed(std::function<void(const ConsensusStatus&)> callback);

  const p2p::KeyPair& key() const { return key_; }
  const std::string& peer_id() const { return peer_id_; }
  const std::vector<std::string>& validators() const { return validators_; }
  storage::StoreStats store_stats() const { return store_->stats(); }

  class Runtime;  // runtime.cpp

 private:
  Node(std::unique_ptr<storage::Store> store, p2p::KeyPair key, std::vector<std::string> validators,
       const ledger::Ledger& ledger);

  std::unique_ptr<storage::Store> store_;
  p2p::KeyPair key_;
  std::string peer_id_;
  std::vector<std::string> validators_;  // sorted; consensus id = position + 1
  std::unique_ptr<LedgerPair> ledgers_;
  std::unique_ptr<Runtime> runtime_;
};

// The lattice id (SPEC §3): SHA-256 over the sorted validator peer IDs and the
// genesis (owners and policy included), hex. Nodes with different ids refuse each
// other, and every signature of an account owner names it (SPEC §8).
std::string lattice_id(std::vector<std::string> validators, const ledger::Genesis& genesis);
// The ledger's protocol parameters on that lattice: the defaults, with its lattice id.
ledger::Limits ledger_limits(std::vector<std::string> validators, const ledger::Genesis& genesis);

}  // namespace aethel::node
