// P2P benchmarks on loopback (127.0.0.1), one io_context, one thread:
//   BM_ConnectionSetup   TCP connect + multistream + Noise XX + Yamux, until the dialer's
//                        connect callback (p50/p99 in the counters)
//   BM_GossipOneHop      publish → delivery at a directly connected subscriber
//   BM_GossipThreeNodeMesh  publish → delivery at both other nodes of a 3-node mesh
//   BM_GossipThroughput  200-byte messages published in bursts, delivered at one peer
// Run: build-p2p/bench/p2p/p2p_bench (see BENCHMARKS.md for the numbers and the command).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>

#include "loopback.h"
#include "p2p/p2p.h"

namespace aethel::p2p {
namespace {

const std::string kTopic = "aethel/lattice/v1";

using bench::Clock;
using bench::quiet_config;
using bench::report_percentiles;
using bench::run_until;

void BM_ConnectionSetup(benchmark::State& state) {
  boost::asio::io_context io;
  Host server(io, quiet_config());
  if (!server.start().ok()) return state.SkipWithError("listen failed");
  const Multiaddr address = server.listen_addrs().front().with_peer_id(server.peer_id());
  std::vector<double> micros;
  for (auto _ : state) {
    state.PauseTiming();
    Host client(io, quiet_config());
    state.ResumeTiming();
    const auto start = Clock::now();
    bool done = false;
    client.connect(address, [&](Result<PeerId> r) { done = r.ok(); });
    if (!run_until(io, [&] { return done; })) return state.SkipWithError("connect failed");
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    state.PauseTiming();
    client.stop();
    run_until(io, [&] { return server.connected_peers().empty(); });
    state.ResumeTiming();
  }
  report_percentiles(state, std::move(micros));
}
BENCHMARK(BM_ConnectionSetup)->Unit(benchmark::kMicrosecond)->Iterations(300);

// Two connected hosts with a formed mesh; `b` receives.
struct GossipPair {
  boost::asio::io_context io;
  Host a{io, quiet_config()};
  Host b{io, quiet_config()};
  std::size_t received = 0;
  bool ready = false;

  GossipPair() {
    ready = a.start().ok() && b.start().ok();
    b.subscribe(kTopic, [this](const PeerId&, const Bytes&) { ++received; });
    a.subscribe(kTopic, [](const PeerId&, const Bytes&) {});
    bool connected = false;
    a.connect(b.listen_addrs().front(), [&](Result<PeerId> r) { connected = r.ok(); });
    ready =
        ready && run_until(io, [&] {
          return connected && a.mesh_peers(kTopic).size() == 1 && b.mesh_peers(kTopic).size() == 1;
        });
  }
};

void BM_GossipOneHop(benchmark::State& state) {
  GossipPair pair;
  if (!pair.ready) return state.SkipWithError("mesh did not form");
  std::vector<double> micros;
  const Bytes payload(200, 0x42);
  for (auto _ : state) {
    const std::size_t before = pair.received;
    const auto start = Clock::now();
    if (!pair.a.publish(kTopic, payload).ok()) return state.SkipWithError("publish failed");
    if (!run_until(pair.io, [&] { return pair.received > before; })) {
      return state.SkipWithError("not delivered");
    }
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  report_percentiles(state, std::move(micros));
}
BENCHMARK(BM_GossipOneHop)->Unit(benchmark::kMicrosecond)->Iterations(2000);

// Three fully connected hosts; a message from the first must reach both others.
void BM_GossipThreeNodeMesh(benchmark::State& state) {
  boost::asio::io_context io;
  std::vector<std::unique_ptr<Host>> hosts;
  std::vector<std::size_t> received(3, 0);
  for (std::size_t i = 0; i < 3; ++i) {
    hosts.push_back(std::make_unique<Host>(io, quiet_config()));
    if (!hosts.back()->start().ok()) return state.SkipWithError("listen failed");
    hosts.back()->subscribe(kTopic, [&received, i](const PeerId&, const Bytes&) { ++received[i]; });
  }
  int connected = 0;
  auto count = [&](Result<PeerId> r) { connected += r.ok() ? 1 : 0; };
  hosts[0]->connect(hosts[1]->listen_addrs().front(), count);
  hosts[0]->connect(hosts[2]->listen_addrs().front(), count);
  hosts[1]->connect(hosts[2]->listen_addrs().front(), count);
  if (!run_until(io, [&] {
        return connected == 3 && hosts[0]->mesh_peers(kTopic).size() == 2 &&
               hosts[1]->mesh_peers(kTopic).size() == 2 && hosts[2]->mesh_peers(kTopic).size() == 2;
      })) {
    return state.SkipWithError("mesh did not form");
  }
  std::vector<double> micros;
  const Bytes payload(200, 0x42);
  for (auto _ : state) {
    const std::size_t b = received[1];
    const std::size_t c = received[2];
    const auto start = Clock::now();
    if (!hosts[0]->publish(kTopic, payload).ok()) return state.SkipWithError("publish failed");
    if (!run_until(io, [&] { return received[1] > b && received[2] > c; })) {
      return state.SkipWithError("not delivered");
    }
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  report_percentiles(state, std::move(micros));
}
BENCHMARK(BM_GossipThreeNodeMesh)->Unit(benchmark::kMicrosecond)->Iterations(2000);

void BM_GossipThroughput(benchmark::State& state) {
  GossipPair pair;
  if (!pair.ready) return state.SkipWithError("mesh did not form");
  const Bytes payload(200, 0x42);
  constexpr std::size_t kBurst = 1000;
  std::size_t total = 0;
  for (auto _ : state) {
    const std::size_t target = pair.received + kBurst;
    for (std::size_t i = 0; i < kBurst; ++i) {
      if (!pair.a.publish(kTopic, payload).ok()) return state.SkipWithError("publish failed");
    }
    if (!run_until(pair.io, [&] { return pair.received >= target; })) {
      return state.SkipWithError("not delivered");
    }
    total += kBurst;
  }
  state.counters["messages_per_s"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_GossipThroughput)->Unit(benchmark::kMillisecond)->Iterations(20);

}  // namespace
}  // namespace aethel::p2p

BENCHMARK_MAIN();
