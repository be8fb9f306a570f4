#include "base/base.h"

#include <gtest/gtest.h>

#include <thread>

namespace aethel::base {
namespace {

TEST(Hex, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string hex = to_hex(all);
  EXPECT_EQ(hex.substr(0, 6), "000102");
  EXPECT_EQ(hex.substr(hex.size() - 4), "feff");
  auto back = from_hex(hex);
  ASSERT_TRUE(back);
  EXPECT_EQ(std::string(back->begin(), back->end()), all);
}

TEST(Hex, CaseDecodesToTheSameBytes) {
  EXPECT_EQ(from_hex("ABcd"), from_hex("abcd"));
}

TEST(Hex, RefusesOddLengthAndNonDigits) {
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("zz"));
  EXPECT_FALSE(from_hex("0g"));
  EXPECT_TRUE(from_hex(""));
}

TEST(Bytes, WriterAndReaderAgree) {
  ByteWriter w;
  w.u8(7);
  w.u16(0x1234);
  w.u32(0xdeadbeef);
  w.u64(0x0102030405060708ull);
  w.i64(-2);
  w.string32("memo");
  EXPECT_EQ(w.str().substr(1, 2), std::string("\x12\x34"));
  ByteReader r(w.str());
  EXPECT_EQ(r.u8(), 7);
  EXPECT_EQ(r.u16(), 0x1234);
  EXPECT_EQ(r.u32(), 0xdeadbeefu);
  EXPECT_EQ(r.u64(), 0x0102030405060708ull);
  EXPECT_EQ(r.i64(), -2);
  EXPECT_EQ(r.string32(16), "memo");
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end());
}

TEST(Bytes, ReaderFailsOnceAndStaysFailed) {
  ByteReader r(std::string_view("\x00\x01", 2));
  EXPECT_EQ(r.u32(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.u8(), 0);  // even though a byte is left
  EXPECT_FALSE(r.ok());
}

TEST(Bytes, String32RefusesMoreThanItsBound) {
  ByteWriter w;
  w.string32("0123456789");
  ByteReader r(w.str());
  EXPECT_EQ(r.string32(4), "");
  EXPECT_FALSE(r.ok());
}

TEST(Result, CarriesValueOrError) {
  Result<int> good = 3;
  Result<int> bad = Error{"bad_input", "three was expected"};
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "bad_input");
  Status failed = Error{"io", "disk full"};
  EXPECT_EQ(failed.to_string(), "io: disk full");
  EXPECT_EQ(Status().to_string(), "ok");
}

TEST(Bytes, StoreBeFillsARawBufferAsByteWriterWrites) {
  uint8_t buffer[8 + 2];
  store_be(std::span<uint8_t>(buffer, 8), 0x0102030405060708ull);
  store_be(std::span<uint8_t>(buffer + 8, 2), 0xabcd);
  ByteWriter w;
  w.u64(0x0102030405060708ull);
  w.u16(0xabcd);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buffer), sizeof buffer), w.str());
  ByteReader r(std::span<const uint8_t>(buffer, sizeof buffer));
  EXPECT_EQ(r.u64(), 0x0102030405060708ull);
  EXPECT_EQ(r.u16(), 0xabcd);
}

TEST(Result, StatusIsOkWithAValueAndTheErrorWithout) {
  Result<int> good = 3;
  Result<int> bad = Error{"compacted", "entry 4 was compacted"};
  EXPECT_TRUE(good.status().ok());
  Status failed = bad.status();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, "compacted");
  EXPECT_EQ(failed.to_string(), "compacted: entry 4 was compacted");
}

TEST(Mutex, CondVarWakesAWaiter) {
  Mutex mutex;
  CondVar cv;
  bool ready = false;
  std::thread setter([&] {
    MutexLock lock(mutex);
    ready = true;
    cv.notify_all();
  });
  {
    MutexLock lock(mutex);
    cv.wait(lock, [&] { return ready; });
    EXPECT_TRUE(ready);
  }
  setter.join();
}

[[noreturn]] void throwing_handler(std::string_view what) {
  throw std::runtime_error(std::string(what));
}

TEST(Fatal, HandlerSeesTheCheckThatFailed) {
  set_fatal_handler(throwing_handler);
  try {
    AETHEL_CHECK(1 + 1 == 3);
    ADD_FAILURE() << "AETHEL_CHECK did not stop";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("1 + 1 == 3"), std::string::npos);
  }
  set_fatal_handler(nullptr);
}

}  // namespace
}  // namespace aethel::base

#include "base/log_queue.h"

namespace aethel::base {
namespace {

TEST(LogQueue, WritesEveryLineInOrder) {
  std::vector<std::string> written;
  {
    LogQueue log([&](const std::vector<std::string>& lines) {
      written.insert(written.end(), lines.begin(), lines.end());
    });
    for (int i = 0; i < 1000; ++i) log.post("line " + std::to_string(i));
    log.flush();
    ASSERT_EQ(written.size(), 1000u);
    EXPECT_EQ(written.front(), "line 0");
    EXPECT_EQ(written.back(), "line 999");
  }
}

TEST(LogQueue, ASlowSinkNeverBlocksThePosterAndDropsAreReported) {
  Mutex gate;
  std::vector<std::string> written;
  auto hold = std::make_unique<MutexLock>(gate);  // the sink blocks until released
  LogQueue log(
      [&](const std::vector<std::string>& lines) {
        MutexLock wait(gate);
        written.insert(written.end(), lines.begin(), lines.end());
      },
      4);
  log.post("first");  // taken by the writer, which then blocks in the sink
  for (int i = 0; i < 100; ++i) log.post("more " + std::to_string(i));  // returns at once
  EXPECT_GE(log.dropped(), 90u);
  hold.reset();
  log.flush();
  log.post("after");
  log.flush();
  bool reported = false;
  for (const std::string& line : written)
    reported |= line.find("lines dropped") != std::string::npos;
  EXPECT_TRUE(reported);
  EXPECT_EQ(written.back(), "after");
}

}  // namespace
}  // namespace aethel::base
