// Deployable verified intents end to end (SPEC §11; issue 15), against three real
// `aethel node` processes: deploy a proven split, refuse what is not proven or
// cannot run, invoke on every node, refuse bad calls without changing anything, and
// reach one root.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "lattice_fixture.h"

namespace aethel::test {
namespace {

std::string example(const char* name) {
  std::ifstream in(std::string(AETHEL_EXAMPLES_DIR) + "/intents/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const char* kMint = R"(intent mint(a: Account, n: Amount) {
  guard { n > 0; } solve { priority: fee; } verify { a == old_a + n; } })";
// PROVED, but `a` is given only by inequalities: the post-state is not unique.
const char* kVague = R"(intent vague(a: Account, b: Account, amount: Amount) {
  guard { amount > 0; amount <= 1000; old_a >= amount; old_a <= 1000000; old_b <= 1000000; }
  solve { priority: fee; }
  verify { a >= old_a - amount; a <= old_a; b == old_b + (old_a - a); } })";

struct Started {
  Lattice lattice;
  int leader = -1;
};

void start_and_elect(Started& s) {
  s.lattice.start_all();
  ASSERT_TRUE(eventually([&] { return s.lattice.leader() >= 0; }, milliseconds(20'000)));
  s.leader = s.lattice.leader();
}

int64_t balance(NodeProcess& node, std::string_view name) {
  auto reply = node.get(std::string("/api/lattice/accounts/") + std::string(name));
  if (reply.status == 404) return 0;
  EXPECT_EQ(reply.status, 200u) << json::serialize(reply.body);
  return reply.body.at("balance").to_number<int64_t>();
}

uint64_t height(NodeProcess& node) {
  return u64(node.get("/api/lattice/state?limit=0").body.at("height"));
}

std::string root(NodeProcess& node) {
  return std::string(node.get("/api/lattice/state?limit=0").body.at("merkle_root").as_string());
}

// The first intent of a /api/verify answer.
json::object verify(NodeProcess& node, const std::string& code) {
  auto reply = node.post("/api/verify", json::object{{"code", code}});
  EXPECT_EQ(reply.status, 200u) << json::serialize(reply.body);
  return reply.body.at("intents").at(0).as_object();
}

std::string text(const json::value& v) {
  return std::string(v.as_string());
}

std::string node_url(const NodeProcess& node) {
  return "http://127.0.0.1:" + std::to_string(node.url().port);
}

// `aethel submit` of `code`, written to a file first.
CliRun submit(const NodeProcess& node, const std::string& code) {
  const std::string path = ::testing::TempDir() + "/submit.ae";
  std::ofstream(path) << code << "\n";
  return aethel("submit --node " + node_url(node) + " " + path);
}

TEST(IntentsTest, DeployAProvenSplitAndInvokeItOnEveryNode) {
  Started s;
  start_and_elect(s);
  NodeProcess& follower = s.lattice.node((s.leader + 1) % Lattice::kNodes);

  auto deployed =
      follower.post("/api/lattice/intents", json::object{{"code", example("split.ae")}});
  ASSERT_EQ(deployed.status, 201u) << json::serialize(deployed.body);
  EXPECT_EQ(text(deployed.body.at("intent").at("name")), "split");
  EXPECT_EQ(u64(deployed.body.at("intent").at("version")), 1u);
  EXPECT_EQ(text(deployed.body.at("verification").at("status")), "PROVED");

  int64_t alice = 1000, bob = 500, dave = 0;
  for (int i = 0; i < Lattice::kNodes; ++i) {
    json::object intent = verify(
        s.lattice.node(i), "intent split { payer: Alice, left: Bob, right: Dave, amount: 101 }");
    ASSERT_EQ(text(intent.at("status")), "PROVED") << json::serialize(intent);
    EXPECT_EQ(text(intent.at("transaction").at("kind")), "invocation");
    alice -= 101, bob += 50, dave += 51;  // 101 / 2 = 50 to left, the rest to right
  }
  for (int i = 0; i < Lattice::kNodes; ++i) {
    NodeProcess& node = s.lattice.node(i);
    EXPECT_EQ(balance(node, "Alice"), alice) << "node " << i;
    EXPECT_EQ(balance(node, "Bob"), bob) << "node " << i;
    EXPECT_EQ(balance(node, "Dave"), dave) << "node " << i;
    auto listed = node.get("/api/lattice/intents/split");
    ASSERT_EQ(listed.status, 200u);
    EXPECT_EQ(text(listed.body.at("source")), example("split.ae"));
  }
  ASSERT_TRUE(eventually([&] { return s.lattice.converged({0, 1, 2}); }, milliseconds(10'000)));
}

TEST(IntentsTest, WhatIsNotProvenOrCannotRunIsRefusedWithTheReason) {
  Started s;
  start_and_elect(s);
  NodeProcess& node = s.lattice.node(s.leader);
  const uint64_t before = height(node);

  auto mint = node.post("/api/lattice/intents", json::object{{"code", kMint}});
  ASSERT_EQ(mint.status, 400u);
  EXPECT_EQ(text(mint.body.at("error").at("code")), "not_proved");
  EXPECT_EQ(text(mint.body.at("intent").at("violations").at(0).at("property")), "conservation");

  auto vague = node.post("/api/lattice/intents", json::object{{"code", kVague}});
  ASSERT_EQ(vague.status, 400u);
  EXPECT_EQ(text(vague.body.at("error").at("code")), "not_executable");
  EXPECT_NE(text(vague.body.at("error").at("message")).find("undetermined variable 'a'"),
            std::string::npos);

  auto clash =
      node.post("/api/lattice/intents",
                json::object{{"code", R"(intent transfer(a: Account, b: Account, n: Amount) {
    guard { n > 0; old_a >= n; } solve { p: q; } verify { a == old_a - n; b == old_b + n; } })"}});
  ASSERT_EQ(clash.status, 400u);
  EXPECT_NE(text(clash.body.at("error").at("message")).find("built-in"), std::string::npos);

  auto two =
      node.post("/api/lattice/intents",
                json::object{{"code", "intent transfer { from: Alice, to: Bob, amount: 1 }"}});
  ASSERT_EQ(two.status, 400u);
  EXPECT_EQ(text(two.body.at("error").at("code")), "bad_definition");

  EXPECT_EQ(height(node), before) << "a refused deployment writes no block";
  EXPECT_TRUE(node.get("/api/lattice/intents").body.at("intents").as_array().empty());
}

TEST(IntentsTest, BadCallsAndFailingGuardsChangeNothing) {
  Started s;
  start_and_elect(s);
  NodeProcess& node = s.lattice.node((s.leader + 2) % Lattice::kNodes);
  ASSERT_EQ(node.post("/api/lattice/intents", json::object{{"code", example("split.ae")}}).status,
            201u);
  // A refusal forwarded by a follower is recorded in a block (its id is remembered),
  // so the height may move; the state, and so the root, may not.
  const std::string before = root(node);
  const std::pair<const char*, const char*> refused[] = {
      {"intent split { payer: Alice, left: Bob, right: Dave, amount: 5000 }", "guard_failed"},
      {"intent nosuch { payer: Alice }", "unknown_intent"},
      {"intent split { payer: Alice, left: Bob, right: Dave }", "invalid_arguments"},
      {"intent split { payer: Alice, left: Bob, right: Dave, amount: 1, tip: 2 }",
       "invalid_arguments"},
      {"intent split { payer: Alice, left: Bob, right: Dave, amount: Bob }", "invalid_arguments"},
      {"intent split { payer: Alice, left: Bob, right: Dave, amount: 99999999999999999999 }",
       "invalid_arguments"},
      {"intent split { payer: Alice, left: Bob, right: Alice, amount: 10 }", "invalid_arguments"},
      {"atomic_batch b {\n intent transfer { from: Alice, to: Bob, amount: 10 }\n"
       " intent split { payer: Bob, left: Charlie, right: Dave, amount: 100000 }\n}",
       "guard_failed"},
  };
  for (const auto& [code, reason] : refused) {
    auto reply = node.post("/api/verify", json::object{{"code", code}});
    ASSERT_EQ(reply.status, 200u) << json::serialize(reply.body);
    EXPECT_EQ(text(reply.body.at("status")), "FAILED") << code;
    const std::string message = json::serialize(reply.body.at("intents"));
    EXPECT_NE(message.find(reason), std::string::npos) << code << " → " << message;
  }
  EXPECT_EQ(root(node), before);
  EXPECT_EQ(balance(node, "Alice"), 1000);
  EXPECT_EQ(balance(node, "Bob"), 500);
}

TEST(IntentsTest, TheCommandLineDeploysAndInvokes) {
  Started s;
  start_and_elect(s);
  NodeProcess& node = s.lattice.node((s.leader + 1) % Lattice::kNodes);
  const std::string examples = std::string(AETHEL_EXAMPLES_DIR) + "/intents/";
  for (const char* file : {"escrow_hold.ae", "escrow_release.ae"}) {
    CliRun deployed = aethel("deploy --node " + node_url(node) + " " + examples + file);
    EXPECT_EQ(deployed.exit_code, 0) << deployed.output;
    EXPECT_NE(deployed.output.find("version 1"), std::string::npos) << deployed.output;
  }
  CliRun refused = aethel("deploy --node " + node_url(node) + " " +
                          std::string(AETHEL_EXAMPLES_DIR) + "/transfer.ae");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("built-in"), std::string::npos) << refused.output;

  // Escrow in two steps: the buyer's 300 held, then paid to the seller.
  CliRun hold = submit(node, "intent escrow_hold { buyer: Alice, escrow: Escrow, price: 300 }");
  EXPECT_EQ(hold.exit_code, 0) << hold.output;
  EXPECT_EQ(balance(node, "Escrow"), 300);
  CliRun too_much =
      submit(node, "intent escrow_release { escrow: Escrow, seller: Bob, price: 301 }");
  EXPECT_EQ(too_much.exit_code, 1) << too_much.output;
  EXPECT_NE(too_much.output.find("guard_failed"), std::string::npos) << too_much.output;
  CliRun release =
      submit(node, "intent escrow_release { escrow: Escrow, seller: Bob, price: 300 }");
  EXPECT_EQ(release.exit_code, 0) << release.output;
  EXPECT_EQ(balance(node, "Escrow"), 0);
  EXPECT_EQ(balance(node, "Bob"), 800);
  EXPECT_EQ(balance(node, "Alice"), 700);
}

}  // namespace
}  // namespace aethel::test
