// The SHA-NI SHA-256 path gives exactly libsodium's bytes.
#include "ledger/sha256.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace aethel::ledger
