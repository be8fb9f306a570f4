// The Host over real TCP on 127.0.0.1: two hosts in one io_context.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

#include "p2p/codec.h"
#include "p2p/p2p.h"

namespace aethel::p2p {
namespace {

constexpr std::string_view kEcho = "/aethel/test-echo/1.0.0";

// Runs handlers until `done()` holds or `timeout` passes; returns done().
template <typename Predicate>
bool run_until(boost::asio::io_context& io, Predicate done,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return done();
}

HostConfig loopback_config(std::vector<std::string>* log = nullptr) {
  HostConfig config;
  config.listen_addrs.push_back(Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
  config.log = [log](std::string_view line) {
    if (log) log->emplace_back(line);
  };
  return config;
}

struct P2pTwoHosts : ::testing::Test {
  boost::asio::io_context io;
  std::vector<std::string> server_log;
  Host server{io, loopback_config(&server_log)};
  Host client{io, loopback_config()};

  void SetUp() override {
    ASSERT_TRUE(server.start().ok());
    ASSERT_TRUE(client.start().ok());
  }
  Multiaddr server_addr() const {
    return server.listen_addrs().front().with_peer_id(server.peer_id());
  }
  Result<PeerId> connect(const Multiaddr& address) {
    std::optional<Result<PeerId>> outcome;
    client.connect(address, [&](Result<PeerId> r) { outcome = std::move(r); });
    EXPECT_TRUE(run_until(io, [&] { return outcome.has_value(); }));
    if (!outcome) return Error{"timeout", "timed out"};
    return *outcome;
  }
};

TEST_F(P2pTwoHosts, ConnectIdentifyAndPing) {
  std::vector<PeerId> server_saw;
  server.on_peer_connected([&](const PeerId& peer) { server_saw.push_back(peer); });
  auto connected = connect(server_addr());
  ASSERT_TRUE(connected.ok()) << connected.error().message;
  EXPECT_EQ(connected.value(), server.peer_id());
  ASSERT_TRUE(run_until(io, [&] { return client.peer_info(server.peer_id()).has_value(); }));
  const PeerInfo info = *client.peer_info(server.peer_id());
  EXPECT_EQ(info.agent_version, "aethel/0.1.0");
  EXPECT_NE(std::find(info.protocols.begin(), info.protocols.end(), "/ipfs/ping/1.0.0"),
            info.protocols.end());
  ASSERT_EQ(info.listen_addrs.size(), 1u);
  EXPECT_EQ(info.listen_addrs[0], server.listen_addrs()[0]);
  ASSERT_TRUE(info.observed_addr.has_value());
  EXPECT_EQ(info.observed_addr->components()[0].value, "127.0.0.1");
  ASSERT_TRUE(run_until(io, [&] { return !server_saw.empty(); }));
  EXPECT_EQ(server_saw[0], client.peer_id());

  std::optional<Result<double>> rtt;
  client.ping(server.peer_id(), [&](Result<double> r) { rtt = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return rtt.has_value(); }));
  ASSERT_TRUE(rtt->ok()) << rtt->error().message;
  EXPECT_GT(rtt->value(), 0.0);
  EXPECT_LT(rtt->value(), 1000.0);
  bool logged = false;
  for (const auto& line : server_log) logged |= line.starts_with("[P2P] Peer connected: ");
  EXPECT_TRUE(logged);
}

TEST_F(P2pTwoHosts, DialingTheWrongPeerIdIsRefused) {
  const PeerId impostor = PeerId::from_public_key(KeyPair::generate().public_key());
  auto connected = connect(server.listen_addrs().front().with_peer_id(impostor));
  ASSERT_FALSE(connected.ok());
  EXPECT_NE(connected.error().message.find("but the remote is"), std::string::npos)
      << connected.error().message;
  EXPECT_TRUE(client.connected_peers().empty());
}

TEST_F(P2pTwoHosts, RequestResponseCarriesLargeMessagesThroughFlowControl) {
  server.set_request_handler(std::string(kEcho), [](const PeerId&, Bytes request) -> Result<Bytes> {
    std::reverse(request.begin(), request.end());
    return request;
  });
  ASSERT_TRUE(connect(server_addr()).ok());
  Bytes big(1024 * 1024 + 17);  // four times the initial Yamux window
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i % 251);
  std::optional<Result<Bytes>> response;
  client.request(server.peer_id(), std::string(kEcho), big,
                 [&](Result<Bytes> r) { response = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return response.has_value(); }));
  ASSERT_TRUE(response->ok()) << response->error().message;
  Bytes expected(big.rbegin(), big.rend());
  EXPECT_EQ(response->value(), expected);
}

TEST_F(P2pTwoHosts, ManyConcurrentRequestsAllComplete) {
  server.set_request_handler(std::string(kEcho),
                             [](const PeerId&, Bytes request) -> Result<Bytes> { return request; });
  ASSERT_TRUE(connect(server_addr()).ok());
  constexpr int kRequests = 100;
  int ok = 0;
  int done = 0;
  for (int i = 0; i < kRequests; ++i) {
    const std::string text = "request " + std::to_string(i);
    client.request(server.peer_id(), std::string(kEcho), Bytes(text.begin(), text.end()),
                   [&, text](Result<Bytes> r) {
                     ++done;
                     if (r.ok() && as_string(r.value()) == text) ++ok;
                     if (!r.ok()) ADD_FAILURE() << r.error().message;
                   });
  }
  ASSERT_TRUE(run_until(io, [&] { return done == kRequests; }));
  EXPECT_EQ(ok, kRequests);
}

TEST_F(P2pTwoHosts, UnknownProtocolAndHandlerErrorsFailTheRequestOnly) {
  server.set_request_handler("/aethel/fails/1.0.0", [](const PeerId&, Bytes) -> Result<Bytes> {
    return Error{"refused", "nope"};
  });
  ASSERT_TRUE(connect(server_addr()).ok());
  std::optional<Result<Bytes>> unknown;
  client.request(server.peer_id(), "/aethel/unknown/1.0.0", Bytes{1},
                 [&](Result<Bytes> r) { unknown = std::move(r); });
  std::optional<Result<Bytes>> failing;
  client.request(server.peer_id(), "/aethel/fails/1.0.0", Bytes{1},
                 [&](Result<Bytes> r) { failing = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return unknown && failing; }));
  EXPECT_FALSE(unknown->ok());
  EXPECT_FALSE(failing->ok());
  EXPECT_EQ(client.connected_peers().size(), 1u);  // the connection survives
}

TEST_F(P2pTwoHosts, OversizedRequestIsRefusedByTheServer) {
  HostConfig small = loopback_config();
  small.limits.max_message_bytes = 1024;
  Host limited(io, std::move(small));
  ASSERT_TRUE(limited.start().ok());
  limited.set_request_handler(
      std::string(kEcho), [](const PeerId&, Bytes request) -> Result<Bytes> { return request; });
  ASSERT_TRUE(connect(limited.listen_addrs().front()).ok());
  std::optional<Result<Bytes>> response;
  client.request(limited.peer_id(), std::string(kEcho), Bytes(4096, 7),
                 [&](Result<Bytes> r) { response = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return response.has_value(); }));
  EXPECT_FALSE(response->ok());
}

TEST_F(P2pTwoHosts, DisconnectIsReportedOnBothSides) {
  std::vector<PeerId> server_lost;
  server.on_peer_disconnected([&](const PeerId& peer) { server_lost.push_back(peer); });
  ASSERT_TRUE(connect(server_addr()).ok());
  ASSERT_TRUE(run_until(io, [&] { return server.connected_peers().size() == 1; }));
  client.disconnect(server.peer_id());
  ASSERT_TRUE(run_until(io, [&] { return !server_lost.empty(); }));
  EXPECT_EQ(server_lost[0], client.peer_id());
  EXPECT_TRUE(run_until(io, [&] { return client.connected_peers().empty(); }));
}

TEST_F(P2pTwoHosts, GarbageFromARawSocketClosesOnlyThatConnection) {
  ASSERT_TRUE(connect(server_addr()).ok());
  boost::asio::ip::tcp::socket raw(io);
  const auto endpoint = server.listen_addrs().front().tcp_endpoint().value();
  raw.connect({boost::asio::ip::make_address(endpoint.first), endpoint.second});
  const std::string garbage(200, '\xff');
  boost::asio::write(raw, boost::asio::buffer(garbage));
  ASSERT_TRUE(run_until(io, [&] {
    for (const auto& line : server_log) {
      if (line.find("Handshake with") != std::string::npos) return true;
    }
    return false;
  }));
  std::optional<Result<double>> rtt;
  client.ping(server.peer_id(), [&](Result<double> r) { rtt = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return rtt.has_value(); }));
  EXPECT_TRUE(rtt->ok());
}

TEST(P2pHostLimits, ConnectionLimitRefusesExtraPeers) {
  boost::asio::io_context io;
  HostConfig config = loopback_config();
  config.limits.max_connections = 1;
  Host server(io, std::move(config));
  ASSERT_TRUE(server.start().ok());
  Host first(io, loopback_config());
  Host second(io, loopback_config());
  std::optional<Result<PeerId>> a;
  std::optional<Result<PeerId>> b;
  first.connect(server.listen_addrs().front(), [&](Result<PeerId> r) { a = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return a.has_value(); }));
  ASSERT_TRUE(a->ok());
  second.connect(server.listen_addrs().front(), [&](Result<PeerId> r) { b = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return b.has_value(); }));
  EXPECT_FALSE(b->ok());
  EXPECT_EQ(server.connected_peers().size(), 1u);
}

}  // namespace
}  // namespace aethel::p2p

namespace aethel::p2p {
namespace {

TEST(P2pHostGossip, LineOfThreeHostsDeliversBothWaysWithAuthors) {
  boost::asio::io_context io;
  HostConfig fast = loopback_config();
  fast.gossip.heartbeat_interval_ms = 50;
  std::vector<std::unique_ptr<Host>> hosts;
  for (int i = 0; i < 3; ++i) {
    hosts.push_back(std::make_unique<Host>(io, fast));
    fast.key = KeyPair::generate();
    ASSERT_TRUE(hosts.back()->start().ok());
  }
  const std::string topic = "aethel/lattice/v1";
  std::vector<std::vector<std::pair<PeerId, std::string>>> received(3);
  for (int i = 0; i < 3; ++i) {
    hosts[i]->subscribe(topic, [&received, i](const PeerId& author, const Bytes& data) {
      received[i].emplace_back(author, as_string(data));
    });
  }
  // a — b — c
  int connected = 0;
  for (int i = 0; i < 2; ++i) {
    hosts[i]->connect(hosts[i + 1]->listen_addrs().front(), [&](Result<PeerId> r) {
      ASSERT_TRUE(r.ok()) << r.error().message;
      ++connected;
    });
  }
  ASSERT_TRUE(run_until(io, [&] {
    return connected == 2 && hosts[0]->mesh_peers(topic).size() == 1 &&
           hosts[1]->mesh_peers(topic).size() == 2 && hosts[2]->mesh_peers(topic).size() == 1;
  }));
  ASSERT_TRUE(hosts[0]->publish(topic, Bytes{'h', 'i'}).ok());
  ASSERT_TRUE(run_until(io, [&] { return received[2].size() == 1; }));
  EXPECT_EQ(received[2][0].first, hosts[0]->peer_id());
  EXPECT_EQ(received[2][0].second, "hi");
  ASSERT_TRUE(hosts[2]->publish(topic, Bytes{'y', 'o'}).ok());
  ASSERT_TRUE(run_until(io, [&] { return received[0].size() == 1; }));
  EXPECT_EQ(received[0][0].first, hosts[2]->peer_id());
  // Run a few heartbeats more: duplicates (gossip, relays) must not be delivered again.
  const auto settle = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  run_until(io, [&] { return std::chrono::steady_clock::now() > settle; });
  EXPECT_EQ(received[0].size(), 1u);
  EXPECT_EQ(received[1].size(), 2u);
  EXPECT_EQ(received[2].size(), 1u);
}

}  // namespace
}  // namespace aethel::p2p
