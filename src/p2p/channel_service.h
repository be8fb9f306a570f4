// Channels (p2p.h): Channel::State is one channel's send queue, ack layer and reader;
// ChannelService opens outbound channels and accepts inbound ones through the handler
// map. The wire format is in channel_codec.h. Internal.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "p2p/channel_codec.h"
#include "p2p/stream.h"

namespace aethel::p2p {

class Connection;

class Channel::State : public std::enable_shared_from_this<Channel::State> {
 public:
  using Clock = std::chrono::steady_clock;

  State(std::weak_ptr<Host::Impl> host, const HostLimits& limits, PeerId peer_id,
        std::string protocol_id, bool is_outbound);

  void set_events(ChannelEvents events) { events_ = std::move(events); }
  // The protocol is agreed on `stream`: starts the writer; the caller then awaits
  // run_reader(), which returns when the channel has ended.
  void attach(std::shared_ptr<Stream> stream);
  Task<void> run_reader();
  // Ends the channel once: resets the stream (or, `graceful`, closes our side) and, with
  // `notify` and unless the owner closed it, calls on_closed.
  void end(const Error& reason, bool notify, bool graceful = false);

  bool send(Bytes frame);
  bool is_open() const { return phase_ == Phase::kOpening || phase_ == Phase::kOpen; }
  bool ended() const { return phase_ == Phase::kEnded; }
  ChannelStats stats() const;
  std::size_t unacked() const { return acks_.unacked(); }
  void close();
  void reset();

  const PeerId peer;
  const std::string protocol;
  const bool outbound;

 private:
  enum class Phase { kOpening, kOpen, kClosing, kEnded };

  Task<void> run_writer();
  Task<Status> write_next();
  Bytes take_batch(std::size_t& frames, std::size_t& bytes, std::optional<Bytes>& large);
  void written(std::size_t frames, std::size_t bytes);
  Status handle_records();
  void deliver(Bytes frame);
  void violation(const Error& error);
  void maybe_writable();
  void wake_writer();
  bool host_running() const;
  Error with_context(const Error& error) const;

  std::weak_ptr<Host::Impl> host_;
  const HostLimits limits_;
  ChannelEvents events_;
  Phase phase_ = Phase::kOpening;
  std::shared_ptr<Stream> stream_;
  // Sending.
  std::deque<Bytes> queue_;
  std::size_t buffered_bytes_ = 0;
  bool refused_ = false;  // send() said no; on_writable is owed
  ChannelAcks acks_;
  std::uint64_t written_seq_ = 0;
  std::optional<std::uint64_t> ack_to_send_;
  std::weak_ptr<asio::steady_timer> writer_signal_;  // lives in the writer's frame
  // Receiving.
  ChannelDecoder decoder_;
  std::uint64_t received_ = 0;
  bool delivering_ = false;  // inside on_frame: it must not be destroyed yet
};

class ChannelService {
 public:
  explicit ChannelService(Host::Impl& host) : host_(host) {}

  // Registers `protocol` with the host.
  void set_acceptor(const std::string& protocol, Host::ChannelAcceptor accept);
  Result<Channel> open(const PeerId& peer, const std::string& protocol, ChannelEvents events);
  // Ends every channel without callbacks (dropping them breaks any cycle through a
  // Channel the owner's callbacks captured).
  void stop();

 private:
  void track(const std::shared_ptr<Channel::State>& state);

  Task<void> serve(std::shared_ptr<Stream> stream, std::string protocol);
  Task<void> run_open(std::shared_ptr<Channel::State> state,
                      std::shared_ptr<Connection> connection);

  Host::Impl& host_;
  std::map<std::string, Host::ChannelAcceptor> acceptors_;
  // Outbound channels by (peer, protocol): at most one open at a time.
  std::map<std::pair<PeerId, std::string>, std::weak_ptr<Channel::State>> outbound_;
  std::vector<std::weak_ptr<Channel::State>> all_;  // both directions, for stop()
};

}  // namespace aethel::p2p
