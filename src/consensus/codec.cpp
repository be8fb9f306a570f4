// Wire format (version 1), all integers unsigned LEB128 in minimal form:
//   u8 version | u8 type | from | to | term | log_term | index | commit | reject_hint |
//   context | u8 flags (bit0 reject, bit1 leader_transfer, bit2 snapshot follows,
//   bit3 the snapshot lists learners) |
//   entry_count | entry_count × (term | index | length | bytes) |
//   [snapshot: index | term | voter_count | voters... |
//    [learner_count (> 0) | learners...] | length | bytes]
// Entries must be consecutive, starting at index + 1. Nothing may follow the message.
#include <cstring>

#include "consensus/consensus.h"

namespace aethel::consensus {
namespace {

constexpr std::uint8_t kFlagReject = 1;
constexpr std::uint8_t kFlagLeaderTransfer = 2;
constexpr std::uint8_t kFlagSnapshot = 4;
constexpr std::uint8_t kFlagLearners = 8;  // set exactly when there are learners: canonical
constexpr std::uint8_t kKnownFlags =
    kFlagReject | kFlagLeaderTransfer | kFlagSnapshot | kFlagLearners;

void put_varint(Bytes& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

void put_bytes(Bytes& out, const Bytes& bytes) {
  put_varint(out, bytes.size());
  out.insert(out.end(), bytes.begin(), bytes.end());
}

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return bytes_.size() - offset_; }

  std::uint8_t byte() {
    if (failed()) return 0;
    if (remaining() == 0) return fail("truncated"), 0;
    return bytes_[offset_++];
  }

  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64 && !failed(); shift += 7) {
      const std::uint8_t b = byte();
      if (failed()) return 0;
      if (shift == 63 && b > 1) return fail("varint overflows 64 bits"), 0;
      value |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift > 0) return fail("non-minimal varint"), 0;
        return value;
      }
    }
    if (!failed()) fail("varint too long");
    return 0;
  }

  Bytes blob() {
    const std::uint64_t length = varint();
    if (failed()) return {};
    if (length > remaining()) return fail("length beyond the end of input"), Bytes{};
    Bytes out(bytes_.begin() + static_cast<long>(offset_),
              bytes_.begin() + static_cast<long>(offset_ + length));
    offset_ += length;
    return out;
  }

  void fail(const char* what) {
    if (error_.empty()) error_ = what;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t offset_ = 0;
  std::string error_;
};

bool decode_entries(Reader& in, Message& m) {
  const std::uint64_t count = in.varint();
  if (in.failed()) return false;
  // Every entry takes at least 3 bytes: refuse counts the input cannot hold before
  // allocating anything.
  if (count > kMaxEntriesPerMessage || count > in.remaining() / 3) {
    in.fail("entry count out of range");
    return false;
  }
  if (count > 0 && m.type != MessageType::kAppend) {
    in.fail("entries in a message that carries none");
    return false;
  }
  m.entries.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    Entry entry;
    entry.term = in.varint();
    entry.index = in.varint();
    entry.data = in.blob();
    if (in.failed()) return false;
    if (entry.index != m.index + 1 + i) {
      in.fail("entries not consecutive after index");
      return false;
    }
    m.entries.push_back(std::move(entry));
  }
  return true;
}

bool decode_ids(Reader& in, std::vector<NodeId>& ids, std::uint64_t min_count) {
  const std::uint64_t count = in.varint();
  if (in.failed()) return false;
  if (count < min_count || count > kMaxVoters || count > in.remaining()) {
    in.fail("member count out of range");
    return false;
  }
  for (std::uint64_t i = 0; i < count; ++i) ids.push_back(in.varint());
  return !in.failed();
}

bool decode_snapshot(Reader& in, Message& m, bool learners) {
  Snapshot snapshot;
  snapshot.meta.index = in.varint();
  snapshot.meta.term = in.varint();
  if (!decode_ids(in, snapshot.meta.voters, 0)) return false;
  if (learners && !decode_ids(in, snapshot.meta.learners, 1)) return false;
  Bytes data = in.blob();
  if (in.failed()) return false;
  snapshot.data = std::make_shared<const Bytes>(std::move(data));
  m.snapshot = std::move(snapshot);
  return true;
}

}  // namespace

void encode(const Message& m, Bytes& out) {
  out.push_back(kCodecVersion);
  out.push_back(static_cast<std::uint8_t>(m.type));
  for (std::uint64_t field :
       {m.from, m.to, m.term, m.log_term, m.index, m.commit, m.reject_hint, m.context}) {
    put_varint(out, field);
  }
  std::uint8_t flags = 0;
  if (m.reject) flags |= kFlagReject;
  if (m.leader_transfer) flags |= kFlagLeaderTransfer;
  if (m.snapshot) flags |= kFlagSnapshot;
  if (m.snapshot && !m.snapshot->meta.learners.empty()) flags |= kFlagLearners;
  out.push_back(flags);
  put_varint(out, m.entries.size());
  for (const Entry& entry : m.entries) {
    put_varint(out, entry.term);
    put_varint(out, entry.index);
    put_bytes(out, entry.data);
  }
  if (m.snapshot) {
    put_varint(out, m.snapshot->meta.index);
    put_varint(out, m.snapshot->meta.term);
    put_varint(out, m.snapshot->meta.voters.size());
    for (NodeId voter : m.snapshot->meta.voters) put_varint(out, voter);
    if (!m.snapshot->meta.learners.empty()) {
      put_varint(out, m.snapshot->meta.learners.size());
      for (NodeId learner : m.snapshot->meta.learners) put_varint(out, learner);
    }
    static const Bytes kEmpty;
    put_bytes(out, m.snapshot->data ? *m.snapshot->data : kEmpty);
  }
}

Bytes encode(const Message& m) {
  Bytes out;
  encode(m, out);
  return out;
}

DecodeResult decode(std::span<const std::uint8_t> bytes) {
  DecodeResult result;
  if (bytes.size() > kMaxEncodedMessageBytes) {
    result.error = "message larger than kMaxEncodedMessageBytes";
    return result;
  }
  Reader in(bytes);
  Message m;
  const std::uint8_t version = in.byte();
  const std::uint8_t type = in.byte();
  if (!in.failed() && version != kCodecVersion) in.fail("unknown codec version");
  if (!in.failed() && (type == 0 || type > kLastMessageType)) in.fail("unknown message type");
  m.type = static_cast<MessageType>(type);
  for (std::uint64_t* field :
       {&m.from, &m.to, &m.term, &m.log_term, &m.index, &m.commit, &m.reject_hint, &m.context}) {
    *field = in.varint();
  }
  const std::uint8_t flags = in.byte();
  if (!in.failed() && (flags & ~kKnownFlags) != 0) in.fail("unknown flag bits");
  m.reject = (flags & kFlagReject) != 0;
  m.leader_transfer = (flags & kFlagLeaderTransfer) != 0;
  if (!in.failed() && decode_entries(in, m) && (flags & kFlagSnapshot) != 0) {
    if (m.type != MessageType::kSnapshot) {
      in.fail("snapshot in a message that carries none");
    } else {
      decode_snapshot(in, m, (flags & kFlagLearners) != 0);
    }
  } else if (!in.failed() && (flags & kFlagLearners) != 0) {
    in.fail("learners without a snapshot");
  }
  if (!in.failed() && m.type == MessageType::kSnapshot && !m.snapshot) {
    in.fail("snapshot message without a snapshot");
  }
  if (!in.failed() && in.remaining() != 0) in.fail("trailing bytes");
  if (in.failed()) {
    result.error = in.error();
    result.error_offset = in.offset();
    return result;
  }
  result.message = std::move(m);
  return result;
}

}  // namespace aethel::consensus
