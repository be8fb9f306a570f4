// Load tool against a running `aethel node`: committed transfers per second through
// POST /api/lattice/transactions (several keep-alive connections posting batches),
// and the latency of GET /api/lattice/state?limit=100 measured under that load.
//
//   node_load --write-genesis FILE --accounts N        write a genesis of N accounts
//   node_load --node URL [--accounts N] [--connections C] [--batch B] [--seconds S]
//
// Transfers move 1 unit between random accounts acct0..acct{N-1} (the default N=0
// uses Alice, Bob and Charlie); every transfer has a unique id.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "api/api.h"

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string node_url;
  std::string genesis_path;
  size_t accounts = 0;
  unsigned connections = 4;
  size_t batch = 2000;
  double seconds = 10;
};

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--node")
      o.node_url = value;
    else if (flag == "--write-genesis")
      o.genesis_path = value;
    else if (flag == "--accounts")
      o.accounts = std::stoul(value);
    else if (flag == "--connections")
      o.connections = static_cast<unsigned>(std::stoul(value));
    else if (flag == "--batch")
      o.batch = std::stoul(value);
    else if (flag == "--seconds")
      o.seconds = std::stod(value);
    else
      return std::nullopt;
  }
  if (o.node_url.empty() == o.genesis_path.empty()) return std::nullopt;
  return o;
}

std::string account_name(const Options& o, size_t i) {
  static const std::array<std::string, 3> kDefault = {"Alice", "Bob", "Charlie"};
  return o.accounts == 0 ? kDefault[i % 3] : fmt::format("acct{}", i);
}

int write_genesis(const Options& o) {
  json::object accounts;
  for (size_t i = 0; i < o.accounts; ++i) accounts[account_name(o, i)] = 1'000'000;
  std::ofstream(o.genesis_path) << json::serialize(json::object{{"accounts", accounts}});
  fmt::print("wrote {} accounts to {}\n", o.accounts, o.genesis_path);
  return 0;
}

struct Totals {
  std::atomic<uint64_t> committed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> errors{0};
};

void post_batches(const Options& o, const aethel::api::Endpoint& endpoint, unsigned worker,
                  Clock::time_point end, Totals& totals) {
  auto connection = aethel::api::HttpConnection::open(endpoint);
  if (!connection.ok()) {
    ++totals.errors;
    return;
  }
  std::mt19937_64 random(worker);
  size_t n = std::max<size_t>(o.accounts, 3);
  uint64_t nonce = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  for (uint64_t batch = 0; Clock::now() < end; ++batch) {
    std::string body = R"({"transactions":[)";
    for (size_t i = 0; i < o.batch; ++i) {
      size_t from = random() % n, to = (from + 1 + random() % (n - 1)) % n;
      body +=
          fmt::format(R"({}{{"id":"w{}-{}-{}-{}","from":"{}","to":"{}","amount":1}})", i ? "," : "",
                      worker, nonce, batch, i, account_name(o, from), account_name(o, to));
    }
    body += "]}";
    auto reply = connection.value()->call("POST", "/api/lattice/transactions", body);
    if (!reply.ok() || reply.value().status != 200) {
      ++totals.errors;
      return;
    }
    json::value parsed = json::parse(reply.value().body);
    uint64_t committed = json::value_to<uint64_t>(parsed.at("committed"));
    totals.committed += committed;
    totals.failed += json::value_to<uint64_t>(parsed.at("failed"));
  }
}

std::vector<double> sample_state_latency(const aethel::api::Endpoint& endpoint,
                                         Clock::time_point end) {
  std::vector<double> latencies_ms;
  auto connection = aethel::api::HttpConnection::open(endpoint);
  if (!connection.ok()) return latencies_ms;
  while (Clock::now() < end) {
    auto start = Clock::now();
    auto reply = connection.value()->call("GET", "/api/lattice/state?limit=100");
    if (!reply.ok() || reply.value().status != 200) break;
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a steady reader, not a flood
  }
  return latencies_ms;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse(argc, argv);
  if (!options) {
    fmt::print(stderr,
               "usage: node_load --node URL [--accounts N] [--connections C] [--batch B] "
               "[--seconds S]\n       node_load --write-genesis FILE --accounts N\n");
    return 2;
  }
  if (!options->genesis_path.empty()) return write_genesis(*options);
  auto endpoint = aethel::api::parse_base_url(options->node_url);
  if (!endpoint.ok()) {
    fmt::print(stderr, "{}\n", endpoint.error().message);
    return 2;
  }
  Totals totals;
  auto start = Clock::now();
  auto end = start + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(options->seconds));
  std::vector<std::thread> writers;
  for (unsigned w = 0; w < options->connections; ++w) {
    writers.emplace_back(post_batches, std::cref(*options), endpoint.value(), w, end,
                         std::ref(totals));
  }
  std::vector<double> latencies = sample_state_latency(endpoint.value(), end);
  for (std::thread& t : writers) t.join();
  double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  fmt::print("connections={} batch={} accounts={} seconds={:.1f}\n", options->connections,
             options->batch, options->accounts, elapsed_s);
  fmt::print("committed={} failed={} errors={} committed_per_s={:.0f}\n", totals.committed.load(),
             totals.failed.load(), totals.errors.load(), totals.committed.load() / elapsed_s);
  fmt::print("state?limit=100 samples={} p50_ms={:.2f} p99_ms={:.2f} max_ms={:.2f}\n",
             latencies.size(), percentile(latencies, 0.50), percentile(latencies, 0.99),
             percentile(latencies, 1.0));
  return totals.errors.load() == 0 ? 0 : 1;
}
