// Byte-level codecs shared by every layer: unsigned varint (multiformats), base58btc,
// and a minimal protobuf reader/writer — just the wire types libp2p messages use
// (varint and length-delimited). Everything here is pure and bounds-checked: decoders
// take untrusted bytes and return an Error rather than reading past the input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "p2p/p2p.h"

namespace aethel::p2p {

// ---- unsigned varint (multiformats/unsigned-varint) ----

// The spec caps varints at 9 bytes (63 bits); longer or non-minimal encodings are errors.
inline constexpr std::size_t kMaxVarintBytes = 9;

void append_varint(Bytes& out, std::uint64_t value);
Bytes encode_varint(std::uint64_t value);

// Decodes a varint at the start of `input`; on success returns {value, bytes used}.
// Returns std::nullopt when `input` ends before the varint does (read more and retry).
struct VarintDecode {
  std::uint64_t value = 0;
  std::size_t length = 0;
};
Result<std::optional<VarintDecode>> decode_varint_prefix(ByteView input);
// Decodes a varint that must be complete.
Result<VarintDecode> decode_varint(ByteView input);

// ---- base58btc (bitcoin alphabet) ----

std::string base58_encode(ByteView bytes);
Result<Bytes> base58_decode(std::string_view text);

// ---- hex, for logs and tests: base's (from_hex gives std::nullopt for bad text) ----
using base::from_hex;
using base::to_hex;

// ---- protobuf ----

enum class WireType : std::uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kFixed32 = 5
};

// Appends fields in the canonical encoding.
class ProtoWriter {
 public:
  void add_varint(std::uint32_t field, std::uint64_t value);
  void add_bytes(std::uint32_t field, ByteView value);
  void add_string(std::uint32_t field, std::string_view value);
  const Bytes& bytes() const& { return out_; }
  Bytes take() { return std::move(out_); }

 private:
  void add_tag(std::uint32_t field, WireType type);
  Bytes out_;
};

// Iterates the fields of one message. Unknown fields of known wire types are skipped by
// the caller simply not matching them; groups (wire types 3 and 4) are errors.
struct ProtoField {
  std::uint32_t number = 0;
  WireType type = WireType::kVarint;
  std::uint64_t varint = 0;  // for kVarint (and fixed types, zero-extended)
  ByteView bytes;            // for kLengthDelimited
};

class ProtoReader {
 public:
  explicit ProtoReader(ByteView input) : input_(input) {}
  // Returns the next field, std::nullopt at the clean end, or an Error.
  Result<std::optional<ProtoField>> next();

 private:
  ByteView input_;
  std::size_t offset_ = 0;
};

// Calls `visit(field)` for each field of `encoded` in order. `visit` returns void or a
// Status; the first Error (malformed input or from `visit`) stops the walk.
template <typename Visit>
Status for_each_field(ByteView encoded, Visit&& visit) {
  ProtoReader reader(encoded);
  while (true) {
    auto field = reader.next();
    if (!field) return field.error();
    if (!field.value()) return {};
    if constexpr (std::is_void_v<std::invoke_result_t<Visit&, const ProtoField&>>) {
      visit(*field.value());
    } else if (Status visited = visit(*field.value()); !visited) {
      return visited;
    }
  }
}

inline ByteView as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
inline std::string as_string(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Appends a varint length prefix and the payload: the framing of identify, gossipsub and
// request/response messages.
void append_length_prefixed(Bytes& out, ByteView payload);

// Incremental reader of varint-length-prefixed messages from a byte stream. Refuses a
// declared length above `max_message_bytes` as soon as the prefix is read.
class LengthPrefixedReader {
 public:
  explicit LengthPrefixedReader(std::size_t max_message_bytes) : max_bytes_(max_message_bytes) {}
  void feed(ByteView bytes) { buffer_.insert(buffer_.end(), bytes.begin(), bytes.end()); }
  // The next complete message, std::nullopt if more bytes are needed, or an Error.
  Result<std::optional<Bytes>> next();
  std::size_t buffered_bytes() const { return buffer_.size(); }
  // Bytes buffered after the messages taken so far (handed to the next layer).
  Bytes take_rest();

 private:
  std::size_t max_bytes_;
  Bytes buffer_;
};

}  // namespace aethel::p2p
