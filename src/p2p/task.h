// The coroutine vocabulary of the Host's I/O code (Boost.Asio, C++20 coroutines), and the
// one abstraction every protocol negotiation runs over. Internal to the module.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "p2p/p2p.h"

namespace aethel::p2p {

namespace asio = boost::asio;
template <typename T>
using Task = asio::awaitable<T>;
// Completion token that hands errors back as values instead of throwing.
inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// A byte stream: the raw TCP socket before the upgrade, the Noise session before Yamux,
// or one Yamux stream.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // The next bytes; empty at the end of the stream; an Error when it failed.
  virtual Task<Result<Bytes>> read_some() = 0;
  // `bytes` must stay valid until the returned task completes.
  virtual Task<Status> write_all(ByteView bytes) = 0;
};

}  // namespace aethel::p2p
