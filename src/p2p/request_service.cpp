#include "p2p/request_service.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "p2p/connection.h"
#include "p2p/host_impl.h"

namespace aethel::p2p {

void RequestService::set_handler(const std::string& protocol, Host::RequestHandler handler) {
  handlers_[protocol] = std::move(handler);
  host_.handle(protocol, [this](std::shared_ptr<Stream> stream, std::string protocol_id) {
    return serve(stream, std::move(protocol_id));
  });
}

// Read the request, answer it, close; all within the request timeout.
Task<void> RequestService::serve(std::shared_ptr<Stream> stream, std::string protocol) {
  auto keep = host_.shared_from_this();
  const std::size_t max_bytes = host_.config.limits.max_message_bytes;
  StreamDeadline deadline(stream, host_.config.limits.request_timeout_ms);
  auto request = co_await stream->read_message(max_bytes);
  if (!request) {
    host_.log("[P2P] Bad request on " + protocol + " from " + stream->remote().to_base58() + ": " +
              request.error().message);
    stream->reset();
    co_return;
  }
  auto handler = handlers_.find(protocol);
  if (handler == handlers_.end() || host_.stopped) {
    stream->reset();
    co_return;
  }
  const Host::RequestHandler handle = handler->second;  // the map may change meanwhile
  auto response = handle(stream->remote(), std::move(request.value()));
  if (!response || response->size() > max_bytes) {
    stream->reset();
    co_return;
  }
  if (co_await stream->write_message(response.value())) co_await stream->finish();
}

void RequestService::request(const PeerId& peer, const std::string& protocol, Bytes request,
                             Host::ResponseCallback done) {
  asio::co_spawn(
      host_.io,
      [this, keep = host_.shared_from_this(), peer, protocol, request = std::move(request),
       done]() mutable { return run_request(peer, protocol, std::move(request), done); },
      asio::detached);
}

Task<void> RequestService::run_request(PeerId peer, std::string protocol, Bytes request,
                                       Host::ResponseCallback done) {
  const auto deadline = host_.deadline_after(host_.config.limits.request_timeout_ms);
  std::vector<std::string> protocols{protocol};
  auto stream = co_await host_.open_stream(peer, protocols, deadline);
  Result<Bytes> response = Error{"internal", ""};
  if (!stream) {
    response = stream.error();
  } else {
    StreamDeadline bound(stream.value(), deadline);
    response = co_await exchange(stream.value(), std::move(request));
  }
  if (!response) {
    response = Error{response.error().code, protocol + " request to " + peer.to_base58() + ": " +
                                                response.error().message};
  }
  host_.deliver(done, std::move(response));
}

// Sends the request, half-closes, reads the response and finishes the stream.
Task<Result<Bytes>> RequestService::exchange(std::shared_ptr<Stream> stream, Bytes request) {
  if (auto written = co_await stream->write_message(request); !written) {
    stream->reset();
    co_return written.error();
  }
  stream->close_write();
  auto response = co_await stream->read_message(host_.config.limits.max_message_bytes);
  if (!response) {
    stream->reset();
    co_return response.error();
  }
  co_await stream->finish();
  co_return response;
}

}  // namespace aethel::p2p
