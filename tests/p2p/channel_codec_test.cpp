// The channel record codec and the sender's ack bookkeeping, without sockets.
#include "p2p/channel_codec.h"

#include <gtest/gtest.h>

#include "p2p/codec.h"

namespace aethel::p2p {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Bytes frame_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

std::vector<ChannelRecord> decode_all(ChannelDecoder& decoder) {
  std::vector<ChannelRecord> out;
  while (true) {
    auto record = decoder.next();
    EXPECT_TRUE(record.ok()) << record.error().message;
    if (!record.ok() || !record.value()) return out;
    out.push_back(std::move(*record.value()));
  }
}

TEST(P2pChannelCodec, RecordsHaveTheDocumentedBytes) {
  Bytes out;
  append_channel_data(out, frame_of("hi"));
  append_channel_ack(out, 300);
  append_channel_data(out, {});
  // varint(3) 00 'h' 'i' | varint(3) 01 varint(300)=ac02 | varint(1) 00
  EXPECT_EQ(to_hex(out),
            "03006869"
            "0301ac02"
            "0100");
}

TEST(P2pChannelCodec, DecodesRecordsFedOneByteAtATime) {
  Bytes wire;
  append_channel_data(wire, frame_of("first"));
  append_channel_ack(wire, 7);
  append_channel_data(wire, Bytes(70'000, 0xab));  // a multi-byte length prefix
  ChannelDecoder decoder(1 << 20);
  std::vector<ChannelRecord> records;
  for (std::uint8_t byte : wire) {
    decoder.feed(ByteView(&byte, 1));
    for (auto& record : decode_all(decoder)) records.push_back(std::move(record));
  }
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].kind, ChannelRecord::Kind::kData);
  EXPECT_EQ(as_string(records[0].frame), "first");
  EXPECT_EQ(records[1].kind, ChannelRecord::Kind::kAck);
  EXPECT_EQ(records[1].ack, 7u);
  EXPECT_EQ(records[2].frame, Bytes(70'000, 0xab));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(P2pChannelCodec, OversizedFrameIsRefusedFromItsPrefixAlone) {
  Bytes wire;
  append_channel_data_header(wire, 1025);  // nothing of the body follows
  ChannelDecoder decoder(1024);
  decoder.feed(wire);
  auto record = decoder.next();
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.error().code, "frame_too_large");
  EXPECT_NE(record.error().message.find("1025"), std::string::npos);

  ChannelDecoder exact(1024);
  Bytes fits;
  append_channel_data(fits, Bytes(1024, 1));
  exact.feed(fits);
  EXPECT_TRUE(exact.next().ok());
}

TEST(P2pChannelCodec, MalformedRecordsAreErrors) {
  const char* cases[] = {
      "8000",                  // non-minimal length prefix
      "ffffffffffffffffff01",  // length prefix longer than 9 bytes
      "00",                    // length 0: no kind byte
      "0201"
      "80",  // ack body: a truncated varint
      "0301"
      "8000",  // ack body: a non-minimal varint
      "0301"
      "0102",  // ack body: a varint and a trailing byte
  };
  for (const char* text : cases) {
    ChannelDecoder decoder(1024);
    decoder.feed(from_hex(text).value());
    auto record = decoder.next();
    ASSERT_FALSE(record.ok()) << text;
    EXPECT_EQ(record.error().code, "bad_frame") << text;
  }
}

TEST(P2pChannelCodec, UnknownKindsAreSkipped) {
  ChannelDecoder decoder(1024);
  Bytes wire = from_hex(
                   "03"
                   "07"
                   "aabb")
                   .value();  // kind 7, two body bytes
  append_channel_data(wire, frame_of("after"));
  decoder.feed(wire);
  auto records = decode_all(decoder);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(as_string(records[0].frame), "after");
}

TEST(P2pChannelAcks, CountsUnackedAndMeasuresRttFromTheNewestAckedFrame) {
  ChannelAcks acks;
  const Clock::time_point t0{};
  EXPECT_EQ(acks.queued(t0), 1u);
  EXPECT_EQ(acks.queued(t0 + milliseconds(5)), 2u);
  EXPECT_EQ(acks.queued(t0 + milliseconds(6)), 3u);
  EXPECT_EQ(acks.unacked(), 3u);
  EXPECT_EQ(acks.oldest_unacked_age_ms(t0 + milliseconds(10)), 10.0);
  acks.written(2, t0 + milliseconds(10));
  EXPECT_FALSE(acks.smoothed_rtt_ms().has_value());

  ASSERT_TRUE(acks.acked(2, t0 + milliseconds(50)).ok());  // frame 2: written at 10
  EXPECT_EQ(acks.unacked(), 1u);
  EXPECT_EQ(acks.acked_through(), 2u);
  EXPECT_EQ(acks.smoothed_rtt_ms(), 40.0);
  EXPECT_EQ(acks.rtt_variance_ms(), 20.0);
  EXPECT_EQ(acks.oldest_unacked_age_ms(t0 + milliseconds(50)), 44.0);  // frame 3

  acks.written(3, t0 + milliseconds(60));
  ASSERT_TRUE(acks.acked(3, t0 + milliseconds(140)).ok());  // sample 80
  EXPECT_DOUBLE_EQ(*acks.smoothed_rtt_ms(), 0.875 * 40 + 0.125 * 80);
  EXPECT_DOUBLE_EQ(*acks.rtt_variance_ms(), 0.75 * 20 + 0.25 * 40);
  EXPECT_EQ(acks.unacked(), 0u);
  EXPECT_FALSE(acks.oldest_unacked_age_ms(t0 + milliseconds(150)).has_value());
  ASSERT_TRUE(acks.acked(3, t0 + milliseconds(150)).ok());  // a repeat changes nothing
  EXPECT_EQ(acks.sent(), 3u);
}

TEST(P2pChannelAcks, AcksBackwardsOrBeyondWhatWasWrittenAreRefused) {
  ChannelAcks acks;
  const Clock::time_point t0{};
  acks.queued(t0);
  acks.queued(t0);
  EXPECT_EQ(acks.acked(1, t0).error().code, "bad_ack");  // queued, not written yet
  acks.written(2, t0);
  ASSERT_TRUE(acks.acked(2, t0).ok());
  EXPECT_EQ(acks.acked(1, t0).error().code, "bad_ack");
  EXPECT_EQ(acks.acked(3, t0).error().code, "bad_ack");
}

}  // namespace
}  // namespace aethel::p2p
