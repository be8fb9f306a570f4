// Store behaviour on a real disk: format version policy, refusal of damaged or
// unusable directories, the log rules (append, conflict, truncate, compact),
// snapshots, applied state, blocks, atomic batches and concurrent readers.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "storage/storage.h"
#include "test_support.h"

namespace aethel::storage {
namespace {

namespace fs = std::filesystem;
using testing::payload_for;
using testing::ScratchDir;

std::string test_name() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

std::unique_ptr<Store> open_ok(const fs::path& dir, const StoreOptions& options = {}) {
  auto store = Store::open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().to_string();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::vector<LogEntry> make_entries(std::uint64_t first, std::uint64_t count, std::uint64_t term) {
  std::vector<LogEntry> entries;
  for (std::uint64_t index = first; index < first + count; ++index) {
    entries.push_back(LogEntry{index, term, payload_for(index)});
  }
  return entries;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

// Creates a store holding entries 1..count and closes it.
void create_store(const fs::path& dir, std::uint64_t count) {
  auto store = open_ok(dir);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, count, 1)).ok());
}

// --- errors -----------------------------------------------------------------

TEST(StorageErrors, CodesTravelAsBaseErrorCodesAndReadBack) {
  for (Code code :
       {Code::kInvalidArgument, Code::kCompacted, Code::kOutOfRange, Code::kUnsupportedFormat,
        Code::kCorruption, Code::kNotWritable, Code::kLocked, Code::kMapFull, Code::kIoError}) {
    const Status status = make_error(code, "what happened");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, code_name(code));
    EXPECT_EQ(code_of(status), code);
    const Result<int> result = make_error(code, "what happened");
    EXPECT_EQ(code_of(result), code);
    EXPECT_EQ(result.status().to_string(), std::string(code_name(code)) + ": what happened");
  }
  EXPECT_EQ(code_of(Status()), Code::kOk);
  EXPECT_EQ(code_of(Result<int>(1)), Code::kOk);
  EXPECT_EQ(code_name(Code::kCompacted), "compacted");
  EXPECT_EQ(code_name(Code::kIoError), "io_error");
  EXPECT_EQ(code_of(base::Error{"not_a_storage_code", ""}), Code::kIoError);
}

TEST(StorageErrors, ACompactedReadSaysSo) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, 10, 1)).ok());
  WriteBatch batch;
  batch.snapshot = Snapshot{5, 1, {}, bytes_of("state")};
  batch.compact_through = 5;
  ASSERT_TRUE(store->write(batch).ok());
  const auto entries = store->entries(3, 8, UINT64_MAX);
  EXPECT_EQ(code_of(entries), Code::kCompacted);
  EXPECT_EQ(entries.error().code, "compacted");
  EXPECT_NE(entries.error().message.find(scratch.path().string()), std::string::npos);
}

// --- format version ---------------------------------------------------------

TEST(StorageFormat, FreshDirectoryGetsCurrentVersion) {
  ScratchDir scratch(test_name());
  const fs::path dir = scratch.path() / "new" / "nested/";
  auto store = open_ok(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(read_file(dir / "FORMAT"), "aethel-storage-format 2\n");
  EXPECT_EQ(store->log_bounds().value(), (LogBounds{1, 0, 0}));
  EXPECT_EQ(store->hard_state().value(), HardState{});
  EXPECT_FALSE(store->snapshot().value().has_value());
  EXPECT_EQ(store->term_at(0).value(), 0u);
}

TEST(StorageFormat, NewerVersionIsRefusedNamingDirectoryAndVersions) {
  ScratchDir scratch(test_name());
  create_store(scratch.path(), 3);
  write_file(scratch.path() / "FORMAT", "aethel-storage-format 3\n");
  auto store = Store::open(scratch.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(code_of(store), Code::kUnsupportedFormat);
  const std::string& message = store.error().message;
  EXPECT_NE(message.find(scratch.path().string()), std::string::npos) << message;
  EXPECT_NE(message.find("format version 3"), std::string::npos) << message;
  EXPECT_NE(message.find("supports version 2"), std::string::npos) << message;
}

TEST(StorageFormat, TornOrGarbageFormatFileIsRefused) {
  const std::string contents[] = {"",
                                  "aethel-storage-format 1",
                                  "aethel-storage-fo",
                                  "aethel-storage-format \n",
                                  "aethel-storage-format 1x\n",
                                  "aethel-storage-format 1\n\n",
                                  "aethel-storage-format 12345678901\n",
                                  std::string("\0\xff\x13garbage", 10)};
  for (const std::string& content : contents) {
    ScratchDir scratch(test_name());
    create_store(scratch.path(), 2);
    write_file(scratch.path() / "FORMAT", content);
    auto store = Store::open(scratch.path());
    ASSERT_FALSE(store.ok()) << "accepted FORMAT \"" << content << "\"";
    EXPECT_EQ(code_of(store), Code::kUnsupportedFormat);
    EXPECT_NE(store.error().message.find(scratch.path().string()), std::string::npos);
    EXPECT_NE(store.error().message.find("unreadable"), std::string::npos) << store.error().message;
    EXPECT_NE(store.error().message.find("supports storage format version 2"), std::string::npos);
  }
}

TEST(StorageFormat, MissingFormatFileIsRestoredFromTheDatabaseRecord) {
  // The crash window between the first commit and writing FORMAT.
  ScratchDir scratch(test_name());
  create_store(scratch.path(), 5);
  fs::remove(scratch.path() / "FORMAT");
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->log_bounds()->last_index, 5u);
  EXPECT_EQ(read_file(scratch.path() / "FORMAT"), "aethel-storage-format 2\n");
}

// The store's LMDB environment opened directly, as another program would.
struct RawEnv {
  explicit RawEnv(const fs::path& dir, unsigned flags = 0) {
    EXPECT_EQ(mdb_env_create(&env), MDB_SUCCESS);
    EXPECT_EQ(mdb_env_set_maxdbs(env, 8), MDB_SUCCESS);
    opened = mdb_env_open(env, dir.c_str(), flags, 0644) == MDB_SUCCESS;
    EXPECT_TRUE(opened) << dir;
  }
  ~RawEnv() { mdb_env_close(env); }
  RawEnv(const RawEnv&) = delete;
  RawEnv& operator=(const RawEnv&) = delete;

  // Runs `change` in one write transaction on database `name` (created if missing).
  template <typename Change>
  void write(const char* name, Change change) {
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    ASSERT_TRUE(opened);
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), MDB_SUCCESS);
    ASSERT_EQ(mdb_dbi_open(txn, name, MDB_CREATE, &dbi), MDB_SUCCESS);
    ASSERT_NO_FATAL_FAILURE(change(txn, dbi));
    ASSERT_EQ(mdb_txn_commit(txn), MDB_SUCCESS);
  }

  MDB_env* env = nullptr;
  bool opened = false;
};

// Rewrites the database's own format record, as a build of that version wrote it.
void set_database_format_record(const fs::path& dir, std::uint32_t version) {
  RawEnv(dir).write("meta", [&](MDB_txn* txn, MDB_dbi meta) {
    std::string key = "format_version";
    const char value[4] = {0, 0, 0, static_cast<char>(version)};
    MDB_val k{key.size(), key.data()};
    MDB_val v{sizeof value, const_cast<char*>(value)};
    ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), MDB_SUCCESS);
  });
}

TEST(StorageFormat, VersionOneIsUpgradedToTwo) {
  // A directory a version 1 build wrote: version 2 only adds the journal.
  ScratchDir scratch(test_name());
  create_store(scratch.path(), 4);
  ASSERT_NO_FATAL_FAILURE(set_database_format_record(scratch.path(), 1));
  write_file(scratch.path() / "FORMAT", "aethel-storage-format 1\n");
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->log_bounds()->last_index, 4u);
    EXPECT_EQ(read_file(scratch.path() / "FORMAT"), "aethel-storage-format 2\n");
  }
  // A crash between the database's record and FORMAT leaves FORMAT at 1: also opened.
  write_file(scratch.path() / "FORMAT", "aethel-storage-format 1\n");
  ASSERT_NE(open_ok(scratch.path()), nullptr);
  EXPECT_EQ(read_file(scratch.path() / "FORMAT"), "aethel-storage-format 2\n");
  // The database's record says 2 now: FORMAT 3 (a newer build) is still refused.
  write_file(scratch.path() / "FORMAT", "aethel-storage-format 3\n");
  EXPECT_EQ(code_of(Store::open(scratch.path())), Code::kUnsupportedFormat);
}

// --- damaged or unusable directories ----------------------------------------

TEST(StorageOpen, GarbageDataFileIsCorruptionNotACrash) {
  ScratchDir scratch(test_name());
  create_store(scratch.path(), 10);
  std::mt19937_64 rng(7);
  std::string junk(64 * 1024, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  write_file(scratch.path() / "data.mdb", junk);
  auto store = Store::open(scratch.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(code_of(store), Code::kCorruption) << store.status().to_string();
  EXPECT_NE(store.error().message.find(scratch.path().string()), std::string::npos);
}

TEST(StorageOpen, ForeignDataFileWithoutFormatIsRefused) {
  ScratchDir scratch(test_name());
  write_file(scratch.path() / "data.mdb", std::string(20000, 'x'));
  auto store = Store::open(scratch.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(code_of(store), Code::kCorruption) << store.status().to_string();
}

TEST(StorageOpen, TruncatedDataFileIsRefused) {
  ScratchDir scratch(test_name());
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    for (std::uint64_t first = 1; first <= 4000; first += 500) {
      ASSERT_TRUE(store->append(make_entries(first, 500, 1)).ok());
    }
  }
  const fs::path data = scratch.path() / "data.mdb";
  fs::resize_file(data, fs::file_size(data) / 2);
  auto store = Store::open(scratch.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(code_of(store), Code::kCorruption);
  EXPECT_NE(store.error().message.find("truncated"), std::string::npos) << store.error().message;
}

// The bytes data.mdb lacks below the end of its last page; LMDB's own view.
std::int64_t missing_tail_bytes(const fs::path& dir) {
  RawEnv raw(dir, MDB_RDONLY);
  MDB_envinfo info{};
  MDB_stat stat{};
  EXPECT_EQ(mdb_env_info(raw.env, &info), MDB_SUCCESS);
  EXPECT_EQ(mdb_env_stat(raw.env, &stat), MDB_SUCCESS);
  const auto needed = static_cast<std::int64_t>((info.me_last_pgno + 1) * stat.ms_psize);
  return needed - static_cast<std::int64_t>(fs::file_size(dir / "data.mdb"));
}

void put_keys(MDB_txn* txn, MDB_dbi dbi, int round, int count) {
  const std::string value(200, 'v');
  for (int i = 0; i < count; ++i) {
    std::string key = fmt::format("{:02}-{:05}", round, i);
    MDB_val k{key.size(), key.data()};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), MDB_SUCCESS);
  }
}

// Leaves data.mdb shorter than its last page, as LMDB may: transactions that append
// keys and delete the last ones again free pages they never write, and the file ends
// before them. The keys go to a database of their own, dropped at the end.
void leave_unwritten_free_pages_at_the_end(const fs::path& dir) {
  RawEnv raw(dir);
  for (int round = 0; round < 8 && missing_tail_bytes(dir) <= 0; ++round) {
    raw.write("scratch", [&](MDB_txn* txn, MDB_dbi dbi) {
      ASSERT_NO_FATAL_FAILURE(put_keys(txn, dbi, round, 2000));
      for (int i = 1999; i >= 1000; --i) {
        std::string key = fmt::format("{:02}-{:05}", round, i);
        MDB_val k{key.size(), key.data()};
        ASSERT_EQ(mdb_del(txn, dbi, &k, nullptr), MDB_SUCCESS);
      }
    });
  }
  raw.write("scratch",
            [](MDB_txn* txn, MDB_dbi dbi) { ASSERT_EQ(mdb_drop(txn, dbi, 1), MDB_SUCCESS); });
}

TEST(StorageOpen, DataFileEndingBeforePagesOnlyFreedIsOpened) {
  // What a crash can leave: the pages past the end are free, nothing needs them.
  ScratchDir scratch(test_name());
  create_store(scratch.path(), 4);
  ASSERT_NO_FATAL_FAILURE(leave_unwritten_free_pages_at_the_end(scratch.path()));
  ASSERT_GT(missing_tail_bytes(scratch.path()), 0) << "LMDB wrote every page it freed";
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->log_bounds()->last_index, 4u);
    ASSERT_TRUE(store->append(make_entries(5, 2000, 1)).ok());
  }
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->log_bounds()->last_index, 2004u);
}

// Pages on overflow pages of LMDB's free list, which records a transaction's freed
// pages in one value.
std::uint64_t free_list_overflow_pages(const fs::path& dir) {
  RawEnv raw(dir, MDB_RDONLY);
  MDB_txn* txn = nullptr;
  MDB_stat stat{};
  EXPECT_EQ(mdb_txn_begin(raw.env, nullptr, MDB_RDONLY, &txn), MDB_SUCCESS);
  EXPECT_EQ(mdb_stat(txn, 0, &stat), MDB_SUCCESS);  // 0: the free list
  mdb_txn_abort(txn);
  return stat.ms_overflow_pages;
}

TEST(StorageOpen, DataFileEndingBeforeFreePagesIsOpenedWhenItsFreeListHasOverflowPages) {
  ScratchDir scratch(test_name());
  create_store(scratch.path(), 4);
  {
    RawEnv raw(scratch.path());
    raw.write("bulk", [](MDB_txn* txn, MDB_dbi dbi) { put_keys(txn, dbi, 0, 20000); });
    raw.write("bulk", [](MDB_txn* txn, MDB_dbi dbi) {
      ASSERT_EQ(mdb_drop(txn, dbi, 1), MDB_SUCCESS);  // frees about 1,200 pages at once
    });
  }
  ASSERT_NO_FATAL_FAILURE(leave_unwritten_free_pages_at_the_end(scratch.path()));
  ASSERT_GT(missing_tail_bytes(scratch.path()), 0) << "LMDB wrote every page it freed";
  ASSERT_GT(free_list_overflow_pages(scratch.path()), 0u) << "the free list fits in its leaves";
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->log_bounds()->last_index, 4u);
}

TEST(StorageOpen, DataFileCutAtAnyPageOpensWholeOrIsRefusedNeverFaults) {
  ScratchDir scratch(test_name());
  const fs::path original = scratch.path() / "original";
  create_store(original, 300);
  ASSERT_NO_FATAL_FAILURE(leave_unwritten_free_pages_at_the_end(original));
  const std::uint64_t page_bytes = 4096;
  const std::uint64_t pages = fs::file_size(original / "data.mdb") / page_bytes;
  int opened = 0;
  for (std::uint64_t kept = pages; kept >= 2; --kept) {
    const fs::path copy = scratch.path() / "copy";
    fs::remove_all(copy);
    fs::copy(original, copy);
    fs::resize_file(copy / "data.mdb", kept * page_bytes);
    auto store = Store::open(copy);
    if (!store.ok()) {
      EXPECT_EQ(code_of(store), Code::kCorruption) << store.status().to_string();
      EXPECT_NE(store.error().message.find("truncated"), std::string::npos)
          << store.error().message;
      continue;
    }
    ++opened;
    auto entries = store.value()->entries(1, 301, std::uint64_t{1} << 30);
    ASSERT_TRUE(entries.ok()) << "cut to " << kept << " pages: " << entries.status().to_string();
    EXPECT_EQ(entries->size(), 300u);
  }
  EXPECT_GE(opened, 1) << "the uncut file must open";
  EXPECT_LT(opened, static_cast<int>(pages) - 1) << "some cut must be refused";
}

TEST(StorageOpen, EmptyDataFileWithFormatIsRefused) {
  ScratchDir scratch(test_name());
  create_store(scratch.path(), 3);
  fs::resize_file(scratch.path() / "data.mdb", 0);
  auto store = Store::open(scratch.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(code_of(store), Code::kCorruption);
  EXPECT_NE(store.error().message.find("missing or empty"), std::string::npos);
}

TEST(StorageOpen, PathThatIsAFileIsRefused) {
  ScratchDir scratch(test_name());
  write_file(scratch.path() / "plain", "x");
  auto store = Store::open(scratch.path() / "plain");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(code_of(store), Code::kNotWritable);
  EXPECT_NE(store.error().message.find((scratch.path() / "plain").string()), std::string::npos);
  auto below = Store::open(scratch.path() / "plain" / "sub");
  ASSERT_FALSE(below.ok());
}

// Opens `dir` as an unprivileged user when running as root (root ignores
// permission bits), in a child process; returns the Code it got.
int open_code_as_unprivileged(const fs::path& dir) {
  if (::geteuid() != 0) return static_cast<int>(code_of(Store::open(dir)));
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(100);
    ::_exit(static_cast<int>(code_of(Store::open(dir))));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(StorageOpen, ReadOnlyDirectoryIsNotWritable) {
  ScratchDir scratch(test_name());
  const fs::path dir = scratch.path() / "readonly";
  fs::create_directories(dir);
  fs::permissions(scratch.path(), fs::perms::all);  // the child must reach `dir`
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                           fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  EXPECT_EQ(open_code_as_unprivileged(dir), static_cast<int>(Code::kNotWritable));
  if (::geteuid() != 0) {
    auto store = Store::open(dir);
    EXPECT_NE(store.error().message.find(dir.string()), std::string::npos);
  }
}

TEST(StorageOpen, SecondOpenOfTheSameDirectoryIsLocked) {
  ScratchDir scratch(test_name());
  auto first = open_ok(scratch.path());
  ASSERT_NE(first, nullptr);
  auto second = Store::open(scratch.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(code_of(second), Code::kLocked);
  first.reset();
  EXPECT_NE(open_ok(scratch.path()), nullptr);
}

TEST(StorageOpen, FullMapIsAnErrorAndTheStoreStaysUsable) {
  ScratchDir scratch(test_name());
  StoreOptions options;
  options.map_size_bytes = 1 << 20;
  std::uint64_t acknowledged = 0;
  {
    auto store = open_ok(scratch.path(), options);
    ASSERT_NE(store, nullptr);
    Status status;
    for (int batch = 0; batch < 1000 && status.ok(); ++batch) {
      status = store->append(make_entries(acknowledged + 1, 50, 1));
      if (status.ok()) acknowledged += 50;
    }
    ASSERT_EQ(code_of(status), Code::kMapFull) << status.to_string();
    EXPECT_NE(status.error().message.find(scratch.path().string()), std::string::npos);
    EXPECT_GT(acknowledged, 0u);
    EXPECT_EQ(store->log_bounds()->last_index, acknowledged);
  }
  auto store = open_ok(scratch.path(), options);
  ASSERT_NE(store, nullptr);
  auto entries = store->entries(1, acknowledged + 1, UINT64_MAX);
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  EXPECT_EQ(*entries, make_entries(1, acknowledged, 1));
}

// --- the log ----------------------------------------------------------------

TEST(StorageLog, AppendThenReadRangeWithByteLimit) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, 60, 1), HardState{1, "n1", 10}).ok());
  ASSERT_TRUE(store->append(make_entries(61, 40, 2)).ok());
  EXPECT_EQ(store->log_bounds().value(), (LogBounds{1, 100, 0}));
  EXPECT_EQ(store->term_at(60).value(), 1u);
  EXPECT_EQ(store->term_at(61).value(), 2u);
  EXPECT_EQ(code_of(store->term_at(101)), Code::kOutOfRange);
  EXPECT_EQ(store->hard_state().value(), (HardState{1, "n1", 10}));

  auto all = store->entries(1, 101, UINT64_MAX);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 100u);
  EXPECT_EQ((*all)[59], (LogEntry{60, 1, payload_for(60)}));

  std::uint64_t limit = 0;
  for (std::uint64_t index = 10; index < 15; ++index) limit += payload_for(index).size();
  auto limited = store->entries(10, 101, limit);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 5u);
  auto one = store->entries(10, 101, 0);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u) << "a byte limit below one entry still returns one";
  EXPECT_TRUE(store->entries(7, 7, 0)->empty());
  EXPECT_EQ(code_of(store->entries(90, 102, UINT64_MAX)), Code::kOutOfRange);
  EXPECT_EQ(code_of(store->entries(9, 8, UINT64_MAX)), Code::kInvalidArgument);
}

TEST(StorageLog, AppendRefusesGapsNonContiguityAndFallingTerms) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, 5, 2)).ok());
  EXPECT_EQ(code_of(store->append(make_entries(7, 1, 2))), Code::kInvalidArgument);  // gap
  EXPECT_EQ(code_of(store->append({LogEntry{6, 2, {}}, LogEntry{8, 2, {}}})),
            Code::kInvalidArgument);
  EXPECT_EQ(code_of(store->append(make_entries(6, 1, 1))), Code::kInvalidArgument);  // term 1 < 2
  EXPECT_EQ(code_of(store->append({LogEntry{6, 3, {}}, LogEntry{7, 2, {}}})),
            Code::kInvalidArgument);
  EXPECT_EQ(code_of(store->append(make_entries(0, 1, 2))), Code::kInvalidArgument);
  EXPECT_EQ(store->log_bounds()->last_index, 5u) << "refused appends left no trace";
}

TEST(StorageLog, OversizedEntryIsRefusedBeforeWriting) {
  ScratchDir scratch(test_name());
  StoreOptions options;
  options.max_entry_bytes = 1000;
  auto store = open_ok(scratch.path(), options);
  ASSERT_NE(store, nullptr);
  const Status status = store->append({LogEntry{1, 1, Bytes(1001, 7)}});
  EXPECT_EQ(code_of(status), Code::kInvalidArgument);
  EXPECT_NE(status.error().message.find("1001 bytes"), std::string::npos) << status.error().message;
  EXPECT_EQ(store->stats().durable_commits, 0u);
}

TEST(StorageLog, AppendReplacesAConflictingSuffix) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, 10, 1), HardState{1, "", 4}).ok());
  ASSERT_TRUE(store
                  ->append({LogEntry{6, 2, bytes_of("six")}, LogEntry{7, 2, bytes_of("seven")}},
                           HardState{2, "", 7})
                  .ok());
  EXPECT_EQ(store->log_bounds()->last_index, 7u);
  auto tail = store->entries(5, 8, UINT64_MAX);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail,
            (std::vector<LogEntry>{LogEntry{5, 1, payload_for(5)}, LogEntry{6, 2, bytes_of("six")},
                                   LogEntry{7, 2, bytes_of("seven")}}));
}

TEST(StorageLog, CommittedEntriesCannotBeReplacedOrTruncated) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, 10, 1), HardState{1, "", 6}).ok());
  EXPECT_EQ(code_of(store->append(make_entries(6, 2, 2))), Code::kInvalidArgument);
  EXPECT_EQ(code_of(store->truncate_suffix(6)), Code::kInvalidArgument);
  // Resending committed entries with their own terms is harmless.
  EXPECT_TRUE(store->append(make_entries(5, 3, 1)).ok());
  EXPECT_EQ(store->log_bounds()->last_index, 7u);
}

TEST(StorageLog, TruncateThenAppendIsConsistentAcrossReopen) {
  ScratchDir scratch(test_name());
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->append(make_entries(1, 20, 1), HardState{1, "a", 3}).ok());
    ASSERT_TRUE(store->truncate_suffix(8).ok());
    EXPECT_EQ(store->log_bounds()->last_index, 7u);
    EXPECT_EQ(code_of(store->term_at(8)), Code::kOutOfRange);
    ASSERT_TRUE(store->truncate_suffix(30).ok()) << "truncating past the end is a no-op";
    ASSERT_TRUE(store->append(make_entries(8, 5, 3)).ok());
  }
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  auto entries = store->entries(1, 13, UINT64_MAX);
  ASSERT_TRUE(entries.ok());
  auto expected = make_entries(1, 7, 1);
  for (auto& entry : make_entries(8, 5, 3)) expected.push_back(entry);
  EXPECT_EQ(*entries, expected);
  EXPECT_EQ(store->log_bounds()->last_index, 12u);
}

TEST(StorageLog, HardStateNeverGoesBackwards) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, 10, 3), HardState{5, "peer-a", 8}).ok());
  EXPECT_EQ(code_of(store->append({}, HardState{4, "", 8})), Code::kInvalidArgument);
  EXPECT_EQ(code_of(store->append({}, HardState{5, "", 7})), Code::kInvalidArgument);
  EXPECT_EQ(code_of(store->append({}, HardState{5, "", 11})), Code::kInvalidArgument);
  ASSERT_TRUE(store->append({}, HardState{6, "peer-b", 10}).ok());
  EXPECT_EQ(store->hard_state().value(), (HardState{6, "peer-b", 10}));
}

// --- snapshots ----------------------------------------------------------------

TEST(StorageSnapshot, SnapshotThenCompactPrefixSurvivesReopen) {
  ScratchDir scratch(test_name());
  const Snapshot snapshot{50, 2, bytes_of("peers: a,b,c"), Bytes(10000, 0x5a)};
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->append(make_entries(1, 40, 1)).ok());
    ASSERT_TRUE(store->append(make_entries(41, 40, 2), HardState{2, "", 70}).ok());
    EXPECT_EQ(code_of(store->compact_prefix(30)), Code::kInvalidArgument) << "no snapshot yet";
    WriteBatch batch;
    batch.snapshot = snapshot;
    ASSERT_TRUE(store->write(batch).ok());
    EXPECT_EQ(store->log_bounds()->first_index, 1u) << "a matching snapshot keeps the log";
    EXPECT_EQ(code_of(store->compact_prefix(51)), Code::kInvalidArgument);
    ASSERT_TRUE(store->compact_prefix(50).ok());
    ASSERT_TRUE(store->compact_prefix(20).ok()) << "already compacted: no-op";
  }
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->log_bounds().value(), (LogBounds{51, 80, 2}));
  EXPECT_EQ(store->snapshot().value(), snapshot);
  EXPECT_EQ(store->term_at(50).value(), 2u);
  EXPECT_EQ(code_of(store->term_at(49)), Code::kCompacted);
  EXPECT_EQ(code_of(store->entries(50, 52, UINT64_MAX)), Code::kCompacted);
  EXPECT_EQ(*store->entries(51, 52, UINT64_MAX), make_entries(51, 1, 2));
  EXPECT_EQ(code_of(store->append(make_entries(50, 1, 2))), Code::kCompacted);
  EXPECT_EQ(code_of(store->truncate_suffix(50)), Code::kCompacted);
  WriteBatch stale;
  stale.snapshot = Snapshot{40, 1, {}, {}};
  EXPECT_EQ(code_of(store->write(stale)), Code::kInvalidArgument);
}

TEST(StorageSnapshot, SnapshotBeyondTheLogRestartsTheLogAfterIt) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, 10, 1), HardState{1, "", 5}).ok());
  WriteBatch install;
  install.snapshot = Snapshot{100, 3, {}, bytes_of("state")};
  install.hard_state = HardState{3, "", 100};
  install.replace_state = true;
  install.state_puts = {StateRecord{"Alice", bytes_of("900")}};
  install.applied_state = AppliedState{100, bytes_of("root"), {}};
  ASSERT_TRUE(store->write(install).ok());
  EXPECT_EQ(store->log_bounds().value(), (LogBounds{101, 100, 3}));
  EXPECT_EQ(store->term_at(100).value(), 3u);
  EXPECT_EQ(code_of(store->term_at(5)), Code::kCompacted);
  ASSERT_TRUE(store->append(make_entries(101, 3, 3)).ok());
  EXPECT_EQ(store->log_bounds().value(), (LogBounds{101, 103, 3}));
}

TEST(StorageSnapshot, ConflictingSnapshotBelowCommitIsRefused) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, 10, 1), HardState{1, "", 8}).ok());
  WriteBatch batch;
  batch.snapshot = Snapshot{5, 2, {}, {}};
  EXPECT_EQ(code_of(store->write(batch)), Code::kInvalidArgument);
  EXPECT_EQ(store->log_bounds()->last_index, 10u);
}

// A snapshot at `index` whose data went to a prepared file, with the log compacted.
Status write_file_snapshot(Store& store, std::uint64_t index, const Bytes& data) {
  auto file = store.prepare_snapshot_file(index, data);
  if (!file.ok()) return file.error();
  WriteBatch batch;
  batch.snapshot = Snapshot{index, 1, bytes_of("peers"), {}};
  batch.snapshot_file = file.value();
  batch.compact_through = index;
  return store.write(batch);
}

std::vector<std::string> snapshot_files(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("snapshot-")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(StorageSnapshotFile, APreparedFileIsTheSnapshotAcrossReopenAndOnlyTheNewestStays) {
  ScratchDir scratch(test_name());
  const Bytes first(300'000, 0x11);
  const Bytes second(200'000, 0x22);
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->append(make_entries(1, 20, 1), HardState{1, "", 20}).ok());
    ASSERT_TRUE(write_file_snapshot(*store, 8, first).ok());
    EXPECT_EQ(store->snapshot().value(), (Snapshot{8, 1, bytes_of("peers"), first}));
    EXPECT_EQ(store->log_bounds()->first_index, 9u);
    ASSERT_TRUE(write_file_snapshot(*store, 15, second).ok());
    EXPECT_EQ(store->read_prepared_snapshot_file(15, second.size()).value(), second);
    EXPECT_EQ(store->read_prepared_snapshot_file(8, first.size()).value(), first)
        << "the stored snapshot's predecessor stays until the next one is prepared";
    auto wrong_size = store->read_prepared_snapshot_file(15, second.size() + 1);
    EXPECT_EQ(code_of(wrong_size), Code::kCorruption);
    EXPECT_NE(wrong_size.status().to_string().find("snapshot-00000000000000000015.bin"),
              std::string::npos)
        << wrong_size.status().to_string();
    ASSERT_TRUE(write_file_snapshot(*store, 17, second).ok());
    EXPECT_EQ(code_of(store->read_prepared_snapshot_file(8, first.size())), Code::kCorruption)
        << "gone";
    EXPECT_EQ(snapshot_files(scratch.path()),
              (std::vector<std::string>{"snapshot-00000000000000000015.bin",
                                        "snapshot-00000000000000000017.bin"}))
        << "the file before the newest goes when the next one is prepared";
    EXPECT_LT(fs::file_size(scratch.path() / "data.mdb"), first.size())
        << "the data is in the file, not in the database";
  }
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(snapshot_files(scratch.path()),
            std::vector<std::string>{"snapshot-00000000000000000017.bin"});
  EXPECT_EQ(store->snapshot().value(), (Snapshot{17, 1, bytes_of("peers"), second}));
  EXPECT_EQ(store->log_bounds().value(), (LogBounds{18, 20, 1}));
  // A snapshot installed inline (from a leader) replaces the file, which goes.
  WriteBatch install;
  install.snapshot = Snapshot{30, 2, bytes_of("peers"), bytes_of("installed")};
  install.hard_state = HardState{2, "", 30};
  ASSERT_TRUE(store->write(install).ok());
  EXPECT_EQ(store->snapshot()->value().data, bytes_of("installed"));
  store.reset();
  store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->snapshot()->value().data, bytes_of("installed"));
  EXPECT_TRUE(snapshot_files(scratch.path()).empty());
}

TEST(StorageSnapshotFile, FilesNoRecordNamesAreRemovedAtOpenAndAMissingOneIsCorruption) {
  ScratchDir scratch(test_name());
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->append(make_entries(1, 20, 1), HardState{1, "", 20}).ok());
    ASSERT_TRUE(write_file_snapshot(*store, 10, Bytes(1000, 7)).ok());
    ASSERT_TRUE(store->prepare_snapshot_file(18, Bytes(10, 1)).ok());  // a crash came next
    EXPECT_EQ(snapshot_files(scratch.path()).size(), 2u) << "a file being prepared stays";
    write_file(scratch.path() / "snapshot-00000000000000000019.bin.tmp", "torn");
    write_file(scratch.path() / "snapshot-notes.txt", "an operator's file");
  }
  auto names = storage::store_file_names(scratch.path());
  EXPECT_NE(std::find(names.begin(), names.end(), "snapshot-00000000000000000010.bin"),
            names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "snapshot-notes.txt"), names.end());
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(
        snapshot_files(scratch.path()),
        (std::vector<std::string>{"snapshot-00000000000000000010.bin", "snapshot-notes.txt"}));
    EXPECT_EQ(store->snapshot()->value().data, Bytes(1000, 7));
  }
  fs::resize_file(scratch.path() / "snapshot-00000000000000000010.bin", 999);
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  auto truncated = store->snapshot();
  EXPECT_EQ(code_of(truncated), Code::kCorruption);
  EXPECT_NE(truncated.status().to_string().find("snapshot-00000000000000000010.bin"),
            std::string::npos)
      << truncated.status().to_string();
  fs::remove(scratch.path() / "snapshot-00000000000000000010.bin");
  EXPECT_EQ(code_of(store->snapshot()), Code::kCorruption);
}

TEST(StorageSnapshotFile, ABatchNamingAWrongFileIsRefusedAndChangesNothing) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(make_entries(1, 20, 1), HardState{1, "", 20}).ok());
  auto file = store->prepare_snapshot_file(10, Bytes(100, 3));
  ASSERT_TRUE(file.ok());
  WriteBatch other_index;
  other_index.snapshot = Snapshot{12, 1, {}, {}};
  other_index.snapshot_file = file.value();
  EXPECT_EQ(code_of(store->write(other_index)), Code::kInvalidArgument);
  WriteBatch with_data;
  with_data.snapshot = Snapshot{10, 1, {}, Bytes(100, 3)};
  with_data.snapshot_file = file.value();
  EXPECT_EQ(code_of(store->write(with_data)), Code::kInvalidArgument);
  WriteBatch missing;
  missing.snapshot = Snapshot{11, 1, {}, {}};
  missing.snapshot_file = "snapshot-00000000000000000011.bin";
  EXPECT_EQ(code_of(store->write(missing)), Code::kInvalidArgument);
  EXPECT_FALSE(store->snapshot()->has_value());
  EXPECT_EQ(store->log_bounds()->first_index, 1u);
}

// --- applied state, state records, blocks ---------------------------------------

TEST(StorageState, AppliedStateAndRecordsPageInKeyOrder) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (const char* name : {"Charlie", "Alice", "Bob", "Dave"}) {
    batch.state_puts.push_back(StateRecord{name, bytes_of(name)});
  }
  batch.applied_state = AppliedState{7, Bytes(32, 0xab), {}};
  ASSERT_TRUE(store->write(batch).ok());
  WriteBatch next;
  next.state_deletes = {"Bob"};
  next.state_puts = {StateRecord{"Alice", bytes_of("rich")}};
  ASSERT_TRUE(store->write(next).ok());

  EXPECT_EQ(store->applied_state().value(), (AppliedState{7, Bytes(32, 0xab), {}}));
  EXPECT_EQ(store->state_get("Alice").value(), bytes_of("rich"));
  EXPECT_FALSE(store->state_get("Bob")->has_value());
  EXPECT_EQ(code_of(store->state_get("")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(store->state_scan(std::string(600, 'k'), 5)), Code::kInvalidArgument);
  WriteBatch long_key;
  long_key.state_puts = {StateRecord{std::string(600, 'k'), {}}};
  EXPECT_EQ(code_of(store->write(long_key)), Code::kInvalidArgument);
  auto first_page = store->state_scan("", 2);
  ASSERT_TRUE(first_page.ok());
  ASSERT_EQ(first_page->size(), 2u);
  EXPECT_EQ((*first_page)[0].key, "Alice");
  EXPECT_EQ((*first_page)[1].key, "Charlie");
  auto second_page = store->state_scan("Charlie", 2);
  ASSERT_EQ(second_page->size(), 1u);
  EXPECT_EQ((*second_page)[0].key, "Dave");
  EXPECT_TRUE(store->state_scan("Dave", 2)->empty());
  EXPECT_EQ(store->state_scan("B", 10)->front().key, "Charlie");

  WriteBatch older;
  older.applied_state = AppliedState{6, {}, {}};
  EXPECT_EQ(code_of(store->write(older)), Code::kInvalidArgument);
  WriteBatch replace;
  replace.replace_state = true;
  replace.state_puts = {StateRecord{"Zed", bytes_of("1")}};
  ASSERT_TRUE(store->write(replace).ok());
  auto all = store->state_scan("", 100);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().key, "Zed");
}

TEST(StorageBlocks, ServedByHeightContiguouslyWithLimits) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->block_bounds().value(), BlockBounds{});
  WriteBatch batch;
  for (std::uint64_t height = 1; height <= 10; ++height) {
    batch.blocks.push_back(Block{height, payload_for(height)});
  }
  ASSERT_TRUE(store->write(batch).ok());
  WriteBatch after_gap;
  after_gap.blocks = {Block{20, bytes_of("twenty")}};
  ASSERT_TRUE(store->write(after_gap).ok());
  EXPECT_EQ(store->block_bounds().value(), (BlockBounds{1, 20}));

  auto range = store->blocks(3, 4, UINT64_MAX);
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->size(), 4u);
  EXPECT_EQ(range->front(), (Block{3, payload_for(3)}));
  EXPECT_EQ(range->back().height, 6u);
  EXPECT_EQ(store->blocks(8, 100, UINT64_MAX)->size(), 3u) << "stops at the gap after 10";
  EXPECT_EQ(store->blocks(3, 100, 0)->size(), 1u);
  EXPECT_TRUE(store->blocks(11, 5, UINT64_MAX)->empty());
  EXPECT_EQ(store->blocks(20, 5, UINT64_MAX)->size(), 1u);
  WriteBatch behind;
  behind.blocks = {Block{15, {}}};
  EXPECT_EQ(code_of(store->write(behind)), Code::kInvalidArgument);
}

// A node that caught up by snapshot back-fills the heights below it, lowest gap first.
TEST(StorageBlocks, HistoryFillsTheGapsBelowTheStoredBlocksOnly) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->history_gap().value(), std::nullopt) << "an empty store misses nothing";
  WriteBatch after_snapshot;
  for (std::uint64_t height = 11; height <= 20; ++height) {
    after_snapshot.blocks.push_back(Block{height, payload_for(height)});
  }
  ASSERT_TRUE(store->write(after_snapshot).ok());
  EXPECT_EQ(store->history_gap().value(), (HistoryGap{1, 11}));

  WriteBatch first;
  for (std::uint64_t height = 1; height <= 5; ++height) {
    first.history.push_back(Block{height, payload_for(height)});
  }
  ASSERT_TRUE(store->write(first).ok());
  EXPECT_EQ(store->history_gap().value(), (HistoryGap{6, 11}));
  EXPECT_EQ(store->blocks(1, 100, UINT64_MAX)->size(), 5u);

  WriteBatch again;
  again.history = {Block{5, bytes_of("other")}, Block{6, payload_for(6)}};
  EXPECT_EQ(code_of(store->write(again)), Code::kInvalidArgument) << "never overwrites";
  EXPECT_EQ(store->history_gap().value(), (HistoryGap{6, 11})) << "and changes nothing";
  WriteBatch above;
  above.history = {Block{21, bytes_of("future")}};
  EXPECT_EQ(code_of(store->write(above)), Code::kInvalidArgument) << "history is the past";

  WriteBatch rest;
  for (std::uint64_t height = 6; height <= 10; ++height) {
    rest.history.push_back(Block{height, payload_for(height)});
  }
  ASSERT_TRUE(store->write(rest).ok());
  EXPECT_EQ(store->history_gap().value(), std::nullopt);
  EXPECT_EQ(store->blocks(1, 100, UINT64_MAX)->size(), 20u);
  EXPECT_EQ(store->blocks(5, 1, UINT64_MAX)->front(), (Block{5, payload_for(5)}));
}

// A node that installed a snapshot misses the heights below it before it stores any
// block above it; the back-fill may reach the install's height, not beyond.
TEST(StorageBlocks, ASnapshotInstallAnchorsTheHistoryBeforeAnyBlockAboveIt) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  WriteBatch stray;
  stray.history_anchor = HistoryAnchor{10, bytes_of("root-10")};
  EXPECT_EQ(code_of(store->write(stray)), Code::kInvalidArgument) << "only with its snapshot";
  EXPECT_EQ(store->history_anchor().value(), std::nullopt);

  WriteBatch install;
  install.snapshot = Snapshot{30, 2, {}, bytes_of("state")};
  install.history_anchor = HistoryAnchor{10, bytes_of("root-10")};
  ASSERT_TRUE(store->write(install).ok());
  EXPECT_EQ(store->history_gap().value(), (HistoryGap{1, 11}));
  EXPECT_EQ(store->history_anchor().value(), (HistoryAnchor{10, bytes_of("root-10")}));

  WriteBatch beyond;
  beyond.history = {Block{11, payload_for(11)}};
  EXPECT_EQ(code_of(store->write(beyond)), Code::kInvalidArgument) << "above the install";
  WriteBatch first;
  for (std::uint64_t height = 1; height <= 4; ++height) {
    first.history.push_back(Block{height, payload_for(height)});
  }
  ASSERT_TRUE(store->write(first).ok());
  EXPECT_EQ(store->history_gap().value(), (HistoryGap{5, 11}));
  store.reset();
  store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->history_gap().value(), (HistoryGap{5, 11})) << "the anchor is durable";

  WriteBatch older;
  older.snapshot = Snapshot{31, 2, {}, bytes_of("state")};
  older.history_anchor = HistoryAnchor{8, bytes_of("root-8")};
  ASSERT_TRUE(store->write(older).ok());
  EXPECT_EQ(store->history_anchor().value(), (HistoryAnchor{10, bytes_of("root-10")}))
      << "a lower anchor never replaces a higher one";

  WriteBatch rest;
  for (std::uint64_t height = 5; height <= 10; ++height) {
    rest.history.push_back(Block{height, payload_for(height)});
  }
  ASSERT_TRUE(store->write(rest).ok());
  EXPECT_EQ(store->history_gap().value(), std::nullopt);
  EXPECT_EQ(store->blocks(1, 100, UINT64_MAX)->size(), 10u);
}

// --- atomicity, group commit, concurrency ------------------------------------------

TEST(StorageBatch, AFailingPartLeavesNoTraceOfTheWholeBatch) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.entries = make_entries(1, 5, 1);
  batch.blocks = {Block{1, bytes_of("b")}};
  batch.state_puts = {StateRecord{"Alice", bytes_of("1")}};
  batch.hard_state = HardState{1, "", 9};  // commit past the last index: refused
  EXPECT_EQ(code_of(store->write(batch)), Code::kInvalidArgument);
  EXPECT_TRUE(store->log_bounds()->empty());
  EXPECT_EQ(store->block_bounds().value(), BlockBounds{});
  EXPECT_FALSE(store->state_get("Alice")->has_value());
}

TEST(StorageBatch, OneDurableCommitPerBatchWhateverItsSize) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  const std::uint64_t before = store->stats().durable_commits;
  ASSERT_TRUE(store->append(make_entries(1, 512, 1), HardState{1, "", 512}).ok());
  ASSERT_TRUE(store->append(make_entries(513, 1, 1)).ok());
  ASSERT_TRUE(store->write(WriteBatch{}).ok());
  EXPECT_EQ(store->stats().durable_commits - before, 2u);
  EXPECT_EQ(store->stats().entries_written, 513u);
}

TEST(StorageBatch, WriteAllCommitsManyBatchesOnceAndIsolatesARefusedOne) {
  ScratchDir scratch(test_name());
  std::vector<WriteBatch> batches(4);
  batches[0].entries = make_entries(1, 3, 1);
  batches[0].hard_state = HardState{1, "", 2};
  batches[1].entries = make_entries(4, 2, 1);
  batches[2].entries = make_entries(9, 1, 1);  // gap: refused alone
  batches[2].state_puts = {StateRecord{"ghost", bytes_of("x")}};
  batches[3].entries = make_entries(6, 2, 1);  // sees batch 1 before it
  batches[3].state_puts = {StateRecord{"Alice", bytes_of("1")}};
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    const std::vector<Status> results = store->write_all(batches);
    ASSERT_EQ(results.size(), 4u);
    EXPECT_TRUE(results[0].ok()) << results[0].to_string();
    EXPECT_TRUE(results[1].ok()) << results[1].to_string();
    EXPECT_EQ(code_of(results[2]), Code::kInvalidArgument);
    EXPECT_TRUE(results[3].ok()) << results[3].to_string();
    EXPECT_EQ(store->stats().durable_commits, 1u);
    EXPECT_EQ(store->stats().entries_written, 7u);
  }
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->entries(1, 8, UINT64_MAX), make_entries(1, 7, 1));
  EXPECT_EQ(store->hard_state()->commit_index, 2u);
  EXPECT_FALSE(store->state_get("ghost")->has_value()) << "the refused batch left a trace";
  EXPECT_TRUE(store->state_get("Alice")->has_value());
  EXPECT_TRUE(store->write_all({}).empty());
}

// Sync::kDataFlushed: committed at once (readers and a reopen see it), its meta page's
// flush left to the next commit or sync(); the crash test kills writers using it.
TEST(StorageBatch, ADataFlushedCommitIsCommittedAtOnceAndSyncedLater) {
  ScratchDir scratch(test_name());
  {
    auto store = open_ok(scratch.path());
    ASSERT_NE(store, nullptr);
    std::vector<WriteBatch> batches(1);
    batches[0].entries = make_entries(1, 3, 1);
    batches[0].hard_state = HardState{1, "", 3};
    ASSERT_TRUE(store->write_all(batches, Sync::kDataFlushed)[0].ok());
    EXPECT_EQ(*store->entries(1, 4, UINT64_MAX), make_entries(1, 3, 1));
    EXPECT_EQ(store->stats().durable_commits, 1u);
    batches[0].entries = make_entries(4, 1, 1);
    batches[0].hard_state.reset();
    ASSERT_TRUE(store->write_all(batches, Sync::kDataFlushed)[0].ok());
    EXPECT_TRUE(store->sync().ok());
    EXPECT_TRUE(store->sync().ok());  // nothing left to flush
  }
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->entries(1, 5, UINT64_MAX), make_entries(1, 4, 1));
  EXPECT_EQ(store->hard_state()->commit_index, 3u);
}

TEST(StorageConcurrency, ReadersAlwaysSeeACommittedContiguousLog) {
  ScratchDir scratch(test_name());
  auto store = open_ok(scratch.path());
  ASSERT_NE(store, nullptr);
  std::atomic<bool> writer_done{false};
  std::atomic<std::uint64_t> reads{0};
  std::atomic<int> failures{0};
  auto reader = [&] {
    while (!writer_done.load()) {
      auto hard = store->hard_state();
      auto bounds = store->log_bounds();
      if (!hard.ok() || !bounds.ok() || hard->commit_index > bounds->last_index) ++failures;
      if (!bounds.ok() || bounds->empty()) continue;
      auto entries = store->entries(bounds->first_index, bounds->last_index + 1, UINT64_MAX);
      if (!entries.ok()) {
        ++failures;
        continue;
      }
      for (const LogEntry& entry : *entries) {
        if (entry.data != payload_for(entry.index)) ++failures;
      }
      ++reads;
    }
  };
  std::thread reader_a(reader);
  std::thread reader_b(reader);
  std::uint64_t last = 0;
  for (int batch = 0; batch < 150; ++batch) {
    const std::uint64_t count = 1 + batch % 16;
    ASSERT_TRUE(store->append(make_entries(last + 1, count, 1), HardState{1, "", last}).ok());
    last += count;
  }
  writer_done = true;
  reader_a.join();
  reader_b.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(store->log_bounds()->last_index, last);
}

}  // namespace
}  // namespace aethel::storage
