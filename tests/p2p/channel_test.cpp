// Channels between two Hosts over real TCP on 127.0.0.1 (one io_context unless a test
// needs to stop one side): ordering, many frames in flight, acks and RTT, back-pressure,
// limits, both directions over one connection, interleaving, close and reset.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <deque>

#include "p2p/channel_codec.h"
#include "p2p/codec.h"
#include "p2p/p2p.h"

namespace aethel::p2p {
namespace {

constexpr std::string_view kRaft = "/aethel/test-raft/1.0.0";
constexpr std::string_view kBulk = "/aethel/test-bulk/1.0.0";
using Clock = std::chrono::steady_clock;

// Runs handlers of every io_context in `ios` until `done()` holds or `timeout` passes.
template <typename Predicate>
bool run_until(std::initializer_list<boost::asio::io_context*> ios, Predicate done,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = Clock::now() + timeout;
  while (!done() && Clock::now() < deadline) {
    std::size_t ran = 0;
    for (auto* io : ios) {
      ran += io->poll();
      io->restart();
    }
    if (ran > 0) continue;
    for (auto* io : ios) {  // nothing ready: wait a little for the sockets
      io->run_one_for(std::chrono::milliseconds(ios.size() == 1 ? 20 : 1));
      io->restart();
    }
  }
  return done();
}

HostConfig loopback_config(std::vector<std::string>* log = nullptr, bool listen = true) {
  HostConfig config;
  if (listen) config.listen_addrs.push_back(Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
  config.log = [log](std::string_view line) {
    if (log) log->emplace_back(line);
  };
  return config;
}

Bytes text_frame(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

// "<number>" followed by `padding` bytes.
Bytes numbered(int number, std::size_t padding) {
  Bytes frame = text_frame(std::to_string(number));
  frame.resize(frame.size() + padding, 0x5a);
  return frame;
}

std::size_t count_containing(const std::vector<std::string>& lines, std::string_view needle) {
  std::size_t count = 0;
  for (const auto& line : lines) count += line.find(needle) != std::string::npos;
  return count;
}

const std::string* last_containing(const std::vector<std::string>& lines, std::string_view needle) {
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (it->find(needle) != std::string::npos) return &*it;
  }
  return nullptr;
}

// What one end of a channel heard.
struct Sink {
  std::vector<Bytes> frames;
  std::optional<Error> closed;
  int writable = 0;
  std::optional<Channel> channel;  // inbound: the accepted channel

  ChannelEvents events() {
    return ChannelEvents{[this](Bytes frame) { frames.push_back(std::move(frame)); },
                         [this](const Error& reason) { closed = reason; }, [this] { ++writable; }};
  }
  Host::ChannelAcceptor acceptor() {
    return [this](const Channel& accepted) -> std::optional<ChannelEvents> {
      channel = accepted;
      return events();
    };
  }
};

struct P2pChannels : ::testing::Test {
  boost::asio::io_context io;
  std::vector<std::string> server_log;
  Sink inbound;   // the server's side
  Sink outbound;  // the client's side
  Host server{io, loopback_config(&server_log)};
  Host client{io, loopback_config()};

  void SetUp() override {
    ASSERT_TRUE(server.start().ok());
    ASSERT_TRUE(client.start().ok());
    server.set_channel_handler(std::string(kRaft), inbound.acceptor());
    ASSERT_TRUE(connect(client, server).ok());
  }
  Result<PeerId> connect(Host& from, Host& to) {
    std::optional<Result<PeerId>> outcome;
    from.connect(to.listen_addrs().front().with_peer_id(to.peer_id()),
                 [&](Result<PeerId> r) { outcome = std::move(r); });
    EXPECT_TRUE(run({&io}, [&] { return outcome.has_value(); }));
    if (!outcome) return Error{"timeout", "connect timed out"};
    return *outcome;
  }
  template <typename Predicate>
  bool run(std::initializer_list<boost::asio::io_context*> ios, Predicate done) {
    return run_until(ios, done);
  }
  Channel open(Host& from, const PeerId& to, std::string_view protocol, Sink& sink) {
    auto channel = from.open_channel(to, std::string(protocol), sink.events());
    EXPECT_TRUE(channel.ok()) << channel.error().message;
    return channel.ok() ? channel.value() : Channel();
  }
};

TEST_F(P2pChannels, ManyFramesInFlightArriveInOrderAndAreAllAcked) {
  Channel channel = open(client, server.peer_id(), kRaft, outbound);
  constexpr int kFrames = 2000;
  for (int i = 0; i < kFrames; ++i) {
    Bytes frame = text_frame("frame " + std::to_string(i));
    frame.resize(frame.size() + static_cast<std::size_t>(i % 7 * 997), 0x5a);
    ASSERT_TRUE(channel.send(std::move(frame))) << i;
  }
  EXPECT_EQ(channel.unacked(), static_cast<std::size_t>(kFrames));  // all queued at once
  ASSERT_TRUE(
      run({&io}, [&] { return inbound.frames.size() == kFrames && channel.unacked() == 0; }));
  for (int i = 0; i < kFrames; ++i) {
    const std::string prefix = "frame " + std::to_string(i);
    ASSERT_EQ(as_string(inbound.frames[i]).substr(0, prefix.size()), prefix);
    ASSERT_EQ(inbound.frames[i].size(), prefix.size() + static_cast<std::size_t>(i % 7 * 997));
  }
  const ChannelStats stats = channel.stats();
  EXPECT_EQ(stats.frames_sent, static_cast<std::uint64_t>(kFrames));
  EXPECT_EQ(stats.frames_acked, static_cast<std::uint64_t>(kFrames));
  EXPECT_EQ(stats.buffered_bytes, 0u);
  EXPECT_FALSE(stats.oldest_unacked_age_ms.has_value());
  ASSERT_TRUE(stats.smoothed_rtt_ms.has_value());
  EXPECT_GE(*stats.smoothed_rtt_ms, 0.0);
  EXPECT_LT(*stats.smoothed_rtt_ms, 5000.0);
  ASSERT_TRUE(inbound.channel.has_value());
  EXPECT_EQ(inbound.channel->stats().frames_received, static_cast<std::uint64_t>(kFrames));
  EXPECT_FALSE(inbound.channel->is_outbound());
  EXPECT_TRUE(channel.is_outbound());
  EXPECT_EQ(inbound.channel->peer(), client.peer_id());
  EXPECT_FALSE(outbound.closed.has_value());
}

TEST_F(P2pChannels, BothEndsSendOnOneChannelAndBothMeasureRtt) {
  Channel channel = open(client, server.peer_id(), kRaft, outbound);
  ASSERT_TRUE(channel.send(text_frame("ping 0")));
  ASSERT_TRUE(run({&io}, [&] { return inbound.frames.size() == 1; }));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(inbound.channel->send(text_frame("reply " + std::to_string(i))));
    ASSERT_TRUE(channel.send(text_frame("ping " + std::to_string(i + 1))));
  }
  ASSERT_TRUE(run({&io}, [&] {
    return outbound.frames.size() == 50 && inbound.frames.size() == 51 && channel.unacked() == 0 &&
           inbound.channel->unacked() == 0;
  }));
  EXPECT_EQ(as_string(outbound.frames[49]), "reply 49");
  EXPECT_EQ(as_string(inbound.frames[50]), "ping 50");
  EXPECT_TRUE(channel.smoothed_rtt_ms().has_value());
  EXPECT_TRUE(inbound.channel->smoothed_rtt_ms().has_value());
  EXPECT_EQ(inbound.channel->stats().frames_acked, 50u);
}

TEST_F(P2pChannels, SendRefusesBeyondTheBufferLimitAndSaysWhenWritableAgain) {
  HostConfig config = loopback_config();
  config.limits.channel_send_buffer_bytes = 64 * 1024;
  config.limits.max_channel_frame_bytes = 32 * 1024;
  Host limited(io, std::move(config));
  ASSERT_TRUE(limited.start().ok());
  ASSERT_TRUE(connect(limited, server).ok());
  Channel channel = open(limited, server.peer_id(), kRaft, outbound);
  EXPECT_FALSE(channel.send(Bytes(32 * 1024 + 1, 1)));  // over the frame limit
  int accepted = 0;
  while (channel.send(numbered(accepted, 10 * 1024))) ++accepted;
  EXPECT_EQ(accepted, 6);  // 6 frames of 10 KiB + a few bytes fit in 64 KiB, 7 do not
  EXPECT_GT(channel.buffered_bytes(), 60u * 1024);
  EXPECT_LE(channel.buffered_bytes(), 64u * 1024);
  ASSERT_TRUE(run({&io}, [&] { return outbound.writable == 1; }));
  EXPECT_LE(channel.buffered_bytes(), 32u * 1024);
  ASSERT_TRUE(channel.send(text_frame("after")));
  ASSERT_TRUE(run({&io}, [&] { return inbound.frames.size() == 7; }));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(inbound.frames[i][0], static_cast<std::uint8_t>('0' + i));
  }
  EXPECT_EQ(as_string(inbound.frames[6]), "after");  // the refused frame never went out
}

TEST_F(P2pChannels, SendRefusesWhileTooManyFramesAreUnacked) {
  HostConfig config = loopback_config();
  config.limits.max_channel_unacked_frames = 10;
  Host limited(io, std::move(config));
  ASSERT_TRUE(limited.start().ok());
  ASSERT_TRUE(connect(limited, server).ok());
  Channel channel = open(limited, server.peer_id(), kRaft, outbound);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(channel.send(text_frame("x")));
  EXPECT_FALSE(channel.send(text_frame("x")));
  ASSERT_TRUE(run({&io}, [&] { return outbound.writable == 1 && channel.unacked() == 0; }));
  EXPECT_TRUE(channel.send(text_frame("x")));
}

// The receiver's io_context does not run. Between the Yamux receive window and the kernel's
// buffers no more than a window's worth leaves the sender; the rest stays in the channel's
// send buffer, where the caller sees it (nothing queues without bound below the channel).
// When the receiver runs again, everything arrives, without a window violation.
TEST(P2pChannelFlowControl, StalledReceiverLeavesTheRestInTheSendersBuffer) {
  boost::asio::io_context sender_io;
  boost::asio::io_context receiver_io;
  Sink sink;
  Sink sender_sink;
  HostConfig receiver_config = loopback_config();
  constexpr std::uint32_t kWindow = 256 * 1024;
  receiver_config.limits.channel_window_bytes = kWindow;
  Host receiver(receiver_io, std::move(receiver_config));
  Host sender(sender_io, loopback_config());
  ASSERT_TRUE(receiver.start().ok());
  ASSERT_TRUE(sender.start().ok());
  receiver.set_channel_handler(std::string(kBulk), sink.acceptor());
  bool connected = false;
  sender.connect(receiver.listen_addrs().front(), [&](Result<PeerId> r) { connected = r.ok(); });
  ASSERT_TRUE(run_until({&sender_io, &receiver_io}, [&] { return connected; }));
  auto channel = sender.open_channel(receiver.peer_id(), std::string(kBulk), sender_sink.events());
  ASSERT_TRUE(channel.ok());
  ASSERT_TRUE(channel->send(text_frame("hello")));
  ASSERT_TRUE(run_until({&sender_io, &receiver_io}, [&] { return channel->unacked() == 0; }));

  constexpr std::size_t kFrameBytes = 64 * 1024;
  constexpr std::size_t kTotal = 4 * 1024 * 1024;
  for (std::size_t sent = 0; sent < kTotal; sent += kFrameBytes) {
    ASSERT_TRUE(channel->send(Bytes(kFrameBytes, 3)));
  }
  // Only the sender runs: first until it has written something, then until it is idle
  // (should it stop early, less is written and the bound below holds all the more).
  ASSERT_TRUE(run_until({&sender_io}, [&] { return channel->buffered_bytes() < kTotal; }));
  int idle = 0;
  while (idle < 20) {
    idle = sender_io.run_one_for(std::chrono::milliseconds(5)) == 0 ? idle + 1 : 0;
    sender_io.restart();
  }
  EXPECT_GE(channel->buffered_bytes(), kTotal - kWindow);
  ASSERT_TRUE(run_until({&sender_io, &receiver_io}, [&] {
    return sink.frames.size() == 1 + kTotal / kFrameBytes && channel->unacked() == 0;
  }));
  EXPECT_EQ(channel->buffered_bytes(), 0u);
  EXPECT_EQ(sender.connected_peers().size(), 1u);  // a window violation would end it
}

TEST_F(P2pChannels, OversizedFrameResetsOnlyThatStreamWithOneLogLine) {
  HostConfig config = loopback_config(&server_log);
  config.limits.max_channel_frame_bytes = 1024;
  Sink small_inbound;
  Sink other_inbound;
  Host small(io, std::move(config));
  ASSERT_TRUE(small.start().ok());
  small.set_channel_handler(std::string(kRaft), small_inbound.acceptor());
  small.set_channel_handler(std::string(kBulk), other_inbound.acceptor());
  ASSERT_TRUE(connect(client, small).ok());
  Sink other_outbound;
  Channel victim = open(client, small.peer_id(), kRaft, outbound);
  Channel other = open(client, small.peer_id(), kBulk, other_outbound);
  ASSERT_TRUE(victim.send(text_frame("fits")));
  ASSERT_TRUE(other.send(text_frame("fits too")));
  ASSERT_TRUE(run({&io}, [&] { return small_inbound.frames.size() == 1; }));

  ASSERT_TRUE(victim.send(Bytes(4096, 9)));  // within the sender's limit, not the receiver's
  ASSERT_TRUE(run({&io}, [&] { return outbound.closed && small_inbound.closed; }));
  EXPECT_EQ(outbound.closed->code, "stream_reset");
  EXPECT_EQ(small_inbound.closed->code, "frame_too_large");
  ASSERT_EQ(count_containing(server_log, "[P2P] Channel"), 1u);
  const std::string& line = *last_containing(server_log, "[P2P] Channel");
  EXPECT_NE(line.find(client.peer_id().to_base58()), std::string::npos) << line;
  EXPECT_NE(line.find("exceeds the limit of 1024"), std::string::npos) << line;
  EXPECT_FALSE(victim.is_open());
  EXPECT_FALSE(victim.send(text_frame("no")));

  ASSERT_TRUE(other.send(text_frame("still here")));
  ASSERT_TRUE(run({&io}, [&] { return other_inbound.frames.size() == 2; }));
  EXPECT_EQ(as_string(other_inbound.frames[1]), "still here");
  std::optional<Result<double>> rtt;
  client.ping(small.peer_id(), [&](Result<double> r) { rtt = std::move(r); });
  ASSERT_TRUE(run({&io}, [&] { return rtt.has_value(); }));
  EXPECT_TRUE(rtt->ok());
  // The connection survived, so a new channel for the same protocol opens on it.
  Sink again;
  Channel reopened = open(client, small.peer_id(), kRaft, again);
  ASSERT_TRUE(reopened.send(text_frame("again")));
  ASSERT_TRUE(run({&io}, [&] { return reopened.unacked() == 0; }));
}

// A request stream on a channel protocol carries whatever bytes a broken peer chooses.
TEST_F(P2pChannels, MalformedRecordsResetTheStreamWithOneLogLine) {
  struct Case {
    Bytes payload;  // becomes the record: varint(size) then these bytes
    std::string reason;
  };
  const std::vector<Case> cases = {
      {{kChannelAck, 0x80, 0x00}, "malformed ack record"},  // non-minimal varint
      {{kChannelAck, 0x05}, "ack of frame 5 but only 0 were sent"},
  };
  std::size_t lines = 0;
  for (const auto& c : cases) {
    std::optional<Result<Bytes>> response;
    client.request(server.peer_id(), std::string(kRaft), c.payload,
                   [&](Result<Bytes> r) { response = std::move(r); });
    ASSERT_TRUE(run({&io}, [&] { return response.has_value(); }));
    EXPECT_FALSE(response->ok());
    ASSERT_EQ(count_containing(server_log, "[P2P] Channel"), ++lines) << c.reason;
    const std::string& line = *last_containing(server_log, "[P2P] Channel");
    EXPECT_NE(line.find(c.reason), std::string::npos) << line;
    EXPECT_NE(line.find(client.peer_id().to_base58()), std::string::npos) << line;
  }
  EXPECT_EQ(client.connected_peers().size(), 1u);
  Channel channel = open(client, server.peer_id(), kRaft, outbound);
  ASSERT_TRUE(channel.send(text_frame("fine")));
  ASSERT_TRUE(run({&io}, [&] { return channel.unacked() == 0; }));
}

// A node that accepts no inbound connection uses its outbound one both ways.
TEST_F(P2pChannels, ChannelsRunBothWaysOverAConnectionOnlyOneSideDialed) {
  Sink dialer_inbound;
  Host dialer(io, loopback_config(nullptr, /*listen=*/false));
  ASSERT_TRUE(dialer.start().ok());
  ASSERT_TRUE(dialer.listen_addrs().empty());
  dialer.set_channel_handler(std::string(kRaft), dialer_inbound.acceptor());
  ASSERT_TRUE(connect(dialer, server).ok());
  ASSERT_TRUE(run({&io}, [&] { return server.connected_peers().size() == 2; }));

  Sink from_server;
  Sink from_dialer;
  Channel out_of_server = open(server, dialer.peer_id(), kRaft, from_server);
  Channel out_of_dialer = open(dialer, server.peer_id(), kRaft, from_dialer);
  ASSERT_TRUE(out_of_server.send(text_frame("server to dialer")));
  ASSERT_TRUE(out_of_dialer.send(text_frame("dialer to server")));
  ASSERT_TRUE(run({&io}, [&] {
    return dialer_inbound.frames.size() == 1 && inbound.frames.size() == 1 &&
           out_of_server.unacked() == 0 && out_of_dialer.unacked() == 0;
  }));
  EXPECT_EQ(as_string(dialer_inbound.frames[0]), "server to dialer");
  EXPECT_EQ(as_string(inbound.frames[0]), "dialer to server");
  EXPECT_EQ(dialer_inbound.channel->peer(), server.peer_id());
  EXPECT_EQ(inbound.channel->peer(), dialer.peer_id());
  EXPECT_TRUE(out_of_server.is_outbound());
  EXPECT_FALSE(dialer_inbound.channel->is_outbound());
}

// A 32 MiB frame on one channel; small frames queued right after it on another channel
// of the same connection arrive before the large one is complete.
TEST_F(P2pChannels, SmallFramesOvertakeALargeFrameOnAnotherChannel) {
  std::vector<std::string> arrivals;
  server.set_channel_handler(std::string(kBulk), [&](const Channel&) {
    return std::optional<ChannelEvents>(ChannelEvents{
        [&](Bytes frame) { arrivals.push_back("large:" + std::to_string(frame.size())); }, {}, {}});
  });
  server.set_channel_handler(std::string(kRaft), [&](const Channel&) {
    return std::optional<ChannelEvents>(
        ChannelEvents{[&](Bytes frame) { arrivals.push_back(as_string(frame)); }, {}, {}});
  });
  Sink bulk_outbound;
  Channel bulk = open(client, server.peer_id(), kBulk, bulk_outbound);
  Channel raft = open(client, server.peer_id(), kRaft, outbound);
  ASSERT_TRUE(bulk.send(text_frame("warm")));
  ASSERT_TRUE(raft.send(text_frame("warm")));
  ASSERT_TRUE(run({&io}, [&] { return arrivals.size() == 2; }));
  arrivals.clear();

  constexpr std::size_t kLarge = 32 * 1024 * 1024;
  ASSERT_TRUE(bulk.send(Bytes(kLarge, 7)));
  constexpr int kSmall = 20;
  for (int i = 0; i < kSmall; ++i) ASSERT_TRUE(raft.send(text_frame("small " + std::to_string(i))));
  ASSERT_TRUE(run({&io}, [&] { return arrivals.size() == kSmall + 1; }));
  EXPECT_EQ(arrivals.back(), "large:" + std::to_string(kLarge));
  for (int i = 0; i < kSmall; ++i) EXPECT_EQ(arrivals[i], "small " + std::to_string(i));
  ASSERT_TRUE(run({&io}, [&] { return bulk.unacked() == 0; }));
}

TEST_F(P2pChannels, ResetByThePeerIsReportedAndLocalResetIsNot) {
  Channel channel = open(client, server.peer_id(), kRaft, outbound);
  ASSERT_TRUE(channel.send(text_frame("one")));
  ASSERT_TRUE(run({&io}, [&] { return inbound.channel.has_value(); }));
  inbound.channel->reset();
  ASSERT_TRUE(run({&io}, [&] { return outbound.closed.has_value(); }));
  EXPECT_EQ(outbound.closed->code, "stream_reset");
  EXPECT_FALSE(inbound.closed.has_value());
  EXPECT_FALSE(channel.is_open());
  EXPECT_FALSE(channel.send(text_frame("two")));
}

TEST_F(P2pChannels, LocalCloseDeliversWhatWasSentThenEndsTheChannel) {
  Channel channel = open(client, server.peer_id(), kRaft, outbound);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(channel.send(text_frame(std::to_string(i))));
  channel.close();
  EXPECT_FALSE(channel.send(text_frame("late")));
  ASSERT_TRUE(run({&io}, [&] { return inbound.closed.has_value(); }));
  EXPECT_EQ(inbound.closed->code, "closed_by_peer");
  EXPECT_EQ(inbound.frames.size(), 10u);
  EXPECT_FALSE(outbound.closed.has_value());  // a local close is not reported
}

TEST_F(P2pChannels, LosingTheConnectionEndsChannelsOnBothSides) {
  Channel channel = open(client, server.peer_id(), kRaft, outbound);
  ASSERT_TRUE(channel.send(text_frame("one")));
  ASSERT_TRUE(run({&io}, [&] { return inbound.frames.size() == 1; }));
  client.disconnect(server.peer_id());
  ASSERT_TRUE(run({&io}, [&] { return outbound.closed && inbound.closed; }));
  EXPECT_EQ(outbound.closed->code, "connection_closed");
  EXPECT_TRUE(inbound.closed->code == "connection_closed" || inbound.closed->code == "stream_reset")
      << inbound.closed->code;
}

TEST_F(P2pChannels, OpeningFailsClearlyAndOnlyOneOutboundChannelPerProtocol) {
  const PeerId stranger = PeerId::from_public_key(KeyPair::generate().public_key());
  auto unconnected = client.open_channel(stranger, std::string(kRaft), {});
  ASSERT_FALSE(unconnected.ok());
  EXPECT_EQ(unconnected.error().code, "not_connected");

  Sink refused;
  Channel unknown = open(client, server.peer_id(), "/aethel/nobody/1.0.0", refused);
  EXPECT_TRUE(unknown.is_open());  // opening; frames may be queued meanwhile
  ASSERT_TRUE(run({&io}, [&] { return refused.closed.has_value(); }));
  EXPECT_EQ(refused.closed->code, "protocol_not_supported");
  EXPECT_FALSE(unknown.is_open());

  Sink turned_away;
  server.set_channel_handler(std::string(kBulk),
                             [](const Channel&) { return std::optional<ChannelEvents>(); });
  open(client, server.peer_id(), kBulk, turned_away);
  ASSERT_TRUE(run({&io}, [&] { return turned_away.closed.has_value(); }));
  EXPECT_EQ(turned_away.closed->code, "stream_reset");

  Channel first = open(client, server.peer_id(), kRaft, outbound);
  auto second = client.open_channel(server.peer_id(), std::string(kRaft), {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, "channel_exists");
  first.reset();
  EXPECT_TRUE(client.open_channel(server.peer_id(), std::string(kRaft), {}).ok());
}

TEST_F(P2pChannels, NoCallbackRunsAfterStop) {
  Channel channel = open(client, server.peer_id(), kRaft, outbound);
  ASSERT_TRUE(channel.send(text_frame("one")));
  ASSERT_TRUE(run({&io}, [&] { return inbound.frames.size() == 1; }));
  client.stop();
  EXPECT_FALSE(channel.send(text_frame("two")));
  ASSERT_TRUE(run({&io}, [&] { return inbound.closed.has_value(); }));
  EXPECT_FALSE(outbound.closed.has_value());
}

}  // namespace
}  // namespace aethel::p2p
