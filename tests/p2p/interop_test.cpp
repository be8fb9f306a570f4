// Interop with a stock js-libp2p 3.x node (tests/p2p/interop/peer.mjs, versions pinned in
// package.json + package-lock.json). Skipped, saying why, only when node_modules is absent
// (scripts/install-npm-deps.sh installs it).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <filesystem>

#include "child_process.h"
#include "p2p/p2p.h"

namespace aethel::p2p {
namespace {

namespace json = boost::json;
using testing::ChildProcess;

const std::string kInteropDir = AETHEL_P2P_INTEROP_DIR;
const std::string kTopic = "aethel/lattice/v1";

template <typename Predicate>
bool run_until(boost::asio::io_context& io, Predicate done,
               std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A string field of a JSON object, or "" when absent or not a string.
std::string field(const json::object& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || !it->value().is_string()) return "";
  return std::string(it->value().as_string());
}

// Every JSON line from the child whose "event" is `event`.
std::vector<json::object> find_events(ChildProcess& child, std::string_view event) {
  std::vector<json::object> found;
  for (const auto& line : child.lines()) {
    boost::system::error_code ec;
    auto value = json::parse(line, ec);
    if (ec || !value.is_object()) continue;
    if (field(value.as_object(), "event") == event) found.push_back(value.as_object());
  }
  return found;
}

bool has(const std::vector<PeerId>& peers, const PeerId& peer) {
  return std::find(peers.begin(), peers.end(), peer) != peers.end();
}

// The first JSON line from the child whose "event" is `event`.
std::optional<json::object> find_event(ChildProcess& child, std::string_view event) {
  for (const auto& line : child.lines()) {
    boost::system::error_code ec;
    auto value = json::parse(line, ec);
    if (ec || !value.is_object()) continue;
    const auto& object = value.as_object();
    if (field(object, "event") == event) return object;
  }
  return std::nullopt;
}

bool contains(const json::array& array, std::string_view text) {
  for (const auto& item : array) {
    if (item.is_string() && item.as_string() == text) return true;
  }
  return false;
}

std::vector<std::string> js_command(std::vector<std::string> args) {
  std::vector<std::string> argv{"node", "--import", "./polyfill.mjs", "peer.mjs"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

class P2pInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kInteropDir + "/node_modules/libp2p")) {
      GTEST_SKIP() << "js-libp2p is not installed in " << kInteropDir
                   << "/node_modules: run scripts/install-npm-deps.sh";
    }
    HostConfig config;
    config.listen_addrs.push_back(Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    config.log = [this](std::string_view line) { log.emplace_back(line); };
    host = std::make_unique<Host>(io, std::move(config));
    ASSERT_TRUE(host->start().ok());
    host->on_peer_identified([this](const PeerInfo& info) { identified.push_back(info); });
  }
  void TearDown() override {
    if (::testing::Test::HasFailure()) {
      for (const auto& line : log) std::cerr << "aethel: " << line << "\n";
    }
  }

  boost::asio::io_context io;
  std::vector<std::string> log;
  std::unique_ptr<Host> host;
  std::vector<PeerInfo> identified;
};

TEST_F(P2pInterop, JsNodeDialsAethel) {
  const Multiaddr address = host->listen_addrs().front().with_peer_id(host->peer_id());
  ChildProcess js(js_command({"dial", address.to_string()}), kInteropDir);
  ASSERT_TRUE(js.started());
  ASSERT_TRUE(run_until(io, [&] { return js.exited(); })) << "js-libp2p dialer did not finish";
  for (const auto& line : js.lines()) std::cerr << "js: " << line << "\n";
  EXPECT_EQ(js.exit_code(), 0);

  auto connected = find_event(js, "connected");
  ASSERT_TRUE(connected.has_value());
  EXPECT_EQ(field(*connected, "peerId"), host->peer_id().to_base58());
  auto identify = find_event(js, "identify");
  ASSERT_TRUE(identify.has_value());
  EXPECT_EQ(field(*identify, "peerId"), host->peer_id().to_base58());
  EXPECT_EQ(field(*identify, "agentVersion"), "aethel/0.1.0");
  EXPECT_TRUE(contains(identify->at("protocols").as_array(), "/ipfs/ping/1.0.0"));
  EXPECT_TRUE(contains(identify->at("protocols").as_array(), "/ipfs/id/1.0.0"));
  auto ping = find_event(js, "ping");
  ASSERT_TRUE(ping.has_value());
  EXPECT_GE(ping->at("rtt").to_number<double>(), 0.0);

  // Our side identified the JS node too.
  ASSERT_TRUE(run_until(io, [&] { return !identified.empty(); }));
  EXPECT_NE(
      std::find(identified[0].protocols.begin(), identified[0].protocols.end(), "/ipfs/ping/1.0.0"),
      identified[0].protocols.end());
  EXPECT_TRUE(identified[0].agent_version.starts_with("js-libp2p")) << identified[0].agent_version;
}

TEST_F(P2pInterop, AethelDialsJsNode) {
  ChildProcess js(js_command({"listen"}), kInteropDir);
  ASSERT_TRUE(js.started());
  std::optional<json::object> listening;
  ASSERT_TRUE(run_until(io, [&] { return (listening = find_event(js, "listening")).has_value(); }));
  const std::string js_peer = field(*listening, "peerId");
  const std::string js_addr(listening->at("addrs").as_array().at(0).as_string());

  std::optional<Result<PeerId>> connected;
  host->connect(Multiaddr::parse(js_addr).value(),
                [&](Result<PeerId> r) { connected = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return connected.has_value(); }));
  ASSERT_TRUE(connected->ok()) << connected->error().message;
  EXPECT_EQ(connected->value().to_base58(), js_peer);

  ASSERT_TRUE(run_until(io, [&] { return !identified.empty(); }));
  EXPECT_EQ(identified[0].peer.to_base58(), js_peer);
  const auto& protocols = identified[0].protocols;
  EXPECT_NE(std::find(protocols.begin(), protocols.end(), "/ipfs/ping/1.0.0"), protocols.end());
  EXPECT_NE(std::find(protocols.begin(), protocols.end(), "/ipfs/id/1.0.0"), protocols.end());

  std::optional<Result<double>> rtt;
  host->ping(connected->value(), [&](Result<double> r) { rtt = std::move(r); });
  ASSERT_TRUE(run_until(io, [&] { return rtt.has_value(); }));
  ASSERT_TRUE(rtt->ok()) << rtt->error().message;
  EXPECT_GT(rtt->value(), 0.0);

  // The JS node identified us and pinged us back.
  std::optional<json::object> js_identify;
  std::optional<json::object> js_ping;
  ASSERT_TRUE(run_until(io, [&] {
    js_identify = find_event(js, "identify");
    js_ping = find_event(js, "ping");
    return js_identify && js_ping;
  }));
  for (const auto& line : js.lines()) std::cerr << "js: " << line << "\n";
  EXPECT_EQ(field(*js_identify, "peerId"), host->peer_id().to_base58());
  EXPECT_EQ(field(*js_identify, "agentVersion"), "aethel/0.1.0");
  EXPECT_EQ(field(*js_ping, "peerId"), host->peer_id().to_base58());
  EXPECT_GE(js_ping->at("rtt").to_number<double>(), 0.0);
  EXPECT_FALSE(find_event(js, "error").has_value());
}

TEST_F(P2pInterop, GossipFlowsBothWaysWithValidSignatures) {
  std::vector<std::pair<PeerId, std::string>> received;
  host->subscribe(kTopic, [&](const PeerId& author, const Bytes& data) {
    received.emplace_back(author, std::string(data.begin(), data.end()));
  });
  ChildProcess js(js_command({"listen"}), kInteropDir);
  ASSERT_TRUE(js.started());
  std::optional<json::object> listening;
  ASSERT_TRUE(run_until(io, [&] { return (listening = find_event(js, "listening")).has_value(); }));
  const PeerId js_peer = PeerId::parse(field(*listening, "peerId")).value();
  std::optional<Result<PeerId>> connected;
  host->connect(
      Multiaddr::parse(std::string(listening->at("addrs").as_array().at(0).as_string())).value(),
      [&](Result<PeerId> r) { connected = std::move(r); });
  // Both sides know the other subscribes, and the mesh link exists.
  ASSERT_TRUE(run_until(io, [&] {
    bool js_knows = false;
    for (const auto& e : find_events(js, "subscriber")) {
      js_knows |= field(e, "peerId") == host->peer_id().to_base58();
    }
    return js_knows && has(host->mesh_peers(kTopic), js_peer);
  }));

  ASSERT_TRUE(
      host->publish(kTopic, Bytes{'f', 'r', 'o', 'm', '-', 'a', 'e', 't', 'h', 'e', 'l'}).ok());
  std::optional<json::object> message;
  ASSERT_TRUE(run_until(io, [&] { return (message = find_event(js, "message")).has_value(); }));
  EXPECT_EQ(field(*message, "data"), "from-aethel");
  EXPECT_EQ(field(*message, "from"), host->peer_id().to_base58());
  EXPECT_TRUE(message->at("signed").as_bool());  // js-libp2p verified our StrictSign signature

  ASSERT_TRUE(js.write_line("publish from-js"));
  ASSERT_TRUE(run_until(io, [&] { return !received.empty(); }));
  EXPECT_EQ(received[0].first, js_peer);  // our router verified its signature
  EXPECT_EQ(received[0].second, "from-js");
  EXPECT_FALSE(find_event(js, "error").has_value());
}

TEST_F(P2pInterop, MeshOfThreeAethelNodesAndOneJsNodeDeliversEverywhere) {
  // host (a) — b — c — js: every message must be relayed across the line.
  HostConfig config;
  config.listen_addrs.push_back(Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
  config.log = [](std::string_view) {};
  config.key = KeyPair::generate();
  Host b(io, config);
  config.key = KeyPair::generate();
  Host c(io, config);
  ASSERT_TRUE(b.start().ok());
  ASSERT_TRUE(c.start().ok());
  std::map<std::string, std::vector<std::string>> received;  // node → data
  auto record = [&received](std::string node) {
    return [&received, node](const PeerId&, const Bytes& data) {
      received[node].emplace_back(data.begin(), data.end());
    };
  };
  host->subscribe(kTopic, record("a"));
  b.subscribe(kTopic, record("b"));
  c.subscribe(kTopic, record("c"));

  ChildProcess js(js_command({"listen"}), kInteropDir);
  ASSERT_TRUE(js.started());
  std::optional<json::object> listening;
  ASSERT_TRUE(run_until(io, [&] { return (listening = find_event(js, "listening")).has_value(); }));
  const PeerId js_peer = PeerId::parse(field(*listening, "peerId")).value();
  int connected = 0;
  auto count = [&](Result<PeerId> r) {
    EXPECT_TRUE(r.ok());
    ++connected;
  };
  host->connect(b.listen_addrs().front(), count);
  b.connect(c.listen_addrs().front(), count);
  c.connect(
      Multiaddr::parse(std::string(listening->at("addrs").as_array().at(0).as_string())).value(),
      count);
  ASSERT_TRUE(run_until(io, [&] {
    return connected == 3 && host->mesh_peers(kTopic).size() == 1 &&
           b.mesh_peers(kTopic).size() == 2 && has(c.mesh_peers(kTopic), js_peer) &&
           c.mesh_peers(kTopic).size() == 2;
  }));

  ASSERT_TRUE(js.write_line("publish js-says-hi"));
  ASSERT_TRUE(run_until(io, [&] {
    return received["a"].size() == 1 && received["b"].size() == 1 && received["c"].size() == 1;
  }));
  EXPECT_EQ(received["a"][0], "js-says-hi");

  ASSERT_TRUE(host->publish(kTopic, Bytes{'a', '-', 's', 'a', 'y', 's'}).ok());
  std::optional<json::object> at_js;
  ASSERT_TRUE(run_until(io, [&] {
    for (const auto& e : find_events(js, "message")) {
      if (field(e, "data") == "a-says") at_js = e;
    }
    return at_js.has_value() && received["b"].size() == 2 && received["c"].size() == 2;
  }));
  EXPECT_EQ(field(*at_js, "from"), host->peer_id().to_base58());
  EXPECT_TRUE(at_js->at("signed").as_bool());

  ASSERT_TRUE(c.publish(kTopic, Bytes{'c'}).ok());
  ASSERT_TRUE(run_until(io, [&] {
    return received["a"].size() == 2 && received["b"].size() == 3 &&
           find_events(js, "message").size() == 2;
  }));
  EXPECT_FALSE(find_event(js, "error").has_value());
}

}  // namespace
}  // namespace aethel::p2p
