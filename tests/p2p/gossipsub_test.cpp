#include "p2p/gossipsub.h"

#include <gtest/gtest.h>

#include <memory>

#include "p2p/codec.h"

namespace aethel::p2p {
namespace {

constexpr std::string_view kTopic = "aethel/lattice/v1";

// Routers connected in memory; every RPC goes through the wire codec.
struct Network {
  struct Node {
    KeyPair key = KeyPair::generate();
    std::unique_ptr<GossipsubRouter> router;
    std::vector<PubsubMessage> delivered;
  };
  std::map<PeerId, Node> nodes;
  std::set<std::pair<PeerId, PeerId>> links;

  PeerId add(GossipsubConfig config = {}) {
    Node node;
    const PeerId id = PeerId::from_public_key(node.key.public_key());
    auto [it, inserted] = nodes.emplace(id, std::move(node));
    it->second.router = std::make_unique<GossipsubRouter>(it->second.key, config, nodes.size());
    return id;
  }
  void connect(const PeerId& a, const PeerId& b) {
    links.insert({a, b});
    links.insert({b, a});
    GossipsubOutput out_a;
    nodes.at(a).router->add_peer(b, out_a);
    GossipsubOutput out_b;
    nodes.at(b).router->add_peer(a, out_b);
    run(a, out_a);
    run(b, out_b);
  }
  void run(const PeerId& sender, GossipsubOutput& out) {
    auto& node = nodes.at(sender);
    for (auto& message : out.deliver) node.delivered.push_back(message);
    for (auto& [to, rpc] : out.send) {
      if (!links.contains({sender, to})) continue;
      auto decoded = decode_pubsub_rpc(encode_pubsub_rpc(rpc));
      ASSERT_TRUE(decoded.ok()) << decoded.error().message;
      GossipsubOutput next;
      nodes.at(to).router->handle_rpc(sender, decoded.value(), next);
      run(to, next);
    }
  }
  void subscribe(const PeerId& peer) {
    GossipsubOutput out;
    nodes.at(peer).router->subscribe(std::string(kTopic), out);
    run(peer, out);
  }
  void heartbeat(const PeerId& peer) {
    GossipsubOutput out;
    nodes.at(peer).router->heartbeat(out);
    run(peer, out);
  }
  void heartbeat_all() {
    for (auto& [id, node] : nodes) {
      GossipsubOutput out;
      node.router->heartbeat(out);
      run(id, out);
    }
  }
  Status publish(const PeerId& peer, std::string_view text) {
    GossipsubOutput out;
    auto published =
        nodes.at(peer).router->publish(std::string(kTopic), Bytes(text.begin(), text.end()), out);
    run(peer, out);
    return published;
  }
};

TEST(P2pGossipsub, RpcCodecRoundTrips) {
  PubsubRpc rpc;
  rpc.subscriptions.push_back({true, "t"});
  rpc.messages.push_back({{1, 2}, {3}, {0, 0, 0, 0, 0, 0, 0, 9}, "t", {4, 5}, {}});
  rpc.ihave.push_back({"t", {{7, 7}}});
  rpc.iwant.push_back({8});
  rpc.graft.push_back("g");
  rpc.prune.push_back({"p", 60});
  auto decoded = decode_pubsub_rpc(encode_pubsub_rpc(rpc));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->subscriptions[0].topic, "t");
  EXPECT_TRUE(decoded->subscriptions[0].subscribe);
  EXPECT_EQ(decoded->messages[0].seqno.back(), 9);
  EXPECT_EQ(decoded->messages[0].signature, (Bytes{4, 5}));
  EXPECT_EQ(decoded->ihave[0].message_ids[0], (Bytes{7, 7}));
  EXPECT_EQ(decoded->iwant[0], (Bytes{8}));
  EXPECT_EQ(decoded->graft[0], "g");
  EXPECT_EQ(decoded->prune[0].backoff_s, 60u);
  EXPECT_FALSE(decode_pubsub_rpc(from_hex("0a05").value()).ok());
}

TEST(P2pGossipsub, SignedMessageVerifiesAndTamperingIsDetected) {
  Network net;
  const PeerId a = net.add();
  const PeerId b = net.add();
  net.connect(a, b);
  net.subscribe(b);
  PubsubMessage captured;
  {
    GossipsubOutput out;
    ASSERT_TRUE(net.nodes.at(a).router->publish(std::string(kTopic), Bytes{1, 2, 3}, out).ok());
    ASSERT_EQ(out.send.size(), 1u);
    captured = out.send[0].second.messages.at(0);
  }
  EXPECT_TRUE(verify_pubsub_message(captured).ok());
  EXPECT_EQ(captured.from, a.bytes());
  EXPECT_EQ(captured.seqno.size(), 8u);
  PubsubMessage tampered = captured;
  tampered.data.push_back(4);
  EXPECT_FALSE(verify_pubsub_message(tampered).ok());
  PubsubMessage unsigned_message = captured;
  unsigned_message.signature.clear();
  EXPECT_FALSE(verify_pubsub_message(unsigned_message).ok());

  GossipsubOutput out;
  PubsubRpc rpc;
  rpc.messages = {tampered, unsigned_message};
  net.nodes.at(b).router->handle_rpc(a, rpc, out);
  EXPECT_TRUE(out.deliver.empty());
}

TEST(P2pGossipsub, LineOfThreeDeliversOnceToEveryone) {
  Network net;
  const PeerId a = net.add();
  const PeerId b = net.add();
  const PeerId c = net.add();
  net.connect(a, b);
  net.connect(b, c);
  net.subscribe(a);
  net.subscribe(b);
  net.subscribe(c);
  net.heartbeat_all();
  ASSERT_TRUE(net.publish(a, "hello").ok());
  ASSERT_EQ(net.nodes.at(b).delivered.size(), 1u);
  ASSERT_EQ(net.nodes.at(c).delivered.size(), 1u);  // relayed by b through its mesh
  EXPECT_EQ(as_string(net.nodes.at(c).delivered[0].data), "hello");
  EXPECT_TRUE(net.nodes.at(a).delivered.empty());  // no echo to the author
}

TEST(P2pGossipsub, MeshStaysWithinBoundsWithManyPeers) {
  Network net;
  GossipsubConfig config;
  config.d_lazy = 20;  // gossip to every non-mesh peer, so one heartbeat reaches all
  std::vector<PeerId> peers;
  for (int i = 0; i < 20; ++i) peers.push_back(net.add(config));
  for (int i = 1; i < 20; ++i) net.connect(peers[0], peers[i]);
  for (const auto& peer : peers) net.subscribe(peer);
  for (int round = 0; round < 3; ++round) net.heartbeat_all();
  const std::size_t mesh = net.nodes.at(peers[0]).router->mesh_size(std::string(kTopic));
  EXPECT_GE(mesh, 4u);
  EXPECT_LE(mesh, 12u);
  ASSERT_TRUE(net.publish(peers[5], "to all").ok());
  // Mesh members of the hub get it at once; the rest through IHAVE/IWANT at the next
  // heartbeat. Nobody gets it twice.
  net.heartbeat_all();
  for (const auto& peer : peers) {
    if (peer == peers[5]) continue;
    EXPECT_EQ(net.nodes.at(peer).delivered.size(), 1u);
  }
}

TEST(P2pGossipsub, GossipLetsAPeerOutsideTheMeshFetchMissedMessages) {
  GossipsubConfig config;
  config.d = 1;
  config.d_low = 1;
  config.d_high = 1;
  Network net;
  const PeerId a = net.add(config);
  const PeerId b = net.add(config);
  const PeerId c = net.add(config);
  net.connect(a, b);
  net.connect(a, c);
  net.subscribe(a);
  net.subscribe(b);
  net.subscribe(c);
  net.heartbeat(a);  // prunes a's mesh down to one peer
  const auto mesh = net.nodes.at(a).router->mesh_peers(std::string(kTopic));
  ASSERT_EQ(mesh.size(), 1u);
  const PeerId outsider = mesh.contains(b) ? c : b;
  // The outsider misses the message itself and can only learn of it through IHAVE/IWANT.
  net.links.erase({a, outsider});
  ASSERT_TRUE(net.publish(a, "gossiped").ok());
  EXPECT_TRUE(net.nodes.at(outsider).delivered.empty());
  net.links.insert({a, outsider});
  net.heartbeat(a);
  ASSERT_EQ(net.nodes.at(outsider).delivered.size(), 1u);
  EXPECT_EQ(as_string(net.nodes.at(outsider).delivered[0].data), "gossiped");
}

TEST(P2pGossipsub, IWantIsAnsweredFromTheCacheAndIHaveTriggersIWant) {
  Network net;
  const PeerId a = net.add();
  const PeerId b = net.add();
  net.connect(a, b);
  net.subscribe(b);
  GossipsubOutput published;
  ASSERT_TRUE(net.nodes.at(a).router->publish(std::string(kTopic), Bytes{9}, published).ok());
  const Bytes id = pubsub_message_id(published.send.at(0).second.messages.at(0));

  PubsubRpc iwant;
  iwant.iwant.push_back(id);
  GossipsubOutput answer;
  net.nodes.at(a).router->handle_rpc(b, iwant, answer);
  ASSERT_EQ(answer.send.size(), 1u);
  EXPECT_EQ(answer.send[0].second.messages.at(0).data, Bytes{9});

  PubsubRpc ihave;
  ihave.ihave.push_back({std::string(kTopic), {id}});
  GossipsubOutput request;
  net.nodes.at(b).router->handle_rpc(a, ihave, request);
  ASSERT_EQ(request.send.size(), 1u);
  EXPECT_EQ(request.send[0].second.iwant, std::vector<Bytes>{id});
}

TEST(P2pGossipsub, PublishingWithoutSubscribedPeersIsAnError) {
  Network net;
  const PeerId a = net.add();
  auto published = net.publish(a, "nobody");
  ASSERT_FALSE(published.ok());
  EXPECT_NE(published.error().message.find("no peers"), std::string::npos);
}

}  // namespace
}  // namespace aethel::p2p
