// Load tool against a running `aethel node`: committed transfers per second through
// POST /api/lattice/transactions (several keep-alive connections posting batches),
// and the latency of GET /api/lattice/state?limit=100 measured under that load.
//
//   node_load --write-genesis FILE --accounts N        write a genesis of N accounts
//   node_load --node URL [--accounts N] [--connections C] [--batch B] [--seconds S]
//             [--mode batch|verify] [--rate R]
//
// --mode verify posts one `intent transfer {...}` per request to /api/verify instead
// of batches. --rate paces the writers to about R requests/s in all (open loop: a
// late request is sent at once, not skipped); without it they send as fast as the
// node answers. Every write's latency (send → committed answer) is reported.
// Transfers move 1 unit between random accounts acct0..acct{N-1} (the default N=0
// uses Alice, Bob and Charlie); every transfer has a unique id.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "http/http.h"

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
  bool verify = false;
  double rate = 0;  // requests/s over all connections; 0: unpaced
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
    else if (flag == "--mode" && (value == "batch" || value == "verify"))
      o.verify = value == "verify";
    else if (flag == "--rate")
      o.rate = std::stod(value);
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
  std::mutex mutex;
  std::vector<double> write_latencies_ms;
};

struct Request {
  std::string target;
  std::string body;
};

Request next_request(const Options& o, std::mt19937_64& random, unsigned worker, uint64_t nonce,
                     uint64_t sequence) {
  size_t n = std::max<size_t>(o.accounts, 3);
  auto pick = [&](size_t& from, size_t& to) {
    from = random() % n;
    to = (from + 1 + random() % (n - 1)) % n;
  };
  size_t from = 0, to = 0;
  if (o.verify) {
    pick(from, to);
    std::string code =
        fmt::format(R"(intent transfer {{ from: {}, to: {}, amount: 1, id: \"v{}-{}-{}\" }})",
                    account_name(o, from), account_name(o, to), worker, nonce, sequence);
    return {"/api/verify", fmt::format(R"({{"code":"{}"}})", code)};
  }
  std::string body = R"({"transactions":[)";
  for (size_t i = 0; i < o.batch; ++i) {
    pick(from, to);
    body +=
        fmt::format(R"({}{{"id":"w{}-{}-{}-{}","from":"{}","to":"{}","amount":1}})", i ? "," : "",
                    worker, nonce, sequence, i, account_name(o, from), account_name(o, to));
  }
  body += "]}";
  return {"/api/lattice/transactions", body};
}

// Counts what one answer committed.
void count_answer(const Options& o, const std::string& body, Totals& totals) {
  json::value parsed = json::parse(body);
  if (!o.verify) {
    totals.committed += json::value_to<uint64_t>(parsed.at("committed"));
    totals.failed += json::value_to<uint64_t>(parsed.at("failed"));
    return;
  }
  bool proved = parsed.at("status").as_string() == "PROVED";
  ++(proved ? totals.committed : totals.failed);
}

// https:// nodes with a private CA: AETHEL_TLS_CA_FILE, as for the CLI.
aethel::http::ClientOptions client_options() {
  aethel::http::ClientOptions options;
  if (const char* ca_file = std::getenv("AETHEL_TLS_CA_FILE")) options.trust.ca_file = ca_file;
  return options;
}

void post_writes(const Options& o, const aethel::http::Url& endpoint, unsigned worker,
                 Clock::time_point end, Totals& totals) {
  auto connection = aethel::http::Connection::open(endpoint, client_options());
  if (!connection.ok()) {
    ++totals.errors;
    return;
  }
  std::mt19937_64 random(worker);
  uint64_t nonce = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  auto interval = o.rate > 0 ? std::chrono::duration<double>(o.connections / o.rate)
                             : std::chrono::duration<double>(0);
  auto next_send = Clock::now();
  std::vector<double> latencies_ms;
  for (uint64_t sequence = 0; Clock::now() < end; ++sequence) {
    if (o.rate > 0) {
      std::this_thread::sleep_until(next_send);  // pacing of an open-loop load
      next_send += std::chrono::duration_cast<Clock::duration>(interval);
    }
    Request request = next_request(o, random, worker, nonce, sequence);
    auto sent = Clock::now();
    auto reply = connection.value()->call("POST", request.target, request.body);
    if (!reply.ok()) {  // the connection is gone
      ++totals.errors;
      break;
    }
    if (reply.value().status != 200) {  // e.g. 503 during an election: keep going
      ++totals.errors;
      continue;
    }
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
    count_answer(o, reply.value().body, totals);
  }
  std::lock_guard lock(totals.mutex);
  totals.write_latencies_ms.insert(totals.write_latencies_ms.end(), latencies_ms.begin(),
                                   latencies_ms.end());
}

std::vector<double> sample_state_latency(const aethel::http::Url& endpoint, Clock::time_point end) {
  std::vector<double> latencies_ms;
  auto connection = aethel::http::Connection::open(endpoint, client_options());
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
               "[--seconds S] [--mode batch|verify] [--rate R]\n       node_load --write-genesis "
               "FILE --accounts N\n");
    return 2;
  }
  if (!options->genesis_path.empty()) return write_genesis(*options);
  auto endpoint = aethel::http::parse_url(options->node_url);
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
    writers.emplace_back(post_writes, std::cref(*options), endpoint.value(), w, end,
                         std::ref(totals));
  }
  std::vector<double> latencies = sample_state_latency(endpoint.value(), end);
  for (std::thread& t : writers) t.join();
  double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  fmt::print("mode={} connections={} batch={} accounts={} rate={} seconds={:.1f}\n",
             options->verify ? "verify" : "batch", options->connections,
             options->verify ? 1 : options->batch, options->accounts, options->rate, elapsed_s);
  fmt::print("committed={} failed={} errors={} committed_per_s={:.0f}\n", totals.committed.load(),
             totals.failed.load(), totals.errors.load(), totals.committed.load() / elapsed_s);
  fmt::print("state?limit=100 samples={} p50_ms={:.2f} p99_ms={:.2f} max_ms={:.2f}\n",
             latencies.size(), percentile(latencies, 0.50), percentile(latencies, 0.99),
             percentile(latencies, 1.0));
  const std::vector<double>& writes = totals.write_latencies_ms;
  fmt::print("write latency samples={} p50_ms={:.2f} p99_ms={:.2f} max_ms={:.2f}\n", writes.size(),
             percentile(writes, 0.50), percentile(writes, 0.99), percentile(writes, 1.0));
  return totals.errors.load() == 0 ? 0 : 1;
}
