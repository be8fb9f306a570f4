#include "storage/encoding.h"

#include <limits>

#include "base/base.h"

namespace aethel::storage::encoding {
namespace {

using base::ByteReader;
using base::ByteWriter;

// A blob's u32 length is bounded only by what is left of the record.
constexpr std::size_t kAnyLength = std::numeric_limits<std::size_t>::max();

// A writer whose buffer already has room for `bytes`.
ByteWriter writer_for(std::size_t bytes) {
  std::string buffer;
  buffer.reserve(bytes);
  ByteWriter writer(std::move(buffer));
  return writer;
}

}  // namespace

std::string_view as_view(const Bytes& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Bytes to_bytes(std::string_view view) {
  const auto* begin = reinterpret_cast<const std::uint8_t*>(view.data());
  return Bytes(begin, begin + view.size());
}

std::string u64_key(std::uint64_t value) {
  ByteWriter writer;
  writer.u64(value);
  return writer.take();
}

std::optional<std::uint64_t> parse_u64_key(std::string_view key) {
  if (key.size() != kU64Bytes) return std::nullopt;
  return ByteReader(key).u64();
}

std::string encode_format_version(std::uint32_t version) {
  ByteWriter writer;
  writer.u32(version);
  return writer.take();
}

std::optional<std::uint32_t> decode_format_version(std::string_view value) {
  ByteReader reader(value);
  const std::uint32_t version = reader.u32();
  if (!reader.ok() || !reader.at_end()) return std::nullopt;
  return version;
}

std::string encode_log_value(std::uint64_t term, const Bytes& data) {
  ByteWriter writer = writer_for(kU64Bytes + data.size());
  writer.u64(term);
  writer.bytes(std::span<const std::uint8_t>(data));
  return writer.take();
}

std::optional<std::uint64_t> decode_log_term(std::string_view value) {
  ByteReader reader(value);
  const std::uint64_t term = reader.u64();
  if (!reader.ok()) return std::nullopt;
  return term;
}

std::string encode_hard_state(const HardState& hard_state) {
  ByteWriter writer;
  writer.u64(hard_state.term);
  writer.u64(hard_state.commit_index);
  writer.string32(hard_state.voted_for);
  return writer.take();
}

std::optional<HardState> decode_hard_state(std::string_view value) {
  ByteReader reader(value);
  HardState hard_state;
  hard_state.term = reader.u64();
  hard_state.commit_index = reader.u64();
  hard_state.voted_for = std::string(reader.string32(kAnyLength));
  if (!reader.ok() || !reader.at_end()) return std::nullopt;
  return hard_state;
}

std::string encode_journal_payload(const WriteBatch& batch) {
  std::size_t bytes = 64;
  for (const LogEntry& entry : batch.entries)
    bytes += 2 * kU64Bytes + kU32Bytes + entry.data.size();
  ByteWriter writer = writer_for(bytes);
  writer.u8(batch.hard_state ? 1 : 0);
  if (batch.hard_state) writer.string32(encode_hard_state(*batch.hard_state));
  writer.u32(static_cast<std::uint32_t>(batch.entries.size()));
  for (const LogEntry& entry : batch.entries) {
    writer.u64(entry.index);
    writer.u64(entry.term);
    writer.u32(static_cast<std::uint32_t>(entry.data.size()));
    writer.bytes(std::span<const std::uint8_t>(entry.data));
  }
  return writer.take();
}

std::optional<WriteBatch> decode_journal_payload(std::string_view payload) {
  ByteReader reader(payload);
  WriteBatch batch;
  if (reader.u8() == 1) {
    batch.hard_state = decode_hard_state(reader.string32(kAnyLength));
    if (!batch.hard_state) return std::nullopt;
  }
  const std::uint32_t count = reader.u32();
  // Each entry takes at least 20 bytes: a count beyond that is garbage, not a reason
  // to reserve gigabytes.
  if (count > reader.remaining() / (2 * kU64Bytes + kU32Bytes)) return std::nullopt;
  batch.entries.reserve(count);
  for (std::uint32_t i = 0; i < count && reader.ok(); ++i) {
    LogEntry& entry = batch.entries.emplace_back();
    entry.index = reader.u64();
    entry.term = reader.u64();
    entry.data = to_bytes(reader.string32(kAnyLength));
  }
  if (!reader.ok() || !reader.at_end()) return std::nullopt;
  return batch;
}

namespace {

// Index, term and configuration: the start of both snapshot records.
void write_snapshot_header(ByteWriter& writer, const Snapshot& snapshot) {
  writer.u64(snapshot.last_included_index);
  writer.u64(snapshot.last_included_term);
  writer.string32(as_view(snapshot.configuration));
}

Snapshot read_snapshot_header(ByteReader& reader) {
  Snapshot snapshot;
  snapshot.last_included_index = reader.u64();
  snapshot.last_included_term = reader.u64();
  snapshot.configuration = to_bytes(reader.string32(kAnyLength));
  return snapshot;
}

}  // namespace

std::string encode_snapshot(const Snapshot& snapshot) {
  ByteWriter writer =
      writer_for(2 * kU64Bytes + kU32Bytes + snapshot.configuration.size() + snapshot.data.size());
  write_snapshot_header(writer, snapshot);
  writer.bytes(std::span<const std::uint8_t>(snapshot.data));
  return writer.take();
}

std::optional<Snapshot> decode_snapshot(std::string_view value) {
  ByteReader reader(value);
  Snapshot snapshot = read_snapshot_header(reader);
  snapshot.data = to_bytes(reader.rest());
  if (!reader.ok()) return std::nullopt;
  return snapshot;
}

std::optional<Snapshot> decode_snapshot_without_data(std::string_view value) {
  ByteReader reader(value);
  Snapshot snapshot = read_snapshot_header(reader);
  if (!reader.ok()) return std::nullopt;
  return snapshot;
}

std::string encode_snapshot_file(const SnapshotFileRecord& record) {
  ByteWriter writer = writer_for(3 * kU64Bytes + kU32Bytes + record.meta.configuration.size() +
                                 record.file_name.size());
  write_snapshot_header(writer, record.meta);
  writer.u64(record.data_bytes);
  writer.bytes(record.file_name);
  return writer.take();
}

std::optional<SnapshotFileRecord> decode_snapshot_file(std::string_view value) {
  ByteReader reader(value);
  SnapshotFileRecord record;
  record.meta = read_snapshot_header(reader);
  record.data_bytes = reader.u64();
  record.file_name = std::string(reader.rest());
  if (!reader.ok() || record.file_name.empty()) return std::nullopt;
  return record;
}

std::string encode_applied_state(const AppliedState& applied) {
  ByteWriter writer;
  writer.u64(applied.applied_index);
  writer.string32(as_view(applied.merkle_root));
  writer.bytes(std::span<const std::uint8_t>(applied.state));
  return writer.take();
}

std::optional<AppliedState> decode_applied_state(std::string_view value) {
  ByteReader reader(value);
  AppliedState applied;
  applied.applied_index = reader.u64();
  applied.merkle_root = to_bytes(reader.string32(kAnyLength));
  applied.state = to_bytes(reader.rest());
  if (!reader.ok()) return std::nullopt;
  return applied;
}

std::string encode_history_anchor(const HistoryAnchor& anchor) {
  ByteWriter writer;
  writer.u64(anchor.height);
  writer.bytes(std::span<const std::uint8_t>(anchor.root));
  return writer.take();
}

std::optional<HistoryAnchor> decode_history_anchor(std::string_view value) {
  ByteReader reader(value);
  HistoryAnchor anchor;
  anchor.height = reader.u64();
  anchor.root = to_bytes(reader.rest());
  if (!reader.ok() || anchor.root.empty()) return std::nullopt;
  return anchor;
}

std::string encode_log_offset(const LogOffset& offset) {
  ByteWriter writer;
  writer.u64(offset.index);
  writer.u64(offset.term);
  return writer.take();
}

std::optional<LogOffset> decode_log_offset(std::string_view value) {
  ByteReader reader(value);
  LogOffset offset;
  offset.index = reader.u64();
  offset.term = reader.u64();
  if (!reader.ok() || !reader.at_end()) return std::nullopt;
  return offset;
}

}  // namespace aethel::storage::encoding
