#include "node/block.h"

#include <fmt/format.h>

namespace aethel::node {
namespace {

constexpr uint8_t kBlockVersion = 1;
constexpr size_t kForwardReplyPayloadBytes = 8 + 1 + 8 + 8 + 4;
constexpr uint8_t kReplyHasError = 1;
constexpr uint8_t kReplyHasKnown = 2;
constexpr size_t kMaxErrorCodeBytes = 64;
constexpr size_t kMaxErrorMessageBytes = 4096;
constexpr size_t kMaxOutcomeBytes = 4096;

Error bad_block(const std::string& why) {
  return Error{"bad_block", "stored block: " + why};
}

std::string with_kind(EnvelopeKind kind, std::string_view payload) {
  std::string out(1, static_cast<char>(kind));
  out += payload;
  return out;
}

}  // namespace

std::string encode_block(const Block& block) {
  base::ByteWriter out;
  out.u8(kBlockVersion);
  out.u64(block.height);
  out.bytes(std::span<const uint8_t>(block.prev_root));
  out.u32(static_cast<uint32_t>(block.transactions.size()));
  for (const ledger::Transaction& tx : block.transactions) {
    out.string32(ledger::encode_transaction(tx));
  }
  return out.take();
}

Result<Block> decode_block(std::string_view bytes) {
  base::ByteReader in(bytes);
  uint8_t version = in.u8();
  if (!in.ok()) return bad_block("truncated header");
  if (version != kBlockVersion) return bad_block(fmt::format("unknown version {}", version));
  Block block;
  block.height = in.u64();
  std::string_view prev_root = in.bytes(block.prev_root.size());
  uint32_t count = in.u32();
  if (!in.ok()) return bad_block("truncated header");
  std::copy(prev_root.begin(), prev_root.end(), reinterpret_cast<char*>(block.prev_root.data()));
  if (count > ledger::kMaxBlockTransactions) return bad_block("too many transactions");
  block.transactions.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view encoded = in.string32(bytes.size());
    if (!in.ok()) return bad_block("truncated transaction");
    auto tx = ledger::decode_transaction(encoded);
    if (!tx.ok()) return bad_block(tx.error().message);
    block.transactions.push_back(std::move(tx).value());
  }
  if (!in.at_end()) return bad_block("trailing bytes");
  return block;
}

std::string encode_entry(const std::vector<ledger::Transaction>& transactions) {
  return encode_block(Block{0, {}, transactions});
}

std::string raft_envelope(std::string_view encoded_message) {
  return with_kind(EnvelopeKind::kRaft, encoded_message);
}

std::string forward_envelope(uint64_t request_id, const std::vector<ledger::Transaction>& txs) {
  base::ByteWriter out;
  out.u8(static_cast<uint8_t>(EnvelopeKind::kForward));
  out.u64(request_id);
  out.bytes(encode_entry(txs));
  return out.take();
}

std::string forward_reply_envelope(const ForwardReply& reply) {
  base::ByteWriter out;
  out.u8(static_cast<uint8_t>(EnvelopeKind::kForwardReply));
  out.u64(reply.request_id);
  out.u8(reply.accepted ? 1 : 0);
  out.u64(reply.term);
  out.u64(reply.index);
  out.u32(reply.offset);
  if (reply.known.empty() && !reply.error) return out.take();
  out.u8((reply.error ? kReplyHasError : 0) | (reply.known.empty() ? 0 : kReplyHasKnown));
  if (reply.error) {
    out.string32(reply.error->code);
    out.string32(reply.error->message);
  }
  if (!reply.known.empty()) {
    out.u32(static_cast<uint32_t>(reply.known.size()));
    for (const std::optional<ledger::Outcome>& outcome : reply.known) {
      out.u8(outcome ? 1 : 0);
      if (outcome) out.string32(ledger::encode_outcome(*outcome));
    }
  }
  return out.take();
}

std::string probe_envelope() {
  return with_kind(EnvelopeKind::kProbe, {});
}

std::string probe_reply_envelope(const ProbeReply& reply) {
  base::ByteWriter out;
  out.u8(static_cast<uint8_t>(EnvelopeKind::kProbeReply));
  out.u64(reply.term);
  out.u64(reply.last.term);
  out.u64(reply.last.index);
  out.u32(static_cast<uint32_t>(reply.voters.size()));
  for (const std::string& voter : reply.voters) out.string32(voter);
  return out.take();
}

std::optional<ProbeReply> decode_probe_reply(std::string_view payload) {
  base::ByteReader in(payload);
  ProbeReply reply;
  reply.term = in.u64();
  reply.last = consensus::LogPosition{in.u64(), in.u64()};
  uint32_t voters = in.u32();
  if (!in.ok() || voters > consensus::kMaxVoters) return std::nullopt;
  for (uint32_t i = 0; i < voters && in.ok(); ++i) reply.voters.emplace_back(in.string32(128));
  if (!in.ok() || !in.at_end()) return std::nullopt;
  return reply;
}

std::optional<Forward> decode_forward(std::string_view payload) {
  base::ByteReader in(payload);
  Forward forward;
  forward.request_id = in.u64();
  if (!in.ok()) return std::nullopt;
  auto block = decode_block(in.rest());
  if (!block.ok() || block.value().transactions.empty()) return std::nullopt;
  forward.transactions = std::move(block.value().transactions);
  return forward;
}

namespace {

// The admission's additions to a ForwardReply; false for anything malformed.
bool read_admission(base::ByteReader& in, ForwardReply& reply) {
  const uint8_t flags = in.u8();
  if (!in.ok() || flags == 0 || (flags & ~(kReplyHasError | kReplyHasKnown)) != 0) return false;
  if ((flags & kReplyHasError) != 0) {
    std::string code(in.string32(kMaxErrorCodeBytes));
    std::string message(in.string32(kMaxErrorMessageBytes));
    reply.error = Error{std::move(code), std::move(message)};
  }
  if ((flags & kReplyHasKnown) != 0) {
    const uint32_t count = in.u32();
    if (!in.ok() || count == 0 || count > ledger::kMaxBlockTransactions) return false;
    for (uint32_t i = 0; i < count && in.ok(); ++i) {
      if (in.u8() == 0) {
        reply.known.emplace_back();
        continue;
      }
      auto outcome = ledger::decode_outcome(in.string32(kMaxOutcomeBytes));
      if (!outcome.ok()) return false;
      outcome.value().exists = true;
      reply.known.emplace_back(std::move(outcome).value());
    }
  }
  return in.ok() && in.at_end();
}

}  // namespace

std::optional<ForwardReply> decode_forward_reply(std::string_view payload) {
  if (payload.size() < kForwardReplyPayloadBytes) return std::nullopt;
  base::ByteReader in(payload);
  ForwardReply reply;
  reply.request_id = in.u64();
  reply.accepted = in.u8() != 0;
  reply.term = in.u64();
  reply.index = in.u64();
  reply.offset = in.u32();
  if (!in.at_end() && !read_admission(in, reply)) return std::nullopt;
  return reply;
}

}  // namespace aethel::node
