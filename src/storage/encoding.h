// Byte encodings of the records the store keeps in LMDB (docs/STORAGE.md).
// Integers are fixed-width big-endian (base::ByteWriter / base::ByteReader), so
// LMDB's default bytewise key order is numeric order; blobs carry a u32 length.
// Decoders check every length and report a truncated or oversized record
// instead of reading past its end.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/storage.h"

namespace aethel::storage::encoding {

inline constexpr std::size_t kU64Bytes = 8;
inline constexpr std::size_t kU32Bytes = 4;

std::string_view as_view(const Bytes& bytes);
Bytes to_bytes(std::string_view view);

// 8-byte big-endian key of a log index or block height.
std::string u64_key(std::uint64_t value);
// Inverse of u64_key; nullopt unless the key is exactly 8 bytes.
std::optional<std::uint64_t> parse_u64_key(std::string_view key);

// Log value: term (u64), then the entry data.
std::string encode_log_value(std::uint64_t term, const Bytes& data);
// The term alone, without copying the data; nullopt if shorter than 8 bytes.
std::optional<std::uint64_t> decode_log_term(std::string_view value);

// The format version record of the meta database: a u32.
std::string encode_format_version(std::uint32_t version);
std::optional<std::uint32_t> decode_format_version(std::string_view value);

std::string encode_hard_state(const HardState& hard_state);
std::optional<HardState> decode_hard_state(std::string_view value);

// The payload of a journal record: the Raft part of a write. u8 1 and a blob of the
// hard state (or u8 0), u32 entry count, then per entry u64 index, u64 term, blob data.
std::string encode_journal_payload(const WriteBatch& batch);
// A batch with just the entries and the hard state; nullopt when the payload does not
// decode.
std::optional<WriteBatch> decode_journal_payload(std::string_view payload);

std::string encode_snapshot(const Snapshot& snapshot);
std::optional<Snapshot> decode_snapshot(std::string_view value);
// Index, term and configuration of a snapshot record, without copying its data.
std::optional<Snapshot> decode_snapshot_without_data(std::string_view value);

// A snapshot whose data is in a file beside the database: index, term and
// configuration as in a snapshot record, then the data's size (u64) and the file name.
struct SnapshotFileRecord {
  Snapshot meta;  // data empty
  std::uint64_t data_bytes = 0;
  std::string file_name;
};
std::string encode_snapshot_file(const SnapshotFileRecord& record);
std::optional<SnapshotFileRecord> decode_snapshot_file(std::string_view value);

std::string encode_applied_state(const AppliedState& applied);
std::optional<AppliedState> decode_applied_state(std::string_view value);

// The history anchor: height (u64), then the root.
std::string encode_history_anchor(const HistoryAnchor& anchor);
std::optional<HistoryAnchor> decode_history_anchor(std::string_view value);

// The compacted prefix: index and term of the last dropped entry.
struct LogOffset {
  std::uint64_t index = 0;
  std::uint64_t term = 0;
};
std::string encode_log_offset(const LogOffset& offset);
std::optional<LogOffset> decode_log_offset(std::string_view value);

}  // namespace aethel::storage::encoding
