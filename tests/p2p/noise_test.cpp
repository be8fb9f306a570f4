#include "p2p/noise.h"

#include <gtest/gtest.h>

#include "p2p/codec.h"

namespace aethel::p2p {
namespace {

struct Pair {
  KeyPair initiator_key = KeyPair::generate();
  KeyPair responder_key = KeyPair::generate();
};

// Runs the three handshake messages between two state machines.
Status run_handshake(NoiseHandshake& initiator, NoiseHandshake& responder) {
  for (int i = 0; i < 3; ++i) {
    NoiseHandshake& writer = initiator.should_write() ? initiator : responder;
    NoiseHandshake& reader = &writer == &initiator ? responder : initiator;
    auto message = writer.write_message();
    if (!message) return message.error();
    if (auto read = reader.read_message(message.value()); !read) return read;
  }
  return {};
}

TEST(P2pNoise, HandshakeAuthenticatesBothPeersAndTransportWorksBothWays) {
  Pair keys;
  const PeerId responder_id = PeerId::from_public_key(keys.responder_key.public_key());
  NoiseHandshake initiator(NoiseRole::kInitiator, keys.initiator_key, responder_id);
  NoiseHandshake responder(NoiseRole::kResponder, keys.responder_key, std::nullopt);
  ASSERT_TRUE(run_handshake(initiator, responder).ok());
  ASSERT_TRUE(initiator.complete());
  ASSERT_TRUE(responder.complete());
  EXPECT_EQ(initiator.remote_peer(), responder_id);
  EXPECT_EQ(responder.remote_peer(), PeerId::from_public_key(keys.initiator_key.public_key()));

  NoiseTransport a = initiator.transport();
  NoiseTransport b = responder.transport();
  Bytes wire;
  a.encrypt(as_bytes("hello"), wire);
  a.encrypt(as_bytes(" world"), wire);
  EXPECT_EQ(wire.size(), 2 + 5 + 16 + 2 + 6 + 16u);
  Bytes received;
  // Split delivery: the frame reader must reassemble.
  ASSERT_TRUE(b.decrypt(ByteView(wire).first(10), received).ok());
  ASSERT_TRUE(b.decrypt(ByteView(wire).subspan(10), received).ok());
  EXPECT_EQ(as_string(received), "hello world");

  Bytes back;
  b.encrypt(as_bytes("pong"), back);
  Bytes got;
  ASSERT_TRUE(a.decrypt(back, got).ok());
  EXPECT_EQ(as_string(got), "pong");
}

TEST(P2pNoise, LargeWritesAreSplitIntoMaximalFrames) {
  Pair keys;
  NoiseHandshake initiator(NoiseRole::kInitiator, keys.initiator_key, std::nullopt);
  NoiseHandshake responder(NoiseRole::kResponder, keys.responder_key, std::nullopt);
  ASSERT_TRUE(run_handshake(initiator, responder).ok());
  NoiseTransport a = initiator.transport();
  NoiseTransport b = responder.transport();
  Bytes big(200'000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7);
  Bytes wire;
  a.encrypt(big, wire);
  EXPECT_EQ(wire[0], 0xff);  // first frame is exactly 65535 bytes
  EXPECT_EQ(wire[1], 0xff);
  Bytes received;
  ASSERT_TRUE(b.decrypt(wire, received).ok());
  EXPECT_EQ(received, big);
}

TEST(P2pNoise, WrongExpectedPeerIsRefusedByTheInitiator) {
  Pair keys;
  const PeerId someone_else = PeerId::from_public_key(KeyPair::generate().public_key());
  NoiseHandshake initiator(NoiseRole::kInitiator, keys.initiator_key, someone_else);
  NoiseHandshake responder(NoiseRole::kResponder, keys.responder_key, std::nullopt);
  auto result = run_handshake(initiator, responder);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("but the remote is"), std::string::npos);
  EXPECT_FALSE(initiator.complete());
}

TEST(P2pNoise, TamperedHandshakeMessageFails) {
  Pair keys;
  NoiseHandshake initiator(NoiseRole::kInitiator, keys.initiator_key, std::nullopt);
  NoiseHandshake responder(NoiseRole::kResponder, keys.responder_key, std::nullopt);
  auto first = initiator.write_message();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(responder.read_message(first.value()).ok());
  auto second = responder.write_message();
  ASSERT_TRUE(second.ok());
  second->at(40) ^= 0x01;  // inside the encrypted static key
  EXPECT_FALSE(initiator.read_message(second.value()).ok());
}

TEST(P2pNoise, TransportRejectsReplayedAndForgedFrames) {
  Pair keys;
  NoiseHandshake initiator(NoiseRole::kInitiator, keys.initiator_key, std::nullopt);
  NoiseHandshake responder(NoiseRole::kResponder, keys.responder_key, std::nullopt);
  ASSERT_TRUE(run_handshake(initiator, responder).ok());
  NoiseTransport a = initiator.transport();
  NoiseTransport b = responder.transport();
  Bytes frame;
  a.encrypt(as_bytes("once"), frame);
  Bytes out;
  ASSERT_TRUE(b.decrypt(frame, out).ok());
  EXPECT_FALSE(b.decrypt(frame, out).ok());  // same nonce again: tag fails

  NoiseTransport c = responder.transport();
  Bytes forged = frame;
  forged.back() ^= 0x80;
  EXPECT_FALSE(c.decrypt(forged, out).ok());
}

TEST(P2pNoise, PayloadCodecKeepsExtensions) {
  NoiseHandshakePayload payload;
  payload.identity_key = {1, 2, 3};
  payload.identity_sig = {4, 5};
  payload.stream_muxers = {"/yamux/1.0.0"};
  auto decoded = decode_noise_payload(encode_noise_payload(payload));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->identity_key, payload.identity_key);
  EXPECT_EQ(decoded->identity_sig, payload.identity_sig);
  EXPECT_EQ(decoded->stream_muxers, payload.stream_muxers);
}

TEST(P2pNoise, OutOfTurnMessagesAreErrors) {
  Pair keys;
  NoiseHandshake responder(NoiseRole::kResponder, keys.responder_key, std::nullopt);
  EXPECT_FALSE(responder.write_message().ok());
  EXPECT_FALSE(responder.read_message(Bytes(10)).ok());
}

}  // namespace
}  // namespace aethel::p2p
