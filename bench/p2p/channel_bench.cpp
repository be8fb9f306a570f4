// Channel benchmarks on loopback (127.0.0.1), two Hosts in one io_context on one thread,
// so the numbers include both ends' CPU (Noise encryption and decryption, Yamux, framing):
//   BM_ChannelThroughput/<frame bytes>  frames sent back to back, honouring send()'s
//                                       back-pressure, until all are delivered
//   BM_ChannelRoundTrip                 one 64-byte frame out, echoed back on the same
//                                       channel (p50/p99 in the counters)
//   BM_RequestRoundTrip                 the same echo as a request/response (a new
//                                       stream and a multistream negotiation per message)
// Run: build/bench/p2p/p2p_channel_bench (docs/P2P.md has the numbers and the command).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>

#include "loopback.h"
#include "p2p/p2p.h"

namespace aethel::p2p {
namespace {

const std::string kProtocol = "/aethel/bench/1.0.0";

using bench::Clock;
using bench::quiet_config;
using bench::report_percentiles;
using bench::run_until;

// Two connected hosts with a channel from `a` to `b`; `b` echoes frames when asked to.
struct ChannelPair {
  boost::asio::io_context io;
  Host a{io, quiet_config()};
  Host b{io, quiet_config()};
  Channel to_b;
  Channel at_b;  // b's end of the same channel
  std::size_t received_at_b = 0;
  std::size_t received_at_a = 0;
  bool echo = false;
  bool ready = false;

  ChannelPair() {
    ready = a.start().ok() && b.start().ok();
    b.set_channel_handler(kProtocol, [this](const Channel& channel) {
      at_b = channel;
      return std::optional<ChannelEvents>(ChannelEvents{[this](Bytes frame) {
                                                          ++received_at_b;
                                                          if (echo) at_b.send(std::move(frame));
                                                        },
                                                        {},
                                                        {}});
    });
    bool connected = false;
    a.connect(b.listen_addrs().front(), [&](Result<PeerId> r) { connected = r.ok(); });
    ready = ready && run_until(io, [&] { return connected; });
    if (!ready) return;
    auto channel = a.open_channel(b.peer_id(), kProtocol,
                                  ChannelEvents{[this](Bytes) { ++received_at_a; }, {}, {}});
    ready = channel.ok() && channel->send(Bytes{1});
    if (ready) to_b = channel.value();
    ready = ready && run_until(io, [&] { return received_at_b == 1 && to_b.unacked() == 0; });
  }
};

void BM_ChannelThroughput(benchmark::State& state) {
  ChannelPair pair;
  if (!pair.ready) return state.SkipWithError("channel did not open");
  const auto frame_bytes = static_cast<std::size_t>(state.range(0));
  const std::size_t frames = std::clamp<std::size_t>((16u << 20) / frame_bytes, 1, 20'000);
  const Bytes frame(frame_bytes, 0x42);
  for (auto _ : state) {
    const std::size_t target = pair.received_at_b + frames;
    for (std::size_t sent = 0; sent < frames;) {
      if (pair.to_b.send(frame)) {
        ++sent;
        continue;
      }
      pair.io.poll();  // back-pressure: let the writer drain the buffer
      pair.io.restart();
    }
    if (!run_until(pair.io, [&] { return pair.received_at_b >= target; })) {
      return state.SkipWithError("not delivered");
    }
  }
  run_until(pair.io, [&] { return pair.to_b.unacked() == 0; });
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * frames));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frames * frame_bytes));
  if (auto rtt = pair.to_b.smoothed_rtt_ms()) state.counters["ack_srtt_ms"] = *rtt;
}
BENCHMARK(BM_ChannelThroughput)
    ->Arg(200)
    ->Arg(4 * 1024)
    ->Arg(64 * 1024)
    ->Arg(1024 * 1024)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();  // rates per wall-clock second (the CPU column is both ends' work)

void BM_ChannelRoundTrip(benchmark::State& state) {
  ChannelPair pair;
  if (!pair.ready) return state.SkipWithError("channel did not open");
  pair.echo = true;
  const Bytes frame(64, 0x42);
  std::vector<double> micros;
  for (auto _ : state) {
    const std::size_t before = pair.received_at_a;
    const auto start = Clock::now();
    if (!pair.to_b.send(frame)) return state.SkipWithError("send refused");
    if (!run_until(pair.io, [&] { return pair.received_at_a > before; })) {
      return state.SkipWithError("no echo");
    }
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  report_percentiles(state, std::move(micros));
  if (auto rtt = pair.to_b.smoothed_rtt_ms()) state.counters["ack_srtt_ms"] = *rtt;
}
BENCHMARK(BM_ChannelRoundTrip)->Unit(benchmark::kMicrosecond)->Iterations(5000);

void BM_RequestRoundTrip(benchmark::State& state) {
  ChannelPair pair;
  if (!pair.ready) return state.SkipWithError("hosts did not connect");
  const std::string echo_protocol = "/aethel/bench-echo/1.0.0";
  pair.b.set_request_handler(echo_protocol,
                             [](const PeerId&, Bytes request) -> Result<Bytes> { return request; });
  const Bytes message(64, 0x42);
  std::vector<double> micros;
  for (auto _ : state) {
    bool done = false;
    const auto start = Clock::now();
    pair.a.request(pair.b.peer_id(), echo_protocol, message,
                   [&](Result<Bytes> r) { done = r.ok(); });
    if (!run_until(pair.io, [&] { return done; })) return state.SkipWithError("no response");
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  report_percentiles(state, std::move(micros));
}
BENCHMARK(BM_RequestRoundTrip)->Unit(benchmark::kMicrosecond)->Iterations(2000);

}  // namespace
}  // namespace aethel::p2p

BENCHMARK_MAIN();
