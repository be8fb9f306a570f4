#include "p2p/multistream.h"

#include <gtest/gtest.h>

namespace aethel::p2p {
namespace {

std::string wire(std::initializer_list<std::string_view> lines) {
  Bytes out;
  for (auto line : lines) append_multistream_line(out, line);
  return as_string(out);
}

TEST(P2pMultistream, LineEncodingMatchesTheSpec) {
  Bytes out;
  append_multistream_line(out, "/multistream/1.0.0");
  EXPECT_EQ(to_hex(out), "132f6d756c746973747265616d2f312e302e300a");
}

TEST(P2pMultistream, DialerAndListenerAgreeAfterOneRefusal) {
  MultistreamDialer dialer({"/yamux/2.0.0", "/yamux/1.0.0"});
  MultistreamListener listener([](std::string_view p) { return p == "/yamux/1.0.0"; });
  Bytes to_listener = dialer.start();
  Bytes to_dialer = listener.start();
  EXPECT_EQ(as_string(to_listener), wire({"/multistream/1.0.0", "/yamux/2.0.0"}));
  for (int round = 0; round < 4 && !(dialer.done() && listener.done()); ++round) {
    auto answers = listener.receive(std::exchange(to_listener, {}));
    ASSERT_TRUE(answers.ok()) << answers.error().message;
    to_dialer.insert(to_dialer.end(), answers->begin(), answers->end());
    auto proposals = dialer.receive(std::exchange(to_dialer, {}));
    ASSERT_TRUE(proposals.ok()) << proposals.error().message;
    to_listener = proposals.value();
  }
  ASSERT_TRUE(dialer.done());
  ASSERT_TRUE(listener.done());
  EXPECT_EQ(dialer.selected(), "/yamux/1.0.0");
  EXPECT_EQ(listener.selected(), "/yamux/1.0.0");
}

TEST(P2pMultistream, ListenerKeepsOptimisticDataAsLeftover) {
  MultistreamListener listener([](std::string_view p) { return p == "/ipfs/ping/1.0.0"; });
  std::string input = wire({"/multistream/1.0.0", "/ipfs/ping/1.0.0"}) + "PAYLOAD";
  auto answers = listener.receive(as_bytes(input));
  ASSERT_TRUE(answers.ok());
  EXPECT_EQ(as_string(answers.value()), wire({"/ipfs/ping/1.0.0"}));
  EXPECT_EQ(as_string(listener.take_leftover()), "PAYLOAD");
}

TEST(P2pMultistream, ByteAtATimeInputWorks) {
  MultistreamDialer dialer({"/noise"});
  const std::string input = wire({"/multistream/1.0.0", "/noise"}) + "X";
  for (char c : input) {
    auto out = dialer.receive(as_bytes(std::string_view(&c, 1)));
    ASSERT_TRUE(out.ok());
    if (dialer.done()) break;
  }
  EXPECT_TRUE(dialer.done());
  EXPECT_EQ(dialer.selected(), "/noise");
}

TEST(P2pMultistream, DialerFailsWhenEveryProtocolIsRefused) {
  MultistreamDialer dialer({"/a", "/b"});
  (void)dialer.start();
  auto first = dialer.receive(as_bytes(wire({"/multistream/1.0.0", "na"})));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(as_string(first.value()), wire({"/b"}));
  auto second = dialer.receive(as_bytes(wire({"na"})));
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("none of the proposed"), std::string::npos);
}

TEST(P2pMultistream, WrongHeaderOversizedLineAndMissingNewlineAreErrors) {
  MultistreamListener wrong([](std::string_view) { return true; });
  EXPECT_FALSE(wrong.receive(as_bytes(wire({"/multistream/2.0.0"}))).ok());

  MultistreamListener oversized([](std::string_view) { return true; });
  Bytes big;
  append_varint(big, 5000);
  EXPECT_FALSE(oversized.receive(big).ok());

  MultistreamListener no_newline([](std::string_view) { return true; });
  EXPECT_FALSE(no_newline.receive(from_hex("0361626364").value()).ok());
}

TEST(P2pMultistream, ListenerGivesUpAfterTooManyProposals) {
  MultistreamListener listener([](std::string_view) { return false; });
  std::string input = wire({"/multistream/1.0.0"});
  for (std::size_t i = 0; i <= kMaxMultistreamProposals; ++i) input += wire({"/nope"});
  EXPECT_FALSE(listener.receive(as_bytes(input)).ok());
}

}  // namespace
}  // namespace aethel::p2p
