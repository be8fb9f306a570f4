#include "p2p/ping_service.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "p2p/connection.h"
#include "p2p/crypto.h"
#include "p2p/host_impl.h"
#include "p2p/identify.h"

namespace aethel::p2p {

PingService::PingService(Host::Impl& host) : host_(host) {
  host_.handle(std::string(kPingProtocolId),
               [this](std::shared_ptr<Stream> stream, std::string) { return serve(stream); });
}

// Echoes until the peer closes; each read is bounded by the peer, so no deadline.
Task<void> PingService::serve(std::shared_ptr<Stream> stream) {
  auto keep = host_.shared_from_this();
  while (!host_.stopped) {
    auto payload = co_await stream->read_exact(kPingPayloadBytes);
    if (!payload) break;
    if (!co_await stream->write_all(payload.value())) break;
  }
  co_await stream->finish();
}

void PingService::ping(const PeerId& peer, Host::PingCallback done) {
  asio::co_spawn(
      host_.io,
      [this, keep = host_.shared_from_this(), peer, done]() { return run_ping(peer, done); },
      asio::detached);
}

Task<void> PingService::run_ping(PeerId peer, Host::PingCallback done) {
  const auto deadline = host_.deadline_after(host_.config.limits.request_timeout_ms);
  std::vector<std::string> protocol{std::string(kPingProtocolId)};
  auto stream = co_await host_.open_stream(peer, protocol, deadline);
  if (!stream) {
    host_.deliver(done,
                  Result<double>(Error{stream.error().code, "ping: " + stream.error().message}));
    co_return;
  }
  Result<double> rtt = Error{"timeout", ""};
  {
    StreamDeadline bound(stream.value(), deadline);
    rtt = co_await round_trip(stream.value());
  }
  if (rtt) {
    co_await stream.value()->finish();
  } else {
    stream.value()->reset();
  }
  host_.deliver(done, std::move(rtt));
}

Task<Result<double>> PingService::round_trip(std::shared_ptr<Stream> stream) {
  Bytes payload(kPingPayloadBytes);
  random_bytes(payload);
  const auto start = std::chrono::steady_clock::now();
  if (auto written = co_await stream->write_all(payload); !written) {
    co_return Error{written.error().code, "ping: " + written.error().message};
  }
  auto echoed = co_await stream->read_exact(kPingPayloadBytes);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  if (!echoed) co_return Error{echoed.error().code, "ping: " + echoed.error().message};
  if (echoed.value() != payload) co_return Error{"bad_ping", "ping: echo does not match"};
  co_return std::chrono::duration<double, std::milli>(elapsed).count();
}

}  // namespace aethel::p2p
