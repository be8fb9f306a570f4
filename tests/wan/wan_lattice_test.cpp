// A 3-node lattice at internet distance: every P2P and HTTP link between the nodes
// goes through aethel_delay_proxy with a one-way delay of 50 ms, in network namespaces
// that leave no other path (wan_fixture.h). SPEC §12, issue 10 item 6.
//
// They assert a leader, the guide's transfer committed and replicated with one root,
// the delay really on every link, and SPEC §12's numbers: one round trip per write to
// the leader (two through a follower), a fresh lattice electing within 2 s + 3 RTT,
// at 120 ms one way writes within 250 ms with no link ever leaving P2P, and a validator
// replaced by a node that joins (SPEC §10) within a few round trips per change.
#include <gtest/gtest.h>
#include <unistd.h>

#include "wan_fixture.h"

namespace aethel::test {
namespace {

constexpr int64_t kDelayMs = 50;
constexpr int64_t kRttMs = 2 * kDelayMs;
// SPEC §12's margin over the round trips (10 ms) is for release builds; the sanitizers
// slow every step of a request, so their build gets more (still far below a round trip).
#ifdef AETHEL_SANITIZED
constexpr int64_t kMarginMs = 40;
#else
constexpr int64_t kMarginMs = 10;
#endif
const json::object kGuideTransfer{
    {"code", "intent transfer { from: Alice, to: Bob, amount: 100 }"}};

#define SKIP_WITHOUT_NAMESPACES()                                               \
  if (std::string why = WanLattice::unavailable(); !why.empty()) {              \
    GTEST_SKIP() << "WAN tests need network namespaces (run as root): " << why; \
  }

// Every node lists both peers over P2P with a measured round-trip time.
bool rtts_measured(WanLattice& lattice) {
  for (int i = 0; i < WanLattice::kNodes; ++i) {
    auto status = lattice.p2p_status(i);
    if (!status || status->at("peers").as_array().size() != 2) return false;
    for (const auto& peer : status->at("peers").as_array()) {
      if (!peer.at("rtt_ms").is_number() || peer.at("rtt_ms").to_number<double>() < 0) return false;
    }
  }
  return true;
}

TEST(WanLatticeTest, AtFiftyMsOneWayTheGuideTransferCommitsWithOneRootAndEveryLinkIsDelayed) {
  SKIP_WITHOUT_NAMESPACES();
  WanLattice lattice({.delay_ms = kDelayMs});
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(30'000)))
      << "no leader at one-way " << kDelayMs << " ms";
  int leader = lattice.leader();
  ASSERT_GE(leader, 0);
  auto started = Clock::now();
  auto reply = lattice.node(leader).post("/api/verify", kGuideTransfer);
  auto commit_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - started).count();
  ASSERT_EQ(reply.status, 200u) << json::serialize(reply.body);
  EXPECT_EQ(reply.body.at("status"), "PROVED");
  const auto& tx = reply.body.at("intents").at(0).at("transaction");
  EXPECT_EQ(tx.at("committed"), true);
  std::string root(tx.at("merkle_root").as_string());
  // A commit needs the followers' acknowledgements: at least one round trip.
  EXPECT_GE(commit_ms, kRttMs) << "the write did not wait for the delayed links";
  std::printf("guide transfer to the leader at one-way %lld ms: %lld ms\n",
              static_cast<long long>(kDelayMs), static_cast<long long>(commit_ms));

  ASSERT_TRUE(eventually(
      [&] {
        auto h = lattice.head(0);
        return lattice.converged() && h && h->root == root;
      },
      milliseconds(10'000)))
      << "the nodes did not all reach the committed root";
  for (int i = 0; i < WanLattice::kNodes; ++i) {
    auto bob = lattice.get(i, "/api/lattice/accounts/Bob");
    ASSERT_TRUE(bob);
    EXPECT_EQ(bob->at("balance"), 600) << "node " << i + 1;
  }

  // The nodes' own measure of every link: a ping round trip takes at least 2 × delay.
  ASSERT_TRUE(eventually([&] { return rtts_measured(lattice); }, milliseconds(10'000)));
  for (int i = 0; i < WanLattice::kNodes; ++i) {
    auto status = lattice.p2p_status(i);
    ASSERT_TRUE(status);
    for (const auto& peer : status->at("peers").as_array()) {
      EXPECT_GE(peer.at("rtt_ms").to_number<double>(), kRttMs)
          << "node " << i + 1 << " reaches " << json::serialize(peer) << " faster than the delay";
    }
  }
  // And the proxy's: every pair of nodes talks P2P through it.
  for (int i = 0; i < WanLattice::kNodes; ++i) {
    for (int j = i + 1; j < WanLattice::kNodes; ++j) {
      auto stats = lattice.proxy().stats();
      uint64_t bytes = stats[WanLattice::link_name("p2p", i, j)].bytes_forward +
                       stats[WanLattice::link_name("p2p", j, i)].bytes_forward;
      EXPECT_GT(bytes, 0u) << "no P2P traffic between node " << i + 1 << " and " << j + 1;
    }
  }
}

// With P2P off, consensus runs over the HTTP lung alone: every directed HTTP link
// must carry it, through the proxy.
TEST(WanLatticeTest, AnHttpOnlyLatticeCommitsThroughTheDelayedHttpLinks) {
  SKIP_WITHOUT_NAMESPACES();
  WanLattice lattice({.delay_ms = kDelayMs});
  lattice.start_all({"AETHEL_P2P_ENABLED=false"});
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(30'000)));
  int leader = lattice.leader();
  ASSERT_GE(leader, 0);
  auto reply = lattice.node(leader).post("/api/verify", kGuideTransfer);
  ASSERT_EQ(reply.status, 200u) << json::serialize(reply.body);
  EXPECT_EQ(reply.body.at("status"), "PROVED");
  ASSERT_TRUE(eventually([&] { return lattice.converged(); }, milliseconds(10'000)));
  EXPECT_GE(lattice.head(0)->height, 1u);
  ASSERT_TRUE(eventually(
      [&] {
        auto stats = lattice.proxy().stats();
        for (int i = 0; i < WanLattice::kNodes; ++i) {
          for (int j = 0; j < WanLattice::kNodes; ++j) {
            if (i != j && stats[WanLattice::link_name("http", i, j)].bytes_forward == 0) {
              return false;
            }
          }
        }
        return true;
      },
      milliseconds(5'000)))
      << "a directed HTTP link carried nothing: traffic went around the proxy";
}

// --- SPEC §12 -------------------------------------------------------------------

// p50 of `count` sequential writes of the guide transfer (1 unit, back and forth).
double write_p50_ms(WanNode& node, int count) {
  auto connection = http::Connection::open(node.endpoint());
  EXPECT_TRUE(connection.ok());
  if (!connection.ok()) return 1e9;
  std::vector<double> latencies_ms;
  for (int n = 0; n < count; ++n) {
    std::string code = n % 2 ? "intent transfer { from: Bob, to: Alice, amount: 1 }"
                             : "intent transfer { from: Alice, to: Bob, amount: 1 }";
    auto started = Clock::now();
    auto reply = connection.value()->call("POST", "/api/verify",
                                          json::serialize(json::object{{"code", code}}));
    if (!reply.ok() || reply.value().status != 200) continue;
    latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - started).count());
  }
  EXPECT_EQ(latencies_ms.size(), static_cast<size_t>(count)) << "some writes failed";
  if (latencies_ms.empty()) return 1e9;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  return latencies_ms[latencies_ms.size() / 2];
}

// SPEC §12: a write to the leader commits in one round trip (p50 ≤ RTT + 10 ms), one
// sent to a follower in ≤ 2 RTT + 10 ms.
TEST(WanLatticeTest, AWriteCommitsInOneRoundTripToAMajority) {
  SKIP_WITHOUT_NAMESPACES();
  WanLattice lattice({.delay_ms = kDelayMs});
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(30'000)));
  int leader = lattice.leader();
  // What earlier tests left for the kernel to write back would slow every fsync here
  // (a follower p50 of 2R + 12 ms after the whole suite had run, 2R + 4 ms alone).
  ::sync();
  double leader_p50_ms = write_p50_ms(lattice.node(leader), 30);
  double follower_p50_ms = write_p50_ms(lattice.node((leader + 1) % WanLattice::kNodes), 30);
  std::printf("write p50 %.1f ms on the leader, %.1f ms on a follower, at RTT %lld ms\n",
              leader_p50_ms, follower_p50_ms, static_cast<long long>(kRttMs));
  EXPECT_LE(leader_p50_ms, kRttMs + kMarginMs);
  EXPECT_LE(follower_p50_ms, 2 * kRttMs + kMarginMs);
}

// SPEC §1 and §12: a read on a follower right after a write acknowledged by the leader
// sees it, and costs one round trip to the leader (its lease answers at once).
TEST(WanLatticeTest, AFollowerReadSeesTheLatestWriteInOneRoundTrip) {
  SKIP_WITHOUT_NAMESPACES();
  WanLattice lattice({.delay_ms = kDelayMs});
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(30'000)));
  int leader = lattice.leader();
  auto bob = [&](std::string_view query) {
    auto reply = lattice.get((leader + 1) % WanLattice::kNodes,
                             "/api/lattice/accounts/Bob" + std::string(query));
    return reply ? reply->at("balance").to_number<int64_t>() : -1;
  };
  int64_t expected = bob("");
  std::vector<double> read_ms;
  for (int n = 0; n < 20; ++n) {
    auto write = lattice.node(leader).post(
        "/api/verify",
        json::object{{"code", "intent transfer { from: Alice, to: Bob, amount: 1 }"}});
    ASSERT_EQ(write.status, 200u);
    ++expected;
    auto started = Clock::now();
    EXPECT_EQ(bob(""), expected) << "a stale read on a follower";
    read_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
  }
  std::sort(read_ms.begin(), read_ms.end());
  std::printf("follower read p50 %.1f ms at RTT %lld ms\n", read_ms[read_ms.size() / 2],
              static_cast<long long>(kRttMs));
  EXPECT_LE(read_ms[read_ms.size() / 2], kRttMs + kMarginMs);
}

// SPEC §12: a fresh lattice elects a leader within 2 s + 3 RTT.
TEST(WanLatticeTest, AFreshLatticeElectsWithinTwoSecondsAndThreeRoundTrips) {
  SKIP_WITHOUT_NAMESPACES();
  WanLattice lattice({.delay_ms = kDelayMs});
  // A validator with an empty store takes part only once n - n/2 others answered its
  // probe with empty logs (a lost disk looks the same), so a fresh lattice of three
  // elects once all three run. Timed from the moment the last one answers /health: the
  // time a process takes to start (a second on a loaded machine, more under the
  // sanitizers) is not the election's.
  lattice.start_all();
  auto started = Clock::now();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(30'000)));
  auto elected_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - started).count();
  std::printf("a fresh lattice elected in %lld ms at RTT %lld ms\n",
              static_cast<long long>(elected_ms), static_cast<long long>(kRttMs));
  EXPECT_LE(elected_ms, 2'000 + 3 * kRttMs);
}

// SPEC §12: latency alone never moves a link to HTTP nor closes it (at 120 ms one way).
TEST(WanLatticeTest, AtOneHundredTwentyMsWritesTakeOneRoundTripAndLatencyAloneNeverLeavesP2p) {
  SKIP_WITHOUT_NAMESPACES();
  WanLattice lattice({.delay_ms = 120});
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(30'000)));
  int leader = lattice.leader();
  EXPECT_LE(write_p50_ms(lattice.node(leader), 20), 250 - 10 + kMarginMs);
  auto end = Clock::now() + std::chrono::seconds(15);
  for (int n = 0; Clock::now() < end; ++n) {
    (void)write_p50_ms(lattice.node((leader + n) % WanLattice::kNodes), 3);
    for (int i = 0; i < WanLattice::kNodes; ++i) {
      auto status = lattice.p2p_status(i);
      ASSERT_TRUE(status);
      EXPECT_EQ(status->at("sync_mode"), "P2P") << "node " << i + 1;
      for (const auto& peer : status->at("peers").as_array()) {
        EXPECT_EQ(peer.at("transport"), "p2p") << "node " << i + 1 << ": " << json::serialize(peer);
      }
    }
  }
  for (int i = 0; i < WanLattice::kNodes; ++i) {  // never stalled, never closed
    EXPECT_EQ(lattice.node(i).output().find("unanswered"), std::string::npos) << "node " << i + 1;
    EXPECT_EQ(lattice.node(i).output().find("closing the connection"), std::string::npos);
  }
}

// SPEC §10 at internet distance: a fourth node joins through a member 50 ms away, is
// added (the node asked checks its URL first), catches up and is promoted; the leader
// is removed (it hands leadership over first) and stopped; the three left commit, the
// new node included, and every change is answered within a few round trips.
TEST(WanLatticeTest, AtFiftyMsOneWayAValidatorIsReplacedByANodeThatJoins) {
  SKIP_WITHOUT_NAMESPACES();
  WanLattice lattice({.delay_ms = kDelayMs, .joiners = 1});
  // A snapshot every 3 blocks: the leader's log no longer starts at 1 when D joins, so
  // D catches up by a snapshot the leader reads back from its file and sends over the
  // delayed link.
  const std::vector<std::string> snapshots_often{"AETHEL_SNAPSHOT_INTERVAL=3"};
  lattice.start_all(snapshots_often);
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(30'000)));
  const int a = lattice.leader(), b = (a + 1) % WanLattice::kNodes, d = WanLattice::kNodes;
  for (int n = 0; n < 10; ++n)
    ASSERT_EQ(lattice.node(a).post("/api/verify", kGuideTransfer).status, 200u);
  lattice.start(d, snapshots_often);
  auto change = [&](int i, std::string_view route, const json::object& body) {
    std::ifstream file(lattice.node(i).root() / "data" / "admin.token");
    std::string token;
    file >> token;
    auto started = Clock::now();
    auto reply = lattice.node(i).post(route, body, {{"Authorization", "Bearer " + token}});
    std::printf("%.*s answered %u in %.1f ms\n", static_cast<int>(route.size()), route.data(),
                reply.status,
                std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    return std::make_pair(reply.status, Clock::now() - started);
  };
  const std::string peer = lattice.peer_id(d);
  json::array p2p{
      json::value(fmt::format("/ip4/127.0.0.1/tcp/{}/p2p/{}", WanLattice::p2p_port(d), peer))};
  // The URL check (a connection, then a request: about 2 RTT), then the change handed
  // to the leader, committed and answered (2 RTT); measured 4.2 RTT on this machine.
  auto [added, add_time] =
      change(b, "/api/lattice/members",
             {{"peer_id", peer}, {"url", WanLattice::url(d)}, {"p2p_addrs", p2p}});
  EXPECT_EQ(added, 200u);
  EXPECT_LE(add_time, milliseconds(6 * kRttMs + kMarginMs));
  auto caught_up = [&] {
    auto members = lattice.get(a, "/api/lattice/members");
    if (!members) return false;
    for (const json::value& m : members->at("members").as_array()) {
      if (m.at("peer_id").as_string() == peer) return m.at("state").as_string() == "caught_up";
    }
    return false;
  };
  ASSERT_TRUE(eventually(caught_up, milliseconds(20'000)));
  EXPECT_NE(lattice.node(d).output().find("installed snapshot"), std::string::npos)
      << lattice.node(d).output();
  auto [promoted, promote_time] = change(d, "/api/lattice/members/promote", {{"peer_id", peer}});
  EXPECT_EQ(promoted, 200u);
  // Handed to the leader, committed, answered: 2 RTT (measured 2.3). One sample, so the
  // bound leaves a round trip of slack: CI once measured 3.13 RTT on a loaded machine.
  EXPECT_LE(promote_time, milliseconds(4 * kRttMs + kMarginMs));

  // The leader hands leadership over (409 leader_handover), then is removed.
  EXPECT_TRUE(eventually(
      [&] {
        return change(b, "/api/lattice/members/remove", {{"peer_id", lattice.peer_id(a)}}).first ==
               200u;
      },
      milliseconds(20'000)));
  lattice.node(a).kill_hard();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(10'000)));
  EXPECT_EQ(lattice.node(d).post("/api/verify", kGuideTransfer).status, 200u);
  EXPECT_TRUE(eventually(
      [&] {
        auto hb = lattice.head(b), hd = lattice.head(d);
        auto hc = lattice.head((a + 2) % WanLattice::kNodes);
        return hb && hc && hd && *hb == *hd && *hc == *hd && hd->height >= 11;
      },
      milliseconds(10'000)));
}

}  // namespace
}  // namespace aethel::test
