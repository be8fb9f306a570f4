// Store: opening (format version, lock, integrity checks) and the write and
// read paths over four LMDB databases (docs/STORAGE.md, "Layout").
#include <fcntl.h>
#include <fmt/format.h>
#include <lmdb.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "storage/encoding.h"
#include "storage/format_file.h"
#include "storage/journal.h"
#include "storage/lmdb_file.h"
#include "storage/lmdb_txn.h"
#include "storage/posix_file.h"
#include "storage/storage.h"

namespace aethel::storage {
namespace {

namespace fs = std::filesystem;
using encoding::LogOffset;
using lmdb::Cursor;
using lmdb::Txn;

// Keys of the "meta" database.
constexpr std::string_view kFormatKey = "format_version";
constexpr std::string_view kHardStateKey = "hard_state";
constexpr std::string_view kLogOffsetKey = "log_offset";
constexpr std::string_view kSnapshotKey = "snapshot";
constexpr std::string_view kSnapshotFileKey = "snapshot_file";
constexpr std::string_view kAppliedStateKey = "applied_state";
constexpr std::string_view kRecoveryKey = "recovery";
constexpr std::string_view kOutcomesFromKey = "outcomes_indexed_from";
constexpr std::string_view kHistoryAnchorKey = "history_anchor";
constexpr std::string_view kJournalSeqKey = "journal_seq";

constexpr std::string_view kLockFileName = "LOCK";
constexpr std::string_view kDataFileName = "data.mdb";
constexpr std::string_view kReaderTableFileName = "lock.mdb";  // LMDB's
constexpr unsigned kMaxDatabases = 5;
constexpr std::size_t kMaxVotedForBytes = 1024;

// Returns the Error of a failed Status from a function returning Status or Result.
#define AETHEL_RETURN_IF_ERROR(expr)                                    \
  do {                                                                  \
    if (Status status_ = (expr); !status_.ok()) return status_.error(); \
  } while (false)

base::Error invalid(std::string message) {
  return make_error(Code::kInvalidArgument, std::move(message));
}

std::uint64_t entry_payload_bytes(const LogEntry& entry) {
  return entry.data.size();
}

// Snapshot files: "snapshot-<index, 20 digits>.bin" beside data.mdb.
constexpr std::string_view kSnapshotFilePrefix = "snapshot-";
constexpr std::string_view kSnapshotFileSuffix = ".bin";

std::string snapshot_file_name(std::uint64_t index) {
  return numbered_file_name(kSnapshotFilePrefix, index, kSnapshotFileSuffix);
}

// The index a snapshot file name carries; nullopt for any other name.
std::optional<std::uint64_t> snapshot_file_index(std::string_view name) {
  return numbered_file_number(name, kSnapshotFilePrefix, kSnapshotFileSuffix);
}

}  // namespace

// ---------------------------------------------------------------------------
// Impl: the environment, its database handles and the in-transaction helpers.
// ---------------------------------------------------------------------------

class Store::Impl {
 public:
  Impl(fs::path dir, StoreOptions options, Fd lock)
      : dir_(std::move(dir)), options_(options), lock_(std::move(lock)) {}
  ~Impl() {
    if (env_ != nullptr) mdb_env_close(env_);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status open_environment(const format_file::Contents& format);
  Status open_journal();
  Status journal(std::span<WriteBatch> batches);
  Status write(const WriteBatch& batch);
  std::vector<Status> write_all(std::span<const WriteBatch> batches, Sync sync);
  Status sync();
  Status truncate_suffix(std::uint64_t from_index);
  Status compact_prefix(std::uint64_t through_index);

  Result<Txn> read_txn() const { return Txn::begin(env_, false, dir_); }
  Result<Txn> write_txn() const { return Txn::begin(env_, true, dir_); }

  Result<LogOffset> log_offset(const Txn& txn) const;
  Result<LogBounds> log_bounds(const Txn& txn) const;
  Result<std::uint64_t> term_at(const Txn& txn, std::uint64_t index) const;
  Result<HardState> hard_state(const Txn& txn) const;
  Result<std::optional<Snapshot>> snapshot(const Txn& txn, bool with_data = true) const;
  Result<Bytes> read_snapshot_file(const std::string& file_name, std::uint64_t data_bytes) const;
  Result<std::string> prepare_snapshot_file(std::uint64_t index,
                                            const PieceWriter& write_data) const;
  // Deletes the snapshot files no record names: those below the stored snapshot's
  // index (files being prepared are above it), or, at open, all but the named one.
  void remove_stale_snapshot_files(bool at_open) const;
  Result<std::uint8_t> recovery(const Txn& txn) const;
  Result<std::optional<AppliedState>> applied_state(const Txn& txn) const;
  Result<std::vector<LogEntry>> entries(const Txn& txn, std::uint64_t from_index,
                                        std::uint64_t to_index_exclusive,
                                        std::uint64_t max_bytes) const;
  Result<std::vector<Block>> blocks(const Txn& txn, std::uint64_t from_height, std::uint32_t limit,
                                    std::uint64_t max_bytes) const;
  Result<BlockBounds> block_bounds(const Txn& txn) const;
  Result<std::optional<HistoryGap>> history_gap(const Txn& txn) const;
  Result<std::optional<HistoryAnchor>> history_anchor(const Txn& txn) const;
  Result<std::uint64_t> history_top(const Txn& txn) const;
  Result<std::vector<StateRecord>> state_scan(const Txn& txn, std::string_view after_key,
                                              std::uint32_t limit) const;

  Result<std::vector<StateRecord>> outcomes_with_prefix(const Txn& txn, std::string_view prefix,
                                                        std::uint32_t limit) const;
  Result<std::uint64_t> outcomes_indexed_from(const Txn& txn) const;

  Status check_state_key(std::string_view key) const;

  const fs::path& dir() const { return dir_; }
  MDB_dbi state_dbi() const { return state_; }
  MDB_dbi outcomes_dbi() const { return outcomes_; }
  StoreStats stats() const {
    return {durable_commits_.load(), entries_written_.load(), bytes_written_.load(),
            journal_records_replayed_};
  }

 private:
  Status check_file_size() const;
  Status open_databases(const format_file::Contents& format);
  Status check_format_record(Txn& txn, const format_file::Contents& format);
  Result<bool> any_database_has_records(const Txn& txn) const;
  Status mark_outcomes_indexed_from(Txn& txn);

  Status validate_shape(const WriteBatch& batch) const;
  Status apply_batch(Txn& txn, const WriteBatch& batch);
  Status apply_snapshot(Txn& txn, const Snapshot& snapshot, const std::optional<std::string>& file);
  Result<std::optional<encoding::SnapshotFileRecord>> snapshot_file_record(const Txn& txn) const;
  Status apply_compaction(Txn& txn, std::uint64_t through_index);
  Status apply_entries(Txn& txn, const std::vector<LogEntry>& entries);
  Status apply_hard_state(Txn& txn, const HardState& hard_state);
  Status apply_blocks(Txn& txn, const std::vector<Block>& blocks);
  Status apply_history(Txn& txn, const std::vector<Block>& history);
  Status apply_history_anchor(Txn& txn, const HistoryAnchor& anchor);
  Status apply_state(Txn& txn, const WriteBatch& batch);
  Status apply_outcomes(Txn& txn, const std::vector<StateRecord>& outcomes);
  Status apply_applied_state(Txn& txn, const AppliedState& applied);
  Status delete_log_from(Txn& txn, std::uint64_t from_index);
  Status delete_log_through(Txn& txn, std::uint64_t through_index);
  Status commit(Txn& txn, std::uint64_t entries, std::uint64_t bytes, Sync sync = Sync::kDurable,
                std::uint64_t journal_seq = 0);
  Status release_journal_through(std::uint64_t seq);
  Result<std::uint64_t> stored_journal_seq() const;
  base::Error corrupt(std::string_view what) const {
    return make_error(Code::kCorruption, fmt::format("{} in {}", what, dir_.string()));
  }

  fs::path dir_;
  StoreOptions options_;
  Fd lock_;  // flock held for the lifetime of the Store
  MDB_env* env_ = nullptr;
  MDB_dbi meta_ = 0;
  MDB_dbi log_ = 0;
  MDB_dbi blocks_ = 0;
  MDB_dbi state_ = 0;
  MDB_dbi outcomes_ = 0;
  // Appended to by journal(), released by the database's writer: one thread each.
  base::Mutex journal_mutex_;
  std::unique_ptr<Journal> journal_ GUARDED_BY(journal_mutex_);
  // The last journal record a commit put in the database; the database writer's.
  std::uint64_t committed_journal_seq_ = 0;
  std::uint64_t journal_records_replayed_ = 0;  // set at open
  std::atomic<std::uint64_t> durable_commits_{0};
  std::atomic<std::uint64_t> entries_written_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
};

// ---------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------

namespace {

Status prepare_directory(const fs::path& dir) {
  std::error_code error;
  if (fs::exists(dir, error) && !fs::is_directory(dir, error)) {
    return make_error(Code::kNotWritable,
                      fmt::format("data directory {} exists but is not a directory", dir.string()));
  }
  fs::create_directories(dir, error);
  if (error) {
    const bool denied = error == std::errc::permission_denied ||
                        error == std::errc::read_only_file_system ||
                        error == std::errc::operation_not_permitted;
    return make_error(
        denied ? Code::kNotWritable : Code::kIoError,
        fmt::format("cannot create data directory {}: {}", dir.string(), error.message()));
  }
  if (!fs::is_directory(dir, error)) {
    return make_error(Code::kNotWritable,
                      fmt::format("data directory {} is not a directory", dir.string()));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return errno_error(fmt::format("data directory {} is not writable", dir.string()), errno);
  }
  return {};
}

Result<Fd> lock_directory(const fs::path& dir) {
  const fs::path path = dir / kLockFileName;
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return errno_error(fmt::format("cannot create lock file {}", path.string()), errno);
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return make_error(Code::kLocked,
                        fmt::format("data directory {} is already in use by another store "
                                    "(this or another process holds {})",
                                    dir.string(), path.string()));
    }
    return errno_error(fmt::format("cannot lock {}", path.string()), errno);
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const fs::path& dir, const StoreOptions& options) {
  if (options.map_size_bytes == 0 || options.max_readers == 0 || options.max_entry_bytes == 0) {
    return invalid(
        fmt::format("store options for {}: map size, readers and entry limit must be "
                    "positive",
                    dir.string()));
  }
  AETHEL_RETURN_IF_ERROR(prepare_directory(dir));
  auto lock = lock_directory(dir);
  if (!lock.ok()) return lock.error();
  auto format = format_file::read(dir);
  if (!format.ok()) return format.error();
  const bool known = format->state == format_file::Contents::State::kMissing ||
                     (format->state == format_file::Contents::State::kValid &&
                      (format->version == kFormatVersion || format->version == 1));
  if (!known) {
    return make_error(Code::kUnsupportedFormat, format_file::refusal_message(dir, format.value()));
  }

  auto impl = std::make_unique<Impl>(dir, options, std::move(lock).value());
  AETHEL_RETURN_IF_ERROR(impl->open_environment(format.value()));
  AETHEL_RETURN_IF_ERROR(impl->open_journal());
  impl->remove_stale_snapshot_files(true);
  if (format->state == format_file::Contents::State::kValid && format->version == 1) {
    // Version 1 differs only by having no journal: the database record says 2 already.
    AETHEL_RETURN_IF_ERROR(format_file::write(dir, kFormatVersion));
  }
  if (format->state == format_file::Contents::State::kMissing) {
    // Written last: a FORMAT file promises an initialized database. Its
    // directory fsync also makes data.mdb's name durable; the parent's fsync
    // does the same for a data directory created just now.
    AETHEL_RETURN_IF_ERROR(format_file::write(dir, kFormatVersion));
    std::error_code error;
    const fs::path absolute = fs::absolute(dir, error);
    if (error) return errno_error(fmt::format("cannot resolve {}", dir.string()), error.value());
    fs::path normal = absolute.lexically_normal();
    if (!normal.has_filename()) normal = normal.parent_path();  // "data/" -> "data"
    AETHEL_RETURN_IF_ERROR(fsync_directory(normal.parent_path()));
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Status Store::Impl::open_environment(const format_file::Contents& format) {
  const fs::path data_path = dir_ / kDataFileName;
  if (format.state == format_file::Contents::State::kValid) {
    std::error_code error;
    const auto size = fs::file_size(data_path, error);
    if (error || size == 0) {
      return corrupt(fmt::format("{} is missing or empty although {} says the store was created",
                                 data_path.string(), kFormatFileName));
    }
  }
  int rc = mdb_env_create(&env_);
  if (rc != MDB_SUCCESS) return lmdb::error_from(rc, "cannot create an LMDB environment", dir_);
  rc = mdb_env_set_mapsize(env_, options_.map_size_bytes);
  if (rc == MDB_SUCCESS) rc = mdb_env_set_maxdbs(env_, kMaxDatabases);
  if (rc == MDB_SUCCESS) rc = mdb_env_set_maxreaders(env_, options_.max_readers);
  if (rc != MDB_SUCCESS) return lmdb::error_from(rc, "cannot configure LMDB", dir_);
  // Never MDB_NOSYNC or MDB_MAPASYNC. MDB_NOMETASYNC keeps the database intact after
  // any crash (data pages are flushed before the meta page that points to them is
  // written); commit() makes a write durable by flushing the meta page too, unless
  // the caller asked for Sync::kDataFlushed. MDB_NOTLS ties reader slots to
  // transactions rather than threads, so a slot is free again as soon as a read ends,
  // whichever thread ran it.
  rc = mdb_env_open(env_, dir_.c_str(), MDB_NOTLS | MDB_NOMETASYNC, 0644);
  if (rc != MDB_SUCCESS) return lmdb::error_from(rc, "cannot open the database", dir_);
  AETHEL_RETURN_IF_ERROR(check_file_size());
  return open_databases(format);
}

// LMDB does not write the pages a transaction allocates and frees again, so data.mdb
// may end before its last page where those pages are free; LMDB never reads them.
// A file cut short anywhere else would make LMDB fault (SIGBUS) on the first read of
// a missing page: refuse it up front.
Status Store::Impl::check_file_size() const {
  MDB_envinfo info{};
  MDB_stat stat{};
  int rc = mdb_env_info(env_, &info);
  if (rc == MDB_SUCCESS) rc = mdb_env_stat(env_, &stat);
  if (rc != MDB_SUCCESS) return lmdb::error_from(rc, "cannot read database info", dir_);
  const fs::path data_path = dir_ / kDataFileName;
  std::error_code error;
  const std::uint64_t size = fs::file_size(data_path, error);
  if (error) return corrupt(fmt::format("cannot stat {}: {}", data_path.string(), error.message()));
  const std::uint64_t needed = (std::uint64_t{info.me_last_pgno} + 1) * stat.ms_psize;
  if (size >= needed) return {};
  auto free = lmdb::free_pages(data_path, stat.ms_psize, info.me_last_txnid);
  if (!free.ok()) return free.error();
  for (std::uint64_t pgno = size / stat.ms_psize; pgno <= info.me_last_pgno; ++pgno) {
    if (!std::binary_search(free->begin(), free->end(), pgno)) {
      return corrupt(fmt::format("{} is truncated: {} bytes, but page {} past its end is in use",
                                 data_path.string(), size, pgno));
    }
  }
  return {};
}

Status Store::Impl::open_databases(const format_file::Contents& format) {
  auto txn = write_txn();
  if (!txn.ok()) return txn.error();
  const std::pair<const char*, MDB_dbi*> databases[] = {{"meta", &meta_},
                                                        {"log", &log_},
                                                        {"blocks", &blocks_},
                                                        {"state", &state_},
                                                        {"outcomes", &outcomes_}};
  for (const auto& [name, handle] : databases) {
    const int rc = mdb_dbi_open(txn->get(), name, MDB_CREATE, handle);
    if (rc != MDB_SUCCESS) {
      return lmdb::error_from(rc, fmt::format("cannot open database \"{}\"", name), dir_);
    }
  }
  AETHEL_RETURN_IF_ERROR(check_format_record(txn.value(), format));
  AETHEL_RETURN_IF_ERROR(mark_outcomes_indexed_from(txn.value()));
  return txn->commit();
}

// Once per store: where its index of outcomes starts. A store that had blocks before
// the index existed has no outcomes for them.
Status Store::Impl::mark_outcomes_indexed_from(Txn& txn) {
  auto record = txn.get(meta_, kOutcomesFromKey);
  if (!record.ok()) return record.error();
  if (record->has_value()) return {};
  auto bounds = block_bounds(txn);
  if (!bounds.ok()) return bounds.error();
  return txn.put(meta_, kOutcomesFromKey, encoding::u64_key(bounds->last_height + 1));
}

// The database carries its format version too, so a FORMAT file copied next
// to a foreign data.mdb, or a data.mdb without its FORMAT file, is detected.
Status Store::Impl::check_format_record(Txn& txn, const format_file::Contents& format) {
  auto record = txn.get(meta_, kFormatKey);
  if (!record.ok()) return record.error();
  if (record->has_value()) {
    const auto version = encoding::decode_format_version(**record);
    if (!version) return corrupt("the format version record of the database does not decode");
    if (*version == 1) {  // the upgrade to 2 (Store::open)
      return txn.put(meta_, kFormatKey, encoding::encode_format_version(kFormatVersion));
    }
    if (*version != kFormatVersion) {
      return make_error(Code::kUnsupportedFormat,
                        fmt::format("data directory {} holds a database of storage format version "
                                    "{}; this build supports version {}",
                                    dir_.string(), *version, kFormatVersion));
    }
    return {};
  }
  if (format.state == format_file::Contents::State::kValid) {
    return corrupt(
        fmt::format("{} exists but the database has no format version record", kFormatFileName));
  }
  auto has_records = any_database_has_records(txn);
  if (!has_records.ok()) return has_records.error();
  if (has_records.value()) {
    return corrupt(
        fmt::format("{} holds records but neither a {} file nor a format record; "
                    "it is not an Aethel store",
                    (dir_ / kDataFileName).string(), kFormatFileName));
  }
  return txn.put(meta_, kFormatKey, encoding::encode_format_version(kFormatVersion));
}

Result<bool> Store::Impl::any_database_has_records(const Txn& txn) const {
  for (MDB_dbi dbi : {meta_, log_, blocks_, state_, outcomes_}) {
    MDB_stat stat{};
    const int rc = mdb_stat(txn.get(), dbi, &stat);
    if (rc != MDB_SUCCESS) return lmdb::error_from(rc, "cannot count records", dir_);
    if (stat.ms_entries > 0) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Reads inside a transaction
// ---------------------------------------------------------------------------

Result<LogOffset> Store::Impl::log_offset(const Txn& txn) const {
  auto record = txn.get(meta_, kLogOffsetKey);
  if (!record.ok()) return record.error();
  if (!record->has_value()) return LogOffset{};
  auto offset = encoding::decode_log_offset(**record);
  if (!offset) return corrupt("the log offset record does not decode");
  return *offset;
}

Result<LogBounds> Store::Impl::log_bounds(const Txn& txn) const {
  auto offset = log_offset(txn);
  if (!offset.ok()) return offset.error();
  LogBounds bounds{offset->index + 1, offset->index, offset->term};
  auto cursor = Cursor::open(txn, log_);
  if (!cursor.ok()) return cursor.error();
  std::string_view key;
  std::string_view value;
  auto found = cursor->move(MDB_LAST, key, value);
  if (!found.ok()) return found.error();
  if (!found.value()) return bounds;
  auto last = encoding::parse_u64_key(key);
  if (!last || *last <= offset->index) {
    return corrupt("the last log key is malformed or inside the compacted prefix");
  }
  bounds.last_index = *last;
  return bounds;
}

Result<std::uint64_t> Store::Impl::term_at(const Txn& txn, std::uint64_t index) const {
  auto bounds = log_bounds(txn);
  if (!bounds.ok()) return bounds.error();
  if (index + 1 == bounds->first_index) return bounds->compacted_term;
  if (index < bounds->first_index) {
    return make_error(Code::kCompacted, fmt::format("entry {} was compacted (first index {}) in {}",
                                                    index, bounds->first_index, dir_.string()));
  }
  if (index > bounds->last_index) {
    return make_error(Code::kOutOfRange, fmt::format("entry {} is past the last index {} in {}",
                                                     index, bounds->last_index, dir_.string()));
  }
  auto record = txn.get(log_, encoding::u64_key(index));
  if (!record.ok()) return record.error();
  if (!record->has_value()) return corrupt(fmt::format("log entry {} is missing", index));
  auto term = encoding::decode_log_term(**record);
  if (!term) return corrupt(fmt::format("log entry {} does not decode", index));
  return *term;
}

Result<HardState> Store::Impl::hard_state(const Txn& txn) const {
  auto record = txn.get(meta_, kHardStateKey);
  if (!record.ok()) return record.error();
  if (!record->has_value()) return HardState{};
  auto hard_state = encoding::decode_hard_state(**record);
  if (!hard_state) return corrupt("the hard state record does not decode");
  return *hard_state;
}

Result<std::uint8_t> Store::Impl::recovery(const Txn& txn) const {
  auto record = txn.get(meta_, kRecoveryKey);
  if (!record.ok()) return record.error();
  if (!record->has_value()) return std::uint8_t{0};
  if ((*record)->size() != 1) return corrupt("the recovery record does not decode");
  return static_cast<std::uint8_t>((**record)[0]);
}

// A snapshot is stored in one of two forms: its data inline in the "snapshot" record,
// or in a file the "snapshot_file" record names. Never both. Without its data, reading
// it costs the same whatever its size.
Result<std::optional<Snapshot>> Store::Impl::snapshot(const Txn& txn, bool with_data) const {
  auto file = snapshot_file_record(txn);
  if (!file.ok()) return file.error();
  if (file->has_value()) {
    const encoding::SnapshotFileRecord& record = **file;
    Snapshot snapshot = record.meta;
    if (with_data) {
      auto data = read_snapshot_file(record.file_name, record.data_bytes);
      if (!data.ok()) return data.error();
      snapshot.data = std::move(data).value();
    }
    return std::optional<Snapshot>(std::move(snapshot));
  }
  auto record = txn.get(meta_, kSnapshotKey);
  if (!record.ok()) return record.error();
  if (!record->has_value()) return std::optional<Snapshot>();
  auto snapshot = with_data ? encoding::decode_snapshot(**record)
                            : encoding::decode_snapshot_without_data(**record);
  if (!snapshot) return corrupt("the snapshot record does not decode");
  return snapshot;
}

Result<std::optional<encoding::SnapshotFileRecord>> Store::Impl::snapshot_file_record(
    const Txn& txn) const {
  auto record = txn.get(meta_, kSnapshotFileKey);
  if (!record.ok()) return record.error();
  if (!record->has_value()) return std::optional<encoding::SnapshotFileRecord>();
  auto decoded = encoding::decode_snapshot_file(**record);
  if (!decoded || snapshot_file_index(decoded->file_name) != decoded->meta.last_included_index) {
    return corrupt("the snapshot file record does not decode");
  }
  return decoded;
}

Result<Bytes> Store::Impl::read_snapshot_file(const std::string& file_name,
                                              std::uint64_t data_bytes) const {
  const fs::path path = dir_ / file_name;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid())
    return corrupt(fmt::format("the snapshot file {} cannot be opened", path.string()));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || static_cast<std::uint64_t>(info.st_size) != data_bytes) {
    return corrupt(
        fmt::format("the snapshot file {} does not have its {} bytes", path.string(), data_bytes));
  }
  Bytes data(data_bytes);
  auto read = read_up_to(fd.get(), std::span(reinterpret_cast<char*>(data.data()), data.size()),
                         path.string());
  if (!read.ok()) return read.error();
  if (read.value() != data.size()) {
    return corrupt(fmt::format("the snapshot file {} ended early", path.string()));
  }
  return data;
}

Result<std::string> Store::Impl::prepare_snapshot_file(std::uint64_t index,
                                                       const PieceWriter& write_data) const {
  remove_stale_snapshot_files(false);  // here, not in the writer: deleting big files takes time
  std::string name = snapshot_file_name(index);
  AETHEL_RETURN_IF_ERROR(write_file_atomically(dir_, name, write_data));
  return name;
}

std::vector<std::string> store_file_names(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    std::string name = entry.path().filename().string();
    const bool fixed = name == kFormatFileName || name == kDataFileName ||
                       name == kReaderTableFileName || name == kLockFileName;
    if (fixed || snapshot_file_index(name) || Journal::is_file_name(name)) {
      names.push_back(std::move(name));
    }
  }
  return names;
}

void Store::Impl::remove_stale_snapshot_files(bool at_open) const {
  auto txn = read_txn();
  if (!txn.ok()) return;
  auto stored = snapshot(txn.value(), false);
  if (!stored.ok()) return;
  auto named = snapshot_file_record(txn.value());
  if (!named.ok()) return;
  const std::uint64_t stored_index = stored->has_value() ? (*stored)->last_included_index : 0;
  const std::string keep = named->has_value() ? (*named)->file_name : std::string();
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_, error)) {
    std::string name = entry.path().filename().string();
    // A ".tmp" a crash left behind while a file was written; only at open is none in use.
    const bool unfinished = at_open && name.ends_with(".tmp");
    if (unfinished) name.resize(name.size() - 4);
    const auto index = snapshot_file_index(name);
    if (!index || (!unfinished && name == keep) || (!at_open && *index >= stored_index)) continue;
    fs::remove(entry.path(), error);  // best effort: a stale file only costs space
  }
}

Result<std::optional<AppliedState>> Store::Impl::applied_state(const Txn& txn) const {
  auto record = txn.get(meta_, kAppliedStateKey);
  if (!record.ok()) return record.error();
  if (!record->has_value()) return std::optional<AppliedState>();
  auto applied = encoding::decode_applied_state(**record);
  if (!applied) return corrupt("the applied state record does not decode");
  return applied;
}

Result<std::vector<LogEntry>> Store::Impl::entries(const Txn& txn, std::uint64_t from_index,
                                                   std::uint64_t to_index_exclusive,
                                                   std::uint64_t max_bytes) const {
  if (from_index > to_index_exclusive) {
    return invalid(fmt::format("entry range [{}, {}) is reversed", from_index, to_index_exclusive));
  }
  auto bounds = log_bounds(txn);
  if (!bounds.ok()) return bounds.error();
  if (from_index < bounds->first_index) {
    return make_error(Code::kCompacted,
                      fmt::format("entry {} was compacted (first index {}) in {}", from_index,
                                  bounds->first_index, dir_.string()));
  }
  if (to_index_exclusive > bounds->last_index + 1) {
    return make_error(Code::kOutOfRange,
                      fmt::format("entries up to {} requested, last index is {} in {}",
                                  to_index_exclusive - 1, bounds->last_index, dir_.string()));
  }
  std::vector<LogEntry> result;
  if (from_index == to_index_exclusive) return result;
  auto cursor = Cursor::open(txn, log_);
  if (!cursor.ok()) return cursor.error();
  const std::string first_key = encoding::u64_key(from_index);
  std::string_view key = first_key;
  std::string_view value;
  auto found = cursor->move(MDB_SET_KEY, key, value);
  std::uint64_t total_bytes = 0;
  for (std::uint64_t index = from_index; index < to_index_exclusive; ++index) {
    if (!found.ok()) return found.error();
    if (!found.value() || encoding::parse_u64_key(key) != index) {
      return corrupt(fmt::format("log entry {} is missing inside [{}, {}]", index,
                                 bounds->first_index, bounds->last_index));
    }
    auto term = encoding::decode_log_term(value);
    if (!term) return corrupt(fmt::format("log entry {} does not decode", index));
    const std::string_view data = value.substr(encoding::kU64Bytes);
    if (!result.empty() && total_bytes + data.size() > max_bytes) break;
    total_bytes += data.size();
    result.push_back(LogEntry{index, *term, encoding::to_bytes(data)});
    found = cursor->move(MDB_NEXT, key, value);
  }
  return result;
}

Result<std::vector<Block>> Store::Impl::blocks(const Txn& txn, std::uint64_t from_height,
                                               std::uint32_t limit, std::uint64_t max_bytes) const {
  std::vector<Block> result;
  if (limit == 0) return result;
  auto cursor = Cursor::open(txn, blocks_);
  if (!cursor.ok()) return cursor.error();
  const std::string first_key = encoding::u64_key(from_height);
  std::string_view key = first_key;
  std::string_view value;
  auto found = cursor->move(MDB_SET_KEY, key, value);
  std::uint64_t total_bytes = 0;
  for (std::uint64_t height = from_height; result.size() < limit; ++height) {
    if (!found.ok()) return found.error();
    if (!found.value() || encoding::parse_u64_key(key) != height) break;
    if (!result.empty() && total_bytes + value.size() > max_bytes) break;
    total_bytes += value.size();
    result.push_back(Block{height, encoding::to_bytes(value)});
    found = cursor->move(MDB_NEXT, key, value);
  }
  return result;
}

Result<BlockBounds> Store::Impl::block_bounds(const Txn& txn) const {
  auto cursor = Cursor::open(txn, blocks_);
  if (!cursor.ok()) return cursor.error();
  BlockBounds bounds;
  std::string_view key;
  std::string_view value;
  for (const auto& [op, height] :
       {std::pair{MDB_FIRST, &bounds.first_height}, std::pair{MDB_LAST, &bounds.last_height}}) {
    auto found = cursor->move(op, key, value);
    if (!found.ok()) return found.error();
    if (!found.value()) return BlockBounds{};
    auto parsed = encoding::parse_u64_key(key);
    if (!parsed) return corrupt("a block key is malformed");
    *height = *parsed;
  }
  return bounds;
}

Result<std::optional<HistoryAnchor>> Store::Impl::history_anchor(const Txn& txn) const {
  auto record = txn.get(meta_, kHistoryAnchorKey);
  if (!record.ok()) return record.error();
  if (!record->has_value()) return std::optional<HistoryAnchor>{};
  auto anchor = encoding::decode_history_anchor(**record);
  if (!anchor) return corrupt("the history anchor record does not decode");
  return std::optional(std::move(*anchor));
}

// The top of the history: the last stored block, or the last install's anchor above it.
Result<std::uint64_t> Store::Impl::history_top(const Txn& txn) const {
  auto bounds = block_bounds(txn);
  if (!bounds.ok()) return bounds.error();
  auto anchor = history_anchor(txn);
  if (!anchor.ok()) return anchor.error();
  return std::max(bounds->last_height, anchor.value() ? anchor.value()->height : 0);
}

Result<std::optional<HistoryGap>> Store::Impl::history_gap(const Txn& txn) const {
  MDB_stat stat;
  const int rc = mdb_stat(txn.get(), blocks_, &stat);
  if (rc != MDB_SUCCESS) return lmdb::error_from(rc, "cannot count the stored blocks", dir_);
  auto top = history_top(txn);
  if (!top.ok()) return top.error();
  if (stat.ms_entries == top.value()) return std::optional<HistoryGap>{};
  auto cursor = Cursor::open(txn, blocks_);
  if (!cursor.ok()) return cursor.error();
  std::string_view key, value;
  std::uint64_t expected = 1;
  for (auto found = cursor->move(MDB_FIRST, key, value);;
       found = cursor->move(MDB_NEXT, key, value)) {
    if (!found.ok()) return found.error();
    if (!found.value()) return std::optional<HistoryGap>{HistoryGap{expected, top.value() + 1}};
    auto height = encoding::parse_u64_key(key);
    if (!height) return corrupt("a block key is malformed");
    if (*height != expected) return std::optional<HistoryGap>{HistoryGap{expected, *height}};
    ++expected;
  }
}

Result<std::vector<StateRecord>> Store::Impl::state_scan(const Txn& txn, std::string_view after_key,
                                                         std::uint32_t limit) const {
  std::vector<StateRecord> result;
  if (limit == 0) return result;
  auto cursor = Cursor::open(txn, state_);
  if (!cursor.ok()) return cursor.error();
  std::string_view key = after_key;
  std::string_view value;
  auto found = after_key.empty() ? cursor->move(MDB_FIRST, key, value)
                                 : cursor->move(MDB_SET_RANGE, key, value);
  if (found.ok() && found.value() && key == after_key) found = cursor->move(MDB_NEXT, key, value);
  while (result.size() < limit) {
    if (!found.ok()) return found.error();
    if (!found.value()) break;
    result.push_back(StateRecord{std::string(key), encoding::to_bytes(value)});
    found = cursor->move(MDB_NEXT, key, value);
  }
  return result;
}

Result<std::vector<StateRecord>> Store::Impl::outcomes_with_prefix(const Txn& txn,
                                                                   std::string_view prefix,
                                                                   std::uint32_t limit) const {
  std::vector<StateRecord> result;
  if (limit == 0) return result;
  auto cursor = Cursor::open(txn, outcomes_);
  if (!cursor.ok()) return cursor.error();
  std::string_view key = prefix;
  std::string_view value;
  auto found = cursor->move(MDB_SET_RANGE, key, value);
  while (result.size() < limit) {
    if (!found.ok()) return found.error();
    if (!found.value() || !key.starts_with(prefix)) break;
    result.push_back(StateRecord{std::string(key), encoding::to_bytes(value)});
    found = cursor->move(MDB_NEXT, key, value);
  }
  return result;
}

Result<std::uint64_t> Store::Impl::outcomes_indexed_from(const Txn& txn) const {
  auto record = txn.get(meta_, kOutcomesFromKey);
  if (!record.ok()) return record.error();
  if (!record->has_value()) return std::uint64_t{1};
  auto height = encoding::parse_u64_key(**record);
  if (!height) return corrupt("the outcome index's first height does not decode");
  return *height;
}

Status Store::Impl::check_state_key(std::string_view key) const {
  const auto max_key_bytes = static_cast<std::size_t>(mdb_env_get_maxkeysize(env_));
  if (key.empty() || key.size() > max_key_bytes) {
    return invalid(fmt::format("state key of {} bytes: keys must have 1 to {} bytes", key.size(),
                               max_key_bytes));
  }
  return {};
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

// Checks that need no stored data, before a transaction is opened.
Status Store::Impl::validate_shape(const WriteBatch& batch) const {
  std::uint64_t total_bytes = 0;
  for (std::size_t i = 0; i < batch.entries.size(); ++i) {
    const LogEntry& entry = batch.entries[i];
    if (entry.index == 0) return invalid("log entry index 0: indexes start at 1");
    if (entry_payload_bytes(entry) > options_.max_entry_bytes) {
      return invalid(fmt::format("log entry {} has {} bytes, the limit is {}", entry.index,
                                 entry.data.size(), options_.max_entry_bytes));
    }
    if (i > 0 && entry.index != batch.entries[i - 1].index + 1) {
      return invalid(fmt::format("log entries are not contiguous: {} follows {}", entry.index,
                                 batch.entries[i - 1].index));
    }
    if (i > 0 && entry.term < batch.entries[i - 1].term) {
      return invalid(fmt::format("log entry {} has term {}, lower than the term {} before it",
                                 entry.index, entry.term, batch.entries[i - 1].term));
    }
    total_bytes += entry.data.size();
  }
  for (const std::vector<Block>* blocks : {&batch.blocks, &batch.history}) {
    for (std::size_t i = 0; i < blocks->size(); ++i) {
      const std::vector<Block>& b = *blocks;
      if (b[i].height == 0) return invalid("block height 0: heights start at 1");
      if (i > 0 && b[i].height <= b[i - 1].height) {
        return invalid(fmt::format("block heights are not increasing: {} follows {}", b[i].height,
                                   b[i - 1].height));
      }
      total_bytes += b[i].data.size();
    }
  }
  for (const StateRecord& record : batch.state_puts) {
    AETHEL_RETURN_IF_ERROR(check_state_key(record.key));
    total_bytes += record.key.size() + record.value.size();
  }
  for (const std::string& key : batch.state_deletes) AETHEL_RETURN_IF_ERROR(check_state_key(key));
  for (const StateRecord& record : batch.outcomes) {
    AETHEL_RETURN_IF_ERROR(check_state_key(record.key));
    total_bytes += record.key.size() + record.value.size();
  }
  if (batch.hard_state && batch.hard_state->voted_for.size() > kMaxVotedForBytes) {
    return invalid(fmt::format("voted_for has {} bytes, the limit is {}",
                               batch.hard_state->voted_for.size(), kMaxVotedForBytes));
  }
  if (batch.snapshot) {
    total_bytes += batch.snapshot->data.size() + batch.snapshot->configuration.size();
  }
  if (batch.snapshot_file &&
      (!batch.snapshot || !batch.snapshot->data.empty() ||
       snapshot_file_index(*batch.snapshot_file) != batch.snapshot->last_included_index)) {
    return invalid(
        fmt::format("snapshot file {} does not name the batch's snapshot, or the "
                    "snapshot carries its data too",
                    *batch.snapshot_file));
  }
  if (batch.history_anchor && (!batch.snapshot || batch.history_anchor->root.empty())) {
    return invalid("a history anchor comes only with the snapshot it anchors, and has a root");
  }
  if (batch.applied_state) {
    total_bytes += batch.applied_state->state.size() + batch.applied_state->merkle_root.size();
  }
  if (total_bytes > options_.max_batch_bytes) {
    return invalid(fmt::format("write batch of {} bytes exceeds the limit of {}", total_bytes,
                               options_.max_batch_bytes));
  }
  return {};
}

Status Store::Impl::apply_batch(Txn& txn, const WriteBatch& batch) {
  if (batch.snapshot) {
    AETHEL_RETURN_IF_ERROR(apply_snapshot(txn, *batch.snapshot, batch.snapshot_file));
  }
  if (batch.history_anchor)
    AETHEL_RETURN_IF_ERROR(apply_history_anchor(txn, *batch.history_anchor));
  if (!batch.entries.empty()) AETHEL_RETURN_IF_ERROR(apply_entries(txn, batch.entries));
  if (batch.hard_state) AETHEL_RETURN_IF_ERROR(apply_hard_state(txn, *batch.hard_state));
  if (!batch.blocks.empty()) AETHEL_RETURN_IF_ERROR(apply_blocks(txn, batch.blocks));
  if (!batch.history.empty()) AETHEL_RETURN_IF_ERROR(apply_history(txn, batch.history));
  AETHEL_RETURN_IF_ERROR(apply_state(txn, batch));
  if (!batch.outcomes.empty()) AETHEL_RETURN_IF_ERROR(apply_outcomes(txn, batch.outcomes));
  if (batch.applied_state) AETHEL_RETURN_IF_ERROR(apply_applied_state(txn, *batch.applied_state));
  if (batch.compact_through) AETHEL_RETURN_IF_ERROR(apply_compaction(txn, *batch.compact_through));
  if (batch.recovery) {
    const char mark = static_cast<char>(*batch.recovery);
    AETHEL_RETURN_IF_ERROR(txn.put(meta_, kRecoveryKey, std::string_view(&mark, 1)));
  }
  if (batch.journal_seq > 0) {
    AETHEL_RETURN_IF_ERROR(txn.put(meta_, kJournalSeqKey, encoding::u64_key(batch.journal_seq)));
  }
  return {};
}

namespace {

std::uint64_t payload_bytes(const WriteBatch& batch) {
  std::uint64_t bytes = 0;
  for (const LogEntry& entry : batch.entries) bytes += entry.data.size();
  for (const Block& block : batch.blocks) bytes += block.data.size();
  for (const Block& block : batch.history) bytes += block.data.size();
  for (const StateRecord& record : batch.state_puts) bytes += record.value.size();
  for (const StateRecord& record : batch.outcomes) bytes += record.value.size();
  if (batch.snapshot) bytes += batch.snapshot->data.size();
  if (batch.applied_state) bytes += batch.applied_state->state.size();
  return bytes;
}

}  // namespace

Status Store::Impl::write(const WriteBatch& batch) {
  if (batch.empty()) return {};
  AETHEL_RETURN_IF_ERROR(validate_shape(batch));
  auto txn = write_txn();
  if (!txn.ok()) return txn.error();
  AETHEL_RETURN_IF_ERROR(apply_batch(txn.value(), batch));
  return commit(txn.value(), batch.entries.size(), payload_bytes(batch), Sync::kDurable,
                batch.journal_seq);
}

// Each batch runs in a nested transaction of one parent: a refused batch is
// rolled back alone, and the parent's single commit makes the rest durable.
std::vector<Status> Store::Impl::write_all(std::span<const WriteBatch> batches, Sync sync) {
  std::vector<Status> results(batches.size());
  auto parent = write_txn();
  if (!parent.ok()) return std::vector<Status>(batches.size(), parent.status());
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::uint64_t journal_seq = 0;
  bool any_applied = false;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const WriteBatch& batch = batches[i];
    if (batch.empty()) continue;
    results[i] = validate_shape(batch);
    if (!results[i].ok()) continue;
    auto child = Txn::begin_nested(env_, parent.value(), dir_);
    if (!child.ok()) {
      results[i] = child.status();
      continue;
    }
    results[i] = apply_batch(child.value(), batch);
    if (results[i].ok()) results[i] = child->commit();  // no sync: only the parent's counts
    if (!results[i].ok()) continue;
    any_applied = true;
    entries += batch.entries.size();
    bytes += payload_bytes(batch);
    journal_seq = std::max(journal_seq, batch.journal_seq);
  }
  if (!any_applied) return results;
  const Status committed = commit(parent.value(), entries, bytes, sync, journal_seq);
  if (!committed.ok()) {
    for (std::size_t i = 0; i < batches.size(); ++i) {
      if (results[i].ok() && !batches[i].empty()) results[i] = committed;
    }
  }
  return results;
}

// The environment defers the meta page's sync (MDB_NOMETASYNC): a commit flushes its
// data, then writes the meta page that points to it without waiting. The next
// commit's flush, or sync(), makes that meta page durable: so once a commit returns,
// the journal records the commit before it holds are no longer needed.
Status Store::Impl::commit(Txn& txn, std::uint64_t entries, std::uint64_t bytes, Sync sync,
                           std::uint64_t journal_seq) {
  const std::uint64_t durable_journal_seq = committed_journal_seq_;
  AETHEL_RETURN_IF_ERROR(txn.commit());
  committed_journal_seq_ = std::max(committed_journal_seq_, journal_seq);
  if (sync == Sync::kDurable) {
    AETHEL_RETURN_IF_ERROR(this->sync());
  } else {
    AETHEL_RETURN_IF_ERROR(release_journal_through(durable_journal_seq));
  }
  durable_commits_.fetch_add(1, std::memory_order_relaxed);
  entries_written_.fetch_add(entries, std::memory_order_relaxed);
  bytes_written_.fetch_add(bytes, std::memory_order_relaxed);
  return {};
}

Status Store::Impl::sync() {
  const int rc = mdb_env_sync(env_, 1);
  if (rc != MDB_SUCCESS) return lmdb::error_from(rc, "cannot sync the database", dir_);
  return release_journal_through(committed_journal_seq_);
}

Status Store::Impl::release_journal_through(std::uint64_t seq) {
  base::MutexLock lock(journal_mutex_);
  if (journal_ == nullptr) return {};  // still opening
  return journal_->release_through(seq);
}

Result<std::uint64_t> Store::Impl::stored_journal_seq() const {
  auto txn = read_txn();
  if (!txn.ok()) return txn.error();
  auto record = txn->get(meta_, kJournalSeqKey);
  if (!record.ok()) return record.error();
  if (!record->has_value()) return std::uint64_t{0};
  auto seq = encoding::parse_u64_key(**record);
  if (!seq) return corrupt("the journal sequence record does not decode");
  return *seq;
}

// Replays into the database the journaled batches it lacks: those a crash of the
// machine caught before the database's commit of them was durable, or a crash of the
// process before it was made.
Status Store::Impl::open_journal() {
  auto seq = stored_journal_seq();
  if (!seq.ok()) return seq.error();
  std::vector<JournalRecord> recovered;
  auto journal = Journal::open(dir_, seq.value(), recovered);
  if (!journal.ok()) return journal.error();
  {
    base::MutexLock lock(journal_mutex_);
    journal_ = std::move(journal).value();
  }
  committed_journal_seq_ = seq.value();
  std::vector<WriteBatch> batches;
  for (const JournalRecord& record : recovered) {
    auto batch = encoding::decode_journal_payload(record.payload);
    if (!batch) return corrupt(fmt::format("journal record {} does not decode", record.seq));
    batch->journal_seq = record.seq;
    batches.push_back(std::move(*batch));
  }
  if (batches.empty()) return release_journal_through(seq.value());
  const std::vector<Status> replayed = write_all(batches, Sync::kDurable);
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (!replayed[i].ok()) {
      return corrupt(fmt::format("journal record {} cannot be replayed ({})", recovered[i].seq,
                                 replayed[i].error().message));
    }
  }
  journal_records_replayed_ = batches.size();
  return {};  // the durable commit's sync released the journal
}

Status Store::Impl::journal(std::span<WriteBatch> batches) {
  std::vector<std::string> payloads;
  payloads.reserve(batches.size());
  for (const WriteBatch& batch : batches) {
    if (batch.empty()) continue;
    if (!journalable(batch)) {
      return invalid(
          "a batch with a snapshot, a history anchor, a replaced state or a recovery mark "
          "cannot be journaled: write it with Sync::kDurable");
    }
    AETHEL_RETURN_IF_ERROR(validate_shape(batch));
    payloads.push_back(encoding::encode_journal_payload(batch));
  }
  base::MutexLock lock(journal_mutex_);
  auto last = journal_->append(payloads);
  if (!last.ok()) return last.error();
  std::uint64_t seq = last.value() - payloads.size();
  for (WriteBatch& batch : batches) {
    if (!batch.empty()) batch.journal_seq = ++seq;
  }
  return {};
}

// Raft's InstallSnapshot rules: keep the log when it holds the snapshot's last
// entry with the same term, otherwise discard it and restart after the
// snapshot. Never discards a committed entry the snapshot does not cover.
Status Store::Impl::apply_snapshot(Txn& txn, const Snapshot& snapshot,
                                   const std::optional<std::string>& file) {
  auto stored = this->snapshot(txn, false);
  if (!stored.ok()) return stored.error();
  if (stored->has_value() && snapshot.last_included_index < (*stored)->last_included_index) {
    return invalid(fmt::format("snapshot at index {} is older than the stored one at {}",
                               snapshot.last_included_index, (*stored)->last_included_index));
  }
  auto bounds = log_bounds(txn);
  if (!bounds.ok()) return bounds.error();
  auto hard = hard_state(txn);
  if (!hard.ok()) return hard.error();
  const std::uint64_t index = snapshot.last_included_index;
  if (index + 1 < bounds->first_index) {
    return invalid(
        fmt::format("snapshot at index {} is older than the compacted prefix ending "
                    "at {}",
                    index, bounds->first_index - 1));
  }
  bool log_matches = false;
  if (index <= bounds->last_index) {
    auto term = term_at(txn, index);
    if (!term.ok()) return term.error();
    log_matches = term.value() == snapshot.last_included_term;
  }
  if (!log_matches) {
    if (index < hard->commit_index) {
      return invalid(
          fmt::format("snapshot at index {} term {} conflicts with committed entries "
                      "(commit index {})",
                      index, snapshot.last_included_term, hard->commit_index));
    }
    AETHEL_RETURN_IF_ERROR(delete_log_from(txn, bounds->first_index));
    AETHEL_RETURN_IF_ERROR(
        txn.put(meta_, kLogOffsetKey,
                encoding::encode_log_offset(LogOffset{index, snapshot.last_included_term})));
  }
  if (!file) {
    AETHEL_RETURN_IF_ERROR(txn.del(meta_, kSnapshotFileKey));
    return txn.put(meta_, kSnapshotKey, encoding::encode_snapshot(snapshot));
  }
  std::error_code error;
  const std::uint64_t prepared = fs::file_size(dir_ / *file, error);
  if (error) return invalid(fmt::format("snapshot file {} is not in {}", *file, dir_.string()));
  AETHEL_RETURN_IF_ERROR(txn.del(meta_, kSnapshotKey));
  return txn.put(meta_, kSnapshotFileKey,
                 encoding::encode_snapshot_file({snapshot, prepared, *file}));
}

Status Store::Impl::apply_entries(Txn& txn, const std::vector<LogEntry>& entries) {
  auto bounds = log_bounds(txn);
  if (!bounds.ok()) return bounds.error();
  auto hard = hard_state(txn);
  if (!hard.ok()) return hard.error();
  const std::uint64_t first = entries.front().index;
  if (first < bounds->first_index) {
    return make_error(Code::kCompacted,
                      fmt::format("cannot append at index {}: entries up to {} are compacted in {}",
                                  first, bounds->first_index - 1, dir_.string()));
  }
  if (first > bounds->last_index + 1) {
    return invalid(fmt::format("cannot append at index {}: the log ends at {} (gap)", first,
                               bounds->last_index));
  }
  auto previous_term = term_at(txn, first - 1);
  if (!previous_term.ok()) return previous_term.error();
  if (entries.front().term < previous_term.value()) {
    return invalid(fmt::format("entry {} has term {}, lower than the term {} of entry {}", first,
                               entries.front().term, previous_term.value(), first - 1));
  }
  // Replacing committed entries is allowed only with identical terms (a
  // leader resending what the follower already has).
  for (std::uint64_t index = first;
       index <= std::min(hard->commit_index, bounds->last_index) && index < first + entries.size();
       ++index) {
    auto term = term_at(txn, index);
    if (!term.ok()) return term.error();
    if (term.value() != entries[index - first].term) {
      return invalid(fmt::format("entry {} term {} would overwrite a committed entry of term {}",
                                 index, entries[index - first].term, term.value()));
    }
  }
  if (first <= bounds->last_index) AETHEL_RETURN_IF_ERROR(delete_log_from(txn, first));
  for (const LogEntry& entry : entries) {
    AETHEL_RETURN_IF_ERROR(txn.put(log_, encoding::u64_key(entry.index),
                                   encoding::encode_log_value(entry.term, entry.data), MDB_APPEND));
  }
  return {};
}

Status Store::Impl::apply_hard_state(Txn& txn, const HardState& hard_state) {
  auto stored = this->hard_state(txn);
  if (!stored.ok()) return stored.error();
  if (hard_state.term < stored->term) {
    return invalid(fmt::format("hard state term {} is lower than the stored term {}",
                               hard_state.term, stored->term));
  }
  if (hard_state.commit_index < stored->commit_index) {
    return invalid(fmt::format("commit index {} is lower than the stored commit index {}",
                               hard_state.commit_index, stored->commit_index));
  }
  auto bounds = log_bounds(txn);
  if (!bounds.ok()) return bounds.error();
  if (hard_state.commit_index > bounds->last_index) {
    return invalid(fmt::format("commit index {} is past the last log index {}",
                               hard_state.commit_index, bounds->last_index));
  }
  return txn.put(meta_, kHardStateKey, encoding::encode_hard_state(hard_state));
}

Status Store::Impl::apply_blocks(Txn& txn, const std::vector<Block>& blocks) {
  auto bounds = block_bounds(txn);
  if (!bounds.ok()) return bounds.error();
  if (bounds->last_height != 0 && blocks.front().height <= bounds->last_height) {
    return invalid(fmt::format("block height {} is not above the last stored height {}",
                               blocks.front().height, bounds->last_height));
  }
  for (const Block& block : blocks) {
    AETHEL_RETURN_IF_ERROR(txn.put(blocks_, encoding::u64_key(block.height),
                                   encoding::as_view(block.data), MDB_APPEND));
  }
  return {};
}

Status Store::Impl::apply_history(Txn& txn, const std::vector<Block>& history) {
  auto top = history_top(txn);
  if (!top.ok()) return top.error();
  if (history.back().height > top.value()) {
    return invalid(fmt::format("history block {} is above the history's top {}",
                               history.back().height, top.value()));
  }
  for (const Block& block : history) {
    const std::string key = encoding::u64_key(block.height);
    auto stored = txn.get(blocks_, key);
    if (!stored.ok()) return stored.error();
    if (stored.value()) {
      return invalid(fmt::format("history block {} is already stored", block.height));
    }
    AETHEL_RETURN_IF_ERROR(txn.put(blocks_, key, encoding::as_view(block.data)));
  }
  return {};
}

Status Store::Impl::apply_history_anchor(Txn& txn, const HistoryAnchor& anchor) {
  auto stored = history_anchor(txn);
  if (!stored.ok()) return stored.error();
  if (stored.value() && stored.value()->height >= anchor.height) return {};
  return txn.put(meta_, kHistoryAnchorKey, encoding::encode_history_anchor(anchor));
}

Status Store::Impl::apply_state(Txn& txn, const WriteBatch& batch) {
  if (batch.replace_state) {
    const int rc = mdb_drop(txn.get(), state_, 0);
    if (rc != MDB_SUCCESS) return lmdb::error_from(rc, "cannot clear the state records", dir_);
  }
  for (const std::string& key : batch.state_deletes) AETHEL_RETURN_IF_ERROR(txn.del(state_, key));
  for (const StateRecord& record : batch.state_puts) {
    AETHEL_RETURN_IF_ERROR(txn.put(state_, record.key, encoding::as_view(record.value)));
  }
  return {};
}

Status Store::Impl::apply_outcomes(Txn& txn, const std::vector<StateRecord>& outcomes) {
  for (const StateRecord& record : outcomes) {
    AETHEL_RETURN_IF_ERROR(txn.put(outcomes_, record.key, encoding::as_view(record.value)));
  }
  return {};
}

Status Store::Impl::apply_applied_state(Txn& txn, const AppliedState& applied) {
  auto stored = this->applied_state(txn);
  if (!stored.ok()) return stored.error();
  if (stored->has_value() && applied.applied_index < (*stored)->applied_index) {
    return invalid(fmt::format("applied index {} is lower than the stored applied index {}",
                               applied.applied_index, (*stored)->applied_index));
  }
  return txn.put(meta_, kAppliedStateKey, encoding::encode_applied_state(applied));
}

Status Store::Impl::delete_log_from(Txn& txn, std::uint64_t from_index) {
  auto cursor = Cursor::open(txn, log_);
  if (!cursor.ok()) return cursor.error();
  const std::string first_key = encoding::u64_key(from_index);
  std::string_view key = first_key;
  std::string_view value;
  auto found = cursor->move(MDB_SET_RANGE, key, value);
  while (true) {
    if (!found.ok()) return found.error();
    if (!found.value()) return {};
    AETHEL_RETURN_IF_ERROR(cursor->del());
    found = cursor->move(MDB_NEXT, key, value);
  }
}

Status Store::Impl::delete_log_through(Txn& txn, std::uint64_t through_index) {
  auto cursor = Cursor::open(txn, log_);
  if (!cursor.ok()) return cursor.error();
  std::string_view key;
  std::string_view value;
  auto found = cursor->move(MDB_FIRST, key, value);
  while (true) {
    if (!found.ok()) return found.error();
    if (!found.value()) return {};
    auto index = encoding::parse_u64_key(key);
    if (!index) return corrupt("a log key is malformed");
    if (*index > through_index) return {};
    AETHEL_RETURN_IF_ERROR(cursor->del());
    found = cursor->move(MDB_NEXT, key, value);
  }
}

Status Store::Impl::truncate_suffix(std::uint64_t from_index) {
  auto txn = write_txn();
  if (!txn.ok()) return txn.error();
  auto bounds = log_bounds(txn.value());
  if (!bounds.ok()) return bounds.error();
  auto hard = hard_state(txn.value());
  if (!hard.ok()) return hard.error();
  if (from_index < bounds->first_index) {
    return make_error(Code::kCompacted,
                      fmt::format("cannot truncate from {}: entries up to {} are compacted in {}",
                                  from_index, bounds->first_index - 1, dir_.string()));
  }
  if (from_index <= hard->commit_index) {
    return invalid(fmt::format("cannot truncate from {}: entries up to {} are committed",
                               from_index, hard->commit_index));
  }
  if (from_index > bounds->last_index) return {};
  AETHEL_RETURN_IF_ERROR(delete_log_from(txn.value(), from_index));
  return commit(txn.value(), 0, 0);
}

Status Store::Impl::compact_prefix(std::uint64_t through_index) {
  auto txn = write_txn();
  if (!txn.ok()) return txn.error();
  AETHEL_RETURN_IF_ERROR(apply_compaction(txn.value(), through_index));
  return commit(txn.value(), 0, 0);
}

Status Store::Impl::apply_compaction(Txn& txn, std::uint64_t through_index) {
  auto bounds = log_bounds(txn);
  if (!bounds.ok()) return bounds.error();
  if (through_index < bounds->first_index) return {};
  auto stored = snapshot(txn, false);
  if (!stored.ok()) return stored.error();
  if (!stored->has_value() || through_index > (*stored)->last_included_index) {
    return invalid(
        fmt::format("cannot compact through {}: the stored snapshot covers entries "
                    "up to {}",
                    through_index, stored->has_value() ? (*stored)->last_included_index : 0));
  }
  if (through_index > bounds->last_index) {
    return make_error(Code::kOutOfRange,
                      fmt::format("cannot compact through {}: the log ends at {} in {}",
                                  through_index, bounds->last_index, dir_.string()));
  }
  auto term = term_at(txn, through_index);
  if (!term.ok()) return term.error();
  AETHEL_RETURN_IF_ERROR(delete_log_through(txn, through_index));
  return txn.put(meta_, kLogOffsetKey,
                 encoding::encode_log_offset(LogOffset{through_index, term.value()}));
}

// ---------------------------------------------------------------------------
// Store: each public call is one transaction of the Impl.
// ---------------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Status Store::write(const WriteBatch& batch) {
  return impl_->write(batch);
}

std::vector<Status> Store::write_all(std::span<const WriteBatch> batches, Sync sync) {
  return impl_->write_all(batches, sync);
}

Status Store::sync() {
  return impl_->sync();
}

Status Store::journal(std::span<WriteBatch> batches) {
  return impl_->journal(batches);
}

bool Store::journalable(const WriteBatch& batch) {
  return !batch.snapshot && !batch.snapshot_file && !batch.history_anchor && !batch.replace_state &&
         !batch.recovery;
}

Status Store::append(const std::vector<LogEntry>& entries,
                     const std::optional<HardState>& hard_state) {
  WriteBatch batch;
  batch.entries = entries;
  batch.hard_state = hard_state;
  return impl_->write(batch);
}

Status Store::truncate_suffix(std::uint64_t from_index) {
  return impl_->truncate_suffix(from_index);
}

Status Store::compact_prefix(std::uint64_t through_index) {
  return impl_->compact_prefix(through_index);
}

namespace {

// Runs `read` in a fresh read transaction of `impl`.
template <typename Read>
auto with_read_txn(const Store::Impl& impl, Read read) -> decltype(read(std::declval<Txn&>())) {
  auto txn = impl.read_txn();
  if (!txn.ok()) return txn.error();
  return read(txn.value());
}

}  // namespace

Result<LogBounds> Store::log_bounds() const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->log_bounds(txn); });
}

Result<std::vector<LogEntry>> Store::entries(std::uint64_t from_index,
                                             std::uint64_t to_index_exclusive,
                                             std::uint64_t max_bytes) const {
  return with_read_txn(*impl_, [&](Txn& txn) {
    return impl_->entries(txn, from_index, to_index_exclusive, max_bytes);
  });
}

Result<std::uint64_t> Store::term_at(std::uint64_t index) const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->term_at(txn, index); });
}

Result<HardState> Store::hard_state() const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->hard_state(txn); });
}

Result<std::uint8_t> Store::recovery() const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->recovery(txn); });
}

Result<std::string> Store::prepare_snapshot_file(std::uint64_t index,
                                                 std::span<const std::uint8_t> data) const {
  const std::string_view contents(reinterpret_cast<const char*>(data.data()), data.size());
  return impl_->prepare_snapshot_file(index, [&](const PieceSink& sink) { sink(contents); });
}

Result<std::string> Store::prepare_snapshot_file(std::uint64_t index,
                                                 const PieceWriter& write_data) const {
  return impl_->prepare_snapshot_file(index, write_data);
}

Result<Bytes> Store::read_prepared_snapshot_file(std::uint64_t index,
                                                 std::uint64_t data_bytes) const {
  return impl_->read_snapshot_file(snapshot_file_name(index), data_bytes);
}

Result<std::optional<Snapshot>> Store::snapshot() const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->snapshot(txn); });
}

Result<std::optional<AppliedState>> Store::applied_state() const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->applied_state(txn); });
}

Result<std::vector<Block>> Store::blocks(std::uint64_t from_height, std::uint32_t limit,
                                         std::uint64_t max_bytes) const {
  return with_read_txn(*impl_,
                       [&](Txn& txn) { return impl_->blocks(txn, from_height, limit, max_bytes); });
}

Result<BlockBounds> Store::block_bounds() const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->block_bounds(txn); });
}

Result<std::optional<HistoryGap>> Store::history_gap() const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->history_gap(txn); });
}

Result<std::optional<HistoryAnchor>> Store::history_anchor() const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->history_anchor(txn); });
}

Result<std::optional<Bytes>> Store::state_get(std::string_view key) const {
  if (Status status = impl_->check_state_key(key); !status.ok()) return status.error();
  return with_read_txn(*impl_, [&](Txn& txn) -> Result<std::optional<Bytes>> {
    auto record = txn.get(impl_->state_dbi(), key);
    if (!record.ok()) return record.error();
    if (!record->has_value()) return std::optional<Bytes>();
    return std::optional<Bytes>(encoding::to_bytes(**record));
  });
}

Result<std::vector<StateRecord>> Store::state_scan(std::string_view after_key,
                                                   std::uint32_t limit) const {
  if (!after_key.empty()) {
    if (Status status = impl_->check_state_key(after_key); !status.ok()) return status.error();
  }
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->state_scan(txn, after_key, limit); });
}

Result<std::vector<std::optional<Bytes>>> Store::outcomes_get(
    std::span<const std::string> keys) const {
  for (const std::string& key : keys) {
    if (Status status = impl_->check_state_key(key); !status.ok()) return status.error();
  }
  return with_read_txn(*impl_, [&](Txn& txn) -> Result<std::vector<std::optional<Bytes>>> {
    std::vector<std::optional<Bytes>> values;
    values.reserve(keys.size());
    for (const std::string& key : keys) {
      auto record = txn.get(impl_->outcomes_dbi(), key);
      if (!record.ok()) return record.error();
      values.push_back(record->has_value() ? std::optional(encoding::to_bytes(**record))
                                           : std::nullopt);
    }
    return values;
  });
}

Result<std::vector<StateRecord>> Store::outcomes_with_prefix(std::string_view prefix,
                                                             std::uint32_t limit) const {
  if (Status status = impl_->check_state_key(prefix); !status.ok()) return status.error();
  return with_read_txn(*impl_,
                       [&](Txn& txn) { return impl_->outcomes_with_prefix(txn, prefix, limit); });
}

Result<std::uint64_t> Store::outcomes_indexed_from() const {
  return with_read_txn(*impl_, [&](Txn& txn) { return impl_->outcomes_indexed_from(txn); });
}

StoreStats Store::stats() const {
  return impl_->stats();
}

const std::filesystem::path& Store::dir() const {
  return impl_->dir();
}

}  // namespace aethel::storage
