#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "p2p/codec.h"
#include "p2p/p2p.h"

namespace aethel::p2p {
namespace {

// peer-ids spec test vectors: the Ed25519 private and public key protobufs.
constexpr std::string_view kSpecPrivateKey =
    "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be"
    "8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
constexpr std::string_view kSpecPublicKey =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
constexpr std::string_view kSpecPeerId = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

Bytes hex(std::string_view text) {
  return from_hex(text).value();
}

TEST(P2pIdentity, SpecPrivateKeyDerivesSpecPublicKeyAndPeerId) {
  auto key = KeyPair::from_protobuf(hex(kSpecPrivateKey));
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(to_hex(key->public_key().to_protobuf()), kSpecPublicKey);
  EXPECT_EQ(to_hex(key->to_protobuf()), kSpecPrivateKey);
  const PeerId peer = PeerId::from_public_key(key->public_key());
  EXPECT_EQ(peer.to_base58(), kSpecPeerId);
  EXPECT_EQ(peer.bytes().size(), 38u);
}

TEST(P2pIdentity, PublicKeyProtobufRoundTripsAndRefusesOtherTypes) {
  auto key = PublicKey::from_protobuf(hex(kSpecPublicKey));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(to_hex(key->to_protobuf()), kSpecPublicKey);
  // secp256k1 public key from the same spec.
  auto secp = PublicKey::from_protobuf(
      hex("08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99"));
  ASSERT_FALSE(secp.ok());
  EXPECT_NE(secp.error().message.find("not Ed25519"), std::string::npos);
}

TEST(P2pIdentity, CorruptPrivateKeyIsDetected) {
  Bytes encoded = hex(kSpecPrivateKey);
  encoded.back() ^= 1;  // flip a bit of the stored public key
  auto key = KeyPair::from_protobuf(encoded);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().message.find("does not match"), std::string::npos);
}

TEST(P2pIdentity, SignaturesVerifyOnlyForTheSignedMessage) {
  const KeyPair key = KeyPair::generate();
  const auto signature = key.sign(as_bytes("transfer 100"));
  EXPECT_TRUE(key.public_key().verify(as_bytes("transfer 100"), signature));
  EXPECT_FALSE(key.public_key().verify(as_bytes("transfer 900"), signature));
  EXPECT_FALSE(KeyPair::generate().public_key().verify(as_bytes("transfer 100"), signature));
}

TEST(P2pPeerId, ParsesBothFormsAndRoundTrips) {
  auto ed = PeerId::parse(kSpecPeerId);
  ASSERT_TRUE(ed.ok()) << ed.error().message;
  EXPECT_EQ(ed->to_base58(), kSpecPeerId);
  ASSERT_TRUE(ed->public_key().has_value());
  EXPECT_EQ(to_hex(ed->public_key()->to_protobuf()), kSpecPublicKey);

  auto qm = PeerId::parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
  ASSERT_TRUE(qm.ok()) << qm.error().message;
  EXPECT_EQ(qm->bytes().size(), 34u);
  EXPECT_EQ(qm->bytes()[0], 0x12);
  EXPECT_FALSE(qm->public_key().has_value());
  EXPECT_EQ(qm->to_base58(), "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
}

TEST(P2pPeerId, PlaceholderIsAnErrorThatSaysSo) {
  for (std::string_view text : {"QmNode2PeerID", "", "12D3KooW", "hello",
                                "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5"}) {
    auto peer = PeerId::parse(text);
    ASSERT_FALSE(peer.ok()) << text;
    EXPECT_NE(peer.error().message.find("is not a valid peer ID"), std::string::npos)
        << peer.error().message;
  }
}

class P2pKeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/aethel-p2p-key-XXXXXX";
    directory_ = ::mkdtemp(pattern);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }
  std::string directory_;
};

TEST_F(P2pKeyFile, CreatesOnceThenReloadsTheSamePeerId) {
  const std::string path = directory_ + "/node.key";
  auto first = load_or_create_key(path);
  ASSERT_TRUE(first.ok()) << first.error().message;
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(info.st_size, 68);
  auto second = load_or_create_key(path);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(PeerId::from_public_key(first->public_key()),
            PeerId::from_public_key(second->public_key()));
}

TEST_F(P2pKeyFile, CorruptFileIsAnErrorAndIsNotReplaced) {
  const std::string path = directory_ + "/node.key";
  std::ofstream(path) << "not a key";
  auto key = load_or_create_key(path);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().message.find(path), std::string::npos);
  EXPECT_EQ(std::filesystem::file_size(path), 9u);
}

}  // namespace
}  // namespace aethel::p2p
