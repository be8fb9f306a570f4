// SPEC §3 validation of the lattice variables: bootstrap addresses, listen
// addresses and validator peer IDs. Each error must be the one line an operator
// needs: the variable, its value and what is wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "node/node.h"

namespace aethel::node {
namespace {

// Real Ed25519 peer IDs (from `aethel keygen`).
constexpr const char* kPeer1 = "12D3KooWRpmyBW788ULskALgpUhDLFSqypBNj16bYbcaWbesz8Ry";
constexpr const char* kPeer2 = "12D3KooWLD97cw5Lvs9RWjCMfZLzCERHVi6FBfiK3Qv9Qj491RuW";

Result<Config> load_env(std::map<std::string, std::string> environment) {
  ConfigSources sources;
  sources.environment = std::move(environment);
  return load_config(sources);
}

std::string error_of(std::map<std::string, std::string> environment) {
  auto config = load_env(std::move(environment));
  EXPECT_FALSE(config.ok()) << "the configuration was accepted";
  return config.ok() ? std::string() : config.error().message;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ConfigTest, PlaceholderBootstrapPeerIdStopsTheNode) {
  const std::string value = "/ip4/x/tcp/9000/p2p/QmNode2PeerID";
  std::string message = error_of({{"AETHEL_P2P_BOOTSTRAP", value}});
  EXPECT_TRUE(contains(message, "AETHEL_P2P_BOOTSTRAP='" + value + "'")) << message;
  EXPECT_TRUE(contains(message, "'QmNode2PeerID' is a placeholder, not a valid peer ID"))
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
}

TEST(ConfigTest, PlaceholderInTheGuidesSecondEntryIsFoundToo) {
  std::string value = std::string("/ip4/127.0.0.1/tcp/9002/p2p/") + kPeer2 +
                      ",/ip4/backup.diotec360.com/tcp/9000/p2p/QmNode3PeerID";
  std::string message = error_of({{"AETHEL_P2P_BOOTSTRAP", value}});
  EXPECT_TRUE(contains(message, "AETHEL_P2P_BOOTSTRAP='" + value + "' is invalid")) << message;
  EXPECT_TRUE(contains(message, "'QmNode3PeerID' is a placeholder")) << message;
}

TEST(ConfigTest, LegacyPrefixIsNamedInTheError) {
  std::string message =
      error_of({{"DIOTEC360_P2P_BOOTSTRAP", "/ip4/x/tcp/9000/p2p/QmNode1PeerID"}});
  EXPECT_TRUE(message.starts_with("DIOTEC360_P2P_BOOTSTRAP='")) << message;
}

TEST(ConfigTest, HostNameUnderIp4IsReadAsDns4WithAWarning) {
  auto config = load_env(
      {{"AETHEL_P2P_BOOTSTRAP", std::string("/ip4/api.diotec360.com/tcp/9000/p2p/") + kPeer2}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config.value().p2p_bootstrap.size(), 1u);
  EXPECT_EQ(config.value().p2p_bootstrap[0],
            std::string("/dns4/api.diotec360.com/tcp/9000/p2p/") + kPeer2);
  ASSERT_EQ(config.value().warnings.size(), 1u);
  const std::string& warning = config.value().warnings[0];
  EXPECT_TRUE(warning.starts_with("AETHEL_P2P_BOOTSTRAP: ")) << warning;
  EXPECT_TRUE(contains(warning, "/dns4/api.diotec360.com")) << warning;
}

TEST(ConfigTest, ValidBootstrapListGivesNoWarnings) {
  std::string value = std::string("/ip4/127.0.0.1/tcp/9002/p2p/") + kPeer2 +
                      ", /dns4/node1.example/tcp/9001/p2p/" + kPeer1;
  auto config = load_env({{"AETHEL_P2P_BOOTSTRAP", value}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().p2p_bootstrap.size(), 2u);
  EXPECT_TRUE(config.value().warnings.empty());
}

TEST(ConfigTest, BootstrapWithoutPeerIdIsAnError) {
  std::string message = error_of({{"AETHEL_P2P_BOOTSTRAP", "/ip4/127.0.0.1/tcp/9002"}});
  EXPECT_TRUE(contains(message, "AETHEL_P2P_BOOTSTRAP='/ip4/127.0.0.1/tcp/9002' is invalid"))
      << message;
  EXPECT_TRUE(contains(message, "/p2p/ peer ID")) << message;
}

TEST(ConfigTest, MalformedBootstrapNamesTheComponent) {
  std::string message =
      error_of({{"AETHEL_P2P_BOOTSTRAP", std::string("/ip4/127.0.0.1/tcp/99999/p2p/") + kPeer2}});
  EXPECT_TRUE(message.starts_with("AETHEL_P2P_BOOTSTRAP='/ip4/127.0.0.1/tcp/99999")) << message;
  EXPECT_TRUE(contains(message, "not a TCP port")) << message;
}

TEST(ConfigTest, ListenAddressesAreParsed) {
  auto config = load_env({{"AETHEL_P2P_LISTEN", "/ip4/127.0.0.1/tcp/9001,/ip6/::1/tcp/9001"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().p2p_listen,
            (std::vector<std::string>{"/ip4/127.0.0.1/tcp/9001", "/ip6/::1/tcp/9001"}));
}

TEST(ConfigTest, BadListenAddressIsAnError) {
  std::string message = error_of({{"AETHEL_P2P_LISTEN", "0.0.0.0:9000"}});
  EXPECT_TRUE(message.starts_with("AETHEL_P2P_LISTEN='0.0.0.0:9000' is invalid")) << message;
  EXPECT_TRUE(contains(message, "/ip4/0.0.0.0/tcp/9000")) << message;
}

TEST(ConfigTest, ListenAddressWithoutTcpPortIsAnError) {
  std::string message = error_of({{"AETHEL_P2P_LISTEN", "/ip4/0.0.0.0"}});
  EXPECT_TRUE(contains(message, "AETHEL_P2P_LISTEN='/ip4/0.0.0.0' is invalid")) << message;
}

TEST(ConfigTest, ValidatorsArePeerIds) {
  auto config = load_env({{"AETHEL_VALIDATORS", std::string(kPeer1) + "," + kPeer2}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().validators, (std::vector<std::string>{kPeer1, kPeer2}));
}

TEST(ConfigTest, PlaceholderValidatorIsAnError) {
  std::string value = std::string(kPeer1) + ",QmNode2PeerID";
  std::string message = error_of({{"AETHEL_VALIDATORS", value}});
  EXPECT_TRUE(message.starts_with("AETHEL_VALIDATORS='" + value + "' is invalid")) << message;
  EXPECT_TRUE(contains(message, "'QmNode2PeerID' is a placeholder")) << message;
}

TEST(ConfigTest, GarbledValidatorIsNotAValidPeerId) {
  // Base58 characters only, so not a placeholder, but not a multihash either.
  std::string message = error_of({{"AETHEL_VALIDATORS", "12D3KooWabc"}});
  EXPECT_TRUE(message.starts_with("AETHEL_VALIDATORS='12D3KooWabc' is invalid")) << message;
  EXPECT_TRUE(contains(message, "not a valid peer ID")) << message;
}

TEST(ConfigTest, DuplicateValidatorIsAnError) {
  std::string message = error_of({{"AETHEL_VALIDATORS", std::string(kPeer1) + "," + kPeer1}});
  EXPECT_TRUE(contains(message, "listed twice")) << message;
}

TEST(ConfigTest, EnvironmentWinsOverTheFileAndFlagsWinOverBoth) {
  ConfigSources sources;
  sources.env_file = {{"AETHEL_API_PORT", "8001"}, {"AETHEL_NODE_NAME", "from-file"}};
  sources.environment = {{"AETHEL_API_PORT", "8002"}};
  sources.flags = {{"AETHEL_API_PORT", "8003"}};
  auto config = load_config(sources);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().api_port, 8003);
  EXPECT_EQ(config.value().node_name, "from-file");
}

TEST(ConfigTest, DefaultsLeaveValidatorsEmptyForTheNodeToDerive) {
  auto config = load_env({});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_TRUE(config.value().validators.empty());
  EXPECT_TRUE(config.value().warnings.empty());
  EXPECT_EQ(config.value().p2p_listen, (std::vector<std::string>{"/ip4/0.0.0.0/tcp/9000"}));
}

// TLS files (SPEC §3): readable files, and a certificate only with its key.
class TlsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("aethel-config-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    for (const char* name : {"cert.pem", "key.pem", "ca.pem"}) {
      std::ofstream(dir_ / name) << "-----BEGIN CERTIFICATE-----\n";
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(TlsConfigTest, CertificateKeyAndCaFilesAreRead) {
  auto config = load_env({{"AETHEL_TLS_CERT_FILE", path("cert.pem")},
                          {"AETHEL_TLS_KEY_FILE", path("key.pem")},
                          {"DIOTEC360_TLS_CA_FILE", path("ca.pem")},
                          {"AETHEL_API_PORT", "8443"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().tls_cert_file, path("cert.pem"));
  EXPECT_EQ(config.value().tls_key_file, path("key.pem"));
  EXPECT_EQ(config.value().tls_ca_file, path("ca.pem"));
  EXPECT_EQ(config.value().public_url, "https://127.0.0.1:8443");  // derived: HTTPS served
}

TEST_F(TlsConfigTest, WithoutTlsSettingsNothingIsSetAndThePublicUrlIsHttp) {
  auto config = load_env({});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_TRUE(config.value().tls_cert_file.empty());
  EXPECT_TRUE(config.value().tls_ca_file.empty());
  EXPECT_TRUE(config.value().public_url.starts_with("http://")) << config.value().public_url;
}

TEST_F(TlsConfigTest, AMissingFileIsNamedWithItsVariable) {
  std::string missing = path("nope.pem");
  std::string message = error_of({{"AETHEL_TLS_CA_FILE", missing}});
  EXPECT_EQ(message,
            "AETHEL_TLS_CA_FILE='" + missing + "' is invalid: expected a readable PEM file");
  message = error_of({{"AETHEL_TLS_CERT_FILE", missing}, {"AETHEL_TLS_KEY_FILE", path("key.pem")}});
  EXPECT_TRUE(message.starts_with("AETHEL_TLS_CERT_FILE='" + missing + "' is invalid")) << message;
}

TEST_F(TlsConfigTest, ACertificateWithoutItsKeyIsAnError) {
  std::string message = error_of({{"AETHEL_TLS_CERT_FILE", path("cert.pem")}});
  EXPECT_EQ(message, "AETHEL_TLS_CERT_FILE='" + path("cert.pem") +
                         "' is invalid: HTTPS needs AETHEL_TLS_KEY_FILE as well");
  message = error_of({{"AETHEL_TLS_KEY_FILE", path("key.pem")}});
  EXPECT_TRUE(contains(message, "HTTPS needs AETHEL_TLS_CERT_FILE as well")) << message;
}

TEST(ConfigTest, LatticeNodesMayBeHttps) {
  auto config = load_env({{"AETHEL_LATTICE_NODES", "https://a.example.com,http://10.0.0.2:8000"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().lattice_nodes.size(), 2u);
  std::string message = error_of({{"AETHEL_LATTICE_NODES", "node2:8000"}});
  EXPECT_TRUE(contains(message, "http:// or https:// URLs")) << message;
}

TEST(ConfigTest, ElectionTimeoutIsMillisecondsWithinBounds) {
  EXPECT_EQ(load_env({}).value().election_timeout_ms, 750u);
  auto config = load_env({{"AETHEL_ELECTION_TIMEOUT_MS", "2000"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().election_timeout_ms, 2000u);
  for (const char* bad : {"100", "60001", "2s"}) {
    std::string message = error_of({{"AETHEL_ELECTION_TIMEOUT_MS", bad}});
    EXPECT_TRUE(contains(message, std::string("AETHEL_ELECTION_TIMEOUT_MS='") + bad + "'"))
        << message;
    EXPECT_TRUE(contains(message, "250") && contains(message, "60000")) << message;
  }
}

}  // namespace
}  // namespace aethel::node
