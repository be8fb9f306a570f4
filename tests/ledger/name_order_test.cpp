// NameOrder (the ledger's accounts in name order) against std::set, with enough
// additions out of order to fill and merge the short run many times.
#include "ledger/name_order.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace aethel::ledger {
namespace {

// The names above `after` in the order's walk, at most `limit` of them.
std::vector<std::string> walk(const NameOrder& order, const std::vector<std::string>& names,
                              std::string_view after, size_t limit) {
  std::vector<std::string> seen;
  order.visit_after(
      after, [&](uint32_t slot) { return std::string_view(names[slot]); },
      [&](uint32_t slot) {
        seen.push_back(names[slot]);
        return seen.size() < limit;
      });
  return seen;
}

RC_GTEST_PROP(NameOrderProperty, WalksEqualASortedSetAcrossMerges, ()) {
  const int count = *rc::gen::inRange(0, 3 * static_cast<int>(NameOrder::kMaxRecent));
  const bool in_order_first = *rc::gen::arbitrary<bool>();
  std::vector<std::string> names;
  std::set<std::string> reference;
  NameOrder order;
  const auto name_of = [&](uint32_t slot) { return std::string_view(names[slot]); };
  for (int i = 0; i < count; ++i) {
    // A prefix of names in order (as a genesis adds them), then names in any order.
    std::string name =
        in_order_first && i < count / 2
            ? "m" + std::to_string(100000 + i)
            : *rc::gen::nonEmpty(rc::gen::container<std::string>(rc::gen::inRange('a', 'z')));
    if (!reference.insert(name).second) continue;
    names.push_back(name);
    order.insert(static_cast<uint32_t>(names.size() - 1), name_of);
  }
  RC_ASSERT(order.size() == reference.size());
  RC_ASSERT(walk(order, names, "", SIZE_MAX) ==
            std::vector<std::string>(reference.begin(), reference.end()));
  // A page after any name, in the order or not, is the next names of the set.
  const std::string after = *rc::gen::container<std::string>(rc::gen::inRange('a', 'z'));
  const size_t limit = *rc::gen::inRange<size_t>(1, 50);
  std::vector<std::string> expected;
  for (auto it = reference.upper_bound(after); it != reference.end() && expected.size() < limit;
       ++it) {
    expected.push_back(*it);
  }
  RC_ASSERT(walk(order, names, after, limit) == expected);
}

TEST(NameOrder, NamesOutOfOrderAreMergedWhenTheShortRunFills) {
  std::vector<std::string> names;
  NameOrder order;
  const auto name_of = [&](uint32_t slot) { return std::string_view(names[slot]); };
  // Descending: every addition after the first goes to the short run.
  const size_t count = NameOrder::kMaxRecent * 2 + 7;
  for (size_t i = 0; i < count; ++i) {
    names.push_back("n" + std::to_string(2'000'000 - i));
    order.insert(static_cast<uint32_t>(i), name_of);
  }
  const auto all = walk(order, names, "", SIZE_MAX);
  ASSERT_EQ(all.size(), count);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(all.front(), names.back());
  EXPECT_EQ(walk(order, names, all[100], 2), (std::vector<std::string>{all[101], all[102]}));
}

}  // namespace
}  // namespace aethel::ledger
