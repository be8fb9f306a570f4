// The node's HTTP surface with the real `aethel node` binary: AETHEL_MAX_BODY_BYTES
// for every framing, HTTPS (served, and used by `aethel check/submit` and the
// network fan-out), refusals of unusable TLS files, and waiting writes that never
// hold what /health and the node-to-node route need.
#include <stdio.h>
#include <sys/wait.h>

#include <atomic>
#include <future>
#include <set>

#include "../http/raw_socket.h"
#include "../http/test_certs.h"
#include "node_process.h"
#include "p2p/p2p.h"

namespace aethel::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint64_t kMiB = 1 << 20;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// Runs a shell command (built by the test from temp paths: no quoting needed).
CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(("timeout 60 " + command).c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, milliseconds timeout) {
  for (auto end = Clock::now() + timeout; Clock::now() < end;) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(50));  // poll interval
  }
  return condition();
}

// A transfer request padded with JSON white space to `bytes` in total.
std::string padded_transfer(const std::string& id, size_t bytes) {
  std::string head =
      R"({"transactions": [{"id": ")" + id + R"(", "from": "Alice", "to": "Bob", "amount": 1}])";
  return head + std::string(bytes - head.size() - 1, ' ') + "}";
}

// One request on a raw socket; the whole answer.
std::string raw_exchange(uint16_t port, const std::string& request) {
  int fd = connect_loopback(port);
  EXPECT_GE(fd, 0);
  EXPECT_TRUE(send_all(fd, request));
  std::string answer = read_to_end(fd);
  close(fd);
  return answer;
}

class HttpSurfaceTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = make_temp_dir("surface"); }
  void TearDown() override {
    node_.reset();
    std::filesystem::remove_all(root_);
  }
  std::filesystem::path root_;
  std::unique_ptr<NodeProcess> node_;
};

// ---------------------------------------------------------------------------
// AETHEL_MAX_BODY_BYTES (default 4 MiB) for Content-Length and chunked bodies
// ---------------------------------------------------------------------------

TEST_F(HttpSurfaceTest, BodiesUpToTheLimitAreAcceptedInEveryFraming) {
  node_ = std::make_unique<NodeProcess>(root_);
  node_->start();
  auto sized = node_->call("POST", "/api/lattice/transactions", padded_transfer("cl-3m", 3 * kMiB));
  EXPECT_EQ(sized.status, 200u) << json::serialize(sized.body);
  EXPECT_EQ(u64(sized.body.at("committed")), 1u);
  std::string chunked = raw_exchange(
      node_->port(),
      chunked_request("/api/lattice/transactions", padded_transfer("ch-3m", 3 * kMiB), 64 * 1024));
  EXPECT_TRUE(chunked.starts_with("HTTP/1.1 200")) << chunked.substr(0, 300);
  EXPECT_NE(chunked.find(R"("committed":1)"), std::string::npos) << chunked.substr(0, 300);
  EXPECT_EQ(node_->get("/api/lattice/tx/ch-3m").status, 200u);
}

TEST_F(HttpSurfaceTest, ABodyOverTheLimitIs413NamingTheLimitInEveryFraming) {
  node_ = std::make_unique<NodeProcess>(root_);
  node_->start();
  auto sized = node_->call("POST", "/api/lattice/transactions", padded_transfer("cl-5m", 5 * kMiB));
  EXPECT_EQ(sized.status, 413u);
  EXPECT_EQ(sized.body.at("error").at("code").as_string(), "body_too_large");
  EXPECT_EQ(sized.body.at("error").at("message").as_string(),
            "the request body exceeds the limit of 4194304 bytes");
  std::string chunked = raw_exchange(
      node_->port(),
      chunked_request("/api/lattice/transactions", padded_transfer("ch-5m", 5 * kMiB), 64 * 1024));
  EXPECT_TRUE(chunked.starts_with("HTTP/1.1 413")) << chunked.substr(0, 300);
  EXPECT_NE(chunked.find("exceeds the limit of 4194304 bytes"), std::string::npos);
  EXPECT_EQ(node_->get("/api/lattice/tx/cl-5m").status, 404u) << "a refused body changes nothing";
  EXPECT_EQ(node_->get("/api/lattice/tx/ch-5m").status, 404u);
}

TEST_F(HttpSurfaceTest, TheLimitFollowsAethelMaxBodyBytes) {
  node_ = std::make_unique<NodeProcess>(root_);
  node_->start({"AETHEL_MAX_BODY_BYTES=8388608"});
  auto sized = node_->call("POST", "/api/lattice/transactions", padded_transfer("cl-6m", 6 * kMiB));
  EXPECT_EQ(sized.status, 200u) << json::serialize(sized.body);
}

// ---------------------------------------------------------------------------
// HTTPS
// ---------------------------------------------------------------------------

class HttpsNodeTest : public HttpSurfaceTest {
 protected:
  void SetUp() override {
    HttpSurfaceTest::SetUp();
    TestCa ca("Aethel Test CA");
    Pem pem = ca.issue("DNS:localhost,IP:127.0.0.1");
    write_file(root_ / "ca.pem", ca.certificate_pem());
    write_file(root_ / "node.crt", pem.certificate);
    write_file(root_ / "node.key", pem.key);
  }
  std::string path(const char* name) const { return (root_ / name).string(); }
  std::string https_url() const { return "https://localhost:" + std::to_string(node_->port()); }
  void start_https_node() {
    node_ = std::make_unique<NodeProcess>(root_);
    node_->use_https(path("ca.pem"));
    node_->start({"AETHEL_TLS_CERT_FILE=" + path("node.crt"),
                  "AETHEL_TLS_KEY_FILE=" + path("node.key"),
                  "AETHEL_TLS_CA_FILE=" + path("ca.pem")});
  }
};

TEST_F(HttpsNodeTest, AnHttpsNodeAnswersAethelCheckWithTheTestCa) {
  start_https_node();
  EXPECT_NE(node_->output().find("[API] listening on https://127.0.0.1:"), std::string::npos);
  CommandResult check = run("env AETHEL_TLS_CA_FILE=" + path("ca.pem") +
                            " " AETHEL_BINARY " check " + https_url() + " 2>&1");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  CommandResult untrusted =
      run("env -u AETHEL_TLS_CA_FILE " AETHEL_BINARY " check " + https_url() + " 2>&1");
  EXPECT_EQ(untrusted.exit_code, 1) << untrusted.output;
  EXPECT_NE(untrusted.output.find("not issued by a trusted CA"), std::string::npos)
      << untrusted.output;
}

TEST_F(HttpsNodeTest, SubmitAndTheNetworkFanOutSpeakHttps) {
  start_https_node();
  CommandResult submit =
      run("echo 'intent transfer { from: Alice, to: Bob, amount: 7 }' | env "
          "AETHEL_TLS_CA_FILE=" +
          path("ca.pem") + " " AETHEL_BINARY " submit --node " + https_url() + " - 2>&1");
  EXPECT_EQ(submit.exit_code, 0) << submit.output;
  EXPECT_NE(submit.output.find("PROVED"), std::string::npos) << submit.output;
  // The node probes itself at its public URL, https://127.0.0.1:PORT, trusting its
  // AETHEL_TLS_CA_FILE.
  auto network = node_->get("/api/lattice/network");
  ASSERT_EQ(network.status, 200u);
  const json::array& nodes = network.body.at("nodes").as_array();
  ASSERT_FALSE(nodes.empty());
  EXPECT_TRUE(nodes.at(0).at("url").as_string().starts_with("https://")) << json::serialize(nodes);
  EXPECT_TRUE(nodes.at(0).at("reachable").as_bool()) << json::serialize(nodes);
  EXPECT_EQ(u64(nodes.at(0).at("height")), 1u);
}

TEST_F(HttpsNodeTest, UnusableTlsFilesStopTheNodeWithOneLineNamingTheVariable) {
  write_file(root_ / "garbage.pem", "not a certificate\n");
  std::string base =
      "env -i PATH=/usr/bin:/bin AETHEL_DATA_DIR=" + path("data") +
      " AETHEL_LOG_DIR=" + path("logs") +
      " AETHEL_API_HOST=127.0.0.1 AETHEL_API_PORT=" + std::to_string(free_loopback_port()) +
      " AETHEL_P2P_LISTEN=/ip4/127.0.0.1/tcp/0 ";
  struct Case {
    std::string env;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"AETHEL_TLS_CERT_FILE=" + path("missing.crt") + " AETHEL_TLS_KEY_FILE=" + path("node.key"),
       "AETHEL_TLS_CERT_FILE='" + path("missing.crt") +
           "' is invalid: expected a readable PEM file"},
      {"AETHEL_TLS_CERT_FILE=" + path("garbage.pem") + " AETHEL_TLS_KEY_FILE=" + path("node.key"),
       "AETHEL_TLS_CERT_FILE='" + path("garbage.pem") + "' is invalid: cannot use"},
      {"AETHEL_TLS_CERT_FILE=" + path("node.crt") + " AETHEL_TLS_KEY_FILE=" + path("garbage.pem"),
       "AETHEL_TLS_KEY_FILE='" + path("garbage.pem") + "' is invalid: cannot use"},
      {"AETHEL_TLS_CERT_FILE=" + path("node.crt"), "HTTPS needs AETHEL_TLS_KEY_FILE as well"},
      {"AETHEL_TLS_CA_FILE=" + path("garbage.pem"),
       "AETHEL_TLS_CA_FILE='" + path("garbage.pem") + "' is invalid: "},
  };
  for (const Case& c : cases) {
    CommandResult result = run(base + c.env + " " AETHEL_BINARY " node 2>&1 >/dev/null");
    EXPECT_EQ(result.exit_code, 1) << c.env << "\n" << result.output;
    EXPECT_NE(result.output.find(c.expected), std::string::npos) << result.output;
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  }
}

// Three nodes that know each other only by https:// URLs, P2P disabled: consensus
// runs over the HTTP lung, through TLS with the test CA, and every node ends at the
// same height and root.
// Three nodes that know each other only by https:// URLs, P2P disabled; node i
// serves certs[i] (by default, one from the test CA for localhost).
class HttpsLattice {
 public:
  HttpsLattice(const std::filesystem::path& root, const std::string& ca_file,
               std::vector<Pem> certs)
      : root_(root), ca_file_(ca_file), certs_(std::move(certs)) {
    for (int i = 0; i < 3; ++i) {
      auto dir = root_ / fmt::format("node{}", i + 1);
      std::filesystem::create_directories(dir / "data");
      auto key = p2p::load_or_create_key((dir / "data" / "node.key").string());
      peer_ids_.push_back(p2p::PeerId::from_public_key(key.value().public_key()).to_base58());
      write_file(dir / "node.crt", certs_[i].certificate);
      write_file(dir / "node.pem", certs_[i].key);
      nodes_.push_back(std::make_unique<NodeProcess>(dir));
      nodes_.back()->use_https(ca_file_);
      urls_.push_back(nodes_.back()->url().to_string());
    }
  }
  void start_all() {
    for (int i = 0; i < 3; ++i) {
      std::string others;
      for (int j = 0; j < 3; ++j) others += j == i ? "" : (others.empty() ? "" : ",") + urls_[j];
      auto dir = root_ / fmt::format("node{}", i + 1);
      nodes_[i]->start(
          {"AETHEL_NODE_NAME=node-" + std::to_string(i + 1), "AETHEL_P2P_ENABLED=false",
           "AETHEL_P2P_LISTEN=", "AETHEL_PUBLIC_URL=" + urls_[i], "AETHEL_LATTICE_NODES=" + others,
           "AETHEL_VALIDATORS=" + peer_ids_[0] + "," + peer_ids_[1] + "," + peer_ids_[2],
           "AETHEL_TLS_CERT_FILE=" + (dir / "node.crt").string(),
           "AETHEL_TLS_KEY_FILE=" + (dir / "node.pem").string(), "AETHEL_TLS_CA_FILE=" + ca_file_,
           "AETHEL_HEARTBEAT_INTERVAL=1"});
    }
  }
  NodeProcess& node(int i) { return *nodes_[i]; }
  std::string urls() const { return urls_[0] + " " + urls_[1] + " " + urls_[2]; }

 private:
  std::filesystem::path root_;
  std::string ca_file_;
  std::vector<Pem> certs_;
  std::vector<std::string> peer_ids_, urls_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
};

TEST_F(HttpsNodeTest, AnHttpsOnlyLatticeCommitsReplicatesAndPassesAethelCheck) {
  TestCa ca("Aethel Test CA");
  write_file(root_ / "lattice-ca.pem", ca.certificate_pem());
  std::vector<Pem> certs;
  for (int i = 0; i < 3; ++i) certs.push_back(ca.issue("DNS:localhost,IP:127.0.0.1"));
  HttpsLattice lattice(root_, path("lattice-ca.pem"), certs);
  lattice.start_all();
  auto transfer = json::object{
      {"transactions", json::array{json::object{
                           {"id", "tls-1"}, {"from", "Alice"}, {"to", "Bob"}, {"amount", 3}}}}};
  unsigned status = 0;
  for (auto end = Clock::now() + std::chrono::seconds(20); status != 200 && Clock::now() < end;) {
    status = lattice.node(2).post("/api/lattice/transactions", transfer).status;  // 503: no leader
    if (status != 200) std::this_thread::sleep_for(milliseconds(200));            // retry interval
  }
  ASSERT_EQ(status, 200u) << lattice.node(2).output();
  std::string env = "env AETHEL_TLS_CA_FILE=" + path("lattice-ca.pem") + " ";
  CommandResult check{};
  for (auto end = Clock::now() + std::chrono::seconds(10); Clock::now() < end;) {
    check = run(env + AETHEL_BINARY " check " + lattice.urls() + " 2>&1");
    if (check.exit_code == 0) break;
    std::this_thread::sleep_for(milliseconds(200));  // until every node has the transfer
  }
  EXPECT_EQ(check.exit_code, 0) << check.output;
  CommandResult without_ca = run(AETHEL_BINARY " check " + lattice.urls() + " 2>&1");
  EXPECT_NE(without_ca.exit_code, 0) << "an unknown CA must not pass: " << without_ca.output;
}

// A peer whose certificate comes from an unknown CA, or has expired, is refused, and
// the log says which and why (once, not per message).
TEST_F(HttpsNodeTest, WrongOrExpiredPeerCertificatesAreRefusedWithAClearLogLine) {
  TestCa ca("Aethel Test CA");
  TestCa stranger("Somebody Else");
  write_file(root_ / "lattice-ca.pem", ca.certificate_pem());
  std::vector<Pem> certs{ca.issue("DNS:localhost,IP:127.0.0.1"),
                         ca.issue("DNS:localhost,IP:127.0.0.1", -7200, -3600),  // expired
                         stranger.issue("DNS:localhost,IP:127.0.0.1")};
  HttpsLattice lattice(root_, path("lattice-ca.pem"), certs);
  lattice.start_all();
  auto logged = [&](const std::string& what) {
    return lattice.node(0).output().find(what) != std::string::npos;
  };
  EXPECT_TRUE(eventually([&] { return logged("has expired"); }, milliseconds(15'000)))
      << lattice.node(0).output();
  EXPECT_TRUE(
      eventually([&] { return logged("not issued by a trusted CA"); }, milliseconds(15'000)))
      << lattice.node(0).output();
  std::string out = lattice.node(0).output();
  size_t lines = 0;
  for (size_t at = 0; (at = out.find("tls_certificate", at)) != std::string::npos; ++at) ++lines;
  EXPECT_LE(lines, 4u) << "one line per failing peer, not one per message:\n" << out;
}

// ---------------------------------------------------------------------------
// Waiting never holds what consensus needs
// ---------------------------------------------------------------------------

// Z3 needs a while for this one (nonlinear), so the verifier pool fills up.
constexpr std::string_view kHardDefinition = R"(
intent scale(a: Account, b: Account, k: Int) {
  guard { k > 1; k < 1000; old_a >= 0; old_b >= 0; old_a * k * k <= 1000000000; }
  solve { priority: security; }
  verify { a == old_a * k * k - old_a * (k * k - 1); b == old_b; }
}
)";

struct Latencies {
  std::vector<double> ms;
  std::map<unsigned, size_t> statuses;
  double max() const { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

// 64 connections post /api/verify for `duration`: half transfers (each waits for its
// commit), half definitions (the verifier pool; 429 when full, then they wait the
// Retry-After second as a client should).
class VerifyLoad {
 public:
  VerifyLoad(const http::Url& url, std::chrono::seconds duration) {
    auto end = Clock::now() + duration;
    for (int c = 0; c < 64; ++c) {
      clients_.emplace_back([this, url, end, c] { run(url, end, c); });
    }
  }
  ~VerifyLoad() {
    for (std::thread& t : clients_) t.join();
  }
  std::atomic<size_t> committed{0}, overloaded{0}, other{0}, retry_after_missing{0};

 private:
  void run(const http::Url& url, Clock::time_point end, int c) {
    auto connection = http::Connection::open(url, http::with_timeout_ms(60'000));
    if (!connection.ok()) return;
    for (int n = 0; Clock::now() < end; ++n) {
      std::string code = c % 2 == 0
                             ? fmt::format("intent transfer {{ from: {}, to: {}, amount: 1 }}",
                                           n % 2 ? "Alice" : "Bob", n % 2 ? "Bob" : "Alice")
                             : std::string(kHardDefinition);
      auto reply = connection.value()->call("POST", "/api/verify",
                                            json::serialize(json::object{{"code", code}}));
      if (!reply.ok()) return;
      unsigned status = reply.value().status;
      if (status == 200 && c % 2 == 0) ++committed;
      if (status == 429) {
        ++overloaded;
        if (reply.value().header("Retry-After") != "1") ++retry_after_missing;
        std::this_thread::sleep_for(std::chrono::seconds(1));  // as Retry-After asks
      } else if (status != 200) {
        ++other;
      }
    }
  }
  std::vector<std::thread> clients_;
};

TEST_F(HttpSurfaceTest, UnderSixtyFourVerifyConnectionsHealthAndTheNodeToNodeRouteAnswer) {
  node_ = std::make_unique<NodeProcess>(root_);
  node_->start();
  Latencies health, internal;
  {
    VerifyLoad load(node_->url(), std::chrono::seconds(6));
    auto connection = http::Connection::open(node_->url(), http::with_timeout_ms(10'000));
    ASSERT_TRUE(connection.ok());
    auto measure = [&](std::string_view method, std::string_view target, Latencies& record) {
      auto start = Clock::now();
      auto reply = connection.value()->call(method, target);
      ASSERT_TRUE(reply.ok()) << target << ": " << reply.error().message;
      record.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      ++record.statuses[reply.value().status];
    };
    for (auto end = Clock::now() + std::chrono::seconds(5); Clock::now() < end;) {
      measure("GET", "/health", health);
      measure("POST", "/api/lattice/internal/messages", internal);
      std::this_thread::sleep_for(milliseconds(50));  // sampling interval, not synchronisation
    }
    EXPECT_GT(load.committed.load(), 0u) << "commits went on under the load";
    EXPECT_GT(load.overloaded.load(), 0u) << "the verifier queue never filled";
    EXPECT_EQ(load.retry_after_missing.load(), 0u);
    EXPECT_EQ(load.other.load(), 0u);
    std::cout << fmt::format("load: {} transfers committed, {} answers 429\n",
                             load.committed.load(), load.overloaded.load());
  }
  std::cout << fmt::format("/health: {} samples, max {:.1f} ms; internal: max {:.1f} ms\n",
                           health.ms.size(), health.max(), internal.max());
  EXPECT_EQ(health.statuses[200], health.ms.size());
  // Not a validator's signed request: the route itself refuses it (not a queue).
  EXPECT_EQ(internal.statuses[401], internal.ms.size());
  EXPECT_LT(health.max(), 500.0);
  EXPECT_LT(internal.max(), 500.0);
}

}  // namespace
}  // namespace aethel::test
