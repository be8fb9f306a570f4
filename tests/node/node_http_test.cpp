// The real `aethel node` process over real HTTP on 127.0.0.1: SPEC §4 routes,
// SPEC §5 commits, errors, the signed state, paging, proofs and restarts.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "ledger/ledger.h"
#include "node_process.h"
#include "p2p/p2p.h"

namespace aethel::test {
namespace {

constexpr std::string_view kGuideCode = "intent transfer { from: Alice, to: Bob, amount: 100 }";
constexpr std::string_view kGuideRequest =
    R"({"code": "intent transfer { from: Alice, to: Bob, amount: 100 }"})";

class NodeHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = make_temp_dir("http");
    node_ = std::make_unique<NodeProcess>(root_);
    node_->start();
  }
  void TearDown() override {
    node_.reset();
    std::filesystem::remove_all(root_);
  }

  json::object state(std::string_view query = "") {
    auto reply = node_->get("/api/lattice/state" + std::string(query));
    EXPECT_EQ(reply.status, 200u);
    return reply.body.as_object();
  }
  std::pair<std::string, uint64_t> root_and_height() {
    json::object s = state();
    return {json::value_to<std::string>(s["merkle_root"]), u64(s["height"])};
  }
  int64_t balance(std::string_view name) {
    auto reply = node_->get("/api/lattice/accounts/" + std::string(name));
    EXPECT_EQ(reply.status, 200u);
    return reply.body.at("balance").as_int64();
  }
  json::object verify(std::string_view code) {
    auto reply = node_->post("/api/verify", json::object{{"code", code}});
    EXPECT_EQ(reply.status, 200u);
    return reply.body.as_object();
  }
  static const json::object& first_intent(const json::object& response) {
    return response.at("intents").as_array().at(0).as_object();
  }

  std::filesystem::path root_;
  std::unique_ptr<NodeProcess> node_;
};

TEST_F(NodeHttpTest, RootAndHealthDescribeTheNode) {
  auto root = node_->get("/");
  EXPECT_EQ(root.status, 200u);
  EXPECT_EQ(root.body.at("name").as_string(), "Aethel Lattice");
  EXPECT_EQ(root.body.at("role").as_string(), "standalone");
  EXPECT_EQ(root.body.at("status").as_string(), "operational");
  EXPECT_EQ(root.body.at("node_name").as_string(), "test-node");
  EXPECT_TRUE(root.body.at("peer_id").as_string().starts_with("12D3KooW"));
  auto health = node_->get("/health");
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.body.at("status").as_string(), "healthy");
}

TEST_F(NodeHttpTest, GuideTransferIsProvedCommittedAndMovesMoney) {
  auto [genesis_root, genesis_height] = root_and_height();
  EXPECT_EQ(genesis_height, 0u);
  auto reply = node_->call("POST", "/api/verify", kGuideRequest);
  ASSERT_EQ(reply.status, 200u);
  const json::object& response = reply.body.as_object();
  EXPECT_EQ(response.at("status").as_string(), "PROVED");
  EXPECT_TRUE(response.at("success").as_bool());
  const json::object& tx = first_intent(response).at("transaction").as_object();
  EXPECT_TRUE(tx.at("committed").as_bool());
  EXPECT_EQ(u64(tx.at("height")), 1u);
  EXPECT_NE(tx.at("merkle_root").as_string(), genesis_root);
  EXPECT_FALSE(tx.at("id").as_string().empty());
  EXPECT_EQ(balance("Bob"), 600);
  EXPECT_EQ(balance("Alice"), 900);
  auto [root, height] = root_and_height();
  EXPECT_EQ(height, 1u);
  EXPECT_EQ(root, tx.at("merkle_root").as_string());
  auto found = node_->get("/api/lattice/tx/" + std::string(tx.at("id").as_string()));
  EXPECT_EQ(found.status, 200u);
  EXPECT_EQ(u64(found.body.at("height")), 1u);
}

TEST_F(NodeHttpTest, RefusedTransfersSayWhyAndChangeNothing) {
  auto before = root_and_height();
  struct Case {
    const char* code;
    const char* reason;
  };
  for (const Case& c : {
           Case{"intent transfer { from: Alice, to: Bob, amount: 5000 }", "insufficient_funds"},
           Case{"intent transfer { from: Zed, to: Bob, amount: 5 }", "unknown_account"},
           Case{"intent transfer { from: Alice, to: Bob, amount: 0 }", "positive"},
           Case{"intent transfer { from: Alice, to: Bob, amount: -5 }", "positive"},
           Case{"intent transfer { from: Alice, to: Alice, amount: 5 }", "same account"},
       }) {
    json::object response = verify(c.code);
    EXPECT_EQ(response.at("status").as_string(), "FAILED") << c.code;
    std::string message(first_intent(response).at("message").as_string());
    EXPECT_NE(message.find(c.reason), std::string::npos) << c.code << " → " << message;
    EXPECT_EQ(root_and_height(), before) << c.code;
  }
  EXPECT_EQ(balance("Alice"), 1000);
  EXPECT_EQ(balance("Bob"), 500);
}

TEST_F(NodeHttpTest, RetryWithTheSameIdIsAppliedOnce) {
  std::string code = R"(intent transfer { from: Alice, to: Bob, amount: 100, id: "pay-1" })";
  json::object first = verify(code);
  const json::object& tx1 = first_intent(first).at("transaction").as_object();
  EXPECT_EQ(tx1.at("id").as_string(), "pay-1");
  EXPECT_FALSE(tx1.at("exists").as_bool());
  auto after_first = root_and_height();
  json::object second = verify(code);
  EXPECT_EQ(second.at("status").as_string(), "PROVED");
  const json::object& tx2 = first_intent(second).at("transaction").as_object();
  EXPECT_TRUE(tx2.at("exists").as_bool());
  EXPECT_EQ(u64(tx2.at("height")), u64(tx1.at("height")));
  EXPECT_EQ(root_and_height(), after_first);
  EXPECT_EQ(balance("Bob"), 600);
}

TEST_F(NodeHttpTest, AtomicBatchCommitsAllOrNothing) {
  json::object ok = verify(R"(atomic_batch pay {
      intent transfer { from: Alice, to: Bob, amount: 10 }
      intent transfer { from: Bob, to: Charlie, amount: 20 } })");
  EXPECT_EQ(ok.at("status").as_string(), "PROVED");
  EXPECT_EQ(first_intent(ok).at("transaction").at("kind").as_string(), "atomic_batch");
  EXPECT_EQ(balance("Charlie"), 270);
  auto before = root_and_height();
  json::object sunk = verify(R"(atomic_batch pay {
      intent transfer { from: Alice, to: Bob, amount: 10 }
      intent transfer { from: Charlie, to: Bob, amount: 100000 } })");
  EXPECT_EQ(sunk.at("status").as_string(), "FAILED");
  EXPECT_EQ(root_and_height(), before);
  EXPECT_EQ(balance("Alice"), 990);
}

TEST_F(NodeHttpTest, BatchEndpointGivesPerItemResults) {
  json::array items{
      json::object{{"id", "b-1"}, {"from", "Alice"}, {"to", "Bob"}, {"amount", 10}},
      json::object{{"id", "b-2"}, {"from", "Bob"}, {"to", "Dave"}, {"amount", 5}, {"memo", "hi"}},
      json::object{{"id", "b-3"}, {"from", "Charlie"}, {"to", "Bob"}, {"amount", 999999}},
  };
  auto reply = node_->post("/api/lattice/transactions", json::object{{"transactions", items}});
  ASSERT_EQ(reply.status, 200u);
  const json::array& results = reply.body.at("results").as_array();
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].at("status").as_string(), "committed");
  EXPECT_EQ(results[1].at("status").as_string(), "committed");
  EXPECT_EQ(results[2].at("code").as_string(), "insufficient_funds");
  EXPECT_EQ(balance("Dave"), 5);
  auto bad = node_->post("/api/lattice/transactions",
                         json::object{{"transactions", json::array{json::object{{"from", "A"}}}}});
  EXPECT_EQ(bad.status, 400u);
}

TEST_F(NodeHttpTest, BadRequestsGetJsonErrorsAndTheNodeKeepsServing) {
  auto expect_error = [](const NodeProcess::Reply& r, unsigned status, std::string_view code) {
    EXPECT_EQ(r.status, status);
    ASSERT_TRUE(r.body.is_object());
    EXPECT_FALSE(r.body.at("success").as_bool());
    EXPECT_EQ(r.body.at("error").at("code").as_string(), code);
    EXPECT_FALSE(r.body.at("error").at("message").as_string().empty());
  };
  expect_error(node_->call("POST", "/api/verify", "{\"code\": "), 400, "malformed_json");
  expect_error(node_->call("POST", "/api/verify", "{\"dry_run\": true}"), 400, "missing_field");
  expect_error(node_->call("POST", "/api/verify", "{\"code\": 7}"), 400, "bad_field");
  expect_error(node_->call("POST", "/api/verify", std::string(5 << 20, ' ')), 413,
               "body_too_large");
  expect_error(node_->get("/no/such/route"), 404, "not_found");
  expect_error(node_->get("/api/lattice/accounts/Nobody"), 404, "unknown_account");
  expect_error(node_->get("/api/lattice/tx/never-sent"), 404, "unknown_transaction");
  auto wrong_method = node_->get("/api/verify");
  expect_error(wrong_method, 405, "method_not_allowed");
  EXPECT_EQ(wrong_method.allow, "POST");
  auto parse_error = node_->call("POST", "/api/verify", R"({"code": "intent transfer {"})");
  EXPECT_EQ(parse_error.status, 400u);
  EXPECT_EQ(parse_error.body.at("status").as_string(), "PARSE_ERROR");
  EXPECT_EQ(node_->get("/health").status, 200u);
  EXPECT_EQ(verify(kGuideCode).at("status").as_string(), "PROVED");
}

TEST_F(NodeHttpTest, StateIsSignedByTheNodeKeyAndPages) {
  verify("intent transfer { from: Alice, to: Erin, amount: 1 }");
  json::object s = state();
  std::string message = fmt::format("{}:{}:{}", s["merkle_root"].as_string().c_str(),
                                    u64(s["height"]), u64(s["timestamp"]));
  auto peer = p2p::PeerId::parse(std::string(node_->get("/").body.at("peer_id").as_string()));
  ASSERT_TRUE(peer.ok());
  auto key = peer.value().public_key();
  ASSERT_TRUE(key.has_value());
  std::string signature_hex(s["signature"].as_string());
  ASSERT_EQ(signature_hex.size(), 128u);
  std::vector<uint8_t> signature;
  for (size_t i = 0; i < signature_hex.size(); i += 2) {
    signature.push_back(static_cast<uint8_t>(std::stoi(signature_hex.substr(i, 2), nullptr, 16)));
  }
  auto bytes = [](const std::string& t) {
    return p2p::ByteView(reinterpret_cast<const uint8_t*>(t.data()), t.size());
  };
  EXPECT_TRUE(key->verify(bytes(message), signature));
  EXPECT_FALSE(key->verify(bytes(message + "0"), signature));

  std::vector<std::string> names;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    json::object p = state("?limit=1" + (after.empty() ? "" : "&after=" + after));
    for (const auto& [name, account] : p["state"].as_object()) names.emplace_back(name);
    if (p["next_after"].is_null()) break;
    after = json::value_to<std::string>(p["next_after"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"Alice", "Bob", "Charlie", "Erin"}));
  EXPECT_EQ(u64(s["state_size"]), 4u);
  EXPECT_EQ(node_->get("/api/lattice/state?limit=x").status, 400u);
}

TEST_F(NodeHttpTest, ProofsVerifyOfflineWithTheCli) {
  verify(kGuideCode);
  auto [root, height] = root_and_height();
  for (std::string name : {"Bob", "Mallory"}) {
    auto reply = http::call(node_->url(), "GET", "/api/lattice/proof/" + name);
    ASSERT_TRUE(reply.ok());
    auto document = ledger::parse_proof_document(reply.value().body);
    ASSERT_TRUE(document.ok());
    EXPECT_EQ(ledger::to_hex(document.value().root), root);
    EXPECT_EQ(document.value().account.has_value(), name == "Bob");
    auto file = root_ / (name + ".json");
    std::ofstream(file) << reply.value().body;
    std::string check =
        fmt::format("{} proof-check --root {} {} > /dev/null", AETHEL_BINARY, root, file.string());
    EXPECT_EQ(WEXITSTATUS(std::system(check.c_str())), 0) << name;
    std::string other_root(64, '1');
    std::string wrong = fmt::format("{} proof-check --root {} {} > /dev/null", AETHEL_BINARY,
                                    other_root, file.string());
    EXPECT_EQ(WEXITSTATUS(std::system(wrong.c_str())), 1) << name;
  }
}

TEST_F(NodeHttpTest, RestartKeepsRootHeightAndPeerId) {
  verify(kGuideCode);
  verify("intent transfer { from: Bob, to: Charlie, amount: 7 }");
  auto before = root_and_height();
  std::string peer_id(node_->get("/").body.at("peer_id").as_string());
  EXPECT_EQ(node_->stop(), 0);
  EXPECT_NE(node_->output().find("[P2P] Peer ID: " + peer_id), std::string::npos);
  node_->start();
  EXPECT_EQ(root_and_height(), before);
  EXPECT_EQ(node_->get("/").body.at("peer_id").as_string(), peer_id);
  EXPECT_EQ(balance("Charlie"), 257);
}

}  // namespace
}  // namespace aethel::test
