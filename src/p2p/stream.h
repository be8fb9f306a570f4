// One Yamux stream as a protocol sees it: read, write, close, reset. The Connection feeds
// it (data, half-close, reset) from its read loop; a protocol coroutine consumes it.
//
// A Stream owns no I/O object: a waiting coroutine parks on a timer in its own frame, so a
// Stream (and a Channel holding one) may outlive its Connection and even the io_context.
// Internal to the module.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <vector>

#include "p2p/task.h"

namespace aethel::p2p {

class Connection;

class Stream final : public ByteStream, public std::enable_shared_from_this<Stream> {
 public:
  Stream(std::weak_ptr<Connection> connection, PeerId remote, std::uint32_t id,
         asio::any_io_executor executor);

  std::uint32_t id() const { return id_; }
  const PeerId& remote() const { return remote_; }
  // Null once the connection is gone.
  std::shared_ptr<Connection> connection() const { return connection_.lock(); }
  const asio::any_io_executor& executor() const { return executor_; }

  Task<Result<Bytes>> read_some() override;
  // Writes in chunks of at most the send window, yielding to other streams between chunks
  // so one large write never holds the connection's write path.
  Task<Status> write_all(ByteView bytes) override;
  Task<Result<Bytes>> read_exact(std::size_t count);
  // One varint-length-prefixed message of at most `max_bytes`.
  Task<Result<Bytes>> read_message(std::size_t max_bytes);
  Task<Status> write_message(ByteView payload);
  // Bytes to return before anything new (what a negotiation read past its end).
  void unread(Bytes bytes);

  // Our direction is done (FIN).
  void close_write();
  // Abandons the stream both ways (RST); pending and later reads/writes fail with `code`.
  void reset(std::string code = "stream_reset");
  // Closes our side, waits (bounded) for the peer to close theirs, then forgets the stream.
  Task<void> finish();
  // Raises the receive window (see YamuxSession::set_receive_window).
  void set_receive_window(std::uint32_t window_bytes);
  bool is_reset() const { return !end_code_.empty(); }
  bool remote_closed() const { return remote_closed_; }

  // The Connection's side.
  void on_data(const Bytes& data);
  void on_remote_closed();
  void on_reset(std::string code);
  void notify();

 private:
  Task<void> wait();
  Error ended_error() const;

  std::weak_ptr<Connection> connection_;
  PeerId remote_;
  std::uint32_t id_;
  asio::any_io_executor executor_;
  Bytes unread_;  // already counted as consumed, returned before new data
  Bytes inbox_;   // received, not yet consumed (bounded by the receive window)
  bool remote_closed_ = false;
  std::string end_code_;  // set once reset: "stream_reset", "timeout", "connection_closed"
  std::vector<asio::steady_timer*> waiters_;  // timers in waiting coroutines' frames
};

// Resets `stream` with code "timeout" unless destroyed first: bounds how long a protocol
// exchange may take. Lives in the coroutine that does the exchange.
class StreamDeadline {
 public:
  StreamDeadline(const std::shared_ptr<Stream>& stream, std::uint32_t timeout_ms);
  StreamDeadline(const std::shared_ptr<Stream>& stream,
                 std::chrono::steady_clock::time_point deadline);
  ~StreamDeadline();
  StreamDeadline(const StreamDeadline&) = delete;
  StreamDeadline& operator=(const StreamDeadline&) = delete;

 private:
  asio::steady_timer timer_;
  std::shared_ptr<bool> armed_;
};

}  // namespace aethel::p2p
