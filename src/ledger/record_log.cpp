#include "ledger/record_log.h"

#include <array>

namespace aethel::ledger {
namespace {

// A packed outcome: flags, the id (32 bytes when it is 64 lower-case hex characters,
// as derived ids are; else a length and its text), the scope if any, height and index
// as varints, then the code, message and failed transfer unless it is a plain commit.
constexpr uint8_t kHexId = 1;
constexpr uint8_t kHasScope = 2;
constexpr uint8_t kHasDetails = 4;
constexpr size_t kHexIdChars = 64;

// Nibble values of lower-case hex digits; 0xff for every other byte.
constexpr std::array<uint8_t, 256> kNibble = [] {
  std::array<uint8_t, 256> table{};
  table.fill(0xff);
  for (int c = 0; c < 10; ++c) table['0' + c] = static_cast<uint8_t>(c);
  for (int c = 0; c < 6; ++c) table['a' + c] = static_cast<uint8_t>(10 + c);
  return table;
}();

// The 32 bytes an id of 64 lower-case hex characters spells; nullopt for other ids.
std::optional<std::array<char, kHexIdChars / 2>> raw_of_hex_id(std::string_view id) {
  if (id.size() != kHexIdChars) return std::nullopt;
  std::array<char, kHexIdChars / 2> raw;
  uint8_t invalid = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    const uint8_t high = kNibble[static_cast<uint8_t>(id[2 * i])];
    const uint8_t low = kNibble[static_cast<uint8_t>(id[2 * i + 1])];
    invalid |= (high | low) & 0xf0;
    raw[i] = static_cast<char>(high << 4 | low);
  }
  if (invalid != 0) return std::nullopt;
  return raw;
}

// `raw` (32 bytes) as 64 lower-case hex characters in `out`, reusing its allocation.
void assign_hex(std::string_view raw, std::string& out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out.resize(2 * raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto byte = static_cast<uint8_t>(raw[i]);
    out[2 * i] = kDigits[byte >> 4];
    out[2 * i + 1] = kDigits[byte & 15];
  }
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_short_text(std::string& out, std::string_view text) {
  AETHEL_CHECK(text.size() <= 255);
  out.push_back(static_cast<char>(text.size()));
  out.append(text);
}

void pack(const Outcome& o, std::string& out) {
  const auto raw_id = raw_of_hex_id(o.tx_id);
  const bool details =
      o.code != OutcomeCode::kCommitted || !o.message.empty() || o.failed_transfer != 0;
  out.push_back(static_cast<char>((raw_id ? kHexId : 0) | (o.scope.empty() ? 0 : kHasScope) |
                                  (details ? kHasDetails : 0)));
  if (raw_id) {
    out.append(raw_id->data(), raw_id->size());
  } else {
    put_short_text(out, o.tx_id);
  }
  if (!o.scope.empty()) put_short_text(out, o.scope);
  put_varint(out, o.height);
  put_varint(out, o.index);
  if (details) {
    out.push_back(static_cast<char>(o.code));
    put_varint(out, o.message.size());
    out.append(o.message);
    put_varint(out, o.failed_transfer);
  }
}

// Reads what pack wrote: only this process's own bytes, so unchecked.
class Unpacker {
 public:
  explicit Unpacker(std::string_view bytes) : in_(bytes) {}

  uint8_t byte() { return static_cast<uint8_t>(in_[pos_++]); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const uint8_t b = byte();
      v |= uint64_t{b & 0x7fu} << shift;
      if (b < 0x80) return v;
    }
  }
  std::string_view text(size_t n) {
    const std::string_view t = in_.substr(pos_, n);
    pos_ += n;
    return t;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

struct Unpacked {
  uint8_t flags = 0;
  std::string_view id;  // 32 raw bytes when flags has kHexId
  std::string_view scope;
  uint64_t height = 0;
  uint32_t index = 0;
  OutcomeCode code = OutcomeCode::kCommitted;
  std::string_view message;
  uint32_t failed_transfer = 0;
};

Unpacked unpack(std::string_view bytes) {
  Unpacker in(bytes);
  Unpacked u;
  u.flags = in.byte();
  u.id = in.text((u.flags & kHexId) ? kHexIdChars / 2 : in.byte());
  if (u.flags & kHasScope) u.scope = in.text(in.byte());
  u.height = in.varint();
  u.index = static_cast<uint32_t>(in.varint());
  if (u.flags & kHasDetails) {
    u.code = static_cast<OutcomeCode>(in.byte());
    u.message = in.text(in.varint());
    u.failed_transfer = static_cast<uint32_t>(in.varint());
  }
  return u;
}

}  // namespace

bool is_hex_id(std::string_view id) {
  return raw_of_hex_id(id).has_value();
}

std::string_view RecordLog::Chunk::at(size_t k) const {
  const size_t end = k + 1 < start.size() ? start[k + 1] : bytes.size();
  return std::string_view(bytes).substr(start[k], end - start[k]);
}

std::string_view RecordLog::packed(size_t i) const {
  const size_t position = i + forgotten_;
  const size_t chunk = position / kChunkOutcomes;
  if (chunk < full_.size()) return full_[chunk]->at(position % kChunkOutcomes);
  return tail_.at(position - full_.size() * kChunkOutcomes);
}

Outcome RecordLog::operator[](size_t i) const {
  const Unpacked u = unpack(packed(i));
  std::string id = (u.flags & kHexId) ? to_hex(u.id) : std::string(u.id);
  return Outcome{std::move(id), std::string(u.scope),   u.height,          u.index,
                 u.code,        std::string(u.message), u.failed_transfer, false};
}

uint64_t RecordLog::height_at(size_t i) const {
  return unpack(packed(i)).height;
}

std::string_view RecordLog::id_view(size_t i, std::string& scratch) const {
  const Unpacked u = unpack(packed(i));
  if (!(u.flags & kHexId)) return u.id;
  assign_hex(u.id, scratch);
  return scratch;
}

bool RecordLog::matches(size_t i, std::string_view tx_id,
                        std::optional<std::string_view> scope) const {
  const Unpacked u = unpack(packed(i));
  if (scope && u.scope != *scope) return false;
  if (!(u.flags & kHexId)) return u.id == tx_id;
  const auto raw = raw_of_hex_id(tx_id);
  return raw && std::string_view(raw->data(), raw->size()) == u.id;
}

bool RecordLog::unscoped_hex(size_t i) const {
  const auto flags = static_cast<uint8_t>(packed(i)[0]);
  return (flags & kHexId) && !(flags & kHasScope);
}

void RecordLog::push_back(const Outcome& outcome) {
  if (tail_.start.empty()) tail_.start.reserve(kChunkOutcomes);
  tail_.start.push_back(static_cast<uint32_t>(tail_.bytes.size()));
  pack(outcome, tail_.bytes);
  if (tail_.count() == kChunkOutcomes) {
    tail_.bytes.shrink_to_fit();
    full_.push_back(std::make_shared<const Chunk>(std::move(tail_)));
    tail_ = {};
  }
}

void RecordLog::pop_front() {
  AETHEL_CHECK(!empty());
  ++forgotten_;
  if (!full_.empty() && forgotten_ == kChunkOutcomes) {
    full_.pop_front();
    forgotten_ = 0;
  } else if (full_.empty() && forgotten_ == tail_.count()) {
    tail_ = {};
    forgotten_ = 0;
  }
}

void RecordLog::share_chunks_with(const RecordLog& twin) {
  AETHEL_CHECK(forgotten_ == twin.forgotten_ && full_.size() == twin.full_.size() &&
               tail_.count() == twin.tail_.count());
  for (size_t i = full_.size(); i-- > 0 && full_[i] != twin.full_[i];) {
    AETHEL_CHECK(full_[i]->bytes == twin.full_[i]->bytes);
    full_[i] = twin.full_[i];
  }
}

}  // namespace aethel::ledger
