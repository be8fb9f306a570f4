#include "p2p/codec.h"

#include <algorithm>

namespace aethel::p2p {

void append_varint(Bytes& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

Bytes encode_varint(std::uint64_t value) {
  Bytes out;
  append_varint(out, value);
  return out;
}

Result<std::optional<VarintDecode>> decode_varint_prefix(ByteView input) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < input.size(); ++i) {
    if (i == kMaxVarintBytes) return Error{"bad_varint", "varint longer than 9 bytes"};
    const std::uint8_t byte = input[i];
    value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) return Error{"bad_varint", "varint is not minimally encoded"};
      return std::optional<VarintDecode>(VarintDecode{value, i + 1});
    }
  }
  if (input.size() >= kMaxVarintBytes) return Error{"bad_varint", "varint longer than 9 bytes"};
  return std::optional<VarintDecode>();
}

Result<VarintDecode> decode_varint(ByteView input) {
  auto decoded = decode_varint_prefix(input);
  if (!decoded) return decoded.error();
  if (!decoded.value()) return Error{"bad_varint", "truncated varint"};
  return *decoded.value();
}

// ---- base58 ----

namespace {
constexpr std::string_view kBase58Alphabet =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
// Base58 strings longer than this are refused before the quadratic conversion runs.
constexpr std::size_t kMaxBase58Chars = 256;
}  // namespace

std::string base58_encode(ByteView bytes) {
  std::size_t leading_zeros = 0;
  while (leading_zeros < bytes.size() && bytes[leading_zeros] == 0) ++leading_zeros;
  // Big-number conversion from base 256 to base 58, digits little-endian.
  std::vector<std::uint8_t> digits;
  for (std::size_t i = leading_zeros; i < bytes.size(); ++i) {
    std::uint32_t carry = bytes[i];
    for (auto& digit : digits) {
      carry += static_cast<std::uint32_t>(digit) << 8;
      digit = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    while (carry > 0) {
      digits.push_back(static_cast<std::uint8_t>(carry % 58));
      carry /= 58;
    }
  }
  std::string text(leading_zeros, '1');
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) text.push_back(kBase58Alphabet[*it]);
  return text;
}

Result<Bytes> base58_decode(std::string_view text) {
  if (text.size() > kMaxBase58Chars) return Error{"bad_base58", "base58 text too long"};
  std::size_t leading_ones = 0;
  while (leading_ones < text.size() && text[leading_ones] == '1') ++leading_ones;
  std::vector<std::uint8_t> bytes_le;
  for (std::size_t i = leading_ones; i < text.size(); ++i) {
    const auto position = kBase58Alphabet.find(text[i]);
    if (position == std::string_view::npos) {
      return Error{"bad_base58",
                   "character '" + std::string(1, text[i]) + "' is not in the base58 alphabet"};
    }
    std::uint32_t carry = static_cast<std::uint32_t>(position);
    for (auto& byte : bytes_le) {
      carry += static_cast<std::uint32_t>(byte) * 58;
      byte = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    while (carry > 0) {
      bytes_le.push_back(static_cast<std::uint8_t>(carry & 0xff));
      carry >>= 8;
    }
  }
  Bytes out(leading_ones, 0);
  out.insert(out.end(), bytes_le.rbegin(), bytes_le.rend());
  return out;
}

// ---- protobuf ----

void ProtoWriter::add_tag(std::uint32_t field, WireType type) {
  append_varint(out_, (static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint8_t>(type));
}

void ProtoWriter::add_varint(std::uint32_t field, std::uint64_t value) {
  add_tag(field, WireType::kVarint);
  append_varint(out_, value);
}

void ProtoWriter::add_bytes(std::uint32_t field, ByteView value) {
  add_tag(field, WireType::kLengthDelimited);
  append_varint(out_, value.size());
  out_.insert(out_.end(), value.begin(), value.end());
}

void ProtoWriter::add_string(std::uint32_t field, std::string_view value) {
  add_bytes(field, as_bytes(value));
}

Result<std::optional<ProtoField>> ProtoReader::next() {
  if (offset_ == input_.size()) return std::optional<ProtoField>();
  auto tag = decode_varint(input_.subspan(offset_));
  if (!tag) return Error{"bad_protobuf", "protobuf: bad field tag: " + tag.error().message};
  offset_ += tag->length;
  ProtoField field;
  const std::uint64_t number = tag->value >> 3;
  if (number == 0 || number > 0x1fffffff)
    return Error{"bad_protobuf", "protobuf: invalid field number"};
  field.number = static_cast<std::uint32_t>(number);
  const auto wire = tag->value & 7;
  const auto remaining = input_.size() - offset_;
  switch (wire) {
    case 0: {
      auto value = decode_varint(input_.subspan(offset_));
      if (!value)
        return Error{"bad_protobuf", "protobuf: bad varint field: " + value.error().message};
      offset_ += value->length;
      field.type = WireType::kVarint;
      field.varint = value->value;
      break;
    }
    case 1:
    case 5: {
      const std::size_t width = wire == 1 ? 8 : 4;
      if (remaining < width) return Error{"bad_protobuf", "protobuf: truncated fixed-width field"};
      std::uint64_t value = 0;
      for (std::size_t i = 0; i < width; ++i) {
        value |= static_cast<std::uint64_t>(input_[offset_ + i]) << (8 * i);
      }
      offset_ += width;
      field.type = wire == 1 ? WireType::kFixed64 : WireType::kFixed32;
      field.varint = value;
      break;
    }
    case 2: {
      auto length = decode_varint(input_.subspan(offset_));
      if (!length) return Error{"bad_protobuf", "protobuf: bad length: " + length.error().message};
      offset_ += length->length;
      if (length->value > input_.size() - offset_) {
        return Error{"bad_protobuf",
                     "protobuf: length-delimited field runs past the end of the message"};
      }
      field.type = WireType::kLengthDelimited;
      field.bytes = input_.subspan(offset_, static_cast<std::size_t>(length->value));
      offset_ += static_cast<std::size_t>(length->value);
      break;
    }
    default:
      return Error{"bad_protobuf", "protobuf: unsupported wire type " + std::to_string(wire)};
  }
  return std::optional<ProtoField>(field);
}

void append_length_prefixed(Bytes& out, ByteView payload) {
  append_varint(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
}

Result<std::optional<Bytes>> LengthPrefixedReader::next() {
  auto prefix = decode_varint_prefix(buffer_);
  if (!prefix) return Error{"bad_length_prefix", "bad length prefix: " + prefix.error().message};
  if (!prefix.value()) return std::optional<Bytes>();
  const auto [length, prefix_bytes] = *prefix.value();
  if (length > max_bytes_) {
    return Error{"message_too_large", "message of " + std::to_string(length) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(max_bytes_)};
  }
  if (buffer_.size() - prefix_bytes < length) return std::optional<Bytes>();
  const auto begin = buffer_.begin() + static_cast<std::ptrdiff_t>(prefix_bytes);
  const auto end = begin + static_cast<std::ptrdiff_t>(length);
  Bytes message(begin, end);
  buffer_.erase(buffer_.begin(), end);
  return std::optional<Bytes>(std::move(message));
}

Bytes LengthPrefixedReader::take_rest() {
  return std::exchange(buffer_, Bytes{});
}

}  // namespace aethel::p2p
