// Helpers shared by the P2P benchmarks: hosts on 127.0.0.1 in one io_context.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <vector>

#include "p2p/p2p.h"

namespace aethel::p2p::bench {

using Clock = std::chrono::steady_clock;

// Runs handlers one at a time until `done()` holds or `timeout` passes.
template <typename Predicate>
bool run_until(boost::asio::io_context& io, Predicate done,
               std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = Clock::now() + timeout;
  while (!done() && Clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(5));
    io.restart();
  }
  return done();
}

inline HostConfig quiet_config() {
  HostConfig config;
  config.listen_addrs.push_back(Multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
  config.log = [](std::string_view) {};
  return config;
}

inline void report_percentiles(benchmark::State& state, std::vector<double> micros) {
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p99_us"] = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
}

}  // namespace aethel::p2p::bench
