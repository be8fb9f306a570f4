// Thin RAII layer over the LMDB C API: transactions that abort unless
// committed, cursors that close themselves, and LMDB return codes turned into
// errors that name the data directory.
#pragma once

#include <lmdb.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "storage/storage.h"

namespace aethel::storage::lmdb {

// Maps an LMDB or errno return code to an Error: MDB_MAP_FULL -> kMapFull,
// page/format damage -> kCorruption, EACCES/EROFS -> kNotWritable, the rest
// kIoError. The message reads "<what> in <dir>: <LMDB's reason>".
base::Error error_from(int rc, std::string_view what, const std::filesystem::path& dir);

inline MDB_val to_val(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}
inline std::string_view to_view(const MDB_val& val) {
  return {static_cast<const char*>(val.mv_data), val.mv_size};
}

// A transaction that is aborted on destruction unless commit() succeeded.
class Txn {
 public:
  static Result<Txn> begin(MDB_env* env, bool writable, const std::filesystem::path& dir);
  // A write transaction inside `parent`: its commit only merges into the
  // parent (no sync); the parent must not be used until it ends.
  static Result<Txn> begin_nested(MDB_env* env, const Txn& parent,
                                  const std::filesystem::path& dir);
  Txn(Txn&& other) noexcept : txn_(other.txn_), dir_(other.dir_) { other.txn_ = nullptr; }
  Txn& operator=(Txn&&) = delete;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();

  MDB_txn* get() const { return txn_; }
  const std::filesystem::path& dir() const { return *dir_; }
  // Durable for a top-level transaction (the environment never uses
  // MDB_NOSYNC); a nested one merges into its parent.
  Status commit();

  // The value under `key`, valid until the transaction ends; nullopt if absent.
  Result<std::optional<std::string_view>> get(MDB_dbi dbi, std::string_view key) const;
  Status put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // Deleting a missing key is not an error.
  Status del(MDB_dbi dbi, std::string_view key);

 private:
  Txn(MDB_txn* txn, const std::filesystem::path* dir) : txn_(txn), dir_(dir) {}
  MDB_txn* txn_;
  const std::filesystem::path* dir_;
};

// A cursor over one database inside a transaction.
class Cursor {
 public:
  static Result<Cursor> open(const Txn& txn, MDB_dbi dbi);
  Cursor(Cursor&& other) noexcept : cursor_(other.cursor_), dir_(other.dir_) {
    other.cursor_ = nullptr;
  }
  Cursor& operator=(Cursor&&) = delete;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  // Positions the cursor; returns false at MDB_NOTFOUND. `key` in: the key for
  // MDB_SET_KEY / MDB_SET_RANGE; out: the key found.
  Result<bool> move(MDB_cursor_op op, std::string_view& key, std::string_view& value);
  // Deletes the record under the cursor; the next MDB_NEXT yields its successor.
  Status del();

 private:
  Cursor(MDB_cursor* cursor, const std::filesystem::path* dir) : cursor_(cursor), dir_(dir) {}
  MDB_cursor* cursor_;
  const std::filesystem::path* dir_;
};

}  // namespace aethel::storage::lmdb
