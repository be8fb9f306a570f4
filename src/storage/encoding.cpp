#include "storage/encoding.h"

namespace aethel::storage::encoding {

void Writer::u64(std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out_.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void Writer::u32(std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out_.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void Writer::blob(std::string_view bytes) {
  u32(static_cast<std::uint32_t>(bytes.size()));
  raw(bytes);
}

void Writer::raw(std::string_view bytes) {
  out_.append(bytes);
}

namespace {

std::uint64_t read_big_endian(std::string_view bytes) {
  std::uint64_t value = 0;
  for (char byte : bytes) value = (value << 8) | static_cast<std::uint8_t>(byte);
  return value;
}

}  // namespace

bool Reader::u64(std::uint64_t& value) {
  if (in_.size() < kU64Bytes) return false;
  value = read_big_endian(in_.substr(0, kU64Bytes));
  in_.remove_prefix(kU64Bytes);
  return true;
}

bool Reader::u32(std::uint32_t& value) {
  if (in_.size() < kU32Bytes) return false;
  value = static_cast<std::uint32_t>(read_big_endian(in_.substr(0, kU32Bytes)));
  in_.remove_prefix(kU32Bytes);
  return true;
}

bool Reader::blob(std::string_view& bytes) {
  std::uint32_t size = 0;
  if (!u32(size) || in_.size() < size) return false;
  bytes = in_.substr(0, size);
  in_.remove_prefix(size);
  return true;
}

std::string_view Reader::rest() {
  std::string_view all = in_;
  in_ = {};
  return all;
}

std::string_view as_view(const Bytes& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Bytes to_bytes(std::string_view view) {
  const auto* begin = reinterpret_cast<const std::uint8_t*>(view.data());
  return Bytes(begin, begin + view.size());
}

std::string u64_key(std::uint64_t value) {
  Writer writer;
  writer.u64(value);
  return std::move(writer.out());
}

std::optional<std::uint64_t> parse_u64_key(std::string_view key) {
  if (key.size() != kU64Bytes) return std::nullopt;
  return read_big_endian(key);
}

std::string encode_log_value(std::uint64_t term, const Bytes& data) {
  Writer writer;
  writer.out().reserve(kU64Bytes + data.size());
  writer.u64(term);
  writer.raw(as_view(data));
  return std::move(writer.out());
}

std::optional<std::uint64_t> decode_log_term(std::string_view value) {
  Reader reader(value);
  std::uint64_t term = 0;
  if (!reader.u64(term)) return std::nullopt;
  return term;
}

std::string encode_hard_state(const HardState& hard_state) {
  Writer writer;
  writer.u64(hard_state.term);
  writer.u64(hard_state.commit_index);
  writer.blob(hard_state.voted_for);
  return std::move(writer.out());
}

std::optional<HardState> decode_hard_state(std::string_view value) {
  Reader reader(value);
  HardState hard_state;
  std::string_view voted_for;
  if (!reader.u64(hard_state.term) || !reader.u64(hard_state.commit_index) ||
      !reader.blob(voted_for) || !reader.at_end()) {
    return std::nullopt;
  }
  hard_state.voted_for = std::string(voted_for);
  return hard_state;
}

std::string encode_snapshot(const Snapshot& snapshot) {
  Writer writer;
  writer.out().reserve(2 * kU64Bytes + kU32Bytes + snapshot.configuration.size() +
                       snapshot.data.size());
  writer.u64(snapshot.last_included_index);
  writer.u64(snapshot.last_included_term);
  writer.blob(as_view(snapshot.configuration));
  writer.raw(as_view(snapshot.data));
  return std::move(writer.out());
}

std::optional<Snapshot> decode_snapshot(std::string_view value) {
  Reader reader(value);
  Snapshot snapshot;
  std::string_view configuration;
  if (!reader.u64(snapshot.last_included_index) || !reader.u64(snapshot.last_included_term) ||
      !reader.blob(configuration)) {
    return std::nullopt;
  }
  snapshot.configuration = to_bytes(configuration);
  snapshot.data = to_bytes(reader.rest());
  return snapshot;
}

std::string encode_applied_state(const AppliedState& applied) {
  Writer writer;
  writer.u64(applied.applied_index);
  writer.blob(as_view(applied.merkle_root));
  writer.raw(as_view(applied.state));
  return std::move(writer.out());
}

std::optional<AppliedState> decode_applied_state(std::string_view value) {
  Reader reader(value);
  AppliedState applied;
  std::string_view root;
  if (!reader.u64(applied.applied_index) || !reader.blob(root)) return std::nullopt;
  applied.merkle_root = to_bytes(root);
  applied.state = to_bytes(reader.rest());
  return applied;
}

std::string encode_log_offset(const LogOffset& offset) {
  Writer writer;
  writer.u64(offset.index);
  writer.u64(offset.term);
  return std::move(writer.out());
}

std::optional<LogOffset> decode_log_offset(std::string_view value) {
  Reader reader(value);
  LogOffset offset;
  if (!reader.u64(offset.index) || !reader.u64(offset.term) || !reader.at_end()) {
    return std::nullopt;
  }
  return offset;
}

}  // namespace aethel::storage::encoding
