// Gossipsub glue (/meshsub/1.1.0, also /meshsub/1.0.0): one long-lived outbound stream per
// peer for our RPCs, the peer's inbound stream read until it ends, and the heartbeat. The
// protocol logic is the sans-I/O GossipsubRouter (gossipsub.h). Internal.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>

#include "p2p/gossipsub.h"
#include "p2p/stream.h"

namespace aethel::p2p {

class Connection;

class PubsubService {
 public:
  // Registers both protocol versions with `host`.
  PubsubService(Host::Impl& host, const HostConfig& config);

  void start();
  void stop();
  // After identify: a peer that speaks meshsub gets our RPC stream.
  void peer_identified(const std::shared_ptr<Connection>& connection, const PeerInfo& info);
  void peer_gone(const PeerId& peer);

  void subscribe(const std::string& topic, Host::MessageCallback on_message);
  Status publish(const std::string& topic, Bytes data);
  std::vector<PeerId> mesh_peers(const std::string& topic) const;
  std::vector<PeerId> topic_peers(const std::string& topic) const;

 private:
  struct Peer {
    std::shared_ptr<Connection> connection;
    std::shared_ptr<Stream> stream;  // set once negotiated
    std::deque<Bytes> queue;         // framed RPCs waiting for the stream (bounded)
    bool writing = false;
  };

  void start_peer(const std::shared_ptr<Connection>& connection);
  Task<void> open_stream(std::shared_ptr<Connection> connection);
  Task<void> serve(std::shared_ptr<Stream> stream);
  Task<void> writer(PeerId peer);
  void start_writer(const PeerId& peer);
  Task<void> heartbeat_loop();
  void process(GossipsubOutput& out);
  void enqueue(const PeerId& peer, const PubsubRpc& rpc);

  Host::Impl& host_;
  GossipsubRouter router_;
  asio::steady_timer heartbeat_timer_;
  std::map<PeerId, Peer> peers_;
  std::map<std::string, std::vector<Host::MessageCallback>> topic_callbacks_;
};

}  // namespace aethel::p2p
