// Canonical snapshot bytes of a Ledger and their validating loader
// (layout: docs/LEDGER.md, "Snapshot format").
#include <fmt/format.h>

#include <algorithm>

#include "base/base.h"
#include "ledger/bytes.h"
#include "ledger/ledger.h"
#include "ledger/ledger_state.h"
#include "ledger/sha256.h"

namespace aethel::ledger {
namespace {

constexpr std::string_view kSnapshotMagic = "AETHLSNP";
// Version 2 adds the deployed intents; version 3 (written now) the lattice id, the
// open_accounts policy, account owners and the scopes of client ids. Versions 1 and 2
// are still read.
constexpr uint32_t kSnapshotVersion = 1;
constexpr uint32_t kSnapshotVersionWithIntents = 2;
constexpr uint32_t kSnapshotVersionWithOwners = 3;
// Smallest encodings (version 1): an account is 1+1+8+8 bytes, a record
// 1+1+8+4+1+4+2 bytes; later versions only add to them.
constexpr size_t kMinAccountBytes = 18;
constexpr size_t kMinRecordBytes = 21;

Error bad_snapshot(std::string message) {
  return Error{"bad_snapshot", std::move(message)};
}

// A remembered outcome, as snapshots (version 3) and encode_outcome write it.
void write_record(ByteWriter& out, const Outcome& r) {
  out.u8(static_cast<uint8_t>(r.tx_id.size()));
  out.bytes(r.tx_id);
  out.u8(static_cast<uint8_t>(r.scope.size()));
  out.bytes(r.scope);
  out.u64(r.height);
  out.u32(r.index);
  out.u8(static_cast<uint8_t>(r.code));
  out.u32(r.failed_transfer);
  out.u16(static_cast<uint16_t>(r.message.size()));
  out.bytes(r.message);
}

// Hands a snapshot's bytes to a sink in pieces of about kPieceBytes, so that a big
// snapshot never sits in memory whole, and appends the SHA-256 of everything before it.
class ChecksummedPieces {
 public:
  static constexpr size_t kPieceBytes = 1 << 20;

  explicit ChecksummedPieces(const std::function<void(std::string_view)>& sink) : sink_(sink) {}
  ByteWriter& writer() { return out_; }
  void maybe_flush() {
    if (out_.size() >= kPieceBytes) flush();
  }
  void finish() {
    flush();
    Hash sum;
    hash_.finish(sum.data());
    put_hash(out_, sum);
    sink_(out_.str());
  }

 private:
  void flush() {
    const std::string& piece = out_.str();
    hash_.update(reinterpret_cast<const uint8_t*>(piece.data()), piece.size());
    sink_(piece);
    out_.str().clear();
  }

  const std::function<void(std::string_view)>& sink_;
  Sha256Stream hash_;
  ByteWriter out_;
};

}  // namespace

// What a snapshot holds, copied out of a LedgerState (the outcomes shared with it).
struct FrozenState {
  uint64_t height = 0;
  int64_t supply = 0;
  Limits limits;
  bool open_accounts = true;
  Hash root{};
  // In slot order, copied sequentially: a copy in name order walked a million map
  // nodes on the consensus thread. serialize_to sorts them, on its own thread.
  std::vector<LedgerState::Slot> accounts;
  std::vector<PublicKey> owners;  // LedgerState::owners
  RecordLog records;
  std::vector<DeployedIntent> intents;  // by name
};

SnapshotSource Ledger::freeze() const {
  const LedgerState& s = *state_;
  AETHEL_CHECK(!s.tree.has_pending_changes());
  auto frozen = std::make_shared<FrozenState>();
  frozen->height = s.height;
  frozen->supply = s.supply;
  frozen->limits = s.limits;
  frozen->open_accounts = s.open_accounts;
  frozen->root = s.root;
  frozen->accounts = s.slots;
  frozen->owners = s.owners;
  frozen->records = s.records;
  for (const auto& [name, entry] : s.intents) frozen->intents.push_back(entry.info);
  return SnapshotSource(std::move(frozen));
}

std::string Ledger::serialize() const {
  return freeze().serialize();
}

void Ledger::share_outcomes_with(const Ledger& twin) {
  LedgerState& s = *state_;
  const LedgerState& t = *twin.state_;
  AETHEL_CHECK(s.height == t.height && s.root == t.root &&
               s.first_record_number == t.first_record_number);
  s.records.share_chunks_with(t.records);
}

uint64_t SnapshotSource::height() const {
  return state_->height;
}

std::string SnapshotSource::serialize() const {
  std::string bytes;
  serialize_to([&](std::string_view piece) { bytes.append(piece); });
  return bytes;
}

void SnapshotSource::serialize_to(const std::function<void(std::string_view)>& sink) const {
  const FrozenState& s = *state_;
  ChecksummedPieces out(sink);
  ByteWriter& w = out.writer();
  w.bytes(kSnapshotMagic);
  w.u32(kSnapshotVersionWithOwners);
  w.u64(s.height);
  w.i64(s.supply);
  w.u64(s.limits.tx_retention_blocks);
  w.u64(s.limits.tx_retention_count);
  w.u64(s.limits.max_accounts);
  put_hash(w, s.limits.lattice_id);
  w.u8(s.open_accounts ? 1 : 0);
  put_hash(w, s.root);
  std::vector<const LedgerState::Slot*> by_name;
  by_name.reserve(s.accounts.size());
  for (const LedgerState::Slot& slot : s.accounts) by_name.push_back(&slot);
  std::sort(by_name.begin(), by_name.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  w.u64(by_name.size());
  for (const LedgerState::Slot* slot : by_name) {
    w.u8(static_cast<uint8_t>(slot->name.size()));
    w.bytes(slot->name);
    w.i64(slot->balance);
    w.u64(slot->nonce);
    const bool owned = slot->owner != LedgerState::kNoOwner;
    w.u8(owned ? 1 : 0);
    if (owned) put_hash(w, s.owners[slot->owner]);
    out.maybe_flush();
  }
  w.u64(s.records.size());
  s.records.for_each([&](const Outcome& r) {
    write_record(w, r);
    out.maybe_flush();
  });
  w.u32(static_cast<uint32_t>(s.intents.size()));
  for (const DeployedIntent& intent : s.intents) {
    w.u32(intent.version);
    w.u64(intent.deployed_at_height);
    w.u16(static_cast<uint16_t>(intent.deployed_by.size()));
    w.bytes(intent.deployed_by);
    w.u32(static_cast<uint32_t>(intent.source.size()));
    w.bytes(intent.source);
  }
  out.finish();
}

namespace {

using base::Status;

constexpr size_t kChecksumBytes = 32;

// The snapshot without its trailing checksum, once the checksum matches.
Result<std::string_view> checked_body(std::string_view bytes) {
  constexpr size_t kHeaderBytes = 8 + 4 + 8 * 5 + 32;
  if (bytes.size() < kHeaderBytes + 16 + kChecksumBytes) {
    return bad_snapshot("snapshot is truncated");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  ByteReader checksum(bytes.substr(body.size()));
  if (sha256(body) != read_hash(checksum)) {
    return bad_snapshot("snapshot checksum mismatch (corrupt or truncated)");
  }
  return body;
}

// Magic, version, height, supply, limits and the recorded root.
Status read_header(ByteReader& in, LedgerState& s, Hash& recorded_root, uint32_t& version) {
  if (in.bytes(kSnapshotMagic.size()) != kSnapshotMagic) {
    return bad_snapshot("not a ledger snapshot (bad magic)");
  }
  version = in.u32();
  if (version < kSnapshotVersion || version > kSnapshotVersionWithOwners) {
    return Error{"unsupported_snapshot_version",
                 fmt::format("snapshot format version {} is not supported (this build reads 1-{})",
                             version, kSnapshotVersionWithOwners)};
  }
  s.height = in.u64();
  s.supply = in.i64();
  s.limits.tx_retention_blocks = in.u64();
  s.limits.tx_retention_count = in.u64();
  s.limits.max_accounts = in.u64();
  if (version >= kSnapshotVersionWithOwners) {
    s.limits.lattice_id = read_hash(in);
    const uint8_t open = in.u8();
    if (open > 1) return bad_snapshot(fmt::format("open_accounts flag is {}", open));
    s.open_accounts = open == 1;
  }
  recorded_root = read_hash(in);
  if (s.supply < 0) return bad_snapshot("negative supply");
  return {};
}

// An owner flag and key (version 3).
Status read_owner(ByteReader& in, Account& account) {
  const uint8_t has_owner = in.u8();
  if (has_owner > 1) return bad_snapshot(fmt::format("owner flag is {}", has_owner));
  if (has_owner == 1) account.owner = read_hash(in);
  return {};
}

// The accounts in strict name order; their balances must sum to the supply.
Status read_accounts(ByteReader& in, LedgerState& s, uint32_t version) {
  const uint64_t account_count = in.u64();
  if (!in.ok() || account_count == 0 || account_count > in.remaining() / kMinAccountBytes) {
    return bad_snapshot(fmt::format("bad account count {}", account_count));
  }
  if (account_count > s.limits.max_accounts && account_count > kMaxGenesisAccounts) {
    return bad_snapshot("more accounts than the snapshot's own limit");
  }
  s.slots.reserve(account_count);
  int64_t sum = 0;
  std::string previous;
  for (uint64_t i = 0; i < account_count; ++i) {
    const std::string_view name = in.bytes(in.u8());
    Account account{in.i64(), in.u64()};
    if (version >= kSnapshotVersionWithOwners) {
      if (Status owner = read_owner(in, account); !owner.ok()) return owner;
    }
    if (!in.ok()) return bad_snapshot("snapshot is truncated in its accounts");
    if (!is_valid_account_name(name))
      return bad_snapshot(fmt::format("account {} has a bad name", i));
    if (i > 0 && !(previous < name)) return bad_snapshot("accounts are not in strict name order");
    if (account.balance < 0) return bad_snapshot(fmt::format("account {} is negative", name));
    if (__builtin_add_overflow(sum, account.balance, &sum))
      return bad_snapshot("balances overflow");
    previous = std::string(name);
    s.add_account(name, account);
  }
  if (sum != s.supply) {
    return bad_snapshot(fmt::format("balances sum to {} but the supply is {}", sum, s.supply));
  }
  return {};
}

// Record number `i`: its fields, each within its bounds.
Status read_record(ByteReader& in, uint64_t i, Outcome& r, uint32_t version) {
  r.tx_id = std::string(in.bytes(in.u8()));
  if (version >= kSnapshotVersionWithOwners) r.scope = std::string(in.bytes(in.u8()));
  r.height = in.u64();
  r.index = in.u32();
  const uint8_t code = in.u8();
  r.failed_transfer = in.u32();
  r.message = std::string(in.bytes(in.u16()));
  if (!in.ok()) return bad_snapshot("snapshot is truncated in its transaction records");
  if (!is_valid_client_id(r.tx_id)) return bad_snapshot(fmt::format("record {} has a bad id", i));
  if (!r.scope.empty() && !is_valid_account_name(r.scope)) {
    return bad_snapshot(fmt::format("record {} has a bad scope", i));
  }
  if (code > kMaxOutcomeCode) return bad_snapshot(fmt::format("record {} has code {}", i, code));
  r.code = static_cast<OutcomeCode>(code);
  if (r.message.size() > kMaxOutcomeMessageBytes) return bad_snapshot("record message too long");
  return {};
}

}  // namespace

std::string encode_outcome(const Outcome& outcome) {
  ByteWriter out;
  write_record(out, outcome);
  return out.take();
}

Result<Outcome> decode_outcome(std::string_view bytes) {
  ByteReader in(bytes);
  Outcome outcome;
  Status read = read_record(in, 0, outcome, kSnapshotVersionWithOwners);
  if (!read.ok()) return Error{"bad_outcome", read.error().message};
  if (in.remaining() != 0) return Error{"bad_outcome", "trailing bytes after the outcome"};
  return outcome;
}

namespace {

// Record number `i` fits the state read so far: inside the retention window, and
// after the previous record in applied order.
Status check_record_place(const LedgerState& s, uint64_t i, const Outcome& r,
                          const Outcome* previous) {
  if (r.height == 0 || r.height > s.height || s.height - r.height >= s.limits.tx_retention_blocks) {
    return bad_snapshot(
        fmt::format("record {} has height {} outside the retention window", i, r.height));
  }
  if (previous != nullptr && (r.height < previous->height ||
                              (r.height == previous->height && r.index <= previous->index))) {
    return bad_snapshot("transaction records are not in applied order");
  }
  return {};
}

Status read_records(ByteReader& in, LedgerState& s, uint32_t version) {
  const uint64_t record_count = in.u64();
  if (!in.ok() || record_count > in.remaining() / kMinRecordBytes ||
      record_count > s.limits.tx_retention_count) {
    return bad_snapshot(fmt::format("bad record count {}", record_count));
  }
  AETHEL_CHECK(s.records.empty() && s.first_record_number == 0);  // record i is number i
  // Repeated ids are found through one index of all the records read: the state's index
  // of derived ids (GenerationIndex) answers a new id only after probing every generation.
  FlatIndex seen;
  seen.reserve(record_count);
  Outcome previous;
  for (uint64_t i = 0; i < record_count; ++i) {
    Outcome r;
    if (Status read = read_record(in, i, r, version); !read.ok()) return read;
    Status placed = check_record_place(s, i, r, i == 0 ? nullptr : &previous);
    if (!placed.ok()) return placed;
    const uint64_t hash = LedgerState::text_hash(r.tx_id);
    const auto same_id = [&](uint64_t n) { return s.records.matches(n, r.tx_id, r.scope); };
    if (seen.find(hash, same_id) != FlatIndex::kAbsent) {
      return bad_snapshot("transaction record ids repeat");
    }
    s.remember(r);
    seen.insert(hash, i);
    previous = std::move(r);
  }
  return {};
}

// The deployed intents in strict name order, each compiled again as at deployment.
Status read_intents(ByteReader& in, LedgerState& s, uint32_t snapshot_version) {
  const uint32_t count = in.u32();
  // Version 2 wrote the section only for a ledger with intents; version 3 always.
  const bool may_be_empty = snapshot_version >= kSnapshotVersionWithOwners;
  if (!in.ok() || (count == 0 && !may_be_empty) || count > kMaxDeployedIntents) {
    return bad_snapshot(fmt::format("bad intent count {}", count));
  }
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t version = in.u32();
    const uint64_t height = in.u64();
    const std::string_view deployed_by = in.bytes(in.u16());
    const uint32_t source_bytes = in.u32();
    if (!in.ok() || source_bytes > kMaxIntentSourceBytes) {
      return bad_snapshot("snapshot is truncated in its intents");
    }
    const std::string_view source = in.bytes(source_bytes);
    if (!in.ok()) return bad_snapshot("snapshot is truncated in its intents");
    Result<IntentEntry> entry = compile_intent(source, std::string(deployed_by));
    if (!entry.ok()) {
      return bad_snapshot(fmt::format("intent {} does not compile: {}", i, entry.error().message));
    }
    IntentEntry& e = entry.value();
    if (version == 0 || height == 0 || height > s.height) {
      return bad_snapshot(
          fmt::format("intent {} has version {} at height {}", e.info.name, version, height));
    }
    if (!s.intents.empty() && !(s.intents.rbegin()->first < e.info.name)) {
      return bad_snapshot("intents are not in strict name order");
    }
    e.info.version = version;
    e.info.deployed_at_height = height;
    s.intents.emplace(e.info.name, std::move(e));
  }
  return {};
}

// Builds the Merkle tree of the accounts read; the state root must be the recorded one.
Status check_root(LedgerState& s, const Hash& recorded_root) {
  for (uint32_t slot = 0; slot < s.slots.size(); ++slot) s.touch(slot, s.height);
  s.update_tree();
  s.update_root(true);
  if (s.root != recorded_root) {
    return bad_snapshot(fmt::format("recomputed root {} differs from the recorded root {}",
                                    to_hex(s.root), to_hex(recorded_root)));
  }
  return {};
}

}  // namespace

Result<Ledger> Ledger::deserialize(std::string_view bytes) {
  const Result<std::string_view> body = checked_body(bytes);
  if (!body.ok()) return body.error();
  ByteReader in(body.value());
  auto state = std::make_unique<LedgerState>();
  Hash recorded_root{};
  uint32_t version = 0;
  if (Status header = read_header(in, *state, recorded_root, version); !header.ok()) {
    return header.error();
  }
  if (Status accounts = read_accounts(in, *state, version); !accounts.ok()) {
    return accounts.error();
  }
  if (Status records = read_records(in, *state, version); !records.ok()) return records.error();
  if (version >= kSnapshotVersionWithIntents) {
    if (Status intents = read_intents(in, *state, version); !intents.ok()) return intents.error();
  }
  if (!in.at_end()) return bad_snapshot("snapshot has trailing bytes");
  if (Status root = check_root(*state, recorded_root); !root.ok()) return root.error();
  return Ledger(std::move(state));
}

}  // namespace aethel::ledger
