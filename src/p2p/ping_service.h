// /ipfs/ping/1.0.0: echoes 32-byte payloads; measures the round trip. Internal.
#pragma once

#include <memory>

#include "p2p/stream.h"

namespace aethel::p2p {

class PingService {
 public:
  // Registers the protocol with `host`.
  explicit PingService(Host::Impl& host);
  void ping(const PeerId& peer, Host::PingCallback done);

 private:
  Task<void> serve(std::shared_ptr<Stream> stream);
  Task<void> run_ping(PeerId peer, Host::PingCallback done);
  Task<Result<double>> round_trip(std::shared_ptr<Stream> stream);

  Host::Impl& host_;
};

}  // namespace aethel::p2p
