// The Ledger: applying blocks, idempotency, lookups, proofs.
#include "ledger/ledger.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "base/base.h"
#include "ledger/bytes.h"
#include "ledger/ledger_state.h"
#include "ledger/overlay.h"
#include "ledger/rules.h"

namespace aethel::ledger {
namespace {

std::optional<Verdict> check_client_id(const Transaction& tx) {
  if (!tx.client_id.empty() && !is_valid_client_id(tx.client_id)) {
    return refuse(OutcomeCode::kInvalidTransaction,
                  fmt::format("transaction id must be 1-{} printable ASCII characters without "
                              "spaces (got {} bytes)",
                              kMaxClientIdBytes, tx.client_id.size()));
  }
  return std::nullopt;
}

std::optional<Verdict> check_account_shape(const Transaction& tx) {
  if (tx.transfers.size() != 1 || tx.transfers[0].invocation || !tx.transfers[0].owner) {
    return refuse(OutcomeCode::kInvalidTransaction,
                  "open_account and set_owner carry exactly one item naming the new owner key");
  }
  return check_client_id(tx);
}

std::optional<Verdict> check_shape(const Transaction& tx) {
  if (tx.kind == TxKind::kOpenAccount || tx.kind == TxKind::kSetOwner) {
    return check_account_shape(tx);
  }
  if (tx.kind == TxKind::kDeploy) {
    if (!tx.transfers.empty()) {
      return refuse(OutcomeCode::kInvalidTransaction, "a deployment carries no transfers");
    }
    return check_client_id(tx);
  }
  if (!tx.intent_source.empty() || !tx.deployed_by.empty()) {
    return refuse(OutcomeCode::kInvalidTransaction, "only a deployment carries intent source");
  }
  if (tx.transfers.empty()) {
    return refuse(OutcomeCode::kInvalidTransaction, "a transaction needs at least one transfer");
  }
  if (tx.kind == TxKind::kTransfer && tx.transfers.size() != 1) {
    return refuse(
        OutcomeCode::kInvalidTransaction,
        fmt::format("a plain transfer carries exactly 1 transfer, got {}", tx.transfers.size()));
  }
  if (tx.kind != TxKind::kTransfer && tx.kind != TxKind::kAtomicBatch) {
    return refuse(OutcomeCode::kInvalidTransaction, "unknown transaction kind");
  }
  if (tx.transfers.size() > kMaxBatchTransfers) {
    return refuse(OutcomeCode::kInvalidTransaction,
                  fmt::format("an atomic batch holds at most {} transfers, got {}",
                              kMaxBatchTransfers, tx.transfers.size()));
  }
  if (auto bad_id = check_client_id(tx)) return bad_id;
  for (size_t i = 0; i < tx.transfers.size(); ++i) {
    if (tx.transfers[i].memo.size() > kMaxMemoBytes) {
      return refuse(OutcomeCode::kInvalidTransaction,
                    fmt::format("memo of {} bytes exceeds the limit of {}",
                                tx.transfers[i].memo.size(), kMaxMemoBytes),
                    i);
    }
  }
  return std::nullopt;
}

std::string name_rule_message(std::string_view role, std::string_view name) {
  return fmt::format("{} name ({} bytes) is not 1-{} characters of A-Z a-z 0-9 _ . -", role,
                     name.size(), kMaxAccountNameBytes);
}

// The sender of item `index`, found and authorized (SPEC §8) before anything else is
// checked, so that only its owner can make a transaction in its id scope fail.
std::optional<size_t> authorized_sender(const LedgerState& state, Overlay& overlay,
                                        const Transaction& tx, size_t index, Verdict& refusal) {
  const std::string& name = tx.transfers[index].from;
  if (!is_valid_account_name(name)) {
    refusal =
        refuse_unauthenticated(OutcomeCode::kInvalidName, name_rule_message("sender", name), index);
    return std::nullopt;
  }
  const auto sender = overlay.find(state, name);
  if (!sender) {
    refusal = refuse_unauthenticated(OutcomeCode::kUnknownAccount,
                                     fmt::format("sender {} does not exist", name), index);
    return std::nullopt;
  }
  if (auto denied = authorize_debit(state, tx, index, name, overlay.at(*sender).after)) {
    refusal = std::move(*denied);
    return std::nullopt;
  }
  return sender;
}

// One transfer against the overlay: the checks of SPEC §5 and §8, in a fixed order.
std::optional<Verdict> run_transfer(const LedgerState& state, Overlay& overlay,
                                    const Transaction& tx, size_t index) {
  const Transfer& t = tx.transfers[index];
  if (t.invocation) return run_invocation(state, overlay, tx, index);
  Verdict refusal;
  const std::optional<size_t> sender = authorized_sender(state, overlay, tx, index, refusal);
  if (!sender) return refusal;
  if (!is_valid_account_name(t.to)) {
    return refuse(OutcomeCode::kInvalidName, name_rule_message("receiver", t.to), index);
  }
  if (t.amount <= 0) {
    return refuse(OutcomeCode::kInvalidAmount,
                  fmt::format("amount must be a positive integer, got {}", t.amount), index);
  }
  if (t.from == t.to) {
    return refuse(OutcomeCode::kSelfTransfer,
                  fmt::format("sender and receiver are both {}", t.from), index);
  }
  auto receiver = overlay.find(state, t.to);
  if (!receiver && !state.open_accounts) {
    return refuse(OutcomeCode::kUnknownAccount,
                  fmt::format("receiver {} does not exist; on this lattice accounts are created "
                              "by open_account",
                              t.to),
                  index);
  }
  if (!receiver) {
    if (state.slots.size() + overlay.created() >= state.limits.max_accounts) {
      return refuse(OutcomeCode::kAccountLimit,
                    fmt::format("receiver {} does not exist and the ledger is at its limit of {} "
                                "accounts",
                                t.to, state.limits.max_accounts),
                    index);
    }
    receiver = overlay.create(t.to);
  }
  Account& from = overlay.at(*sender).after;
  Account& to = overlay.at(*receiver).after;
  switch (check_balances(from.balance, to.balance, t.amount)) {
    case OutcomeCode::kCommitted:
      break;
    case OutcomeCode::kInsufficientFunds:
      return refuse(OutcomeCode::kInsufficientFunds,
                    fmt::format("{} has {}, needs {}", t.from, from.balance, t.amount), index);
    default:
      return refuse(OutcomeCode::kOverflow,
                    fmt::format("{} has {}; receiving {} would exceed {}", t.to, to.balance,
                                t.amount, INT64_MAX),
                    index);
  }
  from.balance -= t.amount;
  from.nonce += 1;
  to.balance += t.amount;
  return std::nullopt;
}

// open_account: a new name, owned by the key that signed it.
Verdict evaluate_open_account(const LedgerState& state, const Transaction& tx, Overlay& overlay) {
  const Transfer& t = tx.transfers[0];
  if (!is_valid_account_name(t.to)) {
    return refuse(OutcomeCode::kInvalidName, name_rule_message("account", t.to));
  }
  if (overlay.find(state, t.to)) {
    return refuse(OutcomeCode::kAccountExists, fmt::format("account {} exists", t.to));
  }
  if (state.slots.size() >= state.limits.max_accounts) {
    return refuse(
        OutcomeCode::kAccountLimit,
        fmt::format("the ledger is at its limit of {} accounts", state.limits.max_accounts));
  }
  if (!signature_valid(*t.owner, state.limits.lattice_id, tx, 0)) {
    return refuse(OutcomeCode::kUnauthorized,
                  fmt::format("open_account of {} needs a signature by the new owner key", t.to));
  }
  overlay.at(overlay.create(t.to)).after.owner = t.owner;
  return Verdict{};
}

// set_owner: the account's current owner signs over the new key.
Verdict evaluate_set_owner(const LedgerState& state, const Transaction& tx, Overlay& overlay) {
  Verdict refusal;
  const std::optional<size_t> account = authorized_sender(state, overlay, tx, 0, refusal);
  if (!account) return refusal;
  Account& after = overlay.at(*account).after;
  if (!after.owner) {
    return refuse_unauthenticated(
        OutcomeCode::kUnauthorized,
        fmt::format("{} has no owner; only an owned account rotates its key", tx.transfers[0].from),
        0);
  }
  after.owner = tx.transfers[0].owner;
  after.nonce += 1;
  return Verdict{};
}

// A deployment: the definition must run (compile_intent), and a new name must fit.
Verdict evaluate_deploy(const LedgerState& state, const Transaction& tx,
                        std::optional<IntentEntry>& compiled) {
  Result<IntentEntry> entry = compile_intent(tx.intent_source, tx.deployed_by);
  if (!entry.ok()) return refuse(OutcomeCode::kInvalidIntent, bounded(entry.error().message));
  const std::string& name = entry.value().info.name;
  if (state.intents.count(name) == 0 && state.intents.size() >= kMaxDeployedIntents) {
    return refuse(OutcomeCode::kInvalidIntent,
                  fmt::format("the ledger holds its limit of {} deployed intents; '{}' is new",
                              kMaxDeployedIntents, name));
  }
  compiled = std::move(entry).value();
  return Verdict{};
}

Verdict evaluate(const LedgerState& state, const Transaction& tx, Overlay& overlay,
                 std::optional<IntentEntry>& compiled) {
  overlay.clear();
  compiled.reset();
  if (auto shape = check_shape(tx)) return *shape;
  if (tx.kind == TxKind::kDeploy) return evaluate_deploy(state, tx, compiled);
  if (tx.kind == TxKind::kOpenAccount) return evaluate_open_account(state, tx, overlay);
  if (tx.kind == TxKind::kSetOwner) return evaluate_set_owner(state, tx, overlay);
  const bool batch = tx.kind == TxKind::kAtomicBatch;
  for (size_t i = 0; i < tx.transfers.size(); ++i) {
    if (auto failure = run_transfer(state, overlay, tx, i)) {
      // Only the first item's sender owns the id scope (client_id_scope).
      failure->unauthenticated &= i == 0;
      if (batch) {
        failure->message = fmt::format("transfer {} of {} in the batch: {}; nothing was applied",
                                       i + 1, tx.transfers.size(), failure->message);
      }
      return *failure;
    }
  }
  return Verdict{};
}

// Whether the outcome is remembered under the client id: not when the scope's owner
// has not been shown to have signed, and for open_account only when it commits (a
// refused opening of an existing name must not occupy that account's ids). Otherwise
// it gets a derived id.
bool takes_client_id(const Transaction& tx, const Verdict& verdict) {
  // A scope that is no account's name (the sender's name is invalid) holds no ids.
  const std::string_view scope = client_id_scope(tx);
  if (!scope.empty() && !is_valid_account_name(scope)) return false;
  if (verdict.code == OutcomeCode::kCommitted) return true;
  return !verdict.unauthenticated && tx.kind != TxKind::kOpenAccount;
}

// Writes a passed transaction's accounts into the ledger.
void commit_overlay(LedgerState& s, const Overlay& overlay, uint64_t block_height) {
  int64_t delta_sum = 0;
  for (const auto& entry : overlay.entries()) {
    delta_sum += entry.after.balance - entry.before.balance;
    AETHEL_CHECK(entry.after.balance >= 0);
    uint32_t slot = entry.slot;
    if (slot == kNoSlot) {
      slot = s.add_account(entry.name, entry.after);
    } else {
      s.set_account(slot, entry.after);
    }
    s.touch(slot, block_height);
  }
  AETHEL_CHECK(delta_sum == 0);  // a transaction moves money, never makes it
}

void commit_deploy(LedgerState& s, IntentEntry entry, uint64_t block_height) {
  auto it = s.intents.find(entry.info.name);
  entry.info.version = it == s.intents.end() ? 1 : it->second.info.version + 1;
  entry.info.deployed_at_height = block_height;
  s.intents.insert_or_assign(entry.info.name, std::move(entry));
}

// SHA-256 over the deployed intents in name order (docs/MERKLE.md).
Hash hash_intents(const LedgerState& s) {
  ByteWriter out;
  out.bytes("aethel/intents/v1");
  for (const auto& [name, entry] : s.intents) {
    out.u32(static_cast<uint32_t>(name.size()));
    out.bytes(name);
    out.u32(entry.info.version);
    out.u64(entry.info.deployed_at_height);
    out.u32(static_cast<uint32_t>(entry.info.deployed_by.size()));
    out.bytes(entry.info.deployed_by);
    put_hash(out, sha256(entry.info.source));
  }
  return sha256(out.str());
}

std::string derive_tx_id(const Transaction& tx, uint64_t height, uint32_t index,
                         std::string& scratch) {
  ByteWriter input(std::move(scratch));
  input.bytes("aethel/tx/v1");
  input.u8(0);
  append_transaction(input, tx);
  input.u64(height);
  input.u32(index);
  const std::string id = to_hex(sha256(input.str()));
  scratch = input.take();
  return id;
}

}  // namespace

std::optional<Verdict> authorize_debit(const LedgerState& state, const Transaction& tx,
                                       size_t index, std::string_view name,
                                       const Account& account) {
  const Transfer& t = tx.transfers[index];
  const uint64_t next = account.nonce + 1;
  const auto denied = [&](OutcomeCode code, std::string message) {
    return std::optional(refuse_unauthenticated(code, std::move(message), index));
  };
  if (!account.owner && !state.open_accounts) {
    return denied(OutcomeCode::kUnauthorized,
                  fmt::format("{} has no owner and this lattice has open_accounts false: it "
                              "cannot be debited",
                              name));
  }
  if (account.owner && (!t.nonce || !t.signature)) {
    return denied(OutcomeCode::kUnauthorized,
                  fmt::format("{} has an owner: a debit needs \"nonce\": {} and the owner's "
                              "\"signature\"",
                              name, next));
  }
  if (t.nonce && *t.nonce != next) {
    return denied(
        OutcomeCode::kBadNonce,
        fmt::format("{}'s next nonce is {}, the transaction carries {}", name, next, *t.nonce));
  }
  if (account.owner && !signature_valid(*account.owner, state.limits.lattice_id, tx, index)) {
    return denied(OutcomeCode::kUnauthorized,
                  fmt::format("the signature does not verify against {}'s owner key", name));
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

LedgerState::LedgerState(const LedgerState& other)
    : limits(other.limits),
      open_accounts(other.open_accounts),
      supply(other.supply),
      height(other.height),
      slots(other.slots),
      owners(other.owners),
      names(other.names),
      tree(other.tree),
      touched(other.touched),
      records(other.records),
      first_record_number(other.first_record_number),
      intents(other.intents),
      intents_root(other.intents_root),
      root(other.root) {
  rebuild_views();
}

void LedgerState::rebuild_views() {
  slot_index.clear();
  slot_index.reserve(slots.size());
  for (uint32_t slot = 0; slot < slots.size(); ++slot) {
    slot_index.insert(text_hash(slots[slot].name), slot);
  }
  record_index.clear();
  hex_index.clear();
  size_t flat_records = 0;
  for (size_t i = 0; i < records.size(); ++i) flat_records += !records.unscoped_hex(i);
  record_index.reserve(flat_records);
  for (size_t i = 0; i < records.size(); ++i) index_record(i, records.id_view(i, id_scratch));
}

void LedgerState::index_record(size_t i, std::string_view tx_id) {
  const uint64_t hash = text_hash(tx_id);
  const uint64_t number = first_record_number + i;
  if (records.unscoped_hex(i)) {
    hex_index.insert(hash, number);
  } else {
    record_index.insert(hash, number);
  }
}

std::optional<uint32_t> LedgerState::find_slot(std::string_view name) const {
  const uint64_t slot = slot_index.find(
      text_hash(name), [&](uint64_t candidate) { return slots[candidate].name == name; });
  if (slot == FlatIndex::kAbsent) return std::nullopt;
  return static_cast<uint32_t>(slot);
}

std::optional<Outcome> LedgerState::find_record(std::string_view tx_id,
                                                std::optional<std::string_view> scope) const {
  // Inside one scope an id is unique, so the first match is the one. Without a scope,
  // every match is visited (a match returning false goes on) and the oldest wins.
  uint64_t number = FlatIndex::kAbsent;
  const auto matches = [&](uint64_t candidate) {
    if (candidate < first_record_number ||
        !records.matches(candidate - first_record_number, tx_id, scope)) {
      return false;
    }
    number = std::min(number, candidate);
    return scope.has_value();
  };
  // An unscoped hex id sits in hex_index, every other in record_index (remember).
  const uint64_t hash = text_hash(tx_id);
  const bool hex = is_hex_id(tx_id);
  if (!hex || !scope || !scope->empty()) record_index.find(hash, matches);
  if (hex && (!scope || scope->empty())) hex_index.find(hash, matches);
  if (number == FlatIndex::kAbsent) return std::nullopt;
  return records[number - first_record_number];
}

uint32_t LedgerState::add_account(std::string_view name, const Account& account) {
  AETHEL_CHECK(slots.size() < kNoSlot);
  const auto slot = static_cast<uint32_t>(slots.size());
  AETHEL_CHECK(!find_slot(name));
  slot_index.insert(text_hash(name), slot);
  slots.push_back({std::string(name), 0, 0, kNoOwner, SparseMerkleTree::kNone, kNeverTouched});
  set_account(slot, account);
  names.insert(slot, [this](uint32_t s) { return name_of(s); });
  return slot;
}

Account LedgerState::account_at(uint32_t slot) const {
  const Slot& s = slots[slot];
  Account account{s.balance, s.nonce};
  if (s.owner != kNoOwner) account.owner = owners[s.owner];
  return account;
}

void LedgerState::set_account(uint32_t slot, const Account& account) {
  Slot& s = slots[slot];
  s.balance = account.balance;
  s.nonce = account.nonce;
  if (!account.owner) {
    s.owner = kNoOwner;  // its old key, if any, stays unused: owners are never removed
  } else if (s.owner == kNoOwner) {
    AETHEL_CHECK(owners.size() < kNoOwner);
    s.owner = static_cast<uint32_t>(owners.size());
    owners.push_back(*account.owner);
  } else {
    owners[s.owner] = *account.owner;
  }
}

void LedgerState::touch(uint32_t slot, uint64_t block_height) {
  if (slots[slot].touched_at_height == block_height) return;
  slots[slot].touched_at_height = block_height;
  touched.push_back(slot);
}

void LedgerState::update_tree() {
  for (uint32_t slot : touched) {
    Slot& s = slots[slot];
    if (s.leaf == SparseMerkleTree::kNone) {
      const Hash key = account_key(s.name);
      s.leaf = tree.insert(key, leaf_hash(key, account_at(slot)), slot);
    } else {
      tree.update(s.leaf, leaf_hash(tree.leaf_key(s.leaf), account_at(slot)));
    }
  }
  touched.clear();
  tree.commit();
}

void LedgerState::update_root(bool intents_changed) {
  if (intents_changed) intents_root = hash_intents(*this);
  root = state_root(tree.root(), intents.empty() ? std::nullopt : std::optional(intents_root));
}

void LedgerState::remember(const Outcome& outcome) {
  AETHEL_CHECK(outcome.message.size() <= kMaxOutcomeMessageBytes);
  // Ids are unique in their scope here: a client id was looked up by the caller, and
  // a derived id hashes its own height and index.
  records.push_back(outcome);
  index_record(records.size() - 1, outcome.tx_id);
}

void LedgerState::forget_expired() {
  while (!records.empty() && (height - records.height_at(0) >= limits.tx_retention_blocks ||
                              records.size() > limits.tx_retention_count)) {
    if (!records.unscoped_hex(0)) {
      const uint64_t oldest = first_record_number;
      const bool erased = record_index.erase(text_hash(records.id_view(0, id_scratch)),
                                             [&](uint64_t number) { return number == oldest; });
      AETHEL_CHECK(erased);
    }
    records.pop_front();
    ++first_record_number;
  }
  hex_index.forget_below(first_record_number);
}

void LedgerState::assert_conservation() const {
  int64_t sum = 0;
  for (const Slot& s : slots) {
    AETHEL_CHECK(s.balance >= 0);
    AETHEL_CHECK(!__builtin_add_overflow(sum, s.balance, &sum));
  }
  AETHEL_CHECK(sum == supply);
}

// ---------------------------------------------------------------------------
// Ledger
// ---------------------------------------------------------------------------

Ledger::Ledger(const Genesis& genesis, Limits limits) : state_(std::make_unique<LedgerState>()) {
  AETHEL_CHECK(make_genesis(genesis.accounts, genesis.open_accounts).ok());
  state_->limits = limits;
  state_->open_accounts = genesis.open_accounts;
  state_->supply = genesis.total_supply();
  for (const GenesisAccount& g : genesis.accounts) {
    const uint32_t slot = state_->add_account(g.name, Account{g.balance, 0, g.owner});
    state_->touch(slot, 0);
  }
  state_->update_tree();
  state_->update_root(false);
  state_->assert_conservation();
}

Ledger::Ledger(std::unique_ptr<LedgerState> state) : state_(std::move(state)) {}
Ledger::~Ledger() = default;
Ledger::Ledger(const Ledger& other) : state_(std::make_unique<LedgerState>(*other.state_)) {}
Ledger& Ledger::operator=(const Ledger& other) {
  if (this != &other) state_ = std::make_unique<LedgerState>(*other.state_);
  return *this;
}
Ledger::Ledger(Ledger&&) noexcept = default;
Ledger& Ledger::operator=(Ledger&&) noexcept = default;

Result<BlockResult> Ledger::apply_block(uint64_t height,
                                        std::span<const Transaction> transactions) {
  LedgerState& s = *state_;
  if (height != s.height + 1) {
    return Error{"bad_height", fmt::format("block height {} does not follow the ledger height {}",
                                           height, s.height)};
  }
  if (transactions.size() > kMaxBlockTransactions) {
    return Error{"block_too_large", fmt::format("block of {} transactions exceeds the limit of {}",
                                                transactions.size(), kMaxBlockTransactions)};
  }
  BlockResult result;
  result.height = height;
  result.outcomes.reserve(transactions.size());
  Overlay overlay;
  std::optional<IntentEntry> compiled;
  bool intents_changed = false;
  for (size_t i = 0; i < transactions.size(); ++i) {
    const Transaction& tx = transactions[i];
    const auto index = static_cast<uint32_t>(i);
    const bool keyed = is_valid_client_id(tx.client_id);
    if (keyed) {
      if (std::optional<Outcome> original = s.find_record(tx.client_id, client_id_scope(tx))) {
        original->exists = true;
        result.outcomes.push_back(std::move(*original));
        continue;
      }
    }
    Verdict verdict = evaluate(s, tx, overlay, compiled);
    if (verdict.code == OutcomeCode::kCommitted) {
      commit_overlay(s, overlay, height);
      if (compiled) commit_deploy(s, std::move(*compiled), height);
      intents_changed |= compiled.has_value();
    }
    const bool takes_id = keyed && takes_client_id(tx, verdict);
    Outcome outcome{takes_id ? tx.client_id : derive_tx_id(tx, height, index, s.id_scratch),
                    takes_id ? std::string(client_id_scope(tx)) : std::string(),
                    height,
                    index,
                    verdict.code,
                    std::move(verdict.message),
                    verdict.failed_transfer,
                    false};
    s.remember(outcome);
    result.outcomes.push_back(std::move(outcome));
  }
  s.height = height;
  s.update_tree();
  s.update_root(intents_changed);
  s.forget_expired();
  // Each transaction's own check (commit_overlay) keeps the sum between full scans,
  // which cost O(accounts): about 20 ms a block with a million accounts.
  if (height % kConservationScanBlocks == 0) s.assert_conservation();
  result.root = s.root;
  return result;
}

Outcome Ledger::check(const Transaction& tx) const {
  const LedgerState& s = *state_;
  const bool keyed = is_valid_client_id(tx.client_id);
  if (keyed) {
    if (std::optional<Outcome> original = s.find_record(tx.client_id, client_id_scope(tx))) {
      original->exists = true;
      return std::move(*original);
    }
  }
  Overlay overlay;
  std::optional<IntentEntry> compiled;
  Verdict verdict = evaluate(s, tx, overlay, compiled);
  const bool takes_id = keyed && takes_client_id(tx, verdict);
  return Outcome{takes_id ? tx.client_id : std::string(),
                 takes_id ? std::string(client_id_scope(tx)) : std::string(),
                 s.height + 1,
                 0,
                 verdict.code,
                 std::move(verdict.message),
                 verdict.failed_transfer,
                 false};
}

uint64_t Ledger::height() const {
  return state_->height;
}
const Hash& Ledger::root() const {
  return state_->root;
}
const Hash& Ledger::accounts_root() const {
  return state_->tree.root();
}
std::optional<Hash> Ledger::intents_root() const {
  if (state_->intents.empty()) return std::nullopt;
  return state_->intents_root;
}
int64_t Ledger::total_supply() const {
  return state_->supply;
}
size_t Ledger::account_count() const {
  return state_->slots.size();
}
const Limits& Ledger::limits() const {
  return state_->limits;
}

std::optional<Account> Ledger::account(std::string_view name) const {
  const auto slot = state_->find_slot(name);
  if (!slot) return std::nullopt;
  return state_->account_at(*slot);
}

std::vector<std::pair<std::string, Account>> Ledger::accounts_page(std::string_view after,
                                                                   size_t limit) const {
  std::vector<std::pair<std::string, Account>> page;
  const LedgerState& s = *state_;
  if (limit == 0) return page;
  s.names.visit_after(
      after, [&s](uint32_t slot) { return s.name_of(slot); },
      [&](uint32_t slot) {
        page.emplace_back(s.slots[slot].name, s.account_at(slot));
        return page.size() < limit;
      });
  return page;
}

std::optional<Outcome> Ledger::find_transaction(std::string_view tx_id,
                                                std::optional<std::string_view> scope) const {
  return state_->find_record(tx_id, scope);
}

void Ledger::adopt_lattice_id(const Hash& lattice_id) {
  AETHEL_CHECK(state_->limits.lattice_id == Hash{});
  state_->limits.lattice_id = lattice_id;
}

bool Ledger::open_accounts() const {
  return state_->open_accounts;
}

size_t Ledger::remembered_transactions() const {
  return state_->records.size();
}

std::vector<DeployedIntent> Ledger::intents() const {
  std::vector<DeployedIntent> all;
  for (const auto& [name, entry] : state_->intents) all.push_back(entry.info);
  return all;
}

std::optional<DeployedIntent> Ledger::intent(std::string_view name) const {
  auto it = state_->intents.find(name);
  if (it == state_->intents.end()) return std::nullopt;
  return it->second.info;
}

Proof Ledger::prove(std::string_view name) const {
  const SparseMerkleTree::Walk walk = state_->tree.walk(account_key(name));
  Proof proof;
  proof.terminal = walk.terminal;
  proof.siblings = walk.siblings;
  if (walk.terminal == ProofTerminal::kOtherLeaf) {
    proof.other_key = walk.leaf_key;
    proof.other_account = state_->account_at(walk.payload);
  }
  return proof;
}

ProofDocument Ledger::prove_document(std::string_view name) const {
  return ProofDocument{root(),        intents_root(), height(), std::string(name),
                       account(name), prove(name)};
}

std::optional<Error> Ledger::check_invariants() const {
  const LedgerState& s = *state_;
  const auto fail = [](std::string message) {
    return std::optional<Error>(Error{"invariant_violated", std::move(message)});
  };
  int64_t sum = 0;
  std::vector<std::pair<std::string, Account>> all;
  all.reserve(s.slots.size());
  for (uint32_t slot = 0; slot < s.slots.size(); ++slot) {
    const Account account = s.account_at(slot);
    const std::string& name = s.slots[slot].name;
    if (account.balance < 0) return fail(fmt::format("{} has a negative balance", name));
    if (__builtin_add_overflow(sum, account.balance, &sum)) return fail("balances overflow");
    all.emplace_back(name, account);
  }
  if (sum != s.supply) return fail(fmt::format("balances sum to {}, supply is {}", sum, s.supply));
  size_t ordered = 0;
  std::string_view previous;
  s.names.visit_after(
      "", [&s](uint32_t slot) { return s.name_of(slot); },
      [&](uint32_t slot) {
        if (ordered > 0 && !(previous < s.name_of(slot))) return false;
        previous = s.name_of(slot);
        return ++ordered <= s.slots.size();
      });
  if (ordered != s.slots.size() || s.names.size() != s.slots.size()) {
    return fail("the order of account names and the slots disagree");
  }
  const Hash scratch = merkle_root_from_scratch(all);
  if (scratch != s.tree.root()) {
    return fail(fmt::format("incremental root {} differs from recomputed root {}",
                            to_hex(s.tree.root()), to_hex(scratch)));
  }
  if (s.root !=
      state_root(scratch, s.intents.empty() ? std::nullopt : std::optional(hash_intents(s)))) {
    return fail("the state root does not combine the accounts and intents roots");
  }
  return std::nullopt;
}

}  // namespace aethel::ledger
