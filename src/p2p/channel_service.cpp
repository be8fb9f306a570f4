#include "p2p/channel_service.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "p2p/connection.h"
#include "p2p/host_impl.h"

namespace aethel::p2p {

void ChannelService::set_acceptor(const std::string& protocol, Host::ChannelAcceptor accept) {
  acceptors_[protocol] = std::move(accept);
  host_.handle(protocol, [this](std::shared_ptr<Stream> stream, std::string protocol_id) {
    return serve(stream, std::move(protocol_id));
  });
}

Result<Channel> ChannelService::open(const PeerId& peer, const std::string& protocol,
                                     ChannelEvents events) {
  if (host_.stopped) return Error{"stopped", "the host is stopped"};
  auto connection = host_.connection_to(peer);
  if (!connection) return Error{"not_connected", "not connected to " + peer.to_base58()};
  std::erase_if(outbound_, [](const auto& entry) { return entry.second.expired(); });
  const auto key = std::make_pair(peer, protocol);
  if (auto it = outbound_.find(key); it != outbound_.end()) {
    if (auto existing = it->second.lock(); existing && existing->is_open()) {
      return Error{"channel_exists",
                   "a channel " + protocol + " to " + peer.to_base58() + " is already open"};
    }
  }
  auto state = std::make_shared<Channel::State>(host_.weak_from_this(), host_.config.limits, peer,
                                                protocol, true);
  state->set_events(std::move(events));
  outbound_[key] = state;
  track(state);
  asio::co_spawn(
      host_.io,
      [this, keep = host_.shared_from_this(), state, connection]() {
        return run_open(state, connection);
      },
      asio::detached);
  return Channel(state);
}

void ChannelService::track(const std::shared_ptr<Channel::State>& state) {
  std::erase_if(all_, [](const auto& weak) { return weak.expired(); });
  all_.push_back(state);
}

void ChannelService::stop() {
  for (const auto& weak : std::exchange(all_, {})) {
    if (auto state = weak.lock()) state->end(Error{"stopped", "the host stopped"}, false);
  }
  outbound_.clear();
}

Task<void> ChannelService::run_open(std::shared_ptr<Channel::State> state,
                                    std::shared_ptr<Connection> connection) {
  const auto deadline = host_.deadline_after(host_.config.limits.request_timeout_ms);
  std::vector<std::string> protocols{state->protocol};
  auto stream = co_await host_.open_stream(connection, protocols, deadline);
  if (!stream) {
    state->end(
        Error{stream.error().code, "channel " + state->protocol + " to " + state->peer.to_base58() +
                                       ": " + stream.error().message},
        true);
    co_return;
  }
  if (state->ended()) {  // reset by its owner while opening
    stream.value()->reset();
    co_return;
  }
  state->attach(stream.value());
  co_await state->run_reader();
}

// A peer opened a channel: the acceptor decides, then the channel runs until it ends.
Task<void> ChannelService::serve(std::shared_ptr<Stream> stream, std::string protocol) {
  auto keep = host_.shared_from_this();
  auto acceptor = acceptors_.find(protocol);
  if (acceptor == acceptors_.end() || host_.stopped) {
    stream->reset();
    co_return;
  }
  const Host::ChannelAcceptor accept = acceptor->second;  // the map may change meanwhile
  auto state = std::make_shared<Channel::State>(host_.weak_from_this(), host_.config.limits,
                                                stream->remote(), protocol, false);
  track(state);
  auto events = accept(Channel(state));
  if (!events || host_.stopped || stream->is_reset() || state->ended()) {
    state->end(Error{"refused", "channel refused"}, false);
    stream->reset();
    co_return;
  }
  state->set_events(std::move(*events));
  state->attach(stream);
  co_await state->run_reader();
}

}  // namespace aethel::p2p
