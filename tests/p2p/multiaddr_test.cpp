#include <gtest/gtest.h>

#include "p2p/codec.h"
#include "p2p/p2p.h"

namespace aethel::p2p {
namespace {

constexpr std::string_view kPeer = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

TEST(P2pMultiaddr, EncodesSpecExamples) {
  auto tcp = Multiaddr::parse("/ip4/127.0.0.1/tcp/4001");
  ASSERT_TRUE(tcp.ok()) << tcp.error().message;
  EXPECT_EQ(to_hex(tcp->to_bytes()), "047f000001060fa1");
  auto dns = Multiaddr::parse("/dns4/example.com/tcp/443");
  ASSERT_TRUE(dns.ok());
  EXPECT_EQ(to_hex(dns->to_bytes()), "360b6578616d706c652e636f6d0601bb");
  auto ip6 = Multiaddr::parse("/ip6/::1/tcp/9000");
  ASSERT_TRUE(ip6.ok());
  EXPECT_EQ(to_hex(ip6->to_bytes()),
            "29000000000000000000000000000000010623"
            "28");
}

TEST(P2pMultiaddr, TextAndBinaryRoundTripWithPeerId) {
  const std::string text = "/ip4/10.0.0.7/tcp/9000/p2p/" + std::string(kPeer);
  auto address = Multiaddr::parse(text);
  ASSERT_TRUE(address.ok()) << address.error().message;
  EXPECT_EQ(address->to_string(), text);
  auto decoded = Multiaddr::from_bytes(address->to_bytes());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded.value(), address.value());
  ASSERT_TRUE(address->peer_id().has_value());
  EXPECT_EQ(address->peer_id()->to_base58(), kPeer);
  auto endpoint = address->tcp_endpoint();
  ASSERT_TRUE(endpoint.has_value());
  EXPECT_EQ(endpoint->first, "10.0.0.7");
  EXPECT_EQ(endpoint->second, 9000);
  EXPECT_EQ(address->without_peer_id().to_string(), "/ip4/10.0.0.7/tcp/9000");
}

TEST(P2pMultiaddr, AcceptsIpfsAsTheOldNameOfP2p) {
  auto address = Multiaddr::parse("/dns/node1.example/tcp/9000/ipfs/" + std::string(kPeer));
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(address->to_string(), "/dns/node1.example/tcp/9000/p2p/" + std::string(kPeer));
}

TEST(P2pMultiaddr, ErrorsNameTheProblem) {
  struct Case {
    std::string_view text;
    std::string_view expected;
  };
  const Case cases[] = {
      {"/ip4/1.2.3.4/tcp/9000/p2p/QmNode2PeerID", "not a valid peer ID"},
      {"/ip4/api.example.com/tcp/9000", "/dns4/"},
      {"/ip4/1.2.3.4/tcp/70000", "not a TCP port"},
      {"/udp/1", "unsupported protocol 'udp'"},
      {"ip4/1.2.3.4", "must start with '/'"},
      {"/ip4", "needs a value"},
      {"", "must start with '/'"},
  };
  for (const auto& c : cases) {
    auto address = Multiaddr::parse(c.text);
    ASSERT_FALSE(address.ok()) << c.text;
    EXPECT_NE(address.error().message.find(c.expected), std::string::npos)
        << c.text << " -> " << address.error().message;
  }
}

TEST(P2pMultiaddr, BootstrapParsingReadsHostNamesUnderIp4AsDns4WithAWarning) {
  std::string warning;
  auto guide = Multiaddr::parse_bootstrap("/ip4/api.example.com/tcp/9000/p2p/" + std::string(kPeer),
                                          warning);
  ASSERT_TRUE(guide.ok()) << guide.error().message;
  EXPECT_EQ(guide->to_string(), "/dns4/api.example.com/tcp/9000/p2p/" + std::string(kPeer));
  EXPECT_NE(warning.find("/dns4/"), std::string::npos);

  auto plain = Multiaddr::parse_bootstrap("/ip4/10.0.0.1/tcp/9000", warning);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(warning.empty());

  auto placeholder =
      Multiaddr::parse_bootstrap("/ip4/api.example.com/tcp/9000/p2p/QmNode2PeerID", warning);
  ASSERT_FALSE(placeholder.ok());
  EXPECT_NE(placeholder.error().message.find("not a valid peer ID"), std::string::npos);
  EXPECT_FALSE(Multiaddr::parse_bootstrap("/ip4/999.1.1.1/tcp/1", warning).ok());
}

TEST(P2pMultiaddr, BinaryDecoderRejectsTruncatedAndUnknownInput) {
  EXPECT_FALSE(Multiaddr::from_bytes(from_hex("047f0000").value()).ok());
  EXPECT_FALSE(Multiaddr::from_bytes(from_hex("9102").value()).ok());  // udp (273)
  EXPECT_FALSE(Multiaddr::from_bytes(from_hex("36ff").value()).ok());
  EXPECT_FALSE(Multiaddr::from_bytes({}).ok());
}

}  // namespace
}  // namespace aethel::p2p
