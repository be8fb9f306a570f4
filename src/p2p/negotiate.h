// multistream-select over any ByteStream: the one negotiation loop of the module, used for
// the security upgrade (/noise over TCP), the muxer upgrade (/yamux/1.0.0 inside Noise)
// and every Yamux stream (inbound and outbound).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "p2p/task.h"

namespace aethel::p2p {

struct Negotiated {
  std::string protocol;
  Bytes leftover;  // bytes the peer sent after the negotiation (belong to the protocol)
};

// As the dialer: proposes `protocols` in order of preference.
Task<Result<Negotiated>> negotiate_dialer(ByteStream& stream, std::vector<std::string> protocols);
// As the listener: accepts the first proposal `supports` says yes to.
Task<Result<Negotiated>> negotiate_listener(ByteStream& stream,
                                            std::function<bool(std::string_view)> supports);

}  // namespace aethel::p2p
