// A jepsen-style bank test over three real `aethel node` processes (issues 12 and 17).
//
// Writers move small amounts between the genesis accounts through random nodes, each
// transfer with a client id, retried with the same id on another node while its outcome
// is unknown. Readers read the whole state from random nodes (linearizable, the
// default). A nemesis kills -9, pauses (SIGSTOP) and repairs (`aethel rebuild`) one
// node at a time, the leader as often as any, for AETHEL_BANK_SECONDS (default 60).
//
// Checked:
// - every read: the supply is conserved, and its height is at least the highest height
//   acknowledged to a writer, and the highest height another read returned, before the
//   read was sent (no read misses a write or a read that completed before it started:
//   real-time order, the part of linearizability a per-height check can see);
// - at the end, with every node back: one root on every node, every acknowledged
//   transfer on every node, the supply conserved.
#include <gtest/gtest.h>

#include <random>

#include "lattice_fixture.h"

namespace aethel::test {
namespace {

const std::vector<std::string> kAccounts = {"Alice", "Bob", "Charlie"};

int bank_seconds() {
  const char* text = std::getenv("AETHEL_BANK_SECONDS");
  return text ? std::max(5, std::atoi(text)) : 60;
}

// What clients were told, shared by writers, readers and the final check.
class History {
 public:
  void acknowledged(const std::string& id, uint64_t height) {
    std::lock_guard lock(mutex_);
    acknowledged_.push_back(id);
    highest_acknowledged_ = std::max(highest_acknowledged_, height);
  }
  // The heights a read must reach: the highest acknowledged and the highest read.
  std::pair<uint64_t, uint64_t> floor() {
    std::lock_guard lock(mutex_);
    return {highest_acknowledged_, highest_read_};
  }
  void read(uint64_t height, std::pair<uint64_t, uint64_t> floor, int node) {
    std::lock_guard lock(mutex_);
    ++reads_;
    highest_read_ = std::max(highest_read_, height);
    if (height < floor.first || height < floor.second) {
      violations_.push_back(
          fmt::format("node {} read height {}; before the read, height {} was "
                      "acknowledged and height {} was read",
                      node + 1, height, floor.first, floor.second));
    }
  }
  void refused_read() {
    std::lock_guard lock(mutex_);
    ++refused_reads_;
  }
  void unbalanced(const std::string& what) {
    std::lock_guard lock(mutex_);
    violations_.push_back(what);
  }
  std::vector<std::string> ids() {
    std::lock_guard lock(mutex_);
    return acknowledged_;
  }
  std::vector<std::string> violations() {
    std::lock_guard lock(mutex_);
    return violations_;
  }
  std::string summary() {
    std::lock_guard lock(mutex_);
    return fmt::format("{} transfers acknowledged (up to height {}), {} reads checked, {} refused",
                       acknowledged_.size(), highest_acknowledged_, reads_, refused_reads_);
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> acknowledged_;
  uint64_t highest_acknowledged_ = 0;
  uint64_t highest_read_ = 0;
  uint64_t reads_ = 0;
  uint64_t refused_reads_ = 0;
  std::vector<std::string> violations_;
};

std::optional<json::object> call_json(Lattice& lattice, int node, std::string_view method,
                                      std::string_view target, std::string_view body) {
  auto reply =
      http::call(lattice.node(node).url(), method, target, body, http::with_timeout_ms(8'000));
  if (!reply.ok()) return std::nullopt;
  json::error_code ec;
  json::value value = json::parse(reply.value().body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  json::object object = value.as_object();
  object["http_status"] = reply.value().status;
  return object;
}

// One transfer, retried with its id on the next node until a node gives its outcome.
void transfer(Lattice& lattice, History& history, std::mt19937& prng, const std::string& id,
              const std::atomic<bool>& stopping) {
  size_t from = prng() % 3, to = (from + 1 + prng() % 2) % 3;
  std::string body =
      json::serialize(transfer_batch(id, 1 + prng() % 5, kAccounts[from], kAccounts[to]));
  for (int node = prng() % Lattice::kNodes; !stopping; node = (node + 1) % Lattice::kNodes) {
    auto reply = call_json(lattice, node, "POST", "/api/lattice/transactions", body);
    if (!reply || reply->at("http_status") != 200) continue;  // unknown: retry the same id
    const auto& outcome = reply->at("results").as_array().at(0).as_object();
    history.acknowledged(id, u64(outcome.at("height")));
    return;
  }
}

void read_state(Lattice& lattice, History& history, int node) {
  auto floor = history.floor();
  auto state = call_json(lattice, node, "GET", "/api/lattice/state", "");
  if (!state || state->at("http_status") != 200) return history.refused_read();
  int64_t sum = 0;
  for (const auto& [name, account] : state->at("state").as_object()) {
    sum += account.at("balance").to_number<int64_t>();
  }
  if (sum != ledger::default_genesis().total_supply()) {
    history.unbalanced(fmt::format("node {} read a supply of {}", node + 1, sum));
  }
  history.read(u64(state->at("height")), floor, node);
}

std::string rebuild(Lattice& lattice, int node) {
  std::string data_dir = (lattice.node(node).root() / "data").string();
  std::string command = "AETHEL_DATA_DIR=" + data_dir + " " AETHEL_BINARY " rebuild 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string output;
  char chunk[256];
  while (fgets(chunk, sizeof chunk, pipe)) output += chunk;
  return pclose(pipe) == 0 ? "" : output;
}

// One fault on one node, then the node back; the others run meanwhile.
void nemesis_step(Lattice& lattice, std::mt19937& prng, std::vector<std::string>& log) {
  int leader = lattice.leader();
  int victim = prng() % 2 == 0 && leader >= 0 ? leader : static_cast<int>(prng() % 3);
  auto down_for = milliseconds(500 + prng() % 2'000);
  switch (prng() % 3) {
    case 0:
      log.push_back(fmt::format("kill -9 node {}", victim + 1));
      lattice.node(victim).kill_hard();
      std::this_thread::sleep_for(down_for);  // the fault's duration
      lattice.start(victim);
      break;
    case 1:
      log.push_back(fmt::format("SIGSTOP node {}", victim + 1));
      lattice.node(victim).pause();
      std::this_thread::sleep_for(down_for);  // the fault's duration
      lattice.node(victim).resume();
      break;
    default:
      log.push_back(fmt::format("kill -9, aethel rebuild, restart node {}", victim + 1));
      lattice.node(victim).kill_hard();
      if (std::string failed = rebuild(lattice, victim); !failed.empty()) {
        ADD_FAILURE() << "aethel rebuild: " << failed;
      }
      lattice.start(victim);
  }
  // A repaired node catches up before the next fault: one node down at a time.
  eventually([&] { return lattice.converged({0, 1, 2}); }, milliseconds(20'000));
}

TEST(BankTest, UnderKillsPausesAndRepairsNothingAcknowledgedIsLostAndEveryReadIsCurrent) {
  Lattice lattice;
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(20'000)));
  History history;
  std::atomic<bool> stopping = false;
  std::vector<std::thread> clients;
  for (int w = 0; w < 3; ++w) {
    clients.emplace_back([&, w] {
      std::mt19937 prng(1000 + w);
      for (int n = 0; !stopping; ++n) {
        transfer(lattice, history, prng, fmt::format("bank-{}-{}", w, n), stopping);
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    clients.emplace_back([&, r] {
      std::mt19937 prng(2000 + r);
      while (!stopping) read_state(lattice, history, prng() % Lattice::kNodes);
    });
  }
  std::mt19937 prng(42);
  std::vector<std::string> faults;
  auto end = Clock::now() + std::chrono::seconds(bank_seconds());
  while (Clock::now() < end) nemesis_step(lattice, prng, faults);
  stopping = true;
  for (std::thread& t : clients) t.join();

  std::printf("bank: %zu faults, %s\n", faults.size(), history.summary().c_str());
  for (const std::string& fault : faults) std::printf("  %s\n", fault.c_str());
  EXPECT_TRUE(history.violations().empty()) << history.violations().front();
  EXPECT_GT(history.ids().size(), 100u) << "the lattice made too little progress to judge";
  ASSERT_TRUE(eventually([&] { return lattice.converged({0, 1, 2}); }, milliseconds(30'000)));
  expect_every_node_holds(lattice, history.ids());
}

}  // namespace
}  // namespace aethel::test
