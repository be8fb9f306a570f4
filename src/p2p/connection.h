// One libp2p connection: a TCP socket upgraded to Noise and then Yamux, and the streams
// multiplexed on it. Internal to the module; the Host owns connections, protocols see
// Streams.
//
// Life of a connection:
//   accept/connect → multistream(/noise) → Noise XX → multistream(/yamux/1.0.0) → Yamux
//   → read loop (decrypt → yamux.receive → stream events) + write loop (one writer).
//
// The write path: streams hand at most one window-bounded chunk at a time to the Yamux
// session, which is encrypted into the outbox; one coroutine writes the outbox to the
// socket. While the outbox is over its high-water mark, writers wait, so a stream with a
// large write cannot queue far ahead of the others.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "p2p/noise.h"
#include "p2p/stream.h"
#include "p2p/yamux.h"

namespace aethel::p2p {

using tcp = asio::ip::tcp;

Multiaddr endpoint_to_multiaddr(const tcp::endpoint& endpoint);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Host::Impl> host, tcp::socket socket, bool is_client);

  tcp::socket& socket() { return socket_; }
  // TCP_NODELAY, and a small TCP_NOTSENT_LOWAT so the kernel queue stays short too.
  void tune_socket();
  bool is_client() const { return is_client_; }
  bool closed() const { return closed_; }
  const PeerId& remote() const { return *remote_; }
  const Multiaddr& remote_addr() const { return remote_addr_; }

  void arm_handshake_deadline(std::uint32_t timeout_ms);
  // Runs the full upgrade; on success the connection is ready for streams.
  Task<Status> upgrade(const KeyPair& identity, std::optional<PeerId> expected,
                       std::size_t max_streams);
  void start_read_loop();
  Result<std::shared_ptr<Stream>> open_stream();

  // Sends Yamux go-away, then closes once it is written.
  void shutdown();
  void close(const std::string& reason);

  // For Stream.
  void consumed(std::uint32_t stream_id, std::size_t bytes);
  // Hands up to one chunk of `data` to Yamux; 0 means "wait for a notify" (no send window,
  // or the outbox is full). An Error when the stream cannot send any more.
  Result<std::size_t> send_some(Stream& stream, ByteView data);
  void close_write(std::uint32_t stream_id);
  void reset_stream(std::uint32_t stream_id);
  void set_receive_window(std::uint32_t stream_id, std::uint32_t window_bytes);
  bool remote_closed(std::uint32_t stream_id) const { return yamux_.remote_closed(stream_id); }
  // Drops our reference once Yamux is done with the stream.
  void forget_if_finished(std::uint32_t stream_id);
  void forget(std::uint32_t stream_id) { streams_.erase(stream_id); }

 private:
  class SocketBytes;
  class NoiseBytes;

  Task<Result<Bytes>> read_raw();
  Task<Status> write_raw(ByteView bytes);
  Task<Result<Bytes>> negotiate_security();
  Task<Result<Bytes>> noise_handshake(const KeyPair& identity, std::optional<PeerId> expected,
                                      Bytes received);
  Task<Status> negotiate_muxer(Bytes plaintext);
  Task<void> read_loop();
  Task<void> write_loop();
  void flush();
  void dispatch(std::vector<YamuxEvent> events);
  void stream_opened(std::uint32_t stream_id);
  void wake_outbox_waiters();

  std::shared_ptr<Host::Impl> host_;
  tcp::socket socket_;
  bool is_client_;
  asio::steady_timer handshake_deadline_;
  bool upgraded_ = false;
  bool closed_ = false;
  bool writing_ = false;
  bool close_after_flush_ = false;
  std::optional<PeerId> remote_;
  Multiaddr remote_addr_;
  NoiseTransport transport_;
  YamuxSession yamux_;
  Bytes yamux_leftover_;
  Bytes outbox_;                     // encrypted, not yet handed to the socket
  std::size_t in_flight_bytes_ = 0;  // handed to the socket, write not complete
  std::vector<std::weak_ptr<Stream>> outbox_waiters_;
  std::map<std::uint32_t, std::shared_ptr<Stream>> streams_;
};

}  // namespace aethel::p2p
