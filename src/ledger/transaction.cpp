// Transactions: constructors, outcome codes, canonical encoding.
#include "ledger/bytes.h"
#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

constexpr uint8_t kTransactionEncodingVersion = 1;
// Decoding refuses fields longer than any valid transaction could carry plus slack,
// so hostile input cannot make the decoder allocate much. Invalid-but-bounded
// values (a 100-byte name) still decode, and are refused by the ledger with a reason.
constexpr uint32_t kMaxEncodedStringBytes = 1024;

void put_string(ByteWriter& out, std::string_view s) {
  out.u32(static_cast<uint32_t>(s.size()));
  out.bytes(s);
}

std::optional<std::string> get_string(ByteReader& in) {
  const uint32_t size = in.u32();
  if (!in.ok() || size > kMaxEncodedStringBytes) return std::nullopt;
  const std::string_view bytes = in.bytes(size);
  if (!in.ok()) return std::nullopt;
  return std::string(bytes);
}

}  // namespace

Transaction Transaction::transfer(std::string from, std::string to, int64_t amount,
                                  std::string client_id, std::string memo) {
  Transaction tx;
  tx.client_id = std::move(client_id);
  tx.kind = TxKind::kTransfer;
  tx.transfers.push_back({std::move(from), std::move(to), amount, std::move(memo)});
  return tx;
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
  }
  return "unknown";
}

std::string encode_transaction(const Transaction& tx) {
  ByteWriter out;
  append_transaction(out, tx);
  return out.take();
}

void append_transaction(ByteWriter& out, const Transaction& tx) {
  out.u8(kTransactionEncodingVersion);
  out.u8(static_cast<uint8_t>(tx.kind));
  put_string(out, tx.client_id);
  out.u32(static_cast<uint32_t>(tx.transfers.size()));
  for (const Transfer& t : tx.transfers) {
    put_string(out, t.from);
    put_string(out, t.to);
    out.i64(t.amount);
    put_string(out, t.memo);
  }
}

Result<Transaction> decode_transaction(std::string_view bytes) {
  const auto bad = [](std::string message) { return Error{"bad_transaction", std::move(message)}; };
  ByteReader in(bytes);
  const uint8_t version = in.u8();
  const uint8_t kind = in.u8();
  if (!in.ok()) return bad("transaction is shorter than its header");
  if (version != kTransactionEncodingVersion) {
    return bad("unsupported transaction encoding version " + std::to_string(version));
  }
  if (kind > static_cast<uint8_t>(TxKind::kAtomicBatch)) {
    return bad("unknown transaction kind " + std::to_string(kind));
  }
  Transaction tx;
  tx.kind = static_cast<TxKind>(kind);
  auto client_id = get_string(in);
  const uint32_t count = in.u32();
  if (!client_id || !in.ok()) return bad("transaction is truncated or has an oversized id");
  tx.client_id = std::move(*client_id);
  // Each transfer takes at least 20 bytes, which bounds `count` by the input size.
  if (count > kMaxBatchTransfers || count > in.remaining() / 20) {
    return bad("transaction claims " + std::to_string(count) + " transfers");
  }
  tx.transfers.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    Transfer t;
    auto from = get_string(in);
    auto to = get_string(in);
    t.amount = in.i64();
    auto memo = get_string(in);
    if (!from || !to || !memo || !in.ok()) {
      return bad("transfer " + std::to_string(i) + " is truncated or has an oversized field");
    }
    t.from = std::move(*from);
    t.to = std::move(*to);
    t.memo = std::move(*memo);
    tx.transfers.push_back(std::move(t));
  }
  if (!in.at_end())
    return bad("transaction has " + std::to_string(in.remaining()) + " trailing bytes");
  return tx;
}

}  // namespace aethel::ledger
