// The SHA-NI SHA-256 path gives exactly libsodium's bytes.
#include "ledger/sha256.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

TEST(LedgerSha256, KnownAnswer) {
  EXPECT_EQ(to_hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(LedgerSha256, HardwarePathEqualsLibsodiumOnEveryLength) {
  if (!cpu_has_shani()) GTEST_SKIP() << "CPU without SHA-NI: only the libsodium path runs";
  std::vector<uint8_t> data(1100);
  uint32_t x = 12345;
  for (auto& b : data) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 24);
  }
  for (size_t size = 0; size <= data.size(); ++size) {
    uint8_t expected[32];
    uint8_t actual[32];
    sha256_digest_sodium(data.data(), size, expected);
    ASSERT_TRUE(sha256_digest_shani(data.data(), size, actual));
    ASSERT_EQ(std::string(expected, expected + 32), std::string(actual, actual + 32)) << size;
  }
}

// Pieces of every size, including empty ones and ones that end mid-block, hash like
// the whole, on both paths.
TEST(LedgerSha256, AStreamGivenPiecesHashesLikeTheWhole) {
  std::vector<uint8_t> data(5000);
  uint32_t x = 777;
  for (auto& b : data) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 24);
  }
  for (bool shani : {true, false}) {
    for (size_t size : {size_t{0}, size_t{55}, size_t{56}, size_t{64}, size_t{1000}, data.size()}) {
      uint8_t expected[32];
      sha256_digest_sodium(data.data(), size, expected);
      for (size_t piece : {size_t{1}, size_t{7}, size_t{63}, size_t{64}, size_t{65}, size_t{999}}) {
        Sha256Stream stream(shani);
        for (size_t at = 0; at < size; at += piece) {
          stream.update(data.data() + at, std::min(piece, size - at));
          stream.update(data.data() + at, 0);
        }
        uint8_t actual[32];
        stream.finish(actual);
        ASSERT_EQ(std::string(expected, expected + 32), std::string(actual, actual + 32))
            << "shani " << shani << " size " << size << " piece " << piece;
      }
    }
  }
}

}  // namespace
}  // namespace aethel::ledger
