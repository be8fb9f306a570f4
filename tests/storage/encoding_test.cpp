// Record encodings: big-endian keys sort numerically, every record round-trips,
// and every truncated or extended record is rejected instead of misread.
#include "storage/encoding.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "base/base.h"

namespace aethel::storage::encoding {
namespace {

TEST(StorageEncoding, KeysSortInNumericOrder) {
  const std::uint64_t values[] = {0, 1, 255, 256, 65535, 1ull << 32, UINT64_MAX - 1, UINT64_MAX};
  for (std::size_t i = 1; i < std::size(values); ++i) {
    EXPECT_LT(u64_key(values[i - 1]), u64_key(values[i]));
    EXPECT_EQ(parse_u64_key(u64_key(values[i])), values[i]);
  }
  EXPECT_EQ(u64_key(0x0102030405060708ull), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_FALSE(parse_u64_key("1234567").has_value());
}

RC_GTEST_PROP(StorageEncoding, KeyOrderIsNumericOrder, (std::uint64_t a, std::uint64_t b)) {
  RC_ASSERT((u64_key(a) < u64_key(b)) == (a < b));
}

RC_GTEST_PROP(StorageEncoding, HardStateRoundTripsAndRejectsEveryTruncation,
              (std::uint64_t term, std::uint64_t commit, std::string voted_for)) {
  const HardState hard_state{term, voted_for, commit};
  const std::string encoded = encode_hard_state(hard_state);
  RC_ASSERT(decode_hard_state(encoded) == hard_state);
  for (std::size_t size = 0; size < encoded.size(); ++size) {
    RC_ASSERT(!decode_hard_state(std::string_view(encoded).substr(0, size)).has_value());
  }
  RC_ASSERT(!decode_hard_state(encoded + "x").has_value());
}

RC_GTEST_PROP(StorageEncoding, SnapshotAndAppliedStateRoundTrip,
              (std::uint64_t index, std::uint64_t term, std::vector<std::uint8_t> configuration,
               std::vector<std::uint8_t> data)) {
  const Snapshot snapshot{index, term, configuration, data};
  const std::string encoded = encode_snapshot(snapshot);
  RC_ASSERT(decode_snapshot(encoded) == snapshot);
  // Cutting into the header or the configuration is always detected.
  for (std::size_t size = 0; size < 20 + configuration.size(); ++size) {
    RC_ASSERT(!decode_snapshot(std::string_view(encoded).substr(0, size)).has_value());
  }
  const AppliedState applied{index, configuration, data};
  RC_ASSERT(decode_applied_state(encode_applied_state(applied)) == applied);
}

TEST(StorageEncoding, OversizedLengthPrefixIsRejected) {
  base::ByteWriter writer;
  writer.u64(1);
  writer.u64(2);
  writer.u32(1000);  // claims 1000 bytes of configuration
  writer.bytes("short");
  EXPECT_FALSE(decode_snapshot(writer.str()).has_value());
  EXPECT_FALSE(decode_log_term("1234567").has_value());
  EXPECT_EQ(decode_log_term(encode_log_value(42, Bytes{1, 2})), 42u);
}

TEST(StorageEncoding, FormatVersionIsExactlyOneU32) {
  EXPECT_EQ(encode_format_version(1), std::string("\0\0\0\1", 4));
  EXPECT_EQ(decode_format_version(encode_format_version(70000)), 70000u);
  EXPECT_FALSE(decode_format_version("abc").has_value());
  EXPECT_FALSE(decode_format_version("abcde").has_value());
}

}  // namespace
}  // namespace aethel::storage::encoding
