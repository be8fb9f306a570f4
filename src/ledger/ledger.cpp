// The Ledger: applying blocks, idempotency, lookups, proofs.
#include "ledger/ledger.h"

#include <fmt/format.h>

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

std::optional<Verdict> check_shape(const Transaction& tx) {
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

// One transfer against the overlay: the checks of SPEC §5, in a fixed order.
std::optional<Verdict> run_transfer(const LedgerState& state, Overlay& overlay, const Transfer& t,
                                    size_t index) {
  if (t.invocation) return run_invocation(state, overlay, *t.invocation, index);
  if (!is_valid_account_name(t.from)) {
    return refuse(OutcomeCode::kInvalidName,
                  fmt::format("sender name ({} bytes) is not 1-{} characters of A-Z a-z 0-9 _ . -",
                              t.from.size(), kMaxAccountNameBytes),
                  index);
  }
  if (!is_valid_account_name(t.to)) {
    return refuse(
        OutcomeCode::kInvalidName,
        fmt::format("receiver name ({} bytes) is not 1-{} characters of A-Z a-z 0-9 _ . -",
                    t.to.size(), kMaxAccountNameBytes),
        index);
  }
  if (t.amount <= 0) {
    return refuse(OutcomeCode::kInvalidAmount,
                  fmt::format("amount must be a positive integer, got {}", t.amount), index);
  }
  if (t.from == t.to) {
    return refuse(OutcomeCode::kSelfTransfer,
                  fmt::format("sender and receiver are both {}", t.from), index);
  }
  const auto sender = overlay.find(state, t.from);
  if (!sender) {
    return refuse(OutcomeCode::kUnknownAccount, fmt::format("sender {} does not exist", t.from),
                  index);
  }
  auto receiver = overlay.find(state, t.to);
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
  const bool batch = tx.kind == TxKind::kAtomicBatch;
  for (size_t i = 0; i < tx.transfers.size(); ++i) {
    if (auto failure = run_transfer(state, overlay, tx.transfers[i], i)) {
      if (batch) {
        failure->message = fmt::format("transfer {} of {} in the batch: {}; nothing was applied",
                                       i + 1, tx.transfers.size(), failure->message);
      }
      return *failure;
    }
  }
  return Verdict{};
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
      s.slots[slot].account = entry.after;
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

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

LedgerState::LedgerState(const LedgerState& other)
    : limits(other.limits),
      supply(other.supply),
      height(other.height),
      slots(other.slots),
      by_name(other.by_name),
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
  slot_index.reserve(by_name.size());
  for (const auto& [name, slot] : by_name) slot_index.insert(text_hash(name), slot);
  record_index.clear();
  record_index.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    record_index.insert(text_hash(records[i].tx_id), first_record_number + i);
  }
}

std::optional<uint32_t> LedgerState::find_slot(std::string_view name) const {
  const uint64_t slot = slot_index.find(
      text_hash(name), [&](uint64_t candidate) { return slots[candidate].name == name; });
  if (slot == FlatIndex::kAbsent) return std::nullopt;
  return static_cast<uint32_t>(slot);
}

const Outcome* LedgerState::find_record(std::string_view tx_id) const {
  const uint64_t number = record_index.find(text_hash(tx_id), [&](uint64_t candidate) {
    return records[candidate - first_record_number].tx_id == tx_id;
  });
  if (number == FlatIndex::kAbsent) return nullptr;
  return &records[number - first_record_number];
}

uint32_t LedgerState::add_account(std::string_view name, const Account& account) {
  AETHEL_CHECK(slots.size() < kNoSlot);
  const auto slot = static_cast<uint32_t>(slots.size());
  const auto [it, inserted] = by_name.emplace(std::string(name), slot);
  AETHEL_CHECK(inserted);
  slot_index.insert(text_hash(name), slot);
  const Hash key = account_key(name);
  slots.push_back({it->first, account, key, SparseMerkleTree::kNone, kNeverTouched});
  return slot;
}

void LedgerState::touch(uint32_t slot, uint64_t block_height) {
  if (slots[slot].touched_at_height == block_height) return;
  slots[slot].touched_at_height = block_height;
  touched.push_back(slot);
}

void LedgerState::update_tree() {
  for (uint32_t slot : touched) {
    Slot& s = slots[slot];
    const Hash leaf = leaf_hash(s.key, s.account);
    if (s.leaf == SparseMerkleTree::kNone) {
      s.leaf = tree.insert(s.key, leaf, slot);
    } else {
      tree.update(s.leaf, leaf);
    }
  }
  touched.clear();
  tree.commit();
}

void LedgerState::update_root(bool intents_changed) {
  if (intents_changed) intents_root = hash_intents(*this);
  root = state_root(tree.root(), intents.empty() ? std::nullopt : std::optional(intents_root));
}

void LedgerState::remember(Outcome outcome) {
  AETHEL_CHECK(outcome.message.size() <= kMaxOutcomeMessageBytes);
  // Ids are unique here: a client id was looked up by the caller, and a derived id
  // hashes its own height and index.
  const uint64_t number = first_record_number + records.size();
  record_index.insert(text_hash(outcome.tx_id), number);
  records.push_back(std::move(outcome));
}

void LedgerState::forget_expired() {
  while (!records.empty() && (height - records.front().height >= limits.tx_retention_blocks ||
                              records.size() > limits.tx_retention_count)) {
    const uint64_t oldest = first_record_number;
    const bool erased = record_index.erase(text_hash(records.front().tx_id),
                                           [&](uint64_t number) { return number == oldest; });
    AETHEL_CHECK(erased);
    records.pop_front();
    ++first_record_number;
  }
}

void LedgerState::assert_conservation() const {
  int64_t sum = 0;
  for (const Slot& s : slots) {
    AETHEL_CHECK(s.account.balance >= 0);
    AETHEL_CHECK(!__builtin_add_overflow(sum, s.account.balance, &sum));
  }
  AETHEL_CHECK(sum == supply);
}

// ---------------------------------------------------------------------------
// Ledger
// ---------------------------------------------------------------------------

Ledger::Ledger(const Genesis& genesis, Limits limits) : state_(std::make_unique<LedgerState>()) {
  AETHEL_CHECK(make_genesis(genesis.accounts).ok());  // built by make/parse_genesis
  state_->limits = limits;
  state_->supply = genesis.total_supply();
  for (const GenesisAccount& g : genesis.accounts) {
    const uint32_t slot = state_->add_account(g.name, Account{g.balance, 0});
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
      if (const Outcome* record = s.find_record(tx.client_id)) {
        Outcome original = *record;
        original.exists = true;
        result.outcomes.push_back(std::move(original));
        continue;
      }
    }
    Verdict verdict = evaluate(s, tx, overlay, compiled);
    if (verdict.code == OutcomeCode::kCommitted) {
      commit_overlay(s, overlay, height);
      if (compiled) commit_deploy(s, std::move(*compiled), height);
      intents_changed |= compiled.has_value();
    }
    Outcome outcome{keyed ? tx.client_id : derive_tx_id(tx, height, index, s.id_scratch),
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
  s.assert_conservation();
  result.root = s.root;
  return result;
}

Outcome Ledger::check(const Transaction& tx) const {
  const LedgerState& s = *state_;
  const bool keyed = is_valid_client_id(tx.client_id);
  if (keyed) {
    if (const Outcome* record = s.find_record(tx.client_id)) {
      Outcome original = *record;
      original.exists = true;
      return original;
    }
  }
  Overlay overlay;
  std::optional<IntentEntry> compiled;
  Verdict verdict = evaluate(s, tx, overlay, compiled);
  return Outcome{keyed ? tx.client_id : std::string(),
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
  return state_->slots[*slot].account;
}

std::vector<std::pair<std::string, Account>> Ledger::accounts_page(std::string_view after,
                                                                   size_t limit) const {
  std::vector<std::pair<std::string, Account>> page;
  const auto& by_name = state_->by_name;
  auto it = after.empty() ? by_name.begin() : by_name.upper_bound(after);
  for (; it != by_name.end() && page.size() < limit; ++it) {
    page.emplace_back(it->first, state_->slots[it->second].account);
  }
  return page;
}

std::optional<Outcome> Ledger::find_transaction(std::string_view tx_id) const {
  const Outcome* record = state_->find_record(tx_id);
  if (record == nullptr) return std::nullopt;
  return *record;
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
    proof.other_account = state_->slots[walk.payload].account;
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
  for (const auto& [name, slot] : s.by_name) {
    const Account& account = s.slots[slot].account;
    if (account.balance < 0) return fail(fmt::format("{} has a negative balance", name));
    if (__builtin_add_overflow(sum, account.balance, &sum)) return fail("balances overflow");
    all.emplace_back(name, account);
  }
  if (sum != s.supply) return fail(fmt::format("balances sum to {}, supply is {}", sum, s.supply));
  if (s.by_name.size() != s.slots.size()) return fail("account index and slots disagree");
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
