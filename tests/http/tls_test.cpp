// HTTPS: a real http::Server with certificates from a CA made in the test, and the
// clients verifying them: a good certificate passes; a wrong host name, an expired
// certificate and an unknown CA are refused with a message that says which.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>

#include "test_certs.h"
#include "test_servers.h"

namespace aethel::test {
namespace {

http::ClientOptions trusting(std::string ca_file, uint32_t timeout_ms = 10'000) {
  http::ClientOptions options = http::with_timeout_ms(timeout_ms);
  options.trust.ca_file = std::move(ca_file);
  return options;
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(make_temp_dir("tls"));
    TestCa ca("Aethel Test CA");
    TestCa stranger("Somebody Else's CA");
    write_file(*dir_ / "ca.pem", ca.certificate_pem());
    write_file(*dir_ / "stranger-ca.pem", stranger.certificate_pem());
    write_pair("good", ca.issue("DNS:localhost,IP:127.0.0.1"));
    write_pair("other-host", ca.issue("DNS:other.example"));
    write_pair("expired", ca.issue("DNS:localhost,IP:127.0.0.1", -2 * 86400, -86400));
    write_pair("stranger", stranger.issue("DNS:localhost,IP:127.0.0.1"));
    write_file(*dir_ / "not-pem.txt", "hello\n");
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static void write_pair(const std::string& name, const Pem& pem) {
    write_file(*dir_ / (name + ".crt"), pem.certificate);
    write_file(*dir_ / (name + ".key"), pem.key);
  }
  static std::string file(const std::string& name) { return (*dir_ / name).string(); }
  static http::ServerTls files(const std::string& name) {
    return http::ServerTls{file(name + ".crt"), file(name + ".key")};
  }

  // A server with `certificate`, called as https://host:port with the test CA trusted.
  base::Result<http::Reply> fetch(const std::string& certificate, const std::string& host,
                                  std::string ca_file = file("ca.pem")) {
    auto server = start_server(handler_, files(certificate));
    if (!server) return base::Error{"test", "no server"};
    return http::call(url_of(server->port(), true, host), "POST", "/echo", "secret",
                      trusting(std::move(ca_file)));
  }

  static std::filesystem::path* dir_;
  TestHandler handler_;
};
std::filesystem::path* TlsTest::dir_ = nullptr;

std::string error_text(const base::Result<http::Reply>& reply) {
  return reply.ok() ? "(it succeeded)" : reply.error().code + ": " + reply.error().message;
}

TEST_F(TlsTest, AGoodCertificateIsAcceptedByNameAndByAddress) {
  for (std::string host : {"localhost", "127.0.0.1"}) {
    auto reply = fetch("good", host);
    ASSERT_TRUE(reply.ok()) << host << ": " << error_text(reply);
    EXPECT_EQ(reply.value().status, 200u);
    EXPECT_EQ(reply.value().body, "secret");
  }
}

TEST_F(TlsTest, AWrongHostNameIsRefused) {
  auto reply = fetch("other-host", "localhost");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, "tls_certificate");
  EXPECT_NE(reply.error().message.find("is not valid for 'localhost'"), std::string::npos)
      << error_text(reply);
  auto by_address = fetch("other-host", "127.0.0.1");
  ASSERT_FALSE(by_address.ok());
  EXPECT_NE(by_address.error().message.find("is not valid for '127.0.0.1'"), std::string::npos)
      << error_text(by_address);
}

TEST_F(TlsTest, AnExpiredCertificateIsRefused) {
  auto reply = fetch("expired", "localhost");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, "tls_certificate");
  EXPECT_NE(reply.error().message.find("refusing the certificate of https://localhost:"),
            std::string::npos)
      << error_text(reply);
  EXPECT_NE(reply.error().message.find("it has expired"), std::string::npos) << error_text(reply);
}

TEST_F(TlsTest, AnUnknownCaIsRefusedUnlessGivenAsTheCaFile) {
  auto refused = fetch("stranger", "localhost", "");  // the system store only
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "tls_certificate");
  EXPECT_NE(refused.error().message.find("not issued by a trusted CA"), std::string::npos)
      << error_text(refused);
  EXPECT_NE(refused.error().message.find("AETHEL_TLS_CA_FILE"), std::string::npos);
  auto other_ca = fetch("stranger", "localhost", file("ca.pem"));
  EXPECT_FALSE(other_ca.ok());
  auto accepted = fetch("stranger", "localhost", file("stranger-ca.pem"));
  EXPECT_TRUE(accepted.ok()) << error_text(accepted);
}

TEST_F(TlsTest, PlainAndTlsDoNotMix) {
  auto tls_server = start_server(handler_, files("good"));
  auto plain =
      http::call(url_of(tls_server->port()), "GET", "/echo", {}, http::with_timeout_ms(5'000));
  EXPECT_FALSE(plain.ok()) << "http:// to an HTTPS server";
  auto plain_server = start_server(handler_);
  http::ClientOptions options = trusting(file("ca.pem"), 5'000);
  auto secure = http::call(url_of(plain_server->port(), true), "GET", "/echo", {}, options);
  ASSERT_FALSE(secure.ok()) << "https:// to a plain server";
  EXPECT_EQ(secure.error().code, "tls_error") << error_text(secure);
}

TEST_F(TlsTest, TheBodyLimitAndKeptAliveConnectionsWorkOverTls) {
  auto server = start_server(handler_, files("good"));
  http::ClientOptions options = trusting(file("ca.pem"));
  auto connection = http::Connection::open(url_of(server->port(), true, "localhost"), options);
  ASSERT_TRUE(connection.ok());
  for (int i = 0; i < 5; ++i) {
    auto reply = connection.value()->call("POST", "/echo", std::string(1000, 'a' + i));
    ASSERT_TRUE(reply.ok()) << error_text(reply);
    EXPECT_EQ(reply.value().body, std::string(1000, 'a' + i));
  }
  auto refused = connection.value()->call("POST", "/echo", std::string(100'000, 'z'));
  ASSERT_TRUE(refused.ok()) << error_text(refused);
  EXPECT_EQ(refused.value().status, 413u);
}

TEST_F(TlsTest, TheAsyncClientVerifiesToo) {
  auto server = start_server(handler_, files("good"));
  auto other = start_server(handler_, files("other-host"));
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  http::PoolOptions options;
  options.client.trust.ca_file = file("ca.pem");
  auto client = http::AsyncClient::create(io, options);
  ASSERT_TRUE(client.ok());
  std::promise<base::Result<http::Reply>> good, wrong;
  client.value()->send(url_of(server->port(), true, "localhost"), {"POST", "/echo", "x", {}, 5'000},
                       [&](base::Result<http::Reply> r) { good.set_value(std::move(r)); });
  client.value()->send(url_of(other->port(), true, "localhost"), {"GET", "/echo", "", {}, 5'000},
                       [&](base::Result<http::Reply> r) { wrong.set_value(std::move(r)); });
  auto good_reply = good.get_future().get();
  auto wrong_reply = wrong.get_future().get();
  client.value().reset();
  work.reset();
  runner.join();
  ASSERT_TRUE(good_reply.ok()) << error_text(good_reply);
  EXPECT_EQ(good_reply.value().body, "x");
  ASSERT_FALSE(wrong_reply.ok());
  EXPECT_EQ(wrong_reply.error().code, "tls_certificate") << error_text(wrong_reply);
}

TEST_F(TlsTest, UnusableServerFilesAreNamed) {
  http::ServerOptions options;
  options.port = 0;
  options.tls = http::ServerTls{file("missing.crt"), file("good.key")};
  auto missing = http::Server::start(options, handler_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "bad_tls_certificate");
  EXPECT_NE(missing.error().message.find("missing.crt"), std::string::npos);
  options.tls = http::ServerTls{file("good.crt"), file("not-pem.txt")};
  auto not_a_key = http::Server::start(options, handler_);
  ASSERT_FALSE(not_a_key.ok());
  EXPECT_EQ(not_a_key.error().code, "bad_tls_key");
  base::Status mismatch = http::check_server_tls({file("good.crt"), file("stranger.key")});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, "bad_tls_key");
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos);
  EXPECT_TRUE(http::check_server_tls(files("good")).ok());
}

TEST_F(TlsTest, AnUnusableCaFileIsAnErrorBeforeAnyConnection) {
  base::Status missing = http::check_trust({file("missing.pem")});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "bad_tls_config");
  EXPECT_NE(missing.error().message.find("cannot read"), std::string::npos);
  base::Status empty = http::check_trust({file("not-pem.txt")});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("holds no PEM certificate"), std::string::npos);
  EXPECT_TRUE(http::check_trust({file("ca.pem")}).ok());
  EXPECT_TRUE(http::check_trust({}).ok());
  auto connection = http::Connection::open(url_of(1, true), trusting(file("not-pem.txt")));
  EXPECT_FALSE(connection.ok());
}

}  // namespace
}  // namespace aethel::test
