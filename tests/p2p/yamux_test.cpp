#include "p2p/yamux.h"

#include <gtest/gtest.h>

#include "p2p/codec.h"

namespace aethel::p2p {
namespace {

using Kind = YamuxEvent::Kind;

// Moves queued output from one session into the other until both are quiet.
struct Link {
  YamuxSession client{true};
  YamuxSession server{false};
  std::vector<YamuxEvent> client_events;
  std::vector<YamuxEvent> server_events;

  void pump() {
    for (int i = 0; i < 100 && (client.has_output() || server.has_output()); ++i) {
      auto to_server = client.take_output();
      ASSERT_TRUE(server.receive(to_server).ok());
      auto to_client = server.take_output();
      ASSERT_TRUE(client.receive(to_client).ok());
    }
    for (auto& e : client.take_events()) client_events.push_back(std::move(e));
    for (auto& e : server.take_events()) server_events.push_back(std::move(e));
  }
  static std::string data_of(const std::vector<YamuxEvent>& events, std::uint32_t id) {
    std::string out;
    for (const auto& e : events) {
      if (e.kind == Kind::kData && e.stream_id == id) out += as_string(e.data);
    }
    return out;
  }
  static bool has(const std::vector<YamuxEvent>& events, Kind kind, std::uint32_t id = 0) {
    for (const auto& e : events) {
      if (e.kind == kind && e.stream_id == id) return true;
    }
    return false;
  }
};

TEST(P2pYamux, HeaderEncodingMatchesTheSpec) {
  Bytes out;
  append_yamux_header(out, {0, YamuxType::kWindowUpdate, yamux_flag::kSyn, 1, 0});
  EXPECT_EQ(to_hex(out), "000100010000000100000000");
  auto decoded = decode_yamux_header(out);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->stream_id, 1u);
  EXPECT_EQ(decoded->flags, yamux_flag::kSyn);
  EXPECT_FALSE(decode_yamux_header(from_hex("010000000000000000000000").value()).ok());
  EXPECT_FALSE(decode_yamux_header(from_hex("000400000000000000000000").value()).ok());
}

TEST(P2pYamux, OpenSendHalfCloseBothWays) {
  Link link;
  auto id = link.client.open_stream();
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id.value(), 1u);
  EXPECT_EQ(link.client.send(1, as_bytes("request")), 7u);
  link.client.close_write(1);
  link.pump();
  EXPECT_TRUE(Link::has(link.server_events, Kind::kStreamOpened, 1));
  EXPECT_EQ(Link::data_of(link.server_events, 1), "request");
  EXPECT_TRUE(Link::has(link.server_events, Kind::kRemoteClosed, 1));

  EXPECT_EQ(link.server.send(1, as_bytes("response")), 8u);
  link.server.close_write(1);
  link.pump();
  EXPECT_EQ(Link::data_of(link.client_events, 1), "response");
  EXPECT_TRUE(Link::has(link.client_events, Kind::kRemoteClosed, 1));
  EXPECT_EQ(link.client.stream_count(), 0u);
  EXPECT_EQ(link.server.stream_count(), 0u);
}

TEST(P2pYamux, SenderStopsAtTheWindowUntilTheReceiverConsumes) {
  Link link;
  const std::uint32_t id = link.client.open_stream().value();
  Bytes big(kYamuxInitialWindowBytes + 1000, 0x5a);
  const std::size_t accepted = link.client.send(id, big);
  EXPECT_EQ(accepted, kYamuxInitialWindowBytes);
  EXPECT_EQ(link.client.send_window(id), 0u);
  EXPECT_EQ(link.client.send(id, big), 0u);
  link.pump();
  EXPECT_EQ(Link::data_of(link.server_events, id).size(), kYamuxInitialWindowBytes);
  EXPECT_FALSE(Link::has(link.client_events, Kind::kWritable, id));

  link.server.consumed(id, kYamuxInitialWindowBytes);
  link.pump();
  EXPECT_TRUE(Link::has(link.client_events, Kind::kWritable, id));
  EXPECT_EQ(link.client.send_window(id), kYamuxInitialWindowBytes);
}

TEST(P2pYamux, RaisedReceiveWindowIsGrantedAtOnceAndReplenishedByHalves) {
  Link link;
  const std::uint32_t id = link.client.open_stream().value();
  link.pump();
  constexpr std::uint32_t kWindow = 4 * kYamuxInitialWindowBytes;
  link.server.set_receive_window(id, kWindow);
  link.server.set_receive_window(id, kWindow / 2);  // never shrinks
  link.pump();
  EXPECT_EQ(link.client.send_window(id), kWindow);
  Bytes big(kWindow, 0x11);
  EXPECT_EQ(link.client.send(id, big), kWindow);
  link.pump();  // the raised window also raises the largest frame the server accepts
  EXPECT_EQ(Link::data_of(link.server_events, id).size(), kWindow);
  link.server.consumed(id, kWindow / 2 - 1);
  link.pump();
  EXPECT_EQ(link.client.send_window(id), 0u);  // below half the raised window: no update
  link.server.consumed(id, 1);
  link.pump();
  EXPECT_EQ(link.client.send_window(id), kWindow / 2);
}

TEST(P2pYamux, OverrunningTheWindowIsAProtocolErrorWithGoAway) {
  YamuxSession server(false);
  Bytes frames;
  append_yamux_header(frames, {0, YamuxType::kWindowUpdate, yamux_flag::kSyn, 1, 0});
  ASSERT_TRUE(server.receive(frames).ok());
  (void)server.take_output();
  Bytes data;
  const std::uint32_t too_much = kYamuxInitialWindowBytes;
  append_yamux_header(data, {0, YamuxType::kData, 0, 1, too_much});
  data.resize(data.size() + too_much);
  append_yamux_header(data, {0, YamuxType::kData, 0, 1, 1});
  data.push_back(1);
  auto result = server.receive(data);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("overran"), std::string::npos);
  auto out = server.take_output();
  ASSERT_GE(out.size(), kYamuxHeaderBytes);
  EXPECT_EQ(out[out.size() - kYamuxHeaderBytes + 1], static_cast<std::uint8_t>(YamuxType::kGoAway));
}

TEST(P2pYamux, OversizedFrameIsRefusedBeforeBuffering) {
  YamuxSession server(false);
  Bytes header;
  append_yamux_header(header, {0, YamuxType::kData, yamux_flag::kSyn, 1, 0x7fffffff});
  EXPECT_FALSE(server.receive(header).ok());
}

TEST(P2pYamux, PingIsAnsweredAndGoAwayIsReported) {
  Link link;
  link.client.ping(42);
  link.pump();
  ASSERT_EQ(link.client_events.size(), 1u);
  EXPECT_EQ(link.client_events[0].kind, Kind::kPingAck);
  EXPECT_EQ(link.client_events[0].value, 42u);
  link.server.go_away(0);
  link.pump();
  EXPECT_TRUE(Link::has(link.client_events, Kind::kGoAway));
  EXPECT_TRUE(link.client.remote_went_away());
  EXPECT_FALSE(link.client.open_stream().ok());
}

TEST(P2pYamux, ResetReachesThePeerAndStreamLimitRefusesWithRst) {
  YamuxSession client(true);
  YamuxSession server(false, YamuxConfig{kYamuxInitialWindowBytes, 1});
  const std::uint32_t first = client.open_stream().value();
  const std::uint32_t second = client.open_stream().value();
  ASSERT_TRUE(server.receive(client.take_output()).ok());
  ASSERT_TRUE(client.receive(server.take_output()).ok());
  auto client_events = client.take_events();
  bool second_reset = false;
  for (const auto& e : client_events)
    second_reset |= e.kind == Kind::kReset && e.stream_id == second;
  EXPECT_TRUE(second_reset);
  EXPECT_EQ(server.stream_count(), 1u);

  client.reset(first);
  (void)server.take_events();
  ASSERT_TRUE(server.receive(client.take_output()).ok());
  auto server_events = server.take_events();
  ASSERT_EQ(server_events.size(), 1u);
  EXPECT_EQ(server_events[0].kind, Kind::kReset);
  EXPECT_EQ(server.stream_count(), 0u);
}

TEST(P2pYamux, PeerUsingOurParityIsAProtocolError) {
  YamuxSession client(true);
  Bytes frame;
  append_yamux_header(frame, {0, YamuxType::kWindowUpdate, yamux_flag::kSyn, 3, 0});
  EXPECT_FALSE(client.receive(frame).ok());
}

}  // namespace
}  // namespace aethel::p2p
