// The index of derived ids' record numbers: generations, reuse of dropped tables.
#include "ledger/generation_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace aethel::ledger {
namespace {

// Random inserts (with hash collisions) and forgets against a model: every kept number
// is found under its hash, no forgotten one is, and whole generations are dropped, so
// tables are reused (their stale entries must read as empty).
TEST(GenerationIndex, FindsExactlyTheKeptNumbersAcrossGenerations) {
  constexpr uint64_t kWindow = 3 * GenerationIndex::kGenerationEntries + 1'000;
  std::mt19937_64 random(11);
  GenerationIndex index;
  std::multimap<uint64_t, uint64_t> model;  // hash → number, kept numbers only
  uint64_t next = 0;
  uint64_t first_kept = 0;
  const auto hash_of = [](uint64_t number) { return (number * 0x9e3779b97f4a7c15) % 50'000; };
  for (int round = 0; round < 40; ++round) {
    for (uint64_t k = random() % 20'000; k > 0; --k) {
      next += 1 + random() % 3;  // numbers rise, with gaps (the ledger's client ids)
      index.insert(hash_of(next), next);
      model.emplace(hash_of(next), next);
    }
    if (next > kWindow) first_kept = next - kWindow;
    index.forget_below(first_kept);
    std::erase_if(model, [&](const auto& entry) { return entry.second < first_kept; });
    const uint64_t generations_at_most = kWindow / GenerationIndex::kGenerationEntries + 2;
    ASSERT_LE(index.generations(), generations_at_most);
    for (uint64_t probe = 0; probe < 2'000; ++probe) {
      const uint64_t number = random() % (next + 1);
      const uint64_t found = index.find(hash_of(number), [&](uint64_t candidate) {
        return candidate == number && candidate >= first_kept;
      });
      const bool kept = [&] {
        auto [begin, end] = model.equal_range(hash_of(number));
        for (auto it = begin; it != end; ++it) {
          if (it->second == number) return true;
        }
        return false;
      }();
      ASSERT_EQ(found, kept ? number : GenerationIndex::kAbsent) << number;
    }
  }
  EXPECT_GT(next, 10 * kWindow / 2);  // the window turned over several times
}

TEST(GenerationIndex, ForgettingEverythingLeavesItEmptyAndUsable) {
  GenerationIndex index;
  for (uint64_t n = 0; n < GenerationIndex::kGenerationEntries + 5; ++n) index.insert(n, n);
  EXPECT_EQ(index.generations(), 2u);
  index.forget_below(GenerationIndex::kGenerationEntries + 5);
  EXPECT_EQ(index.generations(), 0u);
  const auto any = [](uint64_t) { return true; };
  const uint64_t stale = GenerationIndex::kGenerationEntries + 1;  // in the reused table
  EXPECT_EQ(index.find(stale, any), GenerationIndex::kAbsent);
  index.insert(3, GenerationIndex::kGenerationEntries + 9);
  EXPECT_EQ(index.find(3, any), GenerationIndex::kGenerationEntries + 9);
  EXPECT_EQ(index.find(stale, any), GenerationIndex::kAbsent);
  EXPECT_EQ(index.generations(), 1u);
}

}  // namespace
}  // namespace aethel::ledger
