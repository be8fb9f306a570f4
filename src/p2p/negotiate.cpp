#include "p2p/negotiate.h"

#include "p2p/multistream.h"

namespace aethel::p2p {

namespace {

// Either side: send what start() gives, then feed what arrives until a protocol is
// selected, writing every answer (including the last one, the listener's echo).
Task<Result<Negotiated>> negotiate(ByteStream& stream, MultistreamNegotiator& side) {
  const Bytes opening = side.start();
  if (auto written = co_await stream.write_all(opening); !written) co_return written.error();
  while (!side.done()) {
    auto data = co_await stream.read_some();
    if (!data) co_return data.error();
    if (data->empty()) {
      co_return Error{"stream_ended", "stream closed during protocol negotiation"};
    }
    auto answer = side.receive(data.value());
    if (!answer) co_return answer.error();
    if (answer->empty()) continue;
    if (auto written = co_await stream.write_all(answer.value()); !written) {
      co_return written.error();
    }
  }
  co_return Negotiated{side.selected(), side.take_leftover()};
}

}  // namespace

Task<Result<Negotiated>> negotiate_dialer(ByteStream& stream, std::vector<std::string> protocols) {
  MultistreamDialer dialer(std::move(protocols));
  co_return co_await negotiate(stream, dialer);
}

Task<Result<Negotiated>> negotiate_listener(ByteStream& stream,
                                            std::function<bool(std::string_view)> supports) {
  MultistreamListener listener(std::move(supports));
  co_return co_await negotiate(stream, listener);
}

}  // namespace aethel::p2p
