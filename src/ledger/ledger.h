// The ledger: accounts, transfers, atomic batches, idempotency, and the sparse
// Merkle tree that commits to every account under one 32-byte root.
//
// Pure and deterministic. Nothing here reads a clock, draws a random number,
// touches a file or a socket, or lets the iteration order of a hash table reach a
// result: the same genesis and the same committed blocks give the same balances,
// the same outcomes, the same ids and the same root on every node, every time.
//
// Rules, formats and limits are documented for users in docs/LEDGER.md; the
// Merkle tree's exact bytes (enough to write an independent proof checker) in
// docs/MERKLE.md.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/base.h"

namespace aethel::ledger {

// ---------------------------------------------------------------------------
// Errors as values
// ---------------------------------------------------------------------------

// Errors are base's: `code` stable snake_case, `message` names the offending value.
using Error = base::Error;
template <class T>
using Result = base::Result<T>;

// ---------------------------------------------------------------------------
// Hashes
// ---------------------------------------------------------------------------

using Hash = std::array<uint8_t, 32>;

using base::to_hex;
// Accepts exactly 64 hex digits (either case); anything else is nullopt.
std::optional<Hash> hash_from_hex(std::string_view hex);
// SHA-256 of `bytes` (libsodium).
Hash sha256(std::string_view bytes);

// ---------------------------------------------------------------------------
// Accounts and genesis
// ---------------------------------------------------------------------------

// An account name is 1..64 bytes of [A-Za-z0-9_.-]. Case matters ("alice" and
// "Alice" are two accounts). The rule keeps names printable, URL-path safe
// (/api/lattice/accounts/{name}) and free of look-alike Unicode.
constexpr size_t kMaxAccountNameBytes = 64;
bool is_valid_account_name(std::string_view name);

// An Ed25519 public key (an account's owner) and signature (SPEC §8).
using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;

struct Account {
  int64_t balance = 0;  // never negative
  // Committed debits of this account: transfers it sent, and signed invocations,
  // set_owner rotations. A signed debit must carry exactly nonce + 1.
  uint64_t nonce = 0;
  // Whose signature a debit needs; nullopt: an account without owner, which anyone
  // may debit while the lattice's policy has open_accounts.
  std::optional<PublicKey> owner = std::nullopt;
  friend bool operator==(const Account&, const Account&) = default;
};

struct GenesisAccount {
  std::string name;
  int64_t balance = 0;
  std::optional<PublicKey> owner = std::nullopt;
  friend bool operator==(const GenesisAccount&, const GenesisAccount&) = default;
};

// The initial accounts and the lattice's policy. The total of the balances is the
// supply, fixed forever. Always sorted by name, names unique and valid, balances >= 0,
// total <= INT64_MAX.
struct Genesis {
  std::vector<GenesisAccount> accounts;
  // true: accounts without owner can be debited by anyone, and a transfer to an
  // unknown name creates it. false: every debit needs its owner's signature and
  // accounts are created by open_account (SPEC §8).
  bool open_accounts = true;
  // How many outcomes the ledger remembers (Limits::tx_retention_count); unset: the
  // default, 1,000,000. Client ids stay taken beyond it through the nodes' outcome
  // index; a smaller window bounds the ledger's memory and its snapshots.
  std::optional<uint64_t> tx_retention = std::nullopt;
  int64_t total_supply() const;
  friend bool operator==(const Genesis&, const Genesis&) = default;
};

// The bounds of Genesis::tx_retention.
constexpr uint64_t kMinTxRetention = 1;
constexpr uint64_t kMaxTxRetention = 1'000'000;

// A genesis holds at most this many accounts (a bound on start-up memory and time).
constexpr size_t kMaxGenesisAccounts = 1'000'000;

// The built-in default: Alice 1000, Bob 500, Charlie 250.
Genesis default_genesis();

// Validates a list of accounts (any order) into a Genesis. Errors name the
// problem: "bad_name", "negative_balance", "duplicate_name", "supply_overflow",
// "too_many_accounts", "empty_genesis".
Result<Genesis> make_genesis(std::vector<GenesisAccount> accounts, bool open_accounts = true);

// Parses the text of an AETHEL_GENESIS_FILE (format: docs/LEDGER.md):
//   {"accounts": {"Alice": {"balance": 1000, "owner": "<64 hex>"}, "Bob": 500},
//    "policy": {"open_accounts": false, "tx_retention": 100000}}
// or the bare {"Alice": 1000, "Bob": 500}. Balances are JSON integers. Errors as
// make_genesis, plus "bad_json", "bad_balance" (not an integer in 0..INT64_MAX),
// "bad_owner" (not 64 hex digits) and "bad_policy" (naming the bad member).
Result<Genesis> parse_genesis(std::string_view json_text);

// Canonical JSON of a genesis ({"accounts":{...}} sorted by name, no spaces; an
// owned account as {"balance":N,"owner":"<hex>"}, and "policy" only with members that
// differ from the defaults): the same genesis always prints the same bytes, so it can
// be hashed into the lattice id.
std::string genesis_to_json(const Genesis& genesis);

// Accepts exactly 64 hex digits (either case); anything else is nullopt.
std::optional<PublicKey> public_key_from_hex(std::string_view hex);
// Accepts exactly 128 hex digits (either case); anything else is nullopt.
std::optional<Signature> signature_from_hex(std::string_view hex);

// ---------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------

// Limits on a transaction's fields. A transaction over a limit fails with
// "invalid_transaction"; it is never truncated.
constexpr size_t kMaxClientIdBytes = 128;    // printable ASCII 0x21..0x7e
constexpr size_t kMaxMemoBytes = 256;        // any bytes
constexpr size_t kMaxBatchTransfers = 8192;  // transfers in one atomic batch
constexpr size_t kMaxBlockTransactions = 1 << 20;

// Limits of deployed intents (SPEC §11).
constexpr size_t kMaxIntentSourceBytes = 16 * 1024;
constexpr size_t kMaxIntentArguments = 64;
constexpr size_t kMaxDeployedIntents = 1024;

// A call of a deployed intent: its parameters' values by name, each an account
// name (Account parameters) or an integer in decimal (any other type).
struct Invocation {
  std::string intent;
  std::vector<std::pair<std::string, std::string>> arguments;
  friend bool operator==(const Invocation&, const Invocation&) = default;
};

// One item of a transaction: a transfer of `amount` from `from` to `to`, or, when
// `invocation` is set, a call of a deployed intent (then from, to and amount are
// unused and empty). `nonce` and `signature` authorize the debit of an owned account
// (SPEC §8; the signed bytes: signing_bytes below); `owner` is the key an
// open_account or set_owner transaction installs.
struct Transfer {
  std::string from;
  std::string to;
  int64_t amount = 0;
  std::string memo;
  std::optional<Invocation> invocation = std::nullopt;
  std::optional<uint64_t> nonce = std::nullopt;
  std::optional<Signature> signature = std::nullopt;
  std::optional<PublicKey> owner = std::nullopt;
  bool signed_item() const { return nonce.has_value() || signature.has_value() || owner; }
  friend bool operator==(const Transfer&, const Transfer&) = default;
};

// kOpenAccount: one item creating account `to` owned by `owner`, signed by that key.
// kSetOwner: one item giving account `from` the owner `owner`, signed by its current
// owner with the account's next nonce.
enum class TxKind : uint8_t {
  kTransfer = 0,
  kAtomicBatch = 1,
  kDeploy = 2,
  kOpenAccount = 3,
  kSetOwner = 4
};

// One transaction: a single transfer or invocation, an atomic batch whose items are
// applied in order and all commit or none does, the deployment of an intent
// definition, or an account's opening or key rotation. `client_id` is the client's
// idempotency key; empty means none (the ledger then derives an id, see tx ids in
// docs/LEDGER.md). A client id is scoped to the account the transaction debits
// (client_id_scope below).
struct Transaction {
  std::string client_id;
  TxKind kind = TxKind::kTransfer;
  std::vector<Transfer> transfers;  // exactly 1 for kTransfer, 1..8192 for a batch, 0 for kDeploy
  // kDeploy only: the definition's source (one intent definition, already proven by
  // the node that accepted it) and who deployed it, as that node recorded it.
  std::string intent_source;
  std::string deployed_by;

  static Transaction transfer(std::string from, std::string to, int64_t amount,
                              std::string client_id = {}, std::string memo = {});
  static Transaction batch(std::vector<Transfer> transfers, std::string client_id = {});
  static Transaction invoke(Invocation invocation, std::string client_id = {},
                            std::string memo = {});
  static Transaction deploy(std::string source, std::string deployed_by,
                            std::string client_id = {});
  static Transaction open_account(std::string name, const PublicKey& owner,
                                  std::string client_id = {});
  static Transaction set_owner(std::string name, const PublicKey& new_owner, uint64_t nonce,
                               std::string client_id = {});
  friend bool operator==(const Transaction&, const Transaction&) = default;
};

// The account whose id space `tx`'s client id belongs to: the first item's sender
// for transfers, batches and set_owner, the new account for open_account; empty for
// invocations and deployments, whose ids share one lattice-wide space.
std::string_view client_id_scope(const Transaction& tx);

// The exact bytes the owner signs for item `item` of `tx` (docs/LEDGER.md,
// "Signatures", with a test vector): a domain tag, the lattice id, the transaction's
// kind and client id, the item's nonce, and the item's content without its
// signature.
std::string signing_bytes(const Hash& lattice_id, const Transaction& tx, size_t item);
// Ed25519 (libsodium) over signing_bytes.
bool signature_valid(const PublicKey& owner, const Hash& lattice_id, const Transaction& tx,
                     size_t item);

// An Ed25519 key pair from its 32-byte seed: what `aethel account new` writes and
// `aethel submit --key` reads. The secret key is libsodium's 64-byte form.
struct KeyPair {
  std::array<uint8_t, 32> seed{};
  PublicKey public_key{};
  std::array<uint8_t, 64> secret_key{};
};
KeyPair key_pair_from_seed(const std::array<uint8_t, 32>& seed);
// Fills in item `item`'s signature (its nonce and content already set).
void sign_item(const KeyPair& key, const Hash& lattice_id, Transaction& tx, size_t item);

// An intent definition deployed on the ledger: part of the state (root, snapshots).
struct DeployedIntent {
  std::string name;
  uint32_t version = 0;  // 1 for the first deployment of the name, +1 for each redeployment
  std::string source;
  std::vector<std::pair<std::string, std::string>> params;  // name, type
  uint64_t deployed_at_height = 0;
  std::string deployed_by;
  friend bool operator==(const DeployedIntent&, const DeployedIntent&) = default;
};

// Canonical bytes of a transaction (layout in docs/LEDGER.md). Used to derive
// ids and by storage to persist blocks; decode(encode(t)) == t.
std::string encode_transaction(const Transaction& tx);
// Refuses truncated, oversized or trailing input with an Error; never crashes.
Result<Transaction> decode_transaction(std::string_view bytes);

// Why a transaction did or did not commit. The string forms (to_string) are the
// machine codes of the HTTP API.
enum class OutcomeCode : uint8_t {
  kCommitted = 0,
  kInvalidAmount = 1,       // amount <= 0
  kInvalidName = 2,         // a name breaks is_valid_account_name
  kUnknownAccount = 3,      // the sender does not exist
  kInsufficientFunds = 4,   // sender balance < amount
  kSelfTransfer = 5,        // from == to
  kOverflow = 6,            // receiver balance + amount > INT64_MAX (defensive)
  kInvalidTransaction = 7,  // shape: empty batch, over a limit, bad client id
  kAccountLimit = 8,        // creating the receiver would exceed Limits::max_accounts
  kGuardFailed = 9,         // a deployed intent's guard does not hold
  kUnknownIntent = 10,      // no deployed intent has that name
  kInvalidArguments = 11,   // arguments do not fit the intent's parameters
  kInvalidIntent = 12,      // a deployment whose definition cannot run
  kInvariantBreach = 13,    // an intent run would break conservation, non-negativity or verify
  kUnauthorized = 14,       // a debit without a valid signature by the account's owner
  kBadNonce = 15,           // a debit's nonce is not the account's nonce + 1
  kAccountExists = 16,      // open_account of a name that exists
};
constexpr uint8_t kMaxOutcomeCode = 16;
const char* to_string(OutcomeCode code);  // "committed", "insufficient_funds", ...

// The result of one transaction, as recorded at the height where it was applied.
struct Outcome {
  std::string tx_id;    // the client id, or the derived id
  std::string scope;    // client_id_scope of a client id; empty for derived ids
  uint64_t height = 0;  // block in which it was (first) applied
  uint32_t index = 0;   // position in that block
  OutcomeCode code = OutcomeCode::kCommitted;
  std::string message;  // failures: names the numbers ("Alice has 40, needs 100"); else empty
  uint32_t failed_transfer = 0;  // for a failure: index of the offending transfer
  // True when this is an answer to a retry: the id had been applied before and
  // this is that original outcome; nothing changed this time.
  bool exists = false;

  bool committed() const { return code == OutcomeCode::kCommitted; }
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

// Canonical bytes of an outcome (its `exists` flag is not kept): what a node's durable
// index of outcomes by id stores (docs/STORAGE.md), in the layout of a snapshot's
// transaction records (docs/LEDGER.md). decode_outcome refuses malformed, oversized
// or trailing input with Error "bad_outcome".
std::string encode_outcome(const Outcome& outcome);
Result<Outcome> decode_outcome(std::string_view bytes);

// ---------------------------------------------------------------------------
// Sparse Merkle tree and proofs (bytes: docs/MERKLE.md)
// ---------------------------------------------------------------------------

// Path of an account in the tree: SHA-256 of the name's bytes.
Hash account_key(std::string_view name);
// SHA-256(0x00 || key || balance as 8-byte big-endian two's complement ||
// nonce as 8-byte big-endian); for an owned account SHA-256(0x03 || key || balance ||
// nonce || owner's 32 bytes).
Hash leaf_hash(const Hash& key, const Account& account);
// SHA-256(0x01 || left || right).
Hash interior_hash(const Hash& left, const Hash& right);
// The hash of an empty subtree at any depth, and so the root of an empty tree:
// 32 zero bytes. A value, not an absence.
constexpr Hash kEmptyHash{};

// The root computed from scratch, by the definition, over a set of accounts
// (any order, names unique). O(n log n); the reference the incremental tree is
// tested against, and what a recovery check recomputes.
Hash merkle_root_from_scratch(std::span<const std::pair<std::string, Account>> accounts);

// Where the path of a key ends when walked from the root.
enum class ProofTerminal : uint8_t {
  kLeaf = 0,       // the key's own leaf: inclusion
  kEmpty = 1,      // an empty subtree: non-inclusion
  kOtherLeaf = 2,  // a single leaf of a different key sharing the prefix: non-inclusion
};

// A proof that an account has a given state, or does not exist, under a root.
// siblings[d] is the hash of the sibling subtree at depth d (the other child of
// the node at depth d on the key's path), from the root down; the path ends at
// depth siblings.size() in `terminal`.
struct Proof {
  ProofTerminal terminal = ProofTerminal::kEmpty;
  std::vector<Hash> siblings;  // at most 256
  Hash other_key{};            // kOtherLeaf only
  Account other_account;       // kOtherLeaf only
  friend bool operator==(const Proof&, const Proof&) = default;
};

// Compact bytes (empty siblings elided by a bitmap) and JSON (hex) forms. Decoders
// refuse anything malformed with an Error ("bad_proof").
std::string encode_proof(const Proof& proof);
Result<Proof> decode_proof(std::string_view bytes);
// {"version":1,"terminal":"leaf"|"empty"|"other_leaf","siblings":["<hex>",...],
//  "other_key":"<hex>","other_balance":N,"other_nonce":N}   (other_* only for other_leaf)
std::string proof_to_json(const Proof& proof);
Result<Proof> proof_from_json(std::string_view json_text);

// Checks `proof` against `root` for account `name`: with `claim` set, that the
// account exists with exactly that balance and nonce; with nullopt, that it does not
// exist. Returns nullopt when the proof holds, otherwise an Error whose message says
// why ("proof is for absence but an account is claimed", "root mismatch: proof gives
// <hex>, expected <hex>", ...). Needs nothing but the arguments: an offline check.
std::optional<Error> verify_proof(const Hash& root, std::string_view name,
                                  const std::optional<Account>& claim, const Proof& proof);
// The same against a state root: the proof's accounts root combined with
// `intents_root` (state_root below) must equal `root`.
std::optional<Error> verify_proof_against(const Hash& root, const std::optional<Hash>& intents_root,
                                          std::string_view name,
                                          const std::optional<Account>& claim, const Proof& proof);

// A proof together with what it proves: the self-contained JSON document that
// GET /api/lattice/proof/{name} serves and that an offline checker
// (`aethel proof-check`) reads. Layout in docs/MERKLE.md ("Proof documents").
struct ProofDocument {
  Hash root{};  // the state root
  // Set when the ledger has deployed intents: the root is then
  // state_root(accounts root, intents_root), see state_root below.
  std::optional<Hash> intents_root;
  uint64_t height = 0;
  std::string name;
  std::optional<Account> account;  // nullopt: the document claims absence
  Proof proof;
  friend bool operator==(const ProofDocument&, const ProofDocument&) = default;
};

// The state root: the accounts' Merkle root alone while no intent is deployed, else
// SHA-256(0x02 || accounts_root || intents_root) (docs/MERKLE.md).
Hash state_root(const Hash& accounts_root, const std::optional<Hash>& intents_root);

// {"name":..,"exists":..,"balance":..,"nonce":..,"merkle_root":..,"height":..,"proof":{..}}
// (balance and nonce only when exists; "intents_root" only when set).
std::string proof_document_to_json(const ProofDocument& document);
// Accepts the document alone or embedded in a larger object (unknown members are
// ignored, e.g. "success"). Errors: "bad_proof".
Result<ProofDocument> parse_proof_document(std::string_view json_text);
// verify_proof against document.root, combined with document.intents_root when set.
// A checker that got the root from elsewhere (another node, a signed state) must
// also compare document.root with it; otherwise it only learns the document is
// self-consistent.
std::optional<Error> verify_proof_document(const ProofDocument& document);

// ---------------------------------------------------------------------------
// The ledger
// ---------------------------------------------------------------------------

// Protocol parameters. Every validator must use the same values (they decide
// outcomes); the node uses the defaults. They travel inside snapshots.
struct Limits {
  // Idempotency retention: the outcome of a transaction applied at height h is
  // remembered while the ledger height < h + tx_retention_blocks ...
  uint64_t tx_retention_blocks = 100'000;
  // ... and while it is among the last tx_retention_count transactions applied.
  uint64_t tx_retention_count = 1'000'000;
  // Transfers to unknown receivers create accounts up to this many in total.
  uint64_t max_accounts = 1 << 24;
  // The lattice id (node::lattice_id) that every signature names, so a signature
  // made for one lattice is worthless on another.
  Hash lattice_id{};
  friend bool operator==(const Limits&, const Limits&) = default;
};

struct BlockResult {
  uint64_t height = 0;
  Hash root{};
  std::vector<Outcome> outcomes;  // one per transaction, in block order
};

struct LedgerState;  // internal: ledger_state.h
struct FrozenState;  // internal: snapshot.cpp

// A ledger's state frozen at one height, to be serialized later, on any thread, while
// the ledger goes on: Ledger::freeze() costs a copy of the accounts, not of the
// remembered outcomes (they are shared). serialize() gives the bytes Ledger::serialize()
// gave at that height; serialize_to gives the same bytes in pieces (about 1 MiB
// each), so that a big snapshot can go to a file without being held whole.
class SnapshotSource {
 public:
  uint64_t height() const;
  std::string serialize() const;
  void serialize_to(const std::function<void(std::string_view)>& sink) const;

 private:
  friend class Ledger;
  explicit SnapshotSource(std::shared_ptr<const FrozenState> state) : state_(std::move(state)) {}
  std::shared_ptr<const FrozenState> state_;
};

class Ledger {
 public:
  // Height 0: the genesis accounts with nonce 0, root over them.
  explicit Ledger(const Genesis& genesis, Limits limits = {});
  ~Ledger();
  Ledger(const Ledger& other);
  Ledger& operator=(const Ledger& other);
  Ledger(Ledger&&) noexcept;
  Ledger& operator=(Ledger&&) noexcept;

  // Applies block `height` (must be height() + 1, else Error "bad_height" and
  // nothing changes). Transactions run in order, each against the state left by the
  // previous; each yields an Outcome. A transaction whose id is still remembered
  // yields its original outcome with exists = true and changes nothing (also for a
  // repeat inside the same block). Committed transfers bump their sender's nonce.
  // The Merkle tree is updated once, at the end, over the accounts the block
  // touched. Conservation (sum of balances == supply) is asserted afterwards.
  Result<BlockResult> apply_block(uint64_t height, std::span<const Transaction> transactions);

  // What apply_block would answer for `tx` alone as the next block's first
  // transaction, without changing anything (dry runs, early refusals). The
  // derived id of a transaction without client id is left empty here.
  Outcome check(const Transaction& tx) const;

  uint64_t height() const;
  // The state root: state_root(accounts_root(), intents_root()).
  const Hash& root() const;
  const Hash& accounts_root() const;
  // Over the deployed intents; nullopt while there are none.
  std::optional<Hash> intents_root() const;
  int64_t total_supply() const;
  size_t account_count() const;
  const Limits& limits() const;

  std::optional<Account> account(std::string_view name) const;

  // Accounts sorted by name, strictly after `after` (empty: from the start), at most
  // `limit` of them: the pages of /api/lattice/state.
  std::vector<std::pair<std::string, Account>> accounts_page(std::string_view after,
                                                             size_t limit) const;

  // The remembered outcome of transaction `tx_id` in `scope` (exists = false), or
  // nullopt if it was never applied or has been forgotten under the retention rule.
  // Without a scope, the oldest remembered transaction with that id in any scope.
  std::optional<Outcome> find_transaction(std::string_view tx_id,
                                          std::optional<std::string_view> scope = {}) const;
  // The genesis policy (Genesis::open_accounts).
  bool open_accounts() const;
  size_t remembered_transactions() const;

  // Deployed intents, sorted by name; one by name.
  std::vector<DeployedIntent> intents() const;
  std::optional<DeployedIntent> intent(std::string_view name) const;

  // Inclusion proof for an existing account, non-inclusion proof otherwise, both
  // against root(). Names that break the name rule get a non-inclusion proof too.
  Proof prove(std::string_view name) const;
  // The same, with the root, height, name and claimed state: ready to serve.
  ProofDocument prove_document(std::string_view name) const;

  // Recounts everything from scratch: supply, non-negative balances, the root
  // against merkle_root_from_scratch. Returns the first violation, if any. O(n).
  std::optional<Error> check_invariants() const;

  // Canonical snapshot bytes of the whole state: accounts, height, supply, limits,
  // remembered outcomes, root, and a checksum (layout in docs/LEDGER.md). Equal
  // states give equal bytes.
  std::string serialize() const;
  SnapshotSource freeze() const;
  // `twin` applied the same blocks from the same state (node::LedgerPair's two
  // ledgers): this ledger shares twin's remembered outcomes instead of keeping its own
  // copy. Aborts when the two are not at the same height and root.
  void share_outcomes_with(const Ledger& twin);
  // Rebuilds a ledger from snapshot bytes, validating everything (checksum, order,
  // bounds, supply, that the recomputed root equals the recorded one). Bad bytes
  // give Error "bad_snapshot" (or "unsupported_snapshot_version"), never a crash.
  static Result<Ledger> deserialize(std::string_view bytes);
  // A ledger loaded from a snapshot of format 1 or 2, written before lattice ids were
  // recorded, has none (Limits::lattice_id all zeros): it takes `lattice_id`. Safe,
  // because such a ledger holds no owner and no signature it decided depended on the
  // id. Aborts for a ledger that has an id.
  void adopt_lattice_id(const Hash& lattice_id);

 private:
  explicit Ledger(std::unique_ptr<LedgerState> state);
  std::unique_ptr<LedgerState> state_;
};

}  // namespace aethel::ledger
