// kill -9 under load: a client thread posts batches of transfers while the node
// is killed at a random (seeded) moment; after each restart (which replays the
// store's journal) every acknowledged transfer must be there, the supply conserved,
// and the root equal to a replay of the served blocks into a fresh ledger.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>

#include "ledger/ledger.h"
#include "node_process.h"

namespace aethel::test {
namespace {

constexpr int kRounds = 6;
constexpr int kTransfersPerBatch = 64;
constexpr uint32_t kSeed = 20261125;
const std::array<std::string, 3> kAccounts = {"Alice", "Bob", "Charlie"};

// Posts batches until the connection breaks; records the ids the node acknowledged
// as committed.
class Load {
 public:
  Load(http::Url endpoint, int round, uint32_t seed)
      : endpoint_(std::move(endpoint)), round_(round), random_(seed) {
    thread_ = std::thread([this] { run(); });
  }
  ~Load() {
    if (thread_.joinable()) thread_.join();
  }
  // Waits for the client to notice the crash; the ids acknowledged before it.
  std::vector<std::string> finish() {
    thread_.join();
    return std::move(acknowledged_);
  }

 private:
  void run() {
    auto connection = http::Connection::open(endpoint_, http::with_timeout_ms(10'000));
    if (!connection.ok()) return;
    for (int batch = 0;; ++batch) {
      json::array items;
      for (int i = 0; i < kTransfersPerBatch; ++i) {
        size_t from = random_() % 3, to = (from + 1 + random_() % 2) % 3;
        items.push_back(json::object{{"id", fmt::format("r{}-b{}-t{}", round_, batch, i)},
                                     {"from", kAccounts[from]},
                                     {"to", kAccounts[to]},
                                     {"amount", static_cast<int64_t>(1 + random_() % 40)}});
      }
      auto reply = connection.value()->call(
          "POST", "/api/lattice/transactions",
          json::serialize(json::object{{"transactions", std::move(items)}}));
      if (!reply.ok() || reply.value().status != 200) return;  // killed
      json::value body = json::parse(reply.value().body);
      for (const json::value& r : body.at("results").as_array()) {
        if (r.at("status").as_string() == "committed") {
          acknowledged_.push_back(json::value_to<std::string>(r.at("id")));
        }
      }
    }
  }

  http::Url endpoint_;
  int round_;
  std::mt19937 random_;
  std::vector<std::string> acknowledged_;
  std::thread thread_;
};

ledger::Transaction transaction_from_json(const json::object& tx) {
  std::vector<ledger::Transfer> transfers;
  for (const json::value& t : tx.at("transfers").as_array()) {
    transfers.push_back({json::value_to<std::string>(t.at("from")),
                         json::value_to<std::string>(t.at("to")), t.at("amount").as_int64(),
                         json::value_to<std::string>(t.at("memo"))});
  }
  std::string id = json::value_to<std::string>(tx.at("id"));
  if (tx.at("kind").as_string() == "atomic_batch") return ledger::Transaction::batch(transfers, id);
  const ledger::Transfer& t = transfers.at(0);
  return ledger::Transaction::transfer(t.from, t.to, t.amount, id, t.memo);
}

// Replays every served block into a fresh ledger from the built-in genesis; `committed`
// collects the ids of the transactions it committed.
ledger::Ledger replay_from_scratch(const NodeProcess& node, std::set<std::string>& committed) {
  ledger::Ledger replayed(ledger::default_genesis());
  for (;;) {
    auto page =
        node.get(fmt::format("/api/lattice/blocks?from={}&limit=500", replayed.height() + 1));
    const json::array& blocks = page.body.at("blocks").as_array();
    if (blocks.empty()) return replayed;
    for (const json::value& block : blocks) {
      std::vector<ledger::Transaction> txs;
      for (const json::value& tx : block.at("transactions").as_array()) {
        txs.push_back(transaction_from_json(tx.as_object()));
      }
      EXPECT_EQ(block.at("prev_root").as_string(), ledger::to_hex(replayed.root()));
      auto applied = replayed.apply_block(u64(block.at("height")), txs);
      EXPECT_TRUE(applied.ok());
      if (!applied.ok()) return replayed;
      for (const ledger::Outcome& o : applied.value().outcomes) {
        if (o.committed() && !o.exists) committed.insert(o.tx_id);
      }
    }
  }
}

// Every acknowledged transfer is in the node's history (replayed from its blocks) and
// answers as committed; balances are conserved; the replay gives the node's root.
void check_node(const NodeProcess& node, const std::vector<std::string>& acknowledged) {
  std::set<std::string> committed;
  ledger::Ledger replayed = replay_from_scratch(node, committed);
  for (const std::string& id : acknowledged) {
    ASSERT_TRUE(committed.contains(id)) << "acknowledged transfer " << id << " is lost";
  }
  auto connection = http::Connection::open(node.url());
  ASSERT_TRUE(connection.ok());
  size_t spot_checks = std::min<size_t>(acknowledged.size(), 50);  // the last ones: the route too
  for (size_t i = acknowledged.size() - spot_checks; i < acknowledged.size(); ++i) {
    auto found = connection.value()->call("GET", "/api/lattice/tx/" + acknowledged[i]);
    ASSERT_TRUE(found.ok());
    ASSERT_EQ(found.value().status, 200u) << "acknowledged transfer " << acknowledged[i];
    EXPECT_EQ(json::parse(found.value().body).at("status").as_string(), "committed");
  }
  auto state = node.get("/api/lattice/state").body.as_object();
  int64_t sum = 0;
  for (const auto& [name, account] : state["state"].as_object())
    sum += account.at("balance").as_int64();
  EXPECT_EQ(sum, ledger::default_genesis().total_supply());
  EXPECT_EQ(replayed.height(), u64(state["height"]));
  EXPECT_EQ(ledger::to_hex(replayed.root()), state["merkle_root"].as_string());
}

TEST(NodeCrashTest, AcknowledgedTransfersSurviveKillNine) {
  auto root = make_temp_dir("crash");
  NodeProcess node(root);
  // A snapshot every 7 blocks, so restarts exercise snapshot + replay.
  std::vector<std::string> env = {"AETHEL_SNAPSHOT_INTERVAL=7"};
  std::mt19937 random(kSeed);
  std::vector<std::string> acknowledged;
  for (int round = 0; round < kRounds; ++round) {
    node.start(env);
    ASSERT_NO_FATAL_FAILURE(check_node(node, acknowledged));
    uint64_t height_before = u64(node.get("/api/lattice/state?limit=0").body.at("height"));
    {
      Load load(node.url(), round, random());
      // The random moment of the crash; not a synchronisation.
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + random() % 400));
      node.kill_hard();
      for (std::string& id : load.finish()) acknowledged.push_back(std::move(id));
    }
    node.start(env);
    uint64_t height_after = u64(node.get("/api/lattice/state?limit=0").body.at("height"));
    EXPECT_GT(height_after, height_before) << "round " << round << " committed nothing";
    ASSERT_NO_FATAL_FAILURE(check_node(node, acknowledged));
    node.kill_hard();
  }
  EXPECT_GT(acknowledged.size(), 100u);
  // Kills under load land between a write's journal flush and its commit to the
  // database: some restart replayed the journal (and the checks above held after it).
  EXPECT_NE(node.output().find("[STORAGE] replayed"), std::string::npos) << node.output();
  // The restarts above loaded the node's own snapshots from their files: one is left.
  size_t snapshot_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root / "data")) {
    if (entry.path().filename().string().starts_with("snapshot-")) ++snapshot_files;
  }
  EXPECT_GE(snapshot_files, 1u);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace aethel::test
