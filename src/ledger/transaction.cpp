// Transactions: constructors, outcome codes, canonical encoding.
#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "ledger/bytes.h"
#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

// Version 1 holds transfers only; version 2 (written only when needed, so that a
// transfer's bytes and derived id never change) adds invocations and deployments.
constexpr uint8_t kTransactionEncodingVersion = 1;
constexpr uint8_t kIntentEncodingVersion = 2;
// Version 3 (written only when an item carries a nonce, signature or owner, or the
// kind needs them) is version 2 with each item followed by its authorization.
constexpr uint8_t kSignedEncodingVersion = 3;
constexpr uint8_t kHasNonce = 1;
constexpr uint8_t kHasSignature = 2;
constexpr uint8_t kHasOwner = 4;
constexpr std::string_view kSigningDomain = "aethel/sig/v1";
constexpr uint8_t kItemTransfer = 0;
constexpr uint8_t kItemInvocation = 1;
// Decoding refuses fields longer than any valid transaction could carry plus slack,
// so hostile input cannot make the decoder allocate much. Invalid-but-bounded
// values (a 100-byte name) still decode, and are refused by the ledger with a reason.
constexpr uint32_t kMaxEncodedStringBytes = 1024;

void put_string(ByteWriter& out, std::string_view s) {
  out.u32(static_cast<uint32_t>(s.size()));
  out.bytes(s);
}

std::optional<std::string> get_string(ByteReader& in, uint32_t max_bytes = kMaxEncodedStringBytes) {
  const uint32_t size = in.u32();
  if (!in.ok() || size > max_bytes) return std::nullopt;
  const std::string_view bytes = in.bytes(size);
  if (!in.ok()) return std::nullopt;
  return std::string(bytes);
}

// libsodium must be initialised once before use; sodium_init is idempotent and
// thread-safe, and this static runs it exactly once.
void require_sodium() {
  static const bool ready = sodium_init() >= 0;
  AETHEL_CHECK(ready);
}

bool needs_signed_encoding(const Transaction& tx) {
  if (tx.kind == TxKind::kOpenAccount || tx.kind == TxKind::kSetOwner) return true;
  return std::any_of(tx.transfers.begin(), tx.transfers.end(),
                     [](const Transfer& t) { return t.signed_item(); });
}

bool needs_intent_encoding(const Transaction& tx) {
  if (tx.kind == TxKind::kDeploy) return true;
  return std::any_of(tx.transfers.begin(), tx.transfers.end(),
                     [](const Transfer& t) { return t.invocation.has_value(); });
}

uint8_t encoding_version(const Transaction& tx) {
  if (needs_signed_encoding(tx)) return kSignedEncodingVersion;
  return needs_intent_encoding(tx) ? kIntentEncodingVersion : kTransactionEncodingVersion;
}

void put_authorization(ByteWriter& out, const Transfer& t) {
  out.u8(static_cast<uint8_t>((t.nonce ? kHasNonce : 0) | (t.signature ? kHasSignature : 0) |
                              (t.owner ? kHasOwner : 0)));
  if (t.nonce) out.u64(*t.nonce);
  if (t.signature) out.bytes(std::span<const uint8_t>(*t.signature));
  if (t.owner) out.bytes(std::span<const uint8_t>(*t.owner));
}

template <size_t N>
std::array<uint8_t, N> read_array(ByteReader& in) {
  std::array<uint8_t, N> out{};
  const std::string_view bytes = in.bytes(N);
  if (in.ok()) std::memcpy(out.data(), bytes.data(), N);
  return out;
}

bool get_authorization(ByteReader& in, Transfer& t) {
  const uint8_t flags = in.u8();
  if (!in.ok() || (flags & ~(kHasNonce | kHasSignature | kHasOwner)) != 0) return false;
  if (flags & kHasNonce) t.nonce = in.u64();
  if (flags & kHasSignature) t.signature = read_array<64>(in);
  if (flags & kHasOwner) t.owner = read_array<32>(in);
  return in.ok();
}

void put_transfer(ByteWriter& out, const Transfer& t) {
  put_string(out, t.from);
  put_string(out, t.to);
  out.i64(t.amount);
  put_string(out, t.memo);
}

void put_item(ByteWriter& out, const Transfer& t) {
  if (!t.invocation) {
    out.u8(kItemTransfer);
    put_transfer(out, t);
    return;
  }
  out.u8(kItemInvocation);
  put_string(out, t.invocation->intent);
  put_string(out, t.memo);
  out.u32(static_cast<uint32_t>(t.invocation->arguments.size()));
  for (const auto& [name, value] : t.invocation->arguments) {
    put_string(out, name);
    put_string(out, value);
  }
}

std::optional<Transfer> get_transfer(ByteReader& in) {
  Transfer t;
  auto from = get_string(in);
  auto to = get_string(in);
  t.amount = in.i64();
  auto memo = get_string(in);
  if (!from || !to || !memo || !in.ok()) return std::nullopt;
  t.from = std::move(*from);
  t.to = std::move(*to);
  t.memo = std::move(*memo);
  return t;
}

std::optional<Transfer> get_invocation(ByteReader& in) {
  Transfer t;
  t.invocation.emplace();
  auto intent = get_string(in);
  auto memo = get_string(in);
  const uint32_t count = in.u32();
  if (!intent || !memo || !in.ok() || count > kMaxIntentArguments) return std::nullopt;
  t.invocation->intent = std::move(*intent);
  t.memo = std::move(*memo);
  for (uint32_t i = 0; i < count; ++i) {
    auto name = get_string(in);
    auto value = get_string(in);
    if (!name || !value) return std::nullopt;
    t.invocation->arguments.emplace_back(std::move(*name), std::move(*value));
  }
  return t;
}

std::optional<Transfer> get_tagged_item(ByteReader& in) {
  const uint8_t tag = in.u8();
  if (!in.ok()) return std::nullopt;
  if (tag == kItemTransfer) return get_transfer(in);
  if (tag == kItemInvocation) return get_invocation(in);
  return std::nullopt;
}

std::optional<Transfer> get_item(ByteReader& in, uint8_t version) {
  if (version == kTransactionEncodingVersion) return get_transfer(in);
  std::optional<Transfer> item = get_tagged_item(in);
  if (item && version == kSignedEncodingVersion && !get_authorization(in, *item)) {
    return std::nullopt;
  }
  return item;
}

}  // namespace

Transaction Transaction::invoke(Invocation invocation, std::string client_id, std::string memo) {
  Transaction tx;
  tx.client_id = std::move(client_id);
  tx.kind = TxKind::kTransfer;
  Transfer item;
  item.memo = std::move(memo);
  item.invocation = std::move(invocation);
  tx.transfers.push_back(std::move(item));
  return tx;
}

Transaction Transaction::deploy(std::string source, std::string deployed_by,
                                std::string client_id) {
  Transaction tx;
  tx.client_id = std::move(client_id);
  tx.kind = TxKind::kDeploy;
  tx.intent_source = std::move(source);
  tx.deployed_by = std::move(deployed_by);
  return tx;
}

Transaction Transaction::transfer(std::string from, std::string to, int64_t amount,
                                  std::string client_id, std::string memo) {
  Transaction tx;
  tx.client_id = std::move(client_id);
  tx.kind = TxKind::kTransfer;
  tx.transfers.push_back({std::move(from), std::move(to), amount, std::move(memo), std::nullopt});
  return tx;
}

Transaction Transaction::open_account(std::string name, const PublicKey& owner,
                                      std::string client_id) {
  Transaction tx;
  tx.client_id = std::move(client_id);
  tx.kind = TxKind::kOpenAccount;
  Transfer item;
  item.to = std::move(name);
  item.owner = owner;
  tx.transfers.push_back(std::move(item));
  return tx;
}

Transaction Transaction::set_owner(std::string name, const PublicKey& new_owner, uint64_t nonce,
                                   std::string client_id) {
  Transaction tx;
  tx.client_id = std::move(client_id);
  tx.kind = TxKind::kSetOwner;
  Transfer item;
  item.from = std::move(name);
  item.owner = new_owner;
  item.nonce = nonce;
  tx.transfers.push_back(std::move(item));
  return tx;
}

std::string_view client_id_scope(const Transaction& tx) {
  if (tx.transfers.empty() || tx.transfers.front().invocation) return {};
  if (tx.kind == TxKind::kOpenAccount) return tx.transfers.front().to;
  return tx.transfers.front().from;
}

std::string signing_bytes(const Hash& lattice_id, const Transaction& tx, size_t item) {
  const Transfer& t = tx.transfers.at(item);
  ByteWriter out;
  out.bytes(kSigningDomain);
  put_hash(out, lattice_id);
  out.u8(static_cast<uint8_t>(tx.kind));
  put_string(out, tx.client_id);
  out.u64(t.nonce.value_or(0));
  put_item(out, t);
  out.u8(t.owner ? 1 : 0);
  if (t.owner) out.bytes(std::span<const uint8_t>(*t.owner));
  return out.take();
}

bool signature_valid(const PublicKey& owner, const Hash& lattice_id, const Transaction& tx,
                     size_t item) {
  const std::optional<Signature>& signature = tx.transfers.at(item).signature;
  if (!signature) return false;
  require_sodium();
  const std::string message = signing_bytes(lattice_id, tx, item);
  return crypto_sign_verify_detached(signature->data(),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), owner.data()) == 0;
}

KeyPair key_pair_from_seed(const std::array<uint8_t, 32>& seed) {
  require_sodium();
  KeyPair key;
  key.seed = seed;
  crypto_sign_seed_keypair(key.public_key.data(), key.secret_key.data(), seed.data());
  return key;
}

void sign_item(const KeyPair& key, const Hash& lattice_id, Transaction& tx, size_t item) {
  const std::string message = signing_bytes(lattice_id, tx, item);
  Signature signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       key.secret_key.data());
  tx.transfers.at(item).signature = signature;
}

Transaction Transaction::batch(std::vector<Transfer> transfers, std::string client_id) {
  Transaction tx;
  tx.client_id = std::move(client_id);
  tx.kind = TxKind::kAtomicBatch;
  tx.transfers = std::move(transfers);
  return tx;
}

const char* to_string(OutcomeCode code) {
  switch (code) {
    case OutcomeCode::kCommitted:
      return "committed";
    case OutcomeCode::kInvalidAmount:
      return "invalid_amount";
    case OutcomeCode::kInvalidName:
      return "invalid_name";
    case OutcomeCode::kUnknownAccount:
      return "unknown_account";
    case OutcomeCode::kInsufficientFunds:
      return "insufficient_funds";
    case OutcomeCode::kSelfTransfer:
      return "self_transfer";
    case OutcomeCode::kOverflow:
      return "overflow";
    case OutcomeCode::kInvalidTransaction:
      return "invalid_transaction";
    case OutcomeCode::kAccountLimit:
      return "account_limit";
    case OutcomeCode::kGuardFailed:
      return "guard_failed";
    case OutcomeCode::kUnknownIntent:
      return "unknown_intent";
    case OutcomeCode::kInvalidArguments:
      return "invalid_arguments";
    case OutcomeCode::kInvalidIntent:
      return "invalid_intent";
    case OutcomeCode::kInvariantBreach:
      return "invariant_breach";
    case OutcomeCode::kUnauthorized:
      return "unauthorized";
    case OutcomeCode::kBadNonce:
      return "bad_nonce";
    case OutcomeCode::kAccountExists:
      return "account_exists";
  }
  return "unknown";
}

std::string encode_transaction(const Transaction& tx) {
  ByteWriter out;
  append_transaction(out, tx);
  return out.take();
}

void append_transaction(ByteWriter& out, const Transaction& tx) {
  const uint8_t version = encoding_version(tx);
  const bool intents = version != kTransactionEncodingVersion;
  out.u8(version);
  out.u8(static_cast<uint8_t>(tx.kind));
  put_string(out, tx.client_id);
  out.u32(static_cast<uint32_t>(tx.transfers.size()));
  for (const Transfer& t : tx.transfers) {
    if (!intents) {
      put_transfer(out, t);
      continue;
    }
    put_item(out, t);
    if (version == kSignedEncodingVersion) put_authorization(out, t);
  }
  if (intents) {
    put_string(out, tx.intent_source);
    put_string(out, tx.deployed_by);
  }
}

Result<Transaction> decode_transaction(std::string_view bytes) {
  const auto bad = [](std::string message) { return Error{"bad_transaction", std::move(message)}; };
  ByteReader in(bytes);
  const uint8_t version = in.u8();
  const uint8_t kind = in.u8();
  if (!in.ok()) return bad("transaction is shorter than its header");
  if (version < kTransactionEncodingVersion || version > kSignedEncodingVersion) {
    return bad("unsupported transaction encoding version " + std::to_string(version));
  }
  const TxKind max_kind = version == kSignedEncodingVersion   ? TxKind::kSetOwner
                          : version == kIntentEncodingVersion ? TxKind::kDeploy
                                                              : TxKind::kAtomicBatch;
  if (kind > static_cast<uint8_t>(max_kind)) {
    return bad("unknown transaction kind " + std::to_string(kind));
  }
  Transaction tx;
  tx.kind = static_cast<TxKind>(kind);
  auto client_id = get_string(in);
  const uint32_t count = in.u32();
  if (!client_id || !in.ok()) return bad("transaction is truncated or has an oversized id");
  tx.client_id = std::move(*client_id);
  // Each transfer takes at least 20 bytes (an invocation 13), which bounds `count`
  // by the input size.
  const size_t min_item_bytes = version == kTransactionEncodingVersion ? 20 : 13;
  if (count > kMaxBatchTransfers || count > in.remaining() / min_item_bytes) {
    return bad("transaction claims " + std::to_string(count) + " transfers");
  }
  tx.transfers.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    auto item = get_item(in, version);
    if (!item) {
      return bad("transfer " + std::to_string(i) + " is truncated or has an oversized field");
    }
    tx.transfers.push_back(std::move(*item));
  }
  if (version != kTransactionEncodingVersion) {
    auto source = get_string(in, kMaxIntentSourceBytes);
    auto deployed_by = get_string(in);
    if (!source || !deployed_by) return bad("deployment is truncated or has an oversized field");
    tx.intent_source = std::move(*source);
    tx.deployed_by = std::move(*deployed_by);
  }
  if (encoding_version(tx) != version) {
    return bad(fmt::format("version {} encoding of a transaction that version {} encodes", version,
                           encoding_version(tx)));
  }
  if (!in.at_end())
    return bad("transaction has " + std::to_string(in.remaining()) + " trailing bytes");
  return tx;
}

}  // namespace aethel::ledger
