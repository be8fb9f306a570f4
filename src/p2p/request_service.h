// Request/response protocols (e.g. /aethel/hello/1.0.0): one stream per request; the
// request and the response are each one varint-length-prefixed message. Internal.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "p2p/stream.h"

namespace aethel::p2p {

class RequestService {
 public:
  explicit RequestService(Host::Impl& host) : host_(host) {}

  // Registers `protocol` with the host (replacing an earlier handler of it).
  void set_handler(const std::string& protocol, Host::RequestHandler handler);
  void request(const PeerId& peer, const std::string& protocol, Bytes request,
               Host::ResponseCallback done);

 private:
  Task<void> serve(std::shared_ptr<Stream> stream, std::string protocol);
  Task<void> run_request(PeerId peer, std::string protocol, Bytes request,
                         Host::ResponseCallback done);
  Task<Result<Bytes>> exchange(std::shared_ptr<Stream> stream, Bytes request);

  Host::Impl& host_;
  std::map<std::string, Host::RequestHandler> handlers_;
};

}  // namespace aethel::p2p
