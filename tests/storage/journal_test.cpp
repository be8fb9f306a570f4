// The journal on a real disk: records survive a reopen, a torn last record is
// dropped and damage anywhere else is refused, released files go away; and the store
// replays journaled writes its database lacks.
#include "storage/journal.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <fstream>

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

std::unique_ptr<Journal> open_journal(const fs::path& dir, std::uint64_t after_seq,
                                      std::vector<JournalRecord>& recovered,
                                      std::uint64_t rotate_bytes = Journal::kRotateBytes) {
  auto journal = Journal::open(dir, after_seq, recovered, rotate_bytes);
  EXPECT_TRUE(journal.ok()) << journal.status().to_string();
  return journal.ok() ? std::move(journal).value() : nullptr;
}

std::vector<std::string> names(const fs::path& dir) {
  return Journal::file_names(dir).value();
}

void resize(const fs::path& path, std::uintmax_t size) {
  fs::resize_file(path, size);
}

// What records with these payloads take in a file (a 24-byte header each).
std::uintmax_t record_bytes(const std::vector<std::string>& payloads) {
  std::uintmax_t bytes = 0;
  for (const std::string& payload : payloads) bytes += 24 + payload.size();
  return bytes;
}

void flip_byte(const fs::path& path, std::streamoff offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(offset);
  char byte = 0;
  file.read(&byte, 1);
  file.seekp(offset);
  byte = static_cast<char>(byte ^ 0x40);
  file.write(&byte, 1);
}

TEST(Journal, Crc32cMatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  // RFC 3720's test vector: 32 bytes of zeros (the hardware path takes 8 at a time).
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
}

TEST(Journal, RecordsSurviveAReopenInOrder) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  {
    auto journal = open_journal(scratch.path(), 0, recovered);
    ASSERT_NE(journal, nullptr);
    // Created at open: an append never needs a new file descriptor.
    EXPECT_EQ(names(scratch.path()), std::vector<std::string>{"journal-00000000000000000001.log"});
    const std::vector<std::string> first = {"alpha", "", "gamma"};
    EXPECT_EQ(journal->append(first).value(), 3u);
    const std::vector<std::string> second = {std::string(100000, 'z')};
    EXPECT_EQ(journal->append(second).value(), 4u);
  }
  auto journal = open_journal(scratch.path(), 0, recovered);
  ASSERT_NE(journal, nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{
                           {1, "alpha"}, {2, ""}, {3, "gamma"}, {4, std::string(100000, 'z')}}));
  EXPECT_EQ(journal->last_seq(), 4u);
  // Records the database holds are not returned again.
  recovered.clear();
  ASSERT_NE(open_journal(scratch.path(), 2, recovered), nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{3, "gamma"}, {4, std::string(100000, 'z')}}));
}

TEST(Journal, ATornLastRecordIsDroppedAndAppendsGoOnInANewFile) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  {
    auto journal = open_journal(scratch.path(), 0, recovered);
    const std::vector<std::string> payloads = {"one", "two", "three"};
    ASSERT_TRUE(journal->append(payloads).ok());
  }
  const fs::path file = scratch.path() / names(scratch.path()).at(0);
  // The crash cut the last record short.
  resize(file, record_bytes({"one", "two", "three"}) - 2);
  {
    auto journal = open_journal(scratch.path(), 0, recovered);
    ASSERT_NE(journal, nullptr);
    EXPECT_EQ(recovered, (std::vector<JournalRecord>{{1, "one"}, {2, "two"}}));
    const std::vector<std::string> more = {"three again"};
    EXPECT_EQ(journal->append(more).value(), 3u);
  }
  EXPECT_EQ(names(scratch.path()).size(), 2u);
  recovered.clear();
  ASSERT_NE(open_journal(scratch.path(), 0, recovered), nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{1, "one"}, {2, "two"}, {3, "three again"}}));
}

TEST(Journal, AnEmptyFileFromAnOpenBeforeACrashIsReusedNotDeleted) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  {
    auto journal = open_journal(scratch.path(), 0, recovered);
    const std::vector<std::string> payloads = {"one"};
    ASSERT_TRUE(journal->append(payloads).ok());
  }
  // This open creates journal-2 and dies before appending.
  ASSERT_NE(open_journal(scratch.path(), 1, recovered), nullptr);
  // The next open creates journal-2 again and releases record 1: the file it
  // appends to must survive that.
  auto journal = open_journal(scratch.path(), 1, recovered);
  ASSERT_TRUE(journal->release_through(1).ok());
  const std::vector<std::string> more = {"two"};
  ASSERT_EQ(journal->append(more).value(), 2u);
  journal.reset();
  recovered.clear();
  ASSERT_NE(open_journal(scratch.path(), 1, recovered), nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{2, "two"}}));
}

TEST(Journal, DamageBeforeALaterAppendIsCorruptionNamingTheFile) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  {
    auto journal = open_journal(scratch.path(), 0, recovered);
    const std::vector<std::string> first = {"first record"};
    ASSERT_TRUE(journal->append(first).ok());
    const std::vector<std::string> second = {"second record"};
    ASSERT_TRUE(journal->append(second).ok());
  }
  const fs::path file = scratch.path() / names(scratch.path()).at(0);
  flip_byte(file, 30);  // inside the first record's payload: it was flushed, then damaged
  auto journal = Journal::open(scratch.path(), 0, recovered);
  ASSERT_FALSE(journal.ok());
  EXPECT_EQ(code_of(journal), Code::kCorruption);
  EXPECT_NE(journal.error().message.find(file.string()), std::string::npos)
      << journal.error().message;
  EXPECT_NE(journal.error().message.find("byte 0"), std::string::npos) << journal.error().message;
}

TEST(Journal, ALastAppendFlushedInPartIsDroppedFromItsDamage) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  const std::vector<std::string> first = {"kept"};
  const std::uintmax_t first_append_bytes = record_bytes(first);
  {
    auto journal = open_journal(scratch.path(), 0, recovered);
    ASSERT_TRUE(journal->append(first).ok());
    const std::vector<std::string> torn = {"also kept", std::string(5000, 'l'), "after the hole"};
    ASSERT_TRUE(journal->append(torn).ok());
  }
  // The crash flushed the last append's pages in part: a hole inside its second record,
  // its third intact.
  const fs::path file = scratch.path() / names(scratch.path()).at(0);
  flip_byte(file, static_cast<std::streamoff>(first_append_bytes) + 24 + 9 + 24 + 2000);
  auto journal = open_journal(scratch.path(), 0, recovered);
  ASSERT_NE(journal, nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{1, "kept"}, {2, "also kept"}}));
  EXPECT_EQ(journal->last_seq(), 2u);
}

TEST(Journal, ZerosAfterTheLastRecordEndTheFile) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  {
    auto journal = open_journal(scratch.path(), 0, recovered);
    const std::vector<std::string> payloads = {"one"};
    ASSERT_TRUE(journal->append(payloads).ok());
  }
  // The file's size reached the disk, its last append's data did not.
  const fs::path file = scratch.path() / names(scratch.path()).at(0);
  resize(file, fs::file_size(file) + 300);
  ASSERT_NE(open_journal(scratch.path(), 0, recovered), nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{1, "one"}}));
}

TEST(Journal, AppendsOverwriteZerosWrittenAheadOfThem) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  const std::vector<std::string> first = {"a", "b"};
  // Crosses the first megabyte of zeros: the file grows by another.
  const std::vector<std::string> second = {std::string(Journal::kPreallocateBytes, 'z')};
  const std::vector<std::string> third = {"c"};
  const fs::path file = scratch.path() / "journal-00000000000000000001.log";
  {
    auto journal = open_journal(scratch.path(), 0, recovered);
    ASSERT_TRUE(journal->append(first).ok());
    // Its flush covers the zeros too: an append that lands on them grows nothing.
    EXPECT_EQ(fs::file_size(file), Journal::kPreallocateBytes);
    ASSERT_TRUE(journal->append(second).ok());
    EXPECT_EQ(fs::file_size(file), 2 * Journal::kPreallocateBytes);
    ASSERT_TRUE(journal->append(third).ok());
    EXPECT_EQ(fs::file_size(file), 2 * Journal::kPreallocateBytes);
  }
  ASSERT_NE(open_journal(scratch.path(), 0, recovered), nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{1, "a"}, {2, "b"}, {3, second[0]}, {4, "c"}}));
}

// The zeros only save time: a disk with no room for them still takes the records.
// (A file size limit stands in for the full disk: writes past it fail with EFBIG.)
TEST(Journal, AppendsSucceedWhereTheZerosDoNotFit) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  auto journal = open_journal(scratch.path(), 0, recovered);
  ASSERT_NE(journal, nullptr);
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit previous_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &previous_limit), 0);
  rlimit limit = previous_limit;
  limit.rlim_cur = 64 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  const std::vector<std::string> first = {"a", "b"};
  const std::vector<std::string> second = {"c"};
  const bool first_ok = journal->append(first).ok();
  const bool second_ok = journal->append(second).ok();
  setrlimit(RLIMIT_FSIZE, &previous_limit);
  std::signal(SIGXFSZ, previous_handler);
  EXPECT_TRUE(first_ok);
  EXPECT_TRUE(second_ok);
  journal.reset();
  ASSERT_NE(open_journal(scratch.path(), 0, recovered), nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{1, "a"}, {2, "b"}, {3, "c"}}));
}

TEST(Journal, AnAppendTornAmongTheZerosIsDropped) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  const std::vector<std::string> first = {"kept"};
  const std::vector<std::string> torn = {"lost", "also lost"};
  {
    auto journal = open_journal(scratch.path(), 0, recovered);
    ASSERT_TRUE(journal->append(first).ok());
    ASSERT_TRUE(journal->append(torn).ok());
  }
  // Only the first page of the last append reached the disk: zeros where the rest was.
  const fs::path file = scratch.path() / names(scratch.path()).at(0);
  std::fstream out(file, std::ios::in | std::ios::out | std::ios::binary);
  out.seekp(static_cast<std::streamoff>(record_bytes(first) + 10));
  const std::string zeros(record_bytes(torn), '\0');
  out.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  out.close();
  auto journal = open_journal(scratch.path(), 0, recovered);
  ASSERT_NE(journal, nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{1, "kept"}}));
  EXPECT_EQ(journal->last_seq(), 1u);
}

TEST(Journal, MissingRecordsAreCorruption) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  {
    auto journal = open_journal(scratch.path(), 0, recovered, 1);  // a file per append
    const std::vector<std::string> payloads = {"a", "b"};
    ASSERT_TRUE(journal->append(payloads).ok());
    const std::vector<std::string> later = {"c"};
    ASSERT_EQ(journal->append(later).value(), 3u);
    ASSERT_TRUE(journal->release_through(2).ok());  // the database held them...
  }
  // ...but a database restored from an old copy holds nothing: records 1 and 2 are
  // gone from both.
  auto missing = Journal::open(scratch.path(), 0, recovered);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(code_of(missing), Code::kCorruption);
  EXPECT_NE(missing.error().message.find("records are missing"), std::string::npos)
      << missing.error().message;
  // The database that holds them opens it.
  ASSERT_NE(open_journal(scratch.path(), 2, recovered), nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{3, "c"}}));
}

TEST(Journal, AppendsMoveToANewFileOnceItIsFullAndReleasedFilesGo) {
  ScratchDir scratch(test_name());
  std::vector<JournalRecord> recovered;
  auto journal = open_journal(scratch.path(), 0, recovered, 500);
  const std::vector<std::string> payloads = {std::string(300, 'p'), std::string(300, 'q')};
  ASSERT_TRUE(journal->append(payloads).ok());
  // The file is full: the next append goes to a new one, released or not (under
  // steady load the database is always a little behind).
  const std::vector<std::string> next = {"r"};
  ASSERT_EQ(journal->append(next).value(), 3u);
  EXPECT_EQ(names(scratch.path()), (std::vector<std::string>{"journal-00000000000000000001.log",
                                                             "journal-00000000000000000003.log"}));
  // A file goes only once the database holds all of it.
  ASSERT_TRUE(journal->release_through(1).ok());
  EXPECT_EQ(names(scratch.path()).size(), 2u);
  ASSERT_TRUE(journal->release_through(2).ok());
  EXPECT_EQ(names(scratch.path()), std::vector<std::string>{"journal-00000000000000000003.log"});
  // Never the one appended to.
  ASSERT_TRUE(journal->release_through(3).ok());
  EXPECT_EQ(names(scratch.path()).size(), 1u);
  journal.reset();
  recovered.clear();
  ASSERT_NE(open_journal(scratch.path(), 2, recovered), nullptr);
  EXPECT_EQ(recovered, (std::vector<JournalRecord>{{3, "r"}}));
}

// --- the store's use of it ----------------------------------------------------

std::vector<WriteBatch> journaled_group(std::uint64_t first, std::uint64_t count,
                                        std::uint64_t term) {
  std::vector<WriteBatch> group(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    group[i].entries = {LogEntry{first + i, term, payload_for(first + i)}};
    group[i].blocks = {Block{first + i, payload_for(1000 + first + i)}};
  }
  group.back().hard_state = HardState{term, "node-a", first + count - 1};
  return group;
}

TEST(StoreJournal, AJournaledWriteTheDatabaseMissedIsReplayedAtOpen) {
  ScratchDir scratch(test_name());
  {
    auto store = Store::open(scratch.path()).value();
    std::vector<WriteBatch> committed = journaled_group(1, 3, 1);
    ASSERT_TRUE(store->journal(committed).ok());
    EXPECT_EQ(committed[0].journal_seq, 1u);
    EXPECT_EQ(committed[2].journal_seq, 3u);
    for (const Status& status : store->write_all(committed, Sync::kDataFlushed)) {
      ASSERT_TRUE(status.ok()) << status.to_string();
    }
    // The process dies after the journal returned, before the database's commit.
    std::vector<WriteBatch> journaled_only = journaled_group(4, 2, 2);
    ASSERT_TRUE(store->journal(journaled_only).ok());
  }
  auto store = Store::open(scratch.path()).value();
  EXPECT_EQ(store->stats().journal_records_replayed, 2u);
  ASSERT_EQ(store->log_bounds().value(), (LogBounds{1, 5, 0}));
  EXPECT_EQ(store->hard_state().value(), (HardState{2, "node-a", 5}));
  const auto entries = store->entries(1, 6, UINT64_MAX).value();
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[4], (LogEntry{5, 2, payload_for(5)}));
  // Blocks are not journaled: the node applies the replayed entries again.
  EXPECT_EQ(store->block_bounds().value(), (BlockBounds{1, 3}));
  // The replayed records are in the database durably: the journal let them go, and
  // only the new, empty file is left.
  EXPECT_EQ(names(scratch.path()), std::vector<std::string>{"journal-00000000000000000006.log"});
}

TEST(StoreJournal, MovingAStoreAsideTakesItsJournalAndLeavesNoneBehind) {
  // What `aethel node rebuild` does: a journal left behind would be read by the new,
  // empty store as records it lacks.
  ScratchDir scratch(test_name());
  const fs::path dir = scratch.path() / "data";
  const fs::path aside = scratch.path() / "aside";
  {
    auto store = Store::open(dir).value();
    std::vector<WriteBatch> journaled_only = journaled_group(1, 2, 1);
    ASSERT_TRUE(store->journal(journaled_only).ok());
  }
  fs::create_directories(aside);
  for (const std::string& name : store_file_names(dir)) fs::rename(dir / name, aside / name);
  EXPECT_TRUE(names(dir).empty());
  EXPECT_EQ(Store::open(dir).value()->log_bounds().value(), (LogBounds{1, 0, 0}));
  auto moved = Store::open(aside).value();
  EXPECT_EQ(moved->stats().journal_records_replayed, 2u);
  EXPECT_EQ(moved->log_bounds().value(), (LogBounds{1, 2, 0}));
}

TEST(StoreJournal, ABatchTheJournalCannotCarryIsRefusedAndNothingIsWritten) {
  ScratchDir scratch(test_name());
  auto store = Store::open(scratch.path()).value();
  std::vector<WriteBatch> group = journaled_group(1, 2, 1);
  group[1].recovery = 1;
  const Status refused = store->journal(group);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(code_of(refused), Code::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("recovery mark"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(group[0].journal_seq, 0u);
  EXPECT_EQ(fs::file_size(scratch.path() / names(scratch.path()).at(0)), 0u);
  store.reset();
  EXPECT_EQ(Store::open(scratch.path()).value()->log_bounds().value(), (LogBounds{1, 0, 0}));
}

TEST(StoreJournal, AJournalThatDoesNotFitTheDatabaseRefusesToOpen) {
  ScratchDir scratch(test_name());
  {
    auto store = Store::open(scratch.path()).value();
    // Journaled at index 10 of an empty log: the replay would leave a gap.
    std::vector<WriteBatch> group = journaled_group(10, 1, 1);
    ASSERT_TRUE(store->journal(group).ok());
  }
  auto store = Store::open(scratch.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(code_of(store), Code::kCorruption);
  EXPECT_NE(store.error().message.find("journal record 1 cannot be replayed"), std::string::npos)
      << store.error().message;
}

TEST(StoreJournal, SyncReleasesTheJournal) {
  ScratchDir scratch(test_name());
  auto store = Store::open(scratch.path()).value();
  std::vector<WriteBatch> group = journaled_group(1, 2, 1);
  ASSERT_TRUE(store->journal(group).ok());
  for (const Status& status : store->write_all(group, Sync::kDataFlushed)) ASSERT_TRUE(status.ok());
  EXPECT_EQ(names(scratch.path()).size(), 1u);
  // The database is durable through record 2: the reopen replays nothing, and
  // deletes the file.
  ASSERT_TRUE(store->sync().ok());
  store.reset();
  auto reopened = Store::open(scratch.path()).value();
  EXPECT_EQ(reopened->log_bounds().value().last_index, 2u);
  EXPECT_EQ(names(scratch.path()), std::vector<std::string>{"journal-00000000000000000003.log"});
}

}  // namespace
}  // namespace aethel::storage
