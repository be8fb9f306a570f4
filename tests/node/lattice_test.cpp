// End-to-end tests of a 3-node lattice: three real `aethel node` processes on
// loopback, P2P between them, HTTP as the second lung (SPEC §1, §6; issue 6).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "node_process.h"
#include "p2p/p2p.h"

namespace aethel::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(50));  // poll interval
  }
  return condition();
}

std::optional<json::object> get_json(const api::Endpoint& endpoint, std::string_view target) {
  auto reply = api::http_call(endpoint, "GET", target, {}, 2'000);
  if (!reply.ok()) return std::nullopt;
  json::error_code ec;
  json::value value = json::parse(reply.value().body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return value.as_object();
}

struct Head {
  uint64_t height = 0;
  std::string root;
  bool operator==(const Head&) const = default;
};

class Lattice {
 public:
  static constexpr int kNodes = 3;

  Lattice() : dir_(make_temp_dir("lattice")) {
    for (int i = 0; i < kNodes; ++i) {
      auto root = dir_ / ("node" + std::to_string(i + 1));
      std::filesystem::create_directories(root / "data");
      auto key = p2p::load_or_create_key((root / "data" / "node.key").string());
      peer_ids_.push_back(p2p::PeerId::from_public_key(key.value().public_key()).to_base58());
      p2p_ports_.push_back(free_loopback_port());
      nodes_.push_back(std::make_unique<NodeProcess>(root));
    }
  }
  ~Lattice() {
    nodes_.clear();
    std::filesystem::remove_all(dir_);
  }

  NodeProcess& node(int i) { return *nodes_[i]; }
  const std::string& peer_id(int i) const { return peer_ids_[i]; }
  std::string url(int i) const { return "http://127.0.0.1:" + std::to_string(nodes_[i]->port()); }

  void start(int i, std::vector<std::string> extra = {}) {
    std::string bootstrap, lattice_nodes, validators;
    for (int j = 0; j < kNodes; ++j) {
      validators += (j ? "," : "") + peer_ids_[j];
      if (j == i) continue;
      auto comma = [](const std::string& s) { return s.empty() ? "" : ","; };
      bootstrap += comma(bootstrap) +
                   fmt::format("/ip4/127.0.0.1/tcp/{}/p2p/{}", p2p_ports_[j], peer_ids_[j]);
      lattice_nodes += comma(lattice_nodes) + url(j);
    }
    std::vector<std::string> env = std::move(extra);
    for (std::string e :
         {"AETHEL_NODE_NAME=node-" + std::to_string(i + 1),
          fmt::format("AETHEL_P2P_LISTEN=/ip4/127.0.0.1/tcp/{}", p2p_ports_[i]),
          "AETHEL_P2P_BOOTSTRAP=" + bootstrap, "AETHEL_VALIDATORS=" + validators,
          "AETHEL_LATTICE_NODES=" + lattice_nodes, "AETHEL_PUBLIC_URL=" + url(i),
          std::string("AETHEL_HEARTBEAT_INTERVAL=1"), std::string("AETHEL_PEERLESS_TIMEOUT=3"),
          std::string("AETHEL_HTTP_POLL_INTERVAL=1")}) {
      env.push_back(e);
    }
    node(i).start(env);
  }
  void start_all() {
    for (int i = 0; i < kNodes; ++i) start(i);
  }

  std::optional<json::object> p2p_status(int i) {
    return get_json(node(i).endpoint(), "/api/lattice/p2p/status");
  }
  std::optional<Head> head(int i) {
    auto state = get_json(node(i).endpoint(), "/api/lattice/state?limit=0");
    if (!state) return std::nullopt;
    return Head{u64(state->at("height")), std::string(state->at("merkle_root").as_string())};
  }
  std::string role(int i) {
    auto root = get_json(node(i).endpoint(), "/");
    return root ? std::string(root->at("role").as_string()) : "";
  }
  int leader() {
    for (int i = 0; i < kNodes; ++i) {
      if (role(i) == "leader") return i;
    }
    return -1;
  }

  bool all_in_mode(std::string_view mode, const std::vector<int>& which) {
    for (int i : which) {
      auto status = p2p_status(i);
      if (!status || status->at("sync_mode").as_string() != mode) return false;
    }
    return true;
  }
  bool peers_everywhere(int64_t count) {
    for (int i = 0; i < kNodes; ++i) {
      auto status = p2p_status(i);
      if (!status || status->at("peer_count").to_number<int64_t>() != count) return false;
    }
    return true;
  }
  // Same height and root on the given nodes.
  bool converged(const std::vector<int>& which) {
    std::optional<Head> first;
    for (int i : which) {
      auto h = head(i);
      if (!h) return false;
      if (!first) first = h;
      if (*h != *first) return false;
    }
    return true;
  }

 private:
  std::filesystem::path dir_;
  std::vector<std::string> peer_ids_;
  std::vector<uint16_t> p2p_ports_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
};

json::value transfer_batch(const std::string& id, int64_t amount) {
  return json::object{
      {"transactions", json::array{json::object{
                           {"id", id}, {"from", "Alice"}, {"to", "Bob"}, {"amount", amount}}}}};
}

// Keeps submitting one-transfer batches to the given nodes (round robin) and
// records every acknowledged id and the longest time between acknowledgements.
class Load {
 public:
  Load(Lattice& lattice, std::vector<int> targets)
      : lattice_(lattice), targets_(std::move(targets)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Load() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> acknowledged() {
    std::lock_guard lock(mutex_);
    return acknowledged_;
  }
  milliseconds longest_gap() const { return longest_gap_; }
  void set_targets(std::vector<int> targets) {
    std::lock_guard lock(mutex_);
    targets_ = std::move(targets);
  }

 private:
  void run() {
    auto last = Clock::now();
    for (uint64_t n = 0; !stopping_; ++n) {
      std::vector<int> targets;
      {
        std::lock_guard lock(mutex_);
        targets = targets_;
      }
      int target = targets[n % targets.size()];
      std::string id = "load-" + std::to_string(n);
      auto reply =
          api::http_call(lattice_.node(target).endpoint(), "POST", "/api/lattice/transactions",
                         json::serialize(transfer_batch(id, 1)), 5'000);
      if (!reply.ok() || reply.value().status != 200) continue;
      auto body = json::parse(reply.value().body).as_object();
      if (body["committed"].to_number<int64_t>() != 1) continue;
      auto now = Clock::now();
      longest_gap_ = std::max(longest_gap_, std::chrono::duration_cast<milliseconds>(now - last));
      last = now;
      std::lock_guard lock(mutex_);
      acknowledged_.push_back(id);
    }
  }

  Lattice& lattice_;
  std::vector<int> targets_;
  std::atomic<bool> stopping_ = false;
  std::mutex mutex_;
  std::vector<std::string> acknowledged_;
  milliseconds longest_gap_{0};
  std::thread thread_;
};

void expect_all_present(Lattice& lattice, int node, const std::vector<std::string>& ids) {
  auto connection = api::HttpConnection::open(lattice.node(node).endpoint());
  ASSERT_TRUE(connection.ok());
  for (const std::string& id : ids) {
    auto found = connection.value()->call("GET", "/api/lattice/tx/" + id);
    ASSERT_TRUE(found.ok());
    ASSERT_EQ(found.value().status, 200u)
        << "acknowledged transfer " << id << " is lost on node " << node + 1;
  }
}

void expect_conserved(Lattice& lattice, int node) {
  auto state = get_json(lattice.node(node).endpoint(), "/api/lattice/state");
  ASSERT_TRUE(state);
  int64_t sum = 0;
  for (const auto& [name, account] : state->at("state").as_object()) {
    sum += account.at("balance").to_number<int64_t>();
  }
  EXPECT_EQ(sum, ledger::default_genesis().total_supply());
}

TEST(LatticeTest, LoneNodeWaitsThenEveryNodeSeesTwoPeersOverP2p) {
  Lattice lattice;
  lattice.start(1);
  auto alone = lattice.p2p_status(1);
  ASSERT_TRUE(alone);
  EXPECT_EQ(alone->at("started"), true);
  EXPECT_EQ(alone->at("peer_count"), 0);
  EXPECT_EQ(alone->at("has_peers"), false);
  EXPECT_EQ(alone->at("sync_mode"), "AUTO");
  EXPECT_EQ(alone->at("http_sync_enabled"), false);
  EXPECT_EQ(alone->at("heartbeat_active"), true);
  EXPECT_EQ(alone->at("message"), "P2P started, waiting for peers...");

  lattice.start(0);
  lattice.start(2);
  EXPECT_TRUE(eventually([&] { return lattice.peers_everywhere(2); }, milliseconds(20'000)));
  EXPECT_TRUE(eventually(
      [&] {
        return lattice.all_in_mode("P2P", {0, 1, 2});
      },
      milliseconds(5'000)));
  auto status = lattice.p2p_status(0);
  ASSERT_TRUE(status);
  for (const auto& peer : status->at("peers").as_array()) {
    EXPECT_EQ(peer.at("transport"), "p2p") << json::serialize(peer);
  }
}

TEST(LatticeTest, GuideTransferReachesEveryNodeWithOneRoot) {
  Lattice lattice;
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(20'000)));
  auto before = lattice.head(0);
  ASSERT_TRUE(before);
  auto started = Clock::now();
  auto reply = lattice.node(0).post(
      "/api/verify",
      json::object{{"code", "intent transfer { from: Alice, to: Bob, amount: 100 }"}});
  ASSERT_EQ(reply.status, 200u) << json::serialize(reply.body);
  EXPECT_EQ(reply.body.at("status"), "PROVED");
  const auto& tx = reply.body.at("intents").at(0).at("transaction");
  EXPECT_EQ(tx.at("committed"), true);
  std::string root(tx.at("merkle_root").as_string());
  ASSERT_TRUE(eventually(
      [&] {
        for (int i = 0; i < Lattice::kNodes; ++i) {
          auto h = lattice.head(i);
          if (!h || h->root != root) return false;
        }
        return true;
      },
      milliseconds(5'000)));
  auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  RecordProperty("replicated_ms", static_cast<int>(elapsed.count()));
  std::printf("guide transfer committed and visible on 3 nodes in %lld ms\n",
              static_cast<long long>(elapsed.count()));
  for (int i = 0; i < Lattice::kNodes; ++i) {
    auto bob = get_json(lattice.node(i).endpoint(), "/api/lattice/accounts/Bob");
    ASSERT_TRUE(bob);
    EXPECT_EQ(bob->at("balance"), 600) << "node " << i + 1;
  }
}

TEST(LatticeTest, KillingTheLeaderUnderLoadKeepsCommittingAndItCatchesUp) {
  Lattice lattice;
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(20'000)));
  int leader = lattice.leader();
  std::vector<int> others;
  for (int i = 0; i < Lattice::kNodes; ++i) {
    if (i != leader) others.push_back(i);
  }
  Load load(lattice, others);
  ASSERT_TRUE(eventually([&] { return load.acknowledged().size() > 20; }, milliseconds(10'000)));
  size_t before_kill = load.acknowledged().size();
  lattice.node(leader).kill_hard();
  EXPECT_TRUE(eventually([&] { return load.acknowledged().size() > before_kill + 50; },
                         milliseconds(10'000)))
      << "the two survivors did not keep committing";
  load.stop();
  std::printf("longest gap between acknowledged commits: %lld ms\n",
              static_cast<long long>(load.longest_gap().count()));
  EXPECT_LT(load.longest_gap(), milliseconds(3'000));

  lattice.start(leader);
  EXPECT_TRUE(eventually([&] { return lattice.converged({0, 1, 2}); }, milliseconds(15'000)));
  auto acknowledged = load.acknowledged();
  for (int i = 0; i < Lattice::kNodes; ++i) {
    expect_all_present(lattice, i, acknowledged);
    expect_conserved(lattice, i);
  }
}

TEST(LatticeTest, WithP2pStoppedEverywhereCommitsContinueOverHttpAndComeBack) {
  Lattice lattice;
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.peers_everywhere(2); }, milliseconds(20'000)));
  Load load(lattice, {0, 1, 2});
  ASSERT_TRUE(eventually([&] { return load.acknowledged().size() > 20; }, milliseconds(10'000)));
  for (int i = 0; i < Lattice::kNodes; ++i) {
    EXPECT_EQ(lattice.node(i).call("POST", "/api/lattice/p2p/stop").status, 200u);
  }
  size_t at_cut = load.acknowledged().size();
  // Peerless timeout is 3 s: every node must fall back to HTTP and keep committing.
  EXPECT_TRUE(eventually(
      [&] {
        return lattice.all_in_mode("HTTP", {0, 1, 2});
      },
      milliseconds(10'000)));
  EXPECT_TRUE(
      eventually([&] { return load.acknowledged().size() > at_cut + 50; }, milliseconds(10'000)))
      << "no commits over HTTP";
  for (int i = 0; i < Lattice::kNodes; ++i) {
    auto status = lattice.p2p_status(i);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->at("http_sync_enabled"), true);
    EXPECT_NE(lattice.node(i).output().find("Activating HTTP Fallback"), std::string::npos);
  }
  for (int i = 0; i < Lattice::kNodes; ++i) {
    EXPECT_EQ(lattice.node(i).call("POST", "/api/lattice/p2p/start").status, 200u);
  }
  EXPECT_TRUE(eventually(
      [&] {
        return lattice.all_in_mode("P2P", {0, 1, 2});
      },
      milliseconds(15'000)));
  load.stop();
  std::printf("longest gap between acknowledged commits: %lld ms\n",
              static_cast<long long>(load.longest_gap().count()));
  EXPECT_LT(load.longest_gap(), milliseconds(2'000));
  EXPECT_TRUE(eventually([&] { return lattice.converged({0, 1, 2}); }, milliseconds(10'000)));
  auto acknowledged = load.acknowledged();
  for (int i = 0; i < Lattice::kNodes; ++i) {
    expect_all_present(lattice, i, acknowledged);
    expect_conserved(lattice, i);
  }
}

TEST(LatticeTest, ANodeOfAnotherLatticeIsRefusedWithAReason) {
  Lattice lattice;
  lattice.start(0);
  lattice.start(1);
  ASSERT_TRUE(eventually(
      [&] {
        auto s = lattice.p2p_status(0);
        return s && s->at("peer_count") == 1;
      },
      milliseconds(20'000)));
  // Node 3 believes in a different genesis: another lattice id.
  auto genesis = lattice.node(2).root() / "genesis.json";
  std::ofstream(genesis) << R"({"accounts": {"Alice": 1, "Bob": 2}})";
  lattice.start(2, {"AETHEL_GENESIS_FILE=" + genesis.string()});
  EXPECT_TRUE(eventually(
      [&] { return lattice.node(2).output().find("refusing peer") != std::string::npos; },
      milliseconds(15'000)))
      << lattice.node(2).output();
  auto status = lattice.p2p_status(2);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->at("peer_count"), 0);
}

TEST(LatticeTest, UnreachablePeersAreAWarningNotACrash) {
  Lattice lattice;
  lattice.start(0);  // nodes 2 and 3 never start
  EXPECT_TRUE(
      eventually([&] { return lattice.node(0).output().find("cannot reach") != std::string::npos; },
                 milliseconds(10'000)));
  EXPECT_EQ(lattice.node(0).get("/health").status, 200u);
  // No quorum: a write is answered 503 with an unknown outcome, not a hang.
  auto reply = lattice.node(0).post("/api/lattice/transactions", transfer_batch("lonely", 1));
  EXPECT_EQ(reply.status, 503u) << json::serialize(reply.body);
  EXPECT_EQ(reply.body.at("outcome"), "unknown");
}

}  // namespace
}  // namespace aethel::test
