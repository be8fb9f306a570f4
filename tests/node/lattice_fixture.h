// A local 3-node lattice for end-to-end tests: three real `aethel node` processes on
// 127.0.0.1 with known HTTP and P2P ports, every node bootstrapping to the other two
// (P2P) and listing their URLs (the HTTP lung); a steady transfer load that records
// every acknowledged id and the longest gap between acknowledgements; and the checks
// that nothing acknowledged was lost and the sum of balances is conserved.
// Shared by lattice_test.cpp and lattice_cut_test.cpp (SPEC §1, §6; issue 6).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "ledger/ledger.h"
#include "node_process.h"
#include "p2p/p2p.h"

namespace aethel::test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Polls `condition` every 50 ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& condition, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(50));  // poll interval
  }
  return condition();
}

inline std::optional<json::object> get_json(const http::Url& endpoint, std::string_view target) {
  auto reply = http::call(endpoint, "GET", target, {}, http::with_timeout_ms(2'000));
  if (!reply.ok()) return std::nullopt;
  json::error_code ec;
  json::value value = json::parse(reply.value().body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return value.as_object();
}

// Durable writes the node has made (the count of its fsync histogram in /metrics);
// -1 when it does not answer.
inline double fsyncs(const NodeProcess& node) {
  auto reply = http::call(node.url(), "GET", "/metrics", {}, http::with_timeout_ms(10'000));
  if (!reply.ok()) return -1;
  const std::string series = "aethel_fsync_duration_seconds_count ";
  size_t at = reply.value().body.find("\n" + series);
  if (at == std::string::npos) return -1;
  return std::stod(reply.value().body.substr(at + 1 + series.size()));
}

struct Head {
  uint64_t height = 0;
  std::string root;
  bool operator==(const Head&) const = default;
};

struct LatticeOptions {
  int heartbeat_interval_s = 1;
  int peerless_timeout_s = 3;  // AETHEL_PEERLESS_TIMEOUT
  int http_poll_interval_s = 1;
  // "NAME=value" for every node at every start (a start's own `extra` wins).
  std::vector<std::string> extra_env;
};

class Lattice {
 public:
  static constexpr int kNodes = 3;

  explicit Lattice(LatticeOptions options = {})
      : options_(options), dir_(make_temp_dir("lattice")) {
    for (int i = 0; i < kNodes; ++i) {
      auto root = dir_ / ("node" + std::to_string(i + 1));
      std::filesystem::create_directories(root / "data");
      auto key = p2p::load_or_create_key((root / "data" / "node.key").string());
      peer_ids_.push_back(p2p::PeerId::from_public_key(key.value().public_key()).to_base58());
      p2p_ports_.push_back(free_loopback_port());
      nodes_.push_back(std::make_unique<NodeProcess>(root));
    }
  }
  ~Lattice() {
    nodes_.clear();
    std::filesystem::remove_all(dir_);
  }

  const LatticeOptions& options() const { return options_; }
  NodeProcess& node(int i) { return *nodes_[i]; }
  const std::string& peer_id(int i) const { return peer_ids_[i]; }
  // The TCP port node i's libp2p host listens on (127.0.0.1).
  uint16_t p2p_port(int i) const { return p2p_ports_[i]; }
  const std::vector<uint16_t>& p2p_ports() const { return p2p_ports_; }
  std::string url(int i) const { return "http://127.0.0.1:" + std::to_string(nodes_[i]->port()); }

  void start(int i, std::vector<std::string> extra = {}) {
    std::string bootstrap, lattice_nodes, validators;
    for (int j = 0; j < kNodes; ++j) {
      validators += (j ? "," : "") + peer_ids_[j];
      if (j == i) continue;
      auto comma = [](const std::string& s) { return s.empty() ? "" : ","; };
      bootstrap += comma(bootstrap) +
                   fmt::format("/ip4/127.0.0.1/tcp/{}/p2p/{}", p2p_ports_[j], peer_ids_[j]);
      lattice_nodes += comma(lattice_nodes) + url(j);
    }
    // Entries in `extra` win over the lattice settings below.
    std::vector<std::string> env = std::move(extra);
    env.insert(env.end(), options_.extra_env.begin(), options_.extra_env.end());
    auto set = [&](std::string entry) {
      std::string name = entry.substr(0, entry.find('=') + 1);
      for (const std::string& e : env) {
        if (e.starts_with(name)) return;
      }
      env.push_back(std::move(entry));
    };
    set("AETHEL_NODE_NAME=node-" + std::to_string(i + 1));
    set(fmt::format("AETHEL_P2P_LISTEN=/ip4/127.0.0.1/tcp/{}", p2p_ports_[i]));
    set("AETHEL_P2P_BOOTSTRAP=" + bootstrap);
    set("AETHEL_VALIDATORS=" + validators);
    set("AETHEL_LATTICE_NODES=" + lattice_nodes);
    set("AETHEL_PUBLIC_URL=" + url(i));
    set(fmt::format("AETHEL_HEARTBEAT_INTERVAL={}", options_.heartbeat_interval_s));
    set(fmt::format("AETHEL_PEERLESS_TIMEOUT={}", options_.peerless_timeout_s));
    set(fmt::format("AETHEL_HTTP_POLL_INTERVAL={}", options_.http_poll_interval_s));
    node(i).start(env);
  }
  void start_all() {
    for (int i = 0; i < kNodes; ++i) start(i);
  }

  std::optional<json::object> p2p_status(int i) {
    return get_json(node(i).url(), "/api/lattice/p2p/status");
  }
  std::optional<Head> head(int i) {
    auto state = get_json(node(i).url(), "/api/lattice/state?limit=0&consistency=stale");
    if (!state) return std::nullopt;
    return Head{u64(state->at("height")), std::string(state->at("merkle_root").as_string())};
  }
  std::string role(int i) {
    auto root = get_json(node(i).url(), "/");
    return root ? std::string(root->at("role").as_string()) : "";
  }
  int leader() {
    for (int i = 0; i < kNodes; ++i) {
      if (role(i) == "leader") return i;
    }
    return -1;
  }

  bool all_in_mode(std::string_view mode, const std::vector<int>& which) {
    for (int i : which) {
      auto status = p2p_status(i);
      if (!status || status->at("sync_mode").as_string() != mode) return false;
    }
    return true;
  }
  bool peers_everywhere(int64_t count) {
    for (int i = 0; i < kNodes; ++i) {
      auto status = p2p_status(i);
      if (!status || status->at("peer_count").to_number<int64_t>() != count) return false;
    }
    return true;
  }
  // Same height and root on the given nodes.
  bool converged(const std::vector<int>& which) {
    std::optional<Head> first;
    for (int i : which) {
      auto h = head(i);
      if (!h) return false;
      if (!first) first = h;
      if (*h != *first) return false;
    }
    return true;
  }

 private:
  LatticeOptions options_;
  std::filesystem::path dir_;
  std::vector<std::string> peer_ids_;
  std::vector<uint16_t> p2p_ports_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
};

inline json::value transfer_batch(const std::string& id, int64_t amount,
                                  std::string_view from = "Alice", std::string_view to = "Bob") {
  return json::object{
      {"transactions",
       json::array{json::object{{"id", id}, {"from", from}, {"to", to}, {"amount", amount}}}}};
}

// Keeps submitting one-transfer batches, each with a client id ("load-<n>"), to the
// given nodes (round robin) and records every acknowledged id and the longest time
// between acknowledgements. Transfers of 1 go Alice → Bob and Bob → Alice in turn, so
// the load can run for as long as a test needs (one way, Alice's 1000 run out).
class Load {
 public:
  Load(Lattice& lattice, std::vector<int> targets)
      : lattice_(lattice), targets_(std::move(targets)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Load() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> acknowledged() {
    std::lock_guard lock(mutex_);
    return acknowledged_;
  }
  size_t acknowledged_count() {
    std::lock_guard lock(mutex_);
    return acknowledged_.size();
  }
  milliseconds longest_gap() {
    std::lock_guard lock(mutex_);
    return longest_gap_;
  }
  // When the acknowledgement that ended the longest gap arrived.
  Clock::time_point longest_gap_end() {
    std::lock_guard lock(mutex_);
    return longest_gap_end_;
  }
  void set_targets(std::vector<int> targets) {
    std::lock_guard lock(mutex_);
    targets_ = std::move(targets);
  }

 private:
  void run() {
    // Gaps count from the first acknowledgement: until then the lattice may still be
    // electing its first leader, which is not a gap between commits.
    std::optional<Clock::time_point> last;
    for (uint64_t n = 0; !stopping_; ++n) {
      std::vector<int> targets;
      {
        std::lock_guard lock(mutex_);
        targets = targets_;
      }
      int target = targets[n % targets.size()];
      std::string id = "load-" + std::to_string(n);
      auto reply = http::call(lattice_.node(target).url(), "POST", "/api/lattice/transactions",
                              json::serialize(n % 2 == 0 ? transfer_batch(id, 1, "Alice", "Bob")
                                                         : transfer_batch(id, 1, "Bob", "Alice")),
                              http::with_timeout_ms(5'000));
      if (!reply.ok() || reply.value().status != 200) continue;
      auto body = json::parse(reply.value().body).as_object();
      if (body["committed"].to_number<int64_t>() != 1) continue;
      auto now = Clock::now();
      std::lock_guard lock(mutex_);
      auto gap = std::chrono::duration_cast<milliseconds>(now - last.value_or(now));
      if (gap > longest_gap_) {
        longest_gap_ = gap;
        longest_gap_end_ = now;
      }
      last = now;
      acknowledged_.push_back(id);
    }
  }

  Lattice& lattice_;
  std::vector<int> targets_;
  std::atomic<bool> stopping_ = false;
  std::mutex mutex_;
  std::vector<std::string> acknowledged_;
  milliseconds longest_gap_{0};
  Clock::time_point longest_gap_end_{};
  std::thread thread_;
};

// What `aethel ARGS` did: its exit code, and its stdout and stderr together.
struct CliRun {
  int exit_code = -1;
  std::string output;
};

inline CliRun aethel(const std::string& arguments) {
  CliRun run;
  FILE* pipe = ::popen((std::string(AETHEL_BINARY) + " " + arguments + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) run.output.append(buffer, n);
  int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// Runs `[ENV] aethel ARGS`; its output when it fails, "" when it exits 0.
inline std::string run_aethel(const std::string& args, const std::string& env = "") {
  FILE* pipe = popen((env + " " AETHEL_BINARY " " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string output;
  char chunk[256];
  while (fgets(chunk, sizeof chunk, pipe)) output += chunk;
  return pclose(pipe) == 0 ? "" : output.empty() ? "failed without output" : output;
}

inline void expect_all_present(Lattice& lattice, int node, const std::vector<std::string>& ids) {
  auto connection = http::Connection::open(lattice.node(node).url());
  ASSERT_TRUE(connection.ok());
  for (const std::string& id : ids) {
    auto found = connection.value()->call("GET", "/api/lattice/tx/" + id + "?consistency=stale");
    ASSERT_TRUE(found.ok());
    ASSERT_EQ(found.value().status, 200u)
        << "acknowledged transfer " << id << " is lost on node " << node + 1;
  }
}

inline void expect_conserved(Lattice& lattice, int node) {
  auto state = get_json(lattice.node(node).url(), "/api/lattice/state?consistency=stale");
  ASSERT_TRUE(state);
  int64_t sum = 0;
  for (const auto& [name, account] : state->at("state").as_object()) {
    sum += account.at("balance").to_number<int64_t>();
  }
  EXPECT_EQ(sum, ledger::default_genesis().total_supply()) << "node " << node + 1;
}

// Every acknowledged transfer is on every node, and every node conserves the supply.
inline void expect_every_node_holds(Lattice& lattice, const std::vector<std::string>& ids) {
  for (int i = 0; i < Lattice::kNodes; ++i) {
    expect_all_present(lattice, i, ids);
    expect_conserved(lattice, i);
  }
}

}  // namespace aethel::test

namespace aethel::test {

// Issue 10: a batch of 8192 transfers with 256-byte memos (about 2.5 MB of JSON, and a
// Raft entry above 2 MiB) sent to the leader; returns how long until every node holds
// it (same height and root), or nullopt when it was refused or did not spread.
inline std::optional<milliseconds> replicate_big_batch(Lattice& lattice, milliseconds limit) {
  json::array items;
  std::string memo(256, 'm');
  for (int i = 0; i < 8192; ++i) {
    items.push_back(json::object{{"id", fmt::format("big-{}", i)},
                                 {"from", i % 2 ? "Bob" : "Alice"},
                                 {"to", i % 2 ? "Alice" : "Bob"},
                                 {"amount", 1},
                                 {"memo", memo}});
  }
  int leader = -1;
  if (!eventually([&] { return (leader = lattice.leader()) >= 0; }, milliseconds(20'000))) {
    return std::nullopt;
  }
  std::string body = json::serialize(json::object{{"transactions", std::move(items)}});
  EXPECT_GT(body.size(), 2'500'000u);
  auto started = Clock::now();
  auto reply = http::call(lattice.node(leader).url(), "POST", "/api/lattice/transactions", body,
                          http::with_timeout_ms(30'000));
  if (!reply.ok() || reply.value().status != 200) {
    ADD_FAILURE() << (reply.ok() ? reply.value().body : reply.error().message);
    return std::nullopt;
  }
  uint64_t height = json::parse(reply.value().body).at("height").to_number<uint64_t>();
  bool spread = eventually(
      [&] {
        auto h = lattice.head(0);
        return h && h->height >= height && lattice.converged({0, 1, 2});
      },
      limit);
  if (!spread) return std::nullopt;
  return std::chrono::duration_cast<milliseconds>(Clock::now() - started);
}

}  // namespace aethel::test
