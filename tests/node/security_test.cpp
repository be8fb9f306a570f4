// Issue 13 with the real `aethel node` binary: malformed path parameters and
// duplicate JSON keys are 400s naming what was wrong; the data and log directories
// are 0700 and the key and token files 0600 at umask 000; admin routes need the
// bearer token from every caller (loopback included), carry no CORS header, and
// `aethel admin` reads <data>/admin.token; public writes are rate-limited per client
// address (429 rate_limited, answered after its Retry-After), counted in
// aethel_http_refusals_total;
// signed node-to-node requests are refused when replayed, re-encoded or meant for
// another node, and two identical ones in one millisecond both pass (their nonces).
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <sstream>

#include "../http/raw_socket.h"
#include "api/api.h"
#include "base/base.h"
#include "lattice/lattice.h"
#include "node_process.h"
#include "p2p/crypto.h"
#include "p2p/p2p.h"

namespace aethel::test {
namespace {

using std::chrono::milliseconds;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// Runs a shell command built by the test from temp paths (no quoting needed).
CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(("timeout 60 " + command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string error_code(const NodeProcess::Reply& reply) {
  if (!reply.body.is_object() || !reply.body.as_object().contains("error")) return "";
  return json::value_to<std::string>(reply.body.at("error").at("code"));
}

std::string error_message(const NodeProcess::Reply& reply) {
  if (!reply.body.is_object() || !reply.body.as_object().contains("error")) return "";
  return json::value_to<std::string>(reply.body.at("error").at("message"));
}

unsigned mode_of(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0;
  return info.st_mode & 0777;
}

int64_t balance(const NodeProcess& node, const std::string& name) {
  auto reply = node.get("/api/lattice/accounts/" + name);
  return reply.status == 200 ? json::value_to<int64_t>(reply.body.at("balance")) : -1;
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = make_temp_dir("security"); }
  void TearDown() override {
    node_.reset();
    std::filesystem::remove_all(root_);
  }
  void start(std::vector<std::string> env = {}) {
    node_ = std::make_unique<NodeProcess>(root_);
    node_->start(std::move(env));
  }
  // One raw exchange: the answer with its headers.
  http::Reply exchange(std::string_view method, std::string_view target,
                       const http::Headers& headers = {}, std::string_view body = {}) {
    auto reply =
        http::call(node_->url(), method, target, body, http::with_timeout_ms(10'000), headers);
    EXPECT_TRUE(reply.ok()) << (reply.ok() ? "" : reply.error().message);
    return reply.ok() ? reply.value() : http::Reply{};
  }
  std::string metrics() { return exchange("GET", "/metrics").body; }

  std::filesystem::path root_;
  std::unique_ptr<NodeProcess> node_;
};

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

TEST_F(SecurityTest, MalformedPathParametersAre400NamingWhatWasWrong) {
  start();
  auto proof = node_->get("/api/lattice/proof/%FF");
  EXPECT_EQ(proof.status, 400u);
  EXPECT_EQ(error_code(proof), "bad_account_name");
  EXPECT_NE(error_message(proof).find("'%FF'"), std::string::npos) << error_message(proof);
  auto account = node_->get("/api/lattice/accounts/%FF");
  EXPECT_EQ(account.status, 400u);
  EXPECT_EQ(error_code(account), "bad_account_name");
  for (std::string route : {"accounts", "proof", "tx"}) {
    auto escape = node_->get("/api/lattice/" + route + "/%ZZ");
    EXPECT_EQ(escape.status, 400u) << route;
    EXPECT_EQ(error_code(escape), "bad_target") << route;
    EXPECT_NE(error_message(escape).find("%25ZZ"), std::string::npos) << error_message(escape);
  }
  auto too_long = node_->get("/api/lattice/proof/" + std::string(65, 'a'));
  EXPECT_EQ(too_long.status, 400u);
  EXPECT_EQ(error_code(too_long), "bad_account_name");
  // Good names still answer as before.
  EXPECT_EQ(node_->get("/api/lattice/proof/Alice").status, 200u);
  EXPECT_EQ(node_->get("/api/lattice/accounts/Nobody").status, 404u);
  EXPECT_NE(metrics().find(R"(aethel_http_refusals_total{reason="bad_target"} 3)"),
            std::string::npos);
}

TEST_F(SecurityTest, DuplicateJsonKeysAre400NamingTheKeyAndChangeNothing) {
  start();
  int64_t bob = balance(*node_, "Bob");
  std::string code = R"("intent transfer { from: Alice, to: Bob, amount: 100 }")";
  auto verify = node_->call("POST", "/api/verify",
                            R"({"code": )" + code + R"(, "dry_run": true, "dry_run": false})");
  EXPECT_EQ(verify.status, 400u);
  EXPECT_EQ(error_code(verify), "duplicate_key");
  EXPECT_NE(error_message(verify).find("\"dry_run\""), std::string::npos) << error_message(verify);
  // The same key spelled with an escape is the same key.
  auto escaped =
      node_->call("POST", "/api/verify",
                  R"({"code": )" + code + R"(, "dry_run": true, "dry\u005frun": false})");
  EXPECT_EQ(escaped.status, 400u);
  EXPECT_EQ(error_code(escaped), "duplicate_key");
  auto nested = node_->call(
      "POST", "/api/lattice/transactions",
      R"({"transactions": [{"id": "d1", "from": "Alice", "to": "Bob", "to": "Eve", "amount": 5}]})");
  EXPECT_EQ(nested.status, 400u);
  EXPECT_NE(error_message(nested).find("\"to\""), std::string::npos) << error_message(nested);
  EXPECT_EQ(balance(*node_, "Bob"), bob);
  // The same keys in two different objects are fine.
  auto two =
      node_->call("POST", "/api/lattice/transactions",
                  R"({"transactions": [{"id": "d2", "from": "Alice", "to": "Bob", )"
                  R"("amount": 1}, {"id": "d3", "from": "Alice", "to": "Bob", "amount": 1}]})");
  EXPECT_EQ(two.status, 200u) << json::serialize(two.body);
  EXPECT_EQ(balance(*node_, "Bob"), bob + 2);
}

TEST_F(SecurityTest, AtUmask000TheDirectoriesAre0700AndTheKeyTokenAndLogFiles0600) {
  mode_t previous = ::umask(0);  // inherited by the node's process
  start();
  ::umask(previous);
  EXPECT_EQ(mode_of(root_ / "data"), 0700u);
  EXPECT_EQ(mode_of(root_ / "logs"), 0700u);
  EXPECT_EQ(mode_of(root_ / "data" / "node.key"), 0600u);
  EXPECT_EQ(mode_of(root_ / "data" / "admin.token"), 0600u);
  EXPECT_EQ(mode_of(root_ / "logs" / "test-node.log"), 0600u);
  EXPECT_EQ(node_->admin_token().size(), 64u);
  EXPECT_NE(node_->output().find("admin token in " + (root_ / "data" / "admin.token").string()),
            std::string::npos)
      << node_->output();
}

// ---------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------

TEST_F(SecurityTest, AdminRoutesNeedTheTokenFromLoopbackTooAndCarryNoCors) {
  start();
  std::string token = node_->admin_token();
  ASSERT_EQ(token.size(), 64u);
  for (std::string route :
       {"/api/lattice/p2p/stop", "/api/lattice/p2p/start", "/api/lattice/sync/switch?mode=http"}) {
    auto bare = exchange("POST", route);
    EXPECT_EQ(bare.status, 401u) << route;
    EXPECT_NE(bare.body.find("unauthorized"), std::string::npos) << bare.body;
    EXPECT_EQ(bare.header("Access-Control-Allow-Origin"), "") << route;
    auto wrong = exchange("POST", route, {{"Authorization", "Bearer " + std::string(64, '0')}});
    EXPECT_EQ(wrong.status, 401u) << route;
    EXPECT_NE(wrong.body.find("not this node's"), std::string::npos) << wrong.body;
  }
  auto stopped = exchange("POST", "/api/lattice/p2p/stop", {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(stopped.status, 200u) << stopped.body;
  EXPECT_EQ(stopped.header("Access-Control-Allow-Origin"), "");
  auto started = exchange("POST", "/api/lattice/p2p/start", {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(started.status, 200u) << started.body;
  // Read routes and the dashboard's write routes keep CORS.
  EXPECT_EQ(exchange("GET", "/api/lattice/state?limit=0").header("Access-Control-Allow-Origin"),
            "*");
  EXPECT_NE(metrics().find(R"(aethel_http_refusals_total{reason="unauthorized"} 6)"),
            std::string::npos)
      << metrics();
}

TEST_F(SecurityTest, AethelAdminReadsTheTokenFileAndTheTokenSurvivesARestart) {
  start();
  std::string token = node_->admin_token();
  std::string url = "http://127.0.0.1:" + std::to_string(node_->port());
  std::string env = "env -i PATH=/usr/bin:/bin AETHEL_DATA_DIR=" + (root_ / "data").string() + " ";
  auto switched = run(env + AETHEL_BINARY " admin switch http --node " + url);
  EXPECT_EQ(switched.exit_code, 0) << switched.output;
  EXPECT_NE(switched.output.find("\"sync_mode\":\"HTTP\""), std::string::npos) << switched.output;
  auto bad_mode = run(env + AETHEL_BINARY " admin switch sideways --node " + url);
  EXPECT_EQ(bad_mode.exit_code, 1) << bad_mode.output;
  std::ofstream(root_ / "wrong.token") << std::string(64, 'f') << "\n";
  auto wrong = run(env + AETHEL_BINARY " admin p2p-stop --node " + url + " --token-file " +
                   (root_ / "wrong.token").string());
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("refused the token from " + (root_ / "wrong.token").string()),
            std::string::npos)
      << wrong.output;
  auto missing = run("env -i PATH=/usr/bin:/bin AETHEL_DATA_DIR=" + (root_ / "nowhere").string() +
                     " " AETHEL_BINARY " admin p2p-stop --node " + url);
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("nowhere/admin.token"), std::string::npos) << missing.output;
  EXPECT_EQ(run(AETHEL_BINARY " admin").exit_code, 2);
  // A restart keeps the token (the file is reused), so scripts keep working.
  EXPECT_EQ(node_->stop(), 0);
  node_->start();
  EXPECT_EQ(node_->admin_token(), token);
  auto stop = run(env + AETHEL_BINARY " admin p2p-stop --node " + url);
  EXPECT_EQ(stop.exit_code, 0) << stop.output;
}

TEST_F(SecurityTest, WithAethelAdminTokenSetThatTokenIsTheOnlyOneAndNoFileIsWritten) {
  start({"AETHEL_ADMIN_TOKEN=configured-secret"});
  EXPECT_FALSE(std::filesystem::exists(root_ / "data" / "admin.token"));
  auto with =
      exchange("POST", "/api/lattice/p2p/stop", {{"Authorization", "Bearer configured-secret"}});
  EXPECT_EQ(with.status, 200u) << with.body;
  auto other = exchange("POST", "/api/lattice/p2p/stop", {{"Authorization", "Bearer other"}});
  EXPECT_EQ(other.status, 401u);
}

// ---------------------------------------------------------------------------
// Admission control
// ---------------------------------------------------------------------------

TEST_F(SecurityTest, WritesBeyondTheRatePerAddressAre429AfterTheirRetryAfterAndReadsStillAnswer) {
  start({"AETHEL_RATE_LIMIT_WRITES_PER_S=5"});
  std::string body = R"({"transactions": [{"from": "Alice", "to": "Bob", "amount": 1}]})";
  int admitted = 0;
  http::Reply refused;
  std::chrono::steady_clock::duration refused_after{};
  while (admitted <= 10) {
    const auto sent = std::chrono::steady_clock::now();
    auto reply = exchange("POST", "/api/lattice/transactions", {}, body);
    if (reply.status != 200) {
      refused = reply;
      refused_after = std::chrono::steady_clock::now() - sent;
      break;
    }
    ++admitted;
  }
  // A bucket of 5, plus what refills while they commit.
  EXPECT_GE(admitted, 5);
  EXPECT_LE(admitted, 7);
  ASSERT_EQ(refused.status, 429u) << refused.body;
  EXPECT_NE(refused.body.find("\"rate_limited\""), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("AETHEL_RATE_LIMIT_WRITES_PER_S"), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("127.0.0.1"), std::string::npos) << refused.body;
  EXPECT_EQ(refused.header("Retry-After"), "1");
  // The refusal comes once the second it names has passed: a client that ignores it
  // is slowed down all the same.
  EXPECT_GE(refused_after, milliseconds(1'000));
  EXPECT_EQ(exchange("GET", "/api/lattice/state?limit=0").status, 200u);
  EXPECT_EQ(exchange("GET", "/health").status, 200u);
  EXPECT_NE(metrics().find("aethel_http_refusals_total{reason=\"rate_limited\"} 1"),
            std::string::npos)
      << metrics();
  // That second refilled the bucket: writes are admitted again.
  EXPECT_EQ(exchange("POST", "/api/lattice/transactions", {}, body).status, 200u);
}

// Reads from `fd` until `needle` has arrived; false when the peer closed first.
bool read_until(int fd, std::string_view needle) {
  std::string data;
  char buffer[4096];
  while (data.find(needle) == std::string::npos) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    data.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

// `count` POSTs at once, each on its own connection from source address `from`: the
// answers, in the order sent ("" for a connection that failed).
std::vector<std::string> post_all_from(const std::string& from, uint16_t port,
                                       const std::string& target, const std::string& body,
                                       int count) {
  std::vector<int> fds;
  for (int i = 0; i < count; ++i) {
    int fd = connect_loopback(port, from);
    if (fd >= 0) {
      send_all(fd, fmt::format("POST {} HTTP/1.1\r\nHost: test\r\nContent-Type: "
                               "application/json\r\nContent-Length: {}\r\n\r\n{}",
                               target, body.size(), body));
    }
    fds.push_back(fd);
  }
  std::vector<std::string> answers;
  for (int fd : fds) {
    answers.push_back(fd < 0 ? "" : read_message(fd));
    if (fd >= 0) close(fd);
  }
  return answers;
}

int count_starting(const std::vector<std::string>& answers, std::string_view start) {
  return static_cast<int>(std::count_if(
      answers.begin(), answers.end(), [&](const std::string& a) { return a.starts_with(start); }));
}

TEST_F(SecurityTest, TheRateLimitIsPerClientAddressAFloodFromOneLeavesAnotherUntouched) {
  start({"AETHEL_RATE_LIMIT_WRITES_PER_S=20"});
  std::string body = R"({"transactions": [{"from": "Alice", "to": "Bob", "amount": 1}]})";
  auto flood = post_all_from("127.0.0.2", node_->port(), "/api/lattice/transactions", body, 60);
  const int flood_limited = count_starting(flood, "HTTP/1.1 429");
  EXPECT_GE(flood_limited, 30) << "the flood from 127.0.0.2 was hardly limited";
  EXPECT_EQ(flood_limited + count_starting(flood, "HTTP/1.1 200"), 60);
  for (const std::string& answer : flood) {
    if (answer.starts_with("HTTP/1.1 429")) {
      EXPECT_NE(answer.find("from 127.0.0.2"), std::string::npos) << answer;
    }
  }
  // 127.0.0.1 has a bucket of its own, full: none of its writes is refused.
  auto other = post_all_from("127.0.0.1", node_->port(), "/api/lattice/transactions", body, 15);
  EXPECT_EQ(count_starting(other, "HTTP/1.1 200"), 15) << other.front();
}

// Behind a reverse proxy every request comes from the proxy's address; with the
// proxy trusted, each client named by X-Forwarded-For gets its own bucket, and a
// client cannot pick its bucket by writing the header itself (only the entry the
// proxy appended counts).
TEST_F(SecurityTest, BehindATrustedProxyTheRateLimitIsPerForwardedClient) {
  start({"AETHEL_RATE_LIMIT_WRITES_PER_S=3", "AETHEL_TRUSTED_PROXIES=::1, 127.0.0.1"});
  std::string body = R"({"transactions": [{"from": "Alice", "to": "Bob", "amount": 1}]})";
  auto write_from = [&](const std::string& forwarded) {
    return exchange("POST", "/api/lattice/transactions", {{"X-Forwarded-For", forwarded}}, body);
  };
  // The client claims 198.51.100.9; the proxy appended the address it saw.
  http::Reply reply;
  for (int i = 0; i < 6 && reply.status != 429; ++i)
    reply = write_from("198.51.100.9, 203.0.113.7");
  ASSERT_EQ(reply.status, 429u) << "203.0.113.7 was never limited";
  EXPECT_NE(reply.body.find("from 203.0.113.7"), std::string::npos) << reply.body;
  EXPECT_EQ(write_from("198.51.100.9").status, 200u) << "another client has its own bucket";
}

TEST_F(SecurityTest, WithoutTrustedProxiesXForwardedForIsIgnored) {
  start({"AETHEL_RATE_LIMIT_WRITES_PER_S=3"});
  std::string body = R"({"transactions": [{"from": "Alice", "to": "Bob", "amount": 1}]})";
  http::Reply reply;
  for (int i = 0; i < 6 && reply.status != 429; ++i) {
    reply = exchange("POST", "/api/lattice/transactions",
                     {{"X-Forwarded-For", "192.0.2." + std::to_string(i)}}, body);
  }
  ASSERT_EQ(reply.status, 429u) << "a header the client wrote chose its bucket";
  EXPECT_NE(reply.body.find("from 127.0.0.1"), std::string::npos) << reply.body;
}

TEST_F(SecurityTest, ABadTrustedProxiesSettingStopsTheNodeNamingTheVariable) {
  auto result =
      run("env -i PATH=/usr/bin:/bin AETHEL_DATA_DIR=" + (root_ / "data").string() +
          " AETHEL_API_PORT=1 AETHEL_TRUSTED_PROXIES=proxy.example " AETHEL_BINARY " node");
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("AETHEL_TRUSTED_PROXIES='proxy.example' is invalid"),
            std::string::npos)
      << result.output;
}

// SPEC §9's per-request solver budget: four definitions that each cost the solver
// its whole 3 s timer are answered in about the budget, the later ones REJECTED.
TEST_F(SecurityTest, ARequestsDefinitionsShareOneSolverBudget) {
  start({"AETHEL_SOLVER_BUDGET_MS=1500"});
  std::string code;
  for (int i = 1; i <= 4; ++i) {
    code += fmt::format(R"(intent h{}(a: Account, b: Account, x: Int, y: Int, z: Int) {{
  guard {{ x > 1; y > 1; z > 1; x * x * x + y * y * y == z * z * z; }}
  solve {{ priority: security; }}
  verify {{ a == old_a - x; b == old_b + x; a >= 0; }}
}}
)",
                        i);
  }
  const auto started = std::chrono::steady_clock::now();
  auto reply = exchange("POST", "/api/verify", {}, json::serialize(json::object{{"code", code}}));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_LT(elapsed, milliseconds(4'000)) << "four 3 s timers would take 12 s";
  EXPECT_NE(reply.body.find("\"status\":\"REJECTED\""), std::string::npos) << reply.body;
  EXPECT_NE(reply.body.find("the request's solver budget of 1500 ms was spent"), std::string::npos)
      << reply.body;
}

// The solver runs below the node's priority: a flood of hard definitions takes only
// the CPU that consensus, storage and the io threads leave (bench/node/flood.sh).
TEST_F(SecurityTest, OnlyTheVerifierThreadsRunAtNiceTen) {
  start();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const int verifiers = static_cast<int>(std::max(1u, cores - 1));
  int at_ten = 0, at_zero = 0;
  for (const std::filesystem::path& task : thread_dirs(node_->pid())) {
    std::string nice = stat_field(task / "stat", 19);
    at_ten += nice == "10";
    at_zero += nice == "0";
  }
  EXPECT_EQ(at_ten, verifiers);
  EXPECT_GE(at_zero, 4) << "consensus, io and pool threads keep the node's priority";
}

// Batch scheduling (docs/ARCHITECTURE.md): a woken thread does not preempt the one
// that handed it work. Threads inherit the policy, so one started before it was set
// would show here.
TEST_F(SecurityTest, EveryThreadRunsUnderBatchScheduling) {
  start();
  constexpr auto kBatchPolicy = "3";  // SCHED_BATCH, field 41 of /proc/.../stat
  int threads = 0;
  for (const std::filesystem::path& task : thread_dirs(node_->pid())) {
    ++threads;
    EXPECT_EQ(stat_field(task / "stat", 41), kBatchPolicy)
        << "thread " << task.filename() << " does not run under SCHED_BATCH";
  }
  EXPECT_GE(threads, 6);
}

TEST_F(SecurityTest, TheHttpServerRunsOneIoThreadPerTwoCores) {
  start();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  int io_threads = 0;
  for (const std::filesystem::path& task : thread_dirs(node_->pid())) {
    std::ifstream comm(task / "comm");
    std::string name;
    std::getline(comm, name);
    io_threads += name == "http";
  }
  EXPECT_EQ(io_threads, static_cast<int>(std::max(1u, cores / 2)));
}

TEST_F(SecurityTest, ABadRateLimitSettingStopsTheNodeNamingTheVariable) {
  auto result =
      run("env -i PATH=/usr/bin:/bin AETHEL_DATA_DIR=" + (root_ / "data").string() +
          " AETHEL_API_PORT=1 AETHEL_RATE_LIMIT_WRITES_PER_S=fast " AETHEL_BINARY " node");
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("AETHEL_RATE_LIMIT_WRITES_PER_S"), std::string::npos)
      << result.output;
}

TEST_F(SecurityTest, OutOfFileDescriptorsTheAcceptLoopBacksOffAndHealthAnswersOnceTheyAreFree) {
  rlimit previous{};
  getrlimit(RLIMIT_NOFILE, &previous);
  rlimit low{256, previous.rlim_max};  // inherited by the node's process only
  setrlimit(RLIMIT_NOFILE, &low);
  start({"AETHEL_MAX_CONNECTIONS=0"});  // no connection limit: the descriptors run out
  setrlimit(RLIMIT_NOFILE, &previous);
  std::vector<int> sockets;
  for (int i = 0; i < 400; ++i) {
    int fd = connect_loopback(node_->port());  // the kernel completes them from the backlog
    if (fd >= 0) sockets.push_back(fd);
  }
  std::this_thread::sleep_for(milliseconds(500));  // the node accepts until EMFILE
  auto during = http::call(node_->url(), "GET", "/health", {}, http::with_timeout_ms(1'000));
  ASSERT_FALSE(during.ok()) << "the node is not out of descriptors: the test proves nothing";
  double before_s = cpu_seconds(node_->pid());
  std::this_thread::sleep_for(milliseconds(2'000));
  double used_s = cpu_seconds(node_->pid()) - before_s;
  std::printf("node CPU while out of descriptors: %.3f s in 2 s (%zu connections open)\n", used_s,
              sockets.size());
  EXPECT_LT(used_s, 0.5) << "the accept loop spins at EMFILE";
  for (int fd : sockets) close(fd);
  auto start_wait = std::chrono::steady_clock::now();
  bool healthy = false;
  while (!healthy && std::chrono::steady_clock::now() - start_wait < std::chrono::seconds(10)) {
    auto reply = http::call(node_->url(), "GET", "/health", {}, http::with_timeout_ms(1'000));
    healthy = reply.ok() && reply.value().status == 200;
  }
  EXPECT_TRUE(healthy) << "/health did not answer within 10 s of the connections closing";
}

// ---------------------------------------------------------------------------
// Signed node-to-node requests
// ---------------------------------------------------------------------------

p2p::ByteView bytes_of(std::string_view text) {
  return p2p::ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

// A request to POST /api/lattice/internal/messages signed by `key`, as another
// validator sends it (docs/API.md, "Signed requests").
http::Headers signed_request(const p2p::KeyPair& key, const std::string& to,
                             const std::string& timestamp_ms, const std::string& nonce,
                             std::string_view body) {
  lattice::SignedHeaders h;
  h.peer_id = p2p::PeerId::from_public_key(key.public_key()).to_base58();
  h.to = to;
  h.timestamp_ms = timestamp_ms;
  h.nonce = nonce;
  auto digest = p2p::sha256(bytes_of(body));
  h.body_sha256 = base::to_hex(std::span<const uint8_t>(digest));
  auto signature =
      key.sign(bytes_of(lattice::signing_text("POST", "/api/lattice/internal/messages", h)));
  return {{"X-Aethel-Peer", h.peer_id},
          {"X-Aethel-To", h.to},
          {"X-Aethel-Timestamp", h.timestamp_ms},
          {"X-Aethel-Nonce", h.nonce},
          {"X-Aethel-Body-Sha256", h.body_sha256},
          {"X-Aethel-Signature", base::to_hex(std::span<const uint8_t>(signature))}};
}

// The node is one of two validators; the test holds the other one's key.
struct TwoValidators {
  std::string self;  // the node's peer ID
  p2p::KeyPair other = p2p::KeyPair::generate();
  std::string other_id = p2p::PeerId::from_public_key(other.public_key()).to_base58();
};

class SignedRequestTest : public SecurityTest {
 protected:
  void start_as_one_of_two(std::vector<std::string> env = {}) {
    auto node_key = p2p::load_or_create_key((root_ / "node.key").string());
    ASSERT_TRUE(node_key.ok());
    v_.self = p2p::PeerId::from_public_key(node_key->public_key()).to_base58();
    env.push_back("AETHEL_NODE_KEY=" + (root_ / "node.key").string());
    env.push_back("AETHEL_VALIDATORS=" + v_.self + "," + v_.other_id);
    start(std::move(env));
  }
  TwoValidators v_;
};

TEST_F(SignedRequestTest, RefusedReplayedReEncodedOrForAnotherNodeButNeverTwinned) {
  start_as_one_of_two();
  const p2p::KeyPair& other = v_.other;
  const std::string& self = v_.self;
  const std::string& other_id = v_.other_id;
  const std::string path = "/api/lattice/internal/messages";
  const std::string body("\x01\x00\x00\x00\x01x", 6);  // one whole envelope: "x"
  const std::string now = std::to_string(lattice::unix_time_ms());

  // Two identical requests in one millisecond differ by their nonces: both pass.
  auto first = signed_request(other, self, now, "0123456789abcdef", body);
  auto twin = signed_request(other, self, now, "fedcba9876543210", body);
  EXPECT_EQ(exchange("POST", path, first, body).status, 200u);
  EXPECT_EQ(exchange("POST", path, twin, body).status, 200u);

  auto refused = [&](const http::Headers& headers, std::string_view why) {
    auto reply = exchange("POST", path, headers, body);
    EXPECT_EQ(reply.status, 401u) << why;
    EXPECT_NE(reply.body.find(why), std::string::npos) << reply.body;
  };
  refused(first, "replayed request");
  http::Headers upper = first;
  for (auto& [name, value] : upper) {
    if (name == "X-Aethel-Signature") {
      std::transform(value.begin(), value.end(), value.begin(), ::toupper);
    }
  }
  refused(upper, "replayed request");  // compared as bytes, not as text
  refused(signed_request(other, other_id, now, "0123456789abcdef", body), "not for this node");
  http::Headers no_nonce = signed_request(other, self, now, "1111111111111111", body);
  std::erase_if(no_nonce, [](const auto& h) { return h.first == "X-Aethel-Nonce"; });
  refused(no_nonce, "X-Aethel-Nonce");
  refused(signed_request(other, self, now, "short", body), "bad signature");
  // The nonce is signed: changing it breaks the signature.
  http::Headers swapped = signed_request(other, self, now, "2222222222222222", body);
  for (auto& [name, value] : swapped) {
    if (name == "X-Aethel-Nonce") value = "3333333333333333";
  }
  refused(swapped, "bad signature");
}

// The node's aethel_http_connections, asked over `watch`: a kept-alive connection,
// counted too. -1 when the answer has no such line.
int open_connections(int watch) {
  if (!send_all(watch, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")) return -1;
  std::string answer = read_message(watch);
  const std::string name = "\naethel_http_connections ";
  size_t at = answer.find(name);
  return at == std::string::npos ? -1 : std::stoi(answer.substr(at + name.size()));
}

// Waits until the node holds `expected` connections: a connection closed by its
// client counts until the node has read the close, so without this the next
// connection could find a slot still taken.
void wait_for_open_connections(int watch, int expected) {
  int open = -1;
  for (int i = 0; i < 500 && open != expected; ++i) {
    open = open_connections(watch);
    if (open != expected) std::this_thread::sleep_for(milliseconds(10));  // poll interval
  }
  ASSERT_EQ(open, expected) << "aethel_http_connections";
}

// `count` connections from `from`, each served one kept-alive /health.
std::vector<int> held_connections(uint16_t port, const std::string& from, int count) {
  std::vector<int> held;
  for (int i = 0; i < count; ++i) {
    held.push_back(connect_loopback(port, from));
    EXPECT_TRUE(send_all(held.back(), "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"));
    EXPECT_TRUE(read_until(held.back(), R"("healthy"})")) << from << ", connection " << i + 1;
  }
  return held;
}

// The answer to one /health on a new connection from `from`, read to its close.
std::string health_on_new_connection(uint16_t port, const std::string& from) {
  int fd = connect_loopback(port, from);
  EXPECT_TRUE(send_all(fd, "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  std::string answer = read_to_end(fd);
  close(fd);
  return answer;
}

// One address cannot take every slot: past AETHEL_MAX_CONNECTIONS_PER_ADDRESS its next
// connection is answered 503 and closed, while other addresses, this host and trusted
// proxies (whose clients share their address) are still served.
TEST_F(SecurityTest, PastTheLimitPerAddressThatAddressIsRefusedAndOthersAreServed) {
  start({"AETHEL_MAX_CONNECTIONS_PER_ADDRESS=5", "AETHEL_TRUSTED_PROXIES=127.0.0.4"});
  std::vector<int> stranger = held_connections(node_->port(), "127.0.0.2", 5);
  std::string refused = health_on_new_connection(node_->port(), "127.0.0.2");
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503")) << refused;
  EXPECT_NE(refused.find("too_many_connections"), std::string::npos) << refused;
  EXPECT_NE(refused.find("AETHEL_MAX_CONNECTIONS_PER_ADDRESS"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  std::vector<int> others = held_connections(node_->port(), "127.0.0.3", 5);
  std::vector<int> proxy = held_connections(node_->port(), "127.0.0.4", 8);
  std::vector<int> host = held_connections(node_->port(), "127.0.0.1", 8);
  // Once one of its connections closes (and the node has read the close), the
  // address may open another.
  close(stranger.back());
  stranger.pop_back();
  std::string again;
  for (int i = 0; i < 100 && !again.starts_with("HTTP/1.1 200"); ++i) {
    again = health_on_new_connection(node_->port(), "127.0.0.2");
    if (!again.starts_with("HTTP/1.1 200")) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(again.starts_with("HTTP/1.1 200")) << again;
  for (const auto* fds : {&stranger, &others, &proxy, &host}) {
    for (int fd : *fds) close(fd);
  }
}

// Past AETHEL_MAX_CONNECTIONS, 64 more connections are kept for other validators:
// a public request on one is 503 (and closed), a signed node-to-node request is
// served; past those, a connection is answered 503 at once, without a request.
TEST_F(SignedRequestTest, PastTheConnectionLimitOnlyValidatorsAreServedThenNobody) {
  start_as_one_of_two({"AETHEL_MAX_CONNECTIONS=20"});
  int watch = connect_loopback(node_->port());  // the first of the 20
  ASSERT_NO_FATAL_FAILURE(
      wait_for_open_connections(watch, 1));  // the fixture's own connections are gone
  // Each held connection is served one keep-alive request: an ordinary slot.
  std::vector<int> held{watch};
  while (held.size() < 20) {
    held.push_back(connect_loopback(node_->port()));
    ASSERT_TRUE(send_all(held.back(), "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(read_until(held.back(), R"("healthy"})")) << "held connection " << held.size();
  }
  for (int i = 0; i < 3; ++i) {
    int extra = connect_loopback(node_->port());
    ASSERT_TRUE(send_all(extra, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::string answer = read_to_end(extra);  // the node closes it after its answer
    close(extra);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 503")) << answer;
    EXPECT_NE(answer.find("kept for other validators"), std::string::npos) << answer;
    EXPECT_NE(answer.find("Retry-After: 1"), std::string::npos) << answer;
  }
  ASSERT_NO_FATAL_FAILURE(wait_for_open_connections(watch, 20));
  // The HTTP lung still gets through.
  const std::string body("\x01\x00\x00\x00\x01x", 6);
  std::string lung_request =
      "POST /api/lattice/internal/messages HTTP/1.1\r\nHost: t\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : signed_request(
           v_.other, v_.self, std::to_string(lattice::unix_time_ms()), "0123456789abcdef", body)) {
    lung_request += name + ": " + value + "\r\n";
  }
  std::vector<int> reserve{connect_loopback(node_->port())};
  ASSERT_TRUE(send_all(reserve.back(), lung_request + "\r\n" + body));
  ASSERT_TRUE(read_until(reserve.back(), "HTTP/1.1 200 ")) << "the signed request was refused";
  // Fill the rest of the reserve with idle connections: the next is refused at accept.
  while (reserve.size() < api::kValidatorConnections) {
    reserve.push_back(connect_loopback(node_->port()));
  }
  ASSERT_NO_FATAL_FAILURE(
      wait_for_open_connections(watch, static_cast<int>(20 + api::kValidatorConnections)));
  for (int i = 0; i < 2; ++i) {
    int extra = connect_loopback(node_->port());
    std::string answer = read_to_end(extra);
    close(extra);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 503")) << answer;
    EXPECT_NE(answer.find("AETHEL_MAX_CONNECTIONS"), std::string::npos) << answer;
  }
  // A held connection is still served.
  ASSERT_TRUE(send_all(held[1], "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(read_to_end(held[1]).starts_with("HTTP/1.1 200")) << "a held connection was dropped";
  for (int fd : held) close(fd);
  for (int fd : reserve) close(fd);
  bool healthy = false;
  for (int i = 0; i < 100 && !healthy; ++i) {
    auto reply = http::call(node_->url(), "GET", "/health", {}, http::with_timeout_ms(1'000));
    healthy = reply.ok() && reply.value().status == 200;
    if (!healthy) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(healthy) << "/health did not answer once the connections closed";
  EXPECT_NE(metrics().find(R"(aethel_http_refusals_total{reason="too_many_connections"} 5)"),
            std::string::npos)
      << metrics();
}

}  // namespace
}  // namespace aethel::test
