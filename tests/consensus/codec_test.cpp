// The wire codec: every message round-trips exactly, one message has one encoding, and
// garbage, truncated, oversized or non-canonical input is refused without crashing.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <stdexcept>

#include "base/base.h"
#include "consensus/consensus.h"
#include "tests/consensus/cluster.h"

namespace aethel::consensus {
namespace {

Message random_message() {
  Message m;
  m.type = static_cast<MessageType>(*rc::gen::inRange<int>(1, kLastMessageType + 1));
  m.from = *rc::gen::arbitrary<std::uint64_t>();
  m.to = *rc::gen::arbitrary<std::uint64_t>();
  m.term = *rc::gen::arbitrary<std::uint64_t>();
  m.log_term = *rc::gen::arbitrary<std::uint64_t>();
  m.index = *rc::gen::inRange<std::uint64_t>(0, std::uint64_t{1} << 40);
  m.commit = *rc::gen::arbitrary<std::uint64_t>();
  m.reject = *rc::gen::arbitrary<bool>();
  m.reject_hint = *rc::gen::arbitrary<std::uint64_t>();
  m.leader_transfer = *rc::gen::arbitrary<bool>();
  m.context = *rc::gen::arbitrary<std::uint64_t>();
  if (m.type == MessageType::kAppend) {
    const auto count = *rc::gen::inRange<std::size_t>(0, 20);
    for (std::size_t i = 0; i < count; ++i) {
      Entry e;
      e.term = *rc::gen::arbitrary<std::uint64_t>();
      e.index = m.index + 1 + i;
      e.data = *rc::gen::container<Bytes>(*rc::gen::inRange<std::size_t>(0, 64),
                                          rc::gen::arbitrary<std::uint8_t>());
      m.entries.push_back(std::move(e));
    }
  }
  if (m.type == MessageType::kSnapshot) {
    Snapshot s;
    s.meta.index = *rc::gen::arbitrary<std::uint64_t>();
    s.meta.term = *rc::gen::arbitrary<std::uint64_t>();
    s.meta.voters = *rc::gen::container<std::vector<NodeId>>(*rc::gen::inRange<std::size_t>(0, 7),
                                                             rc::gen::arbitrary<NodeId>());
    s.meta.learners = *rc::gen::container<std::vector<NodeId>>(*rc::gen::inRange<std::size_t>(0, 4),
                                                               rc::gen::arbitrary<NodeId>());
    s.data = std::make_shared<const Bytes>(*rc::gen::arbitrary<Bytes>());
    m.snapshot = std::move(s);
  }
  return m;
}

bool same(const Message& a, const Message& b) {
  if (a.type != b.type || a.from != b.from || a.to != b.to || a.term != b.term ||
      a.log_term != b.log_term || a.index != b.index || a.commit != b.commit ||
      a.reject != b.reject || a.reject_hint != b.reject_hint ||
      a.leader_transfer != b.leader_transfer || a.context != b.context || a.entries != b.entries ||
      a.snapshot.has_value() != b.snapshot.has_value()) {
    return false;
  }
  return !a.snapshot ||
         (a.snapshot->meta == b.snapshot->meta && *a.snapshot->data == *b.snapshot->data);
}

RC_GTEST_PROP(ConsensusCodec, RoundTripsEveryMessage, ()) {
  const Message m = random_message();
  const Bytes wire = encode(m);
  const DecodeResult decoded = decode(wire);
  RC_ASSERT(decoded.error.empty());
  RC_ASSERT(decoded.message.has_value());
  RC_ASSERT(same(m, *decoded.message));
  RC_ASSERT(encode(*decoded.message) == wire);  // one encoding per message
}

RC_GTEST_PROP(ConsensusCodec, EveryStrictPrefixIsRejected, ()) {
  const Bytes wire = encode(random_message());
  const auto cut = *rc::gen::inRange<std::size_t>(0, wire.size());
  const DecodeResult decoded = decode(std::span(wire.data(), cut));
  RC_ASSERT(!decoded.message.has_value());
  RC_ASSERT(!decoded.error.empty());
}

RC_GTEST_PROP(ConsensusCodec, GarbageNeverCrashesAndAcceptedInputIsCanonical, ()) {
  const Bytes garbage = *rc::gen::arbitrary<Bytes>();
  const DecodeResult decoded = decode(garbage);
  RC_ASSERT(decoded.message.has_value() != !decoded.error.empty());
  if (decoded.message) RC_ASSERT(encode(*decoded.message) == garbage);
}

RC_GTEST_PROP(ConsensusCodec, CorruptedBytesAreRejectedOrCanonical, ()) {
  Bytes wire = encode(random_message());
  const auto at = *rc::gen::inRange<std::size_t>(0, wire.size());
  wire[at] ^= *rc::gen::inRange<int>(1, 256);
  const DecodeResult decoded = decode(wire);
  if (decoded.message) RC_ASSERT(encode(*decoded.message) == wire);
}

Bytes heartbeat_wire() {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = 1;
  m.to = 2;
  m.term = 3;
  return encode(m);
}

TEST(ConsensusCodec, RejectsSpecificMalformations) {
  Bytes wire = heartbeat_wire();
  wire.push_back(0);
  EXPECT_EQ(decode(wire).error, "trailing bytes");

  wire = heartbeat_wire();
  wire[0] = 9;
  EXPECT_EQ(decode(wire).error, "unknown codec version");

  wire = heartbeat_wire();
  wire[1] = 0;
  EXPECT_EQ(decode(wire).error, "unknown message type");
  wire[1] = kLastMessageType + 1;
  EXPECT_EQ(decode(wire).error, "unknown message type");

  wire = heartbeat_wire();
  wire[2] = 0x81;  // from = 1 written in two bytes: 0x81 0x00
  wire.insert(wire.begin() + 3, 0x00);
  EXPECT_EQ(decode(wire).error, "non-minimal varint");

  Bytes overlong = {kCodecVersion, 7};
  for (int i = 0; i < 11; ++i) overlong.push_back(0xff);
  EXPECT_FALSE(decode(overlong).message.has_value());

  Message m;
  m.type = MessageType::kHeartbeat;
  m.entries = {Entry{1, 1, {}}};
  EXPECT_EQ(decode(encode(m)).error, "entries in a message that carries none");

  m.type = MessageType::kAppend;
  m.index = 5;
  m.entries = {Entry{1, 7, {}}};
  EXPECT_EQ(decode(encode(m)).error, "entries not consecutive after index");

  Message snap;
  snap.type = MessageType::kSnapshot;
  EXPECT_EQ(decode(encode(snap)).error, "snapshot message without a snapshot");

  Bytes huge(kMaxEncodedMessageBytes + 1, 0);
  EXPECT_FALSE(decode(huge).message.has_value());
}

TEST(ConsensusCodec, HugeDeclaredCountsDoNotAllocate) {
  // An append claiming 2^60 entries in a few bytes must be refused up front.
  Bytes wire = {kCodecVersion, static_cast<std::uint8_t>(MessageType::kAppend)};
  for (int i = 0; i < 8; ++i) wire.push_back(0);
  wire.push_back(0);  // flags
  for (int i = 0; i < 8; ++i) wire.push_back(0xff);
  wire.push_back(0x0f);
  EXPECT_EQ(decode(wire).error, "entry count out of range");
}

[[noreturn]] void throw_on_fatal(std::string_view what) {
  throw std::logic_error(std::string(what));
}

// Decodable is not the same as sane: members may send anything the codec accepts. Random
// messages near the current term, stepped into a live group, must never trip an invariant.
RC_GTEST_PROP(ConsensusCodec, ArbitraryDecodableMessagesNeverBreakAnInvariant, ()) {
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1000000);
  testing::Cluster cluster(3, seed);
  const NodeId leader = cluster.wait_for_leader();
  RC_ASSERT(leader != kNoNode);
  cluster.node(leader).propose(Bytes{1, 2, 3});
  cluster.tick_all(3);
  base::set_fatal_handler(throw_on_fatal);
  std::string failure;
  try {
    for (int i = 0; i < 20; ++i) {
      Message m = random_message();
      m.to = *rc::gen::inRange<NodeId>(1, 4);
      m.from = 1 + (m.to + *rc::gen::inRange<NodeId>(0, 2)) % 3;
      const Term term = cluster.node(m.to).term();
      m.term = term + *rc::gen::inRange<Term>(0, 3) - 1;
      m.index = *rc::gen::inRange<Index>(0, 8);
      for (std::size_t k = 0; k < m.entries.size(); ++k) {
        m.entries[k].index = m.index + 1 + k;
        m.entries[k].term = std::min(m.term, m.log_term % 4 + k);
      }
      m.log_term %= 4;
      m.commit %= 10;
      if (m.snapshot) {
        Snapshot snapshot = *m.snapshot;
        snapshot.meta.index %= 10;
        snapshot.meta.term = std::min(m.term, snapshot.meta.term % 4);
        m.snapshot = snapshot;
      }
      cluster.node(m.to).step(m);
      cluster.deliver_all(100);
    }
  } catch (const std::logic_error& e) {
    failure = e.what();
  }
  base::set_fatal_handler(nullptr);
  if (!failure.empty()) RC_FAIL(failure);
}

}  // namespace
}  // namespace aethel::consensus
