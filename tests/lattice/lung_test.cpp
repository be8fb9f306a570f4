// The HTTP lung's body format: envelopes of any size cross bodies within the limit.
#include "lattice/lung.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace aethel::lattice {
namespace {

std::string pattern(size_t bytes, char seed) {
  std::string out(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<char>(seed + i * 7);
  return out;
}

std::vector<std::string> bodies_of(LungPacker& packer, const std::vector<std::string>& envelopes) {
  std::deque<std::string> queue;
  for (const std::string& e : envelopes) packer.add(e, queue);
  std::vector<std::string> bodies;
  while (!queue.empty()) bodies.push_back(packer.next_body(queue));
  return bodies;
}

TEST(Lung, SmallEnvelopesShareOneBody) {
  LungPacker packer(4096, 1);
  auto bodies = bodies_of(packer, {"a", "bc", pattern(100, 'x')});
  ASSERT_EQ(bodies.size(), 1u);
  LungAssembler assembler(4, 1 << 20);
  auto got = assembler.feed(bodies[0]);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got.value(), (std::vector<std::string>{"a", "bc", pattern(100, 'x')}));
}

TEST(Lung, ALargeEnvelopeCrossesBodiesInAnyOrder) {
  const size_t limit = 4096;
  LungPacker packer(limit, 77);
  std::string big = pattern(100'000, 'q');
  auto bodies = bodies_of(packer, {"before", big, "after"});
  EXPECT_GT(bodies.size(), 20u);
  for (const std::string& body : bodies) EXPECT_LE(body.size(), limit);
  std::mt19937 rng(5);
  std::shuffle(bodies.begin() + 1, bodies.end() - 1, rng);  // requests race each other
  LungAssembler assembler(4, 1 << 20);
  std::vector<std::string> delivered;
  for (const std::string& body : bodies) {
    auto got = assembler.feed(body);
    ASSERT_TRUE(got.ok()) << got.error().message;
    for (std::string& e : got.value()) delivered.push_back(std::move(e));
  }
  ASSERT_EQ(delivered.size(), 3u);
  EXPECT_TRUE(std::find(delivered.begin(), delivered.end(), big) != delivered.end());
  EXPECT_EQ(assembler.pending_bytes(), 0u);
}

TEST(Lung, DuplicateFragmentsDeliverOnce) {
  LungPacker packer(2048, 1);
  std::string big = pattern(10'000, 'd');
  auto bodies = bodies_of(packer, {big});
  LungAssembler assembler(4, 1 << 20);
  size_t delivered = 0;
  for (int round = 0; round < 2; ++round) {
    for (const std::string& body : bodies) delivered += assembler.feed(body).value().size();
  }
  // The second round starts a new partial copy that never completes twice over:
  // each full pass completes the message exactly once.
  EXPECT_EQ(delivered, 2u);
  LungAssembler once(4, 1 << 20);
  size_t first_pass = 0;
  for (const std::string& body : bodies) {
    first_pass += once.feed(body).value().size();
    first_pass += once.feed(body).value().size();  // the same fragment again at once
  }
  EXPECT_EQ(first_pass, 1u);
}

TEST(Lung, PendingMemoryIsBounded) {
  LungPacker packer(2048, 1);
  LungAssembler assembler(2, 1 << 20);
  for (int i = 0; i < 10; ++i) {
    auto bodies = bodies_of(packer, {pattern(10'000, static_cast<char>(i))});
    auto got = assembler.feed(bodies[0]);  // only the first fragment of each
    ASSERT_TRUE(got.ok());
  }
  EXPECT_LE(assembler.pending_bytes(), 2u * 2048);
}

TEST(Lung, MalformedBodiesAreRefusedWithAReason) {
  LungAssembler assembler(4, 1 << 20);
  auto unknown = assembler.feed(std::string("\x09", 1));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "malformed_body");
  EXPECT_NE(unknown.error().message.find("unknown record kind 9"), std::string::npos);
  auto truncated = assembler.feed(std::string("\x01\x00\x00\x00\x09short", 10));
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().message.find("truncated"), std::string::npos);
  base::ByteWriter bad;
  bad.u8(2);
  bad.u64(1);
  bad.u32(5);  // index 5 of 3
  bad.u32(3);
  bad.string32("x");
  auto range = assembler.feed(bad.str());
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.error().message.find("out of range"), std::string::npos);
}

}  // namespace
}  // namespace aethel::lattice
