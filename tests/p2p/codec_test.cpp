#include "p2p/codec.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace aethel::p2p {
namespace {

Bytes hex(std::string_view text) {
  return from_hex(text).value();
}

TEST(P2pVarint, EncodesSpecExamples) {
  EXPECT_EQ(to_hex(encode_varint(1)), "01");
  EXPECT_EQ(to_hex(encode_varint(127)), "7f");
  EXPECT_EQ(to_hex(encode_varint(128)), "8001");
  EXPECT_EQ(to_hex(encode_varint(255)), "ff01");
  EXPECT_EQ(to_hex(encode_varint(300)), "ac02");
  EXPECT_EQ(to_hex(encode_varint(16384)), "808001");
}

TEST(P2pVarint, RejectsNonMinimalOverlongAndTruncated) {
  EXPECT_EQ(decode_varint(hex("8000")).error().code, "bad_varint");
  EXPECT_EQ(decode_varint(hex("ffffffffffffffffff01")).error().code, "bad_varint");
  EXPECT_EQ(decode_varint(hex("80")).error().code, "bad_varint");
  auto partial = decode_varint_prefix(hex("80"));
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial.value().has_value());
  auto decoded = decode_varint(hex("ac02ff"));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->value, 300u);
  EXPECT_EQ(decoded->length, 2u);
}

RC_GTEST_PROP(P2pVarint, RoundTripsEvery63BitValue, (std::uint64_t value)) {
  value &= 0x7fffffffffffffffULL;
  const Bytes encoded = encode_varint(value);
  auto decoded = decode_varint(encoded);
  RC_ASSERT(decoded.ok());
  RC_ASSERT(decoded->value == value);
  RC_ASSERT(decoded->length == encoded.size());
}

TEST(P2pHex, IsBaseHexWithItsStrictDecoding) {
  EXPECT_EQ(to_hex(hex("00ff10")), "00ff10");
  EXPECT_EQ(hex("ABcd"), (Bytes{0xab, 0xcd}));
  EXPECT_FALSE(from_hex("abc").has_value());
  EXPECT_FALSE(from_hex("zz").has_value());
}

TEST(P2pBase58, EncodesKnownVectors) {
  EXPECT_EQ(base58_encode(as_bytes("Hello World!")), "2NEpo7TZRRrLZSi2U");
  EXPECT_EQ(base58_encode(hex("000001")), "112");
  EXPECT_EQ(base58_encode({}), "");
  EXPECT_EQ(as_string(base58_decode("2NEpo7TZRRrLZSi2U").value()), "Hello World!");
}

TEST(P2pBase58, RejectsCharactersOutsideTheAlphabet) {
  auto decoded = base58_decode("abc0");
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().code, "bad_base58");
  EXPECT_NE(decoded.error().message.find("'0'"), std::string::npos);
  EXPECT_FALSE(base58_decode("Il").ok());
}

RC_GTEST_PROP(P2pBase58, RoundTrips, (std::vector<std::uint8_t> bytes)) {
  if (bytes.size() > 120) bytes.resize(120);
  auto decoded = base58_decode(base58_encode(bytes));
  RC_ASSERT(decoded.ok());
  RC_ASSERT(decoded.value() == bytes);
}

TEST(P2pProtobuf, WritesAndReadsFields) {
  ProtoWriter writer;
  writer.add_varint(1, 150);
  writer.add_string(2, "testing");
  EXPECT_EQ(to_hex(writer.bytes()), "089601120774657374696e67");
  ProtoReader reader(writer.bytes());
  auto first = reader.next();
  ASSERT_TRUE(first.ok() && first.value());
  EXPECT_EQ(first.value()->number, 1u);
  EXPECT_EQ(first.value()->varint, 150u);
  auto second = reader.next();
  ASSERT_TRUE(second.ok() && second.value());
  EXPECT_EQ(as_string(second.value()->bytes), "testing");
  auto end = reader.next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end.value().has_value());
}

TEST(P2pProtobuf, RejectsLengthPastTheEndAndGroups) {
  const Bytes past_end_bytes = hex("120a74657374");
  ProtoReader past_end(past_end_bytes);
  EXPECT_FALSE(past_end.next().ok());
  const Bytes group_bytes = hex("0b");
  ProtoReader group(group_bytes);
  EXPECT_FALSE(group.next().ok());
  const Bytes field_zero_bytes = hex("0001");
  ProtoReader field_zero(field_zero_bytes);
  EXPECT_FALSE(field_zero.next().ok());
}

TEST(P2pLengthPrefixed, ReassemblesSplitMessagesAndEnforcesTheLimit) {
  Bytes stream;
  append_length_prefixed(stream, as_bytes("hello"));
  append_length_prefixed(stream, as_bytes("world!"));
  LengthPrefixedReader reader(16);
  reader.feed(ByteView(stream).first(3));
  auto none = reader.next();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none.value().has_value());
  reader.feed(ByteView(stream).subspan(3));
  EXPECT_EQ(as_string(*reader.next().value()), "hello");
  EXPECT_EQ(as_string(*reader.next().value()), "world!");

  LengthPrefixedReader small(4);
  small.feed(hex("05"));
  auto too_big = small.next();
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.error().message.find("exceeds"), std::string::npos);
}

}  // namespace
}  // namespace aethel::p2p
