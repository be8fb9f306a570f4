// The store's journal: an append-only file of checksummed records that makes a
// write durable with one device flush (an append and fdatasync), where an LMDB
// commit needs two (its data pages, then the meta page that points to them). The
// store journals the Raft part of a write (entries and hard state) and commits the
// whole write to LMDB behind it; a restart replays into LMDB the records it lacks
// (docs/STORAGE.md, "The journal").
//
// Files: "journal-<first sequence number, 20 digits>.log" in the store's directory.
// A record is: u32 payload length, u32 CRC-32C of the rest, u64 sequence number, u64
// the sequence number of the first record of its append, then the payload
// (big-endian). Sequence numbers are consecutive across files. Each open starts a new
// file, so an append torn by a crash (the one being written; it was never reported
// durable) can only be the last of its file. A file is deleted once the database
// holds all its records durably (release_through).
//
// Files are filled with zeros ahead of the records, a megabyte at a time: an append
// then overwrites blocks the file already has, and its fdatasync flushes the data
// alone. One that grows the file must also write the file's new size and blocks:
// 35-57% more time and two thirds more CPU per flush here. Zeros after the last record
// end a file.
//
// Not thread-safe: the Store serializes append and release_through, which its
// journal and its database writer call from two threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/posix_file.h"
#include "storage/storage.h"

namespace aethel::storage {

// CRC-32C (Castagnoli) of `bytes`.
std::uint32_t crc32c(std::string_view bytes);

struct JournalRecord {
  std::uint64_t seq = 0;
  std::string payload;
  friend bool operator==(const JournalRecord&, const JournalRecord&) = default;
};

class Journal {
 public:
  // Reads every journal file in `dir` and returns the journal with, in `recovered`,
  // the records whose sequence number is above `after_seq` (the last one the
  // database holds), in order. Appends continue after the last of them (or after
  // `after_seq`) in a new file, created now: appends never need a new descriptor.
  // A damaged record followed by no whole record of a later append is the torn end
  // of its file's last append: it ends the file. kCorruption (naming the file and
  // offset) for any other damaged record, or when records after `after_seq` are
  // missing (a gap in the sequence).
  // Appends move to a new file once the current one holds `rotate_bytes`.
  static Result<std::unique_ptr<Journal>> open(const std::filesystem::path& dir,
                                               std::uint64_t after_seq,
                                               std::vector<JournalRecord>& recovered,
                                               std::uint64_t rotate_bytes = kRotateBytes);

  // Appends one record per payload, numbered from last_seq() + 1, and returns once
  // they are on disk (one fdatasync). Returns the last sequence number written.
  Result<std::uint64_t> append(std::span<const std::string> payloads);

  // The database holds every record through `seq` durably: deletes the files, other
  // than the one appended to, that hold nothing later. With appends moving to a new
  // file every `rotate_bytes`, the journal stays about that size plus what the
  // database has not made durable yet.
  Status release_through(std::uint64_t seq);

  std::uint64_t last_seq() const { return last_seq_; }
  // Whether `name` is a journal file's.
  static bool is_file_name(std::string_view name);
  // Journal files in `dir` now, oldest first (for tests and operators).
  static Result<std::vector<std::string>> file_names(const std::filesystem::path& dir);

  static constexpr std::uint64_t kRotateBytes = std::uint64_t{16} << 20;
  // How far ahead of its records a file is filled with zeros (at most rotate_bytes).
  static constexpr std::uint64_t kPreallocateBytes = std::uint64_t{1} << 20;

 private:
  struct File {
    std::string name;
    std::uint64_t last_seq = 0;  // of its last record; below its first when empty
  };
  Journal(std::filesystem::path dir, std::vector<File> files, std::uint64_t last_seq,
          std::uint64_t rotate_bytes);
  Result<Fd> create_file(const std::string& name) const;
  void use_file(std::string name, Fd fd);  // for the records after last_seq_
  void rotate();
  // Fills the current file with zeros through at least `end_bytes`, ahead of a write
  // that ends there; on a write error (a full disk), leaves it as it is.
  void preallocate(std::uint64_t end_bytes, const std::string& path);

  std::filesystem::path dir_;
  std::vector<File> closed_;  // oldest first
  Fd current_;                // the file appended to
  File current_file_;
  std::uint64_t current_bytes_ = 0;    // of records
  std::uint64_t allocated_bytes_ = 0;  // the file's size: records, then zeros
  std::uint64_t last_seq_ = 0;
  std::uint64_t rotate_bytes_;
  std::string buffer_;  // reused by append
};

}  // namespace aethel::storage
