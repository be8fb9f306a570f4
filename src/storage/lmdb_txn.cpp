#include "storage/lmdb_txn.h"

#include <fmt/format.h>

#include <cerrno>

namespace aethel::storage::lmdb {

base::Error error_from(int rc, std::string_view what, const std::filesystem::path& dir) {
  const std::string reason = mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
      return make_error(Code::kMapFull,
                        fmt::format("{} in {}: the LMDB map is full ({}); raise "
                                    "StoreOptions::map_size_bytes or free disk space",
                                    what, dir.string(), reason));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_TXN:
      return make_error(Code::kCorruption,
                        fmt::format("{} in {}: the database is damaged or not an LMDB file ({})",
                                    what, dir.string(), reason));
    case MDB_BAD_VALSIZE:
      return make_error(Code::kInvalidArgument,
                        fmt::format("{} in {}: key or value size out of LMDB's limits ({})", what,
                                    dir.string(), reason));
    case EACCES:
    case EPERM:
    case EROFS:
      return make_error(Code::kNotWritable,
                        fmt::format("{} in {}: not writable ({})", what, dir.string(), reason));
    case ENOSPC:
      return make_error(Code::kIoError,
                        fmt::format("{} in {}: the disk is full ({})", what, dir.string(), reason));
    default:
      return make_error(Code::kIoError, fmt::format("{} in {}: {}", what, dir.string(), reason));
  }
}

Result<Txn> Txn::begin(MDB_env* env, bool writable, const std::filesystem::path& dir) {
  MDB_txn* txn = nullptr;
  const int rc = mdb_txn_begin(env, nullptr, writable ? 0 : MDB_RDONLY, &txn);
  if (rc != MDB_SUCCESS) {
    return error_from(
        rc, writable ? "cannot begin a write transaction" : "cannot begin a read transaction", dir);
  }
  return Txn(txn, &dir);
}

Result<Txn> Txn::begin_nested(MDB_env* env, const Txn& parent, const std::filesystem::path& dir) {
  MDB_txn* txn = nullptr;
  const int rc = mdb_txn_begin(env, parent.get(), 0, &txn);
  if (rc != MDB_SUCCESS) return error_from(rc, "cannot begin a nested transaction", dir);
  return Txn(txn, &dir);
}

Txn::~Txn() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

Status Txn::commit() {
  MDB_txn* txn = txn_;
  txn_ = nullptr;  // mdb_txn_commit frees the handle even when it fails
  const int rc = mdb_txn_commit(txn);
  if (rc != MDB_SUCCESS) return error_from(rc, "cannot commit", *dir_);
  return {};
}

Result<std::optional<std::string_view>> Txn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val key_val = to_val(key);
  MDB_val value{};
  const int rc = mdb_get(txn_, dbi, &key_val, &value);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != MDB_SUCCESS) return error_from(rc, "cannot read a record", *dir_);
  return std::optional<std::string_view>(to_view(value));
}

Status Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val key_val = to_val(key);
  MDB_val value_val = to_val(value);
  const int rc = mdb_put(txn_, dbi, &key_val, &value_val, flags);
  if (rc != MDB_SUCCESS) return error_from(rc, "cannot write a record", *dir_);
  return {};
}

Status Txn::del(MDB_dbi dbi, std::string_view key) {
  MDB_val key_val = to_val(key);
  const int rc = mdb_del(txn_, dbi, &key_val, nullptr);
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    return error_from(rc, "cannot delete a record", *dir_);
  }
  return {};
}

Result<Cursor> Cursor::open(const Txn& txn, MDB_dbi dbi) {
  MDB_cursor* cursor = nullptr;
  const int rc = mdb_cursor_open(txn.get(), dbi, &cursor);
  if (rc != MDB_SUCCESS) return error_from(rc, "cannot open a cursor", txn.dir());
  return Cursor(cursor, &txn.dir());
}

Cursor::~Cursor() {
  if (cursor_ != nullptr) mdb_cursor_close(cursor_);
}

Result<bool> Cursor::move(MDB_cursor_op op, std::string_view& key, std::string_view& value) {
  MDB_val key_val = to_val(key);
  MDB_val value_val{};
  const int rc = mdb_cursor_get(cursor_, &key_val, &value_val, op);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) return error_from(rc, "cannot move a cursor", *dir_);
  key = to_view(key_val);
  value = to_view(value_val);
  return true;
}

Status Cursor::del() {
  const int rc = mdb_cursor_del(cursor_, 0);
  if (rc != MDB_SUCCESS) return error_from(rc, "cannot delete a record", *dir_);
  return {};
}

}  // namespace aethel::storage::lmdb
