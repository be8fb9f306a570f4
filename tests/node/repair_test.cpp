// Issue 12 / SPEC §10 "Repairs never un-commit", with real processes. A leads, C is
// stopped, 50 transfers are acknowledged by A and B; B loses its log (`aethel rebuild`,
// or its data directory emptied with the key kept) and restarts; A is killed before
// any further write; C restarts. B must not help C — which lacks the 50 — become a
// leader: the lattice waits for A (safety over availability). When A returns, every
// node holds the 50 and one root.
#include <gtest/gtest.h>

#include <cstdio>

#include "lattice_fixture.h"

namespace aethel::test {
namespace {

enum class Repair { kRebuild, kEmptiedDataDirectory };

void lose_log(NodeProcess& node, Repair repair) {
  std::filesystem::path data = node.root() / "data";
  if (repair == Repair::kRebuild) {
    std::string command = "AETHEL_DATA_DIR=" + data.string() + " " AETHEL_BINARY " rebuild 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char chunk[256];
    std::string output;
    while (fgets(chunk, sizeof chunk, pipe)) output += chunk;
    ASSERT_EQ(pclose(pipe), 0) << output;
    return;
  }
  for (const auto& entry : std::filesystem::directory_iterator(data)) {
    if (entry.path().filename() != "node.key") std::filesystem::remove_all(entry.path());
  }
}

void repair_scenario(Repair repair) {
  Lattice lattice;
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(20'000)));
  const int a = lattice.leader(), b = (a + 1) % Lattice::kNodes, c = (a + 2) % Lattice::kNodes;
  ASSERT_EQ(lattice.node(c).stop(), 0);
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 50; ++i) {
    std::string id = fmt::format("repair-{}", i);
    auto reply = lattice.node(a).post("/api/lattice/transactions", transfer_batch(id, 1));
    ASSERT_EQ(reply.status, 200u) << json::serialize(reply.body);
    ASSERT_EQ(reply.body.at("committed"), 1) << json::serialize(reply.body);
    acknowledged.push_back(id);
  }
  ASSERT_EQ(lattice.node(b).stop(), 0);
  ASSERT_NO_FATAL_FAILURE(lose_log(lattice.node(b), repair));
  lattice.start(b);
  lattice.node(a).kill_hard();  // before any further write
  lattice.start(c);

  // B and C alone: C lacks the 50, B does not know them any more. No leader may rise
  // from that, and no write may be acknowledged.
  auto write = lattice.node(c).post("/api/lattice/transactions", transfer_batch("stale", 1));
  EXPECT_NE(write.status, 200u) << "a write was acknowledged without A: "
                                << json::serialize(write.body);
  EXPECT_EQ(lattice.leader(), -1) << lattice.node(b).output();
  EXPECT_NE(lattice.node(b).output().find("[RECOVERY]"), std::string::npos)
      << lattice.node(b).output();

  lattice.start(a);
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(20'000)))
      << lattice.node(b).output();
  auto after = lattice.node(a).post("/api/lattice/transactions", transfer_batch("after", 1));
  EXPECT_EQ(after.status, 200u) << json::serialize(after.body);
  EXPECT_TRUE(eventually([&] { return lattice.converged({0, 1, 2}); }, milliseconds(15'000)));
  expect_every_node_holds(lattice, acknowledged);
  for (int i = 0; i < Lattice::kNodes; ++i) expect_conserved(lattice, i);
}

TEST(RepairTest, ARebuiltNodeNeverHelpsUnCommitAcknowledgedTransfers) {
  repair_scenario(Repair::kRebuild);
}

TEST(RepairTest, ANodeWithAnEmptiedDataDirectoryNeverHelpsUnCommitAcknowledgedTransfers) {
  repair_scenario(Repair::kEmptiedDataDirectory);
}

}  // namespace
}  // namespace aethel::test
