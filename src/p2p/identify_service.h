// /ipfs/id/1.0.0: answers with what this host is, and asks every new connection's peer
// the same. Internal.
#pragma once

#include <map>
#include <memory>
#include <optional>

#include "p2p/stream.h"

namespace aethel::p2p {

class Connection;

class IdentifyService {
 public:
  // Registers the protocol with `host`.
  explicit IdentifyService(Host::Impl& host);

  // Asks the peer of a new connection who it is (in the background).
  void identify(const std::shared_ptr<Connection>& connection);
  std::optional<PeerInfo> info(const PeerId& peer) const;
  void forget(const PeerId& peer) { infos_.erase(peer); }
  void clear() { infos_.clear(); }
  std::vector<Host::IdentifyCallback> callbacks;

 private:
  Task<void> serve(std::shared_ptr<Stream> stream);
  Task<void> run_identify(std::shared_ptr<Connection> connection);
  Task<Result<Bytes>> fetch(std::shared_ptr<Connection> connection);
  void identified(const std::shared_ptr<Connection>& connection, const PeerInfo& info);
  Bytes message_for(const Connection& connection) const;

  Host::Impl& host_;
  std::map<PeerId, PeerInfo> infos_;
};

}  // namespace aethel::p2p
