#include "p2p/stream.h"

#include <boost/asio/post.hpp>

#include "p2p/codec.h"
#include "p2p/connection.h"

namespace aethel::p2p {

namespace {
// Bytes a finished stream may still receive, and for how long, before it is reset.
constexpr std::size_t kMaxDrainBytes = 64 * 1024;
constexpr std::uint32_t kDrainTimeoutMs = 5'000;
}  // namespace

Stream::Stream(std::weak_ptr<Connection> connection, PeerId remote, std::uint32_t id,
               asio::any_io_executor executor)
    : connection_(std::move(connection)),
      remote_(std::move(remote)),
      id_(id),
      executor_(std::move(executor)) {}

Task<void> Stream::wait() {
  // `self` is destroyed after `unregister`: the guard may run when the io_context is
  // destroyed with this coroutine suspended.
  auto self = shared_from_this();
  asio::steady_timer timer(executor_, asio::steady_timer::time_point::max());
  waiters_.push_back(&timer);
  struct Unregister {
    std::vector<asio::steady_timer*>& waiters;
    asio::steady_timer* timer;
    ~Unregister() { std::erase(waiters, timer); }
  } unregister{waiters_, &timer};
  co_await timer.async_wait(kNoThrow);
}

void Stream::notify() {
  for (asio::steady_timer* timer : waiters_) timer->cancel();
}

Error Stream::ended_error() const {
  if (end_code_ == "timeout") return Error{"timeout", "stream timed out"};
  if (end_code_ == "connection_closed") return Error{"connection_closed", "connection closed"};
  return Error{end_code_, "stream reset"};
}

void Stream::on_data(const Bytes& data) {
  inbox_.insert(inbox_.end(), data.begin(), data.end());
  notify();
}

void Stream::on_remote_closed() {
  remote_closed_ = true;
  notify();
}

void Stream::on_reset(std::string code) {
  if (end_code_.empty()) end_code_ = std::move(code);
  notify();
}

void Stream::unread(Bytes bytes) {
  if (bytes.empty()) return;
  bytes.insert(bytes.end(), unread_.begin(), unread_.end());
  unread_ = std::move(bytes);
}

Task<Result<Bytes>> Stream::read_some() {
  auto self = shared_from_this();
  if (!unread_.empty()) co_return std::exchange(unread_, {});
  while (inbox_.empty() && !remote_closed_ && !is_reset()) co_await wait();
  if (!inbox_.empty()) {
    Bytes data = std::exchange(inbox_, {});
    if (auto connection = connection_.lock()) connection->consumed(id_, data.size());
    co_return data;
  }
  if (is_reset()) co_return ended_error();
  co_return Bytes{};
}

Task<Status> Stream::write_all(ByteView bytes) {
  auto self = shared_from_this();
  while (!bytes.empty()) {
    if (is_reset()) co_return ended_error();
    auto connection = connection_.lock();
    if (!connection) co_return Error{"connection_closed", "connection closed"};
    auto taken = connection->send_some(*this, bytes);
    connection.reset();
    if (!taken) co_return taken.error();
    bytes = bytes.subspan(taken.value());
    if (bytes.empty()) break;
    if (taken.value() == 0) {
      co_await wait();  // for send window or outbox room
    } else {
      co_await asio::post(executor_, asio::use_awaitable);  // let other streams write
    }
  }
  co_return Status{};
}

Task<Result<Bytes>> Stream::read_exact(std::size_t count) {
  auto self = shared_from_this();
  Bytes out;
  while (out.size() < count) {
    auto data = co_await read_some();
    if (!data) co_return data.error();
    if (data->empty()) co_return Error{"stream_ended", "stream ended early"};
    out.insert(out.end(), data->begin(), data->end());
  }
  if (out.size() > count) {
    unread(Bytes(out.begin() + static_cast<std::ptrdiff_t>(count), out.end()));
    out.resize(count);
  }
  co_return out;
}

Task<Result<Bytes>> Stream::read_message(std::size_t max_bytes) {
  auto self = shared_from_this();
  LengthPrefixedReader reader(max_bytes);
  reader.feed(std::exchange(unread_, {}));
  while (true) {
    auto message = reader.next();
    if (!message) co_return message.error();
    if (message.value()) {
      unread(reader.take_rest());
      co_return std::move(*message.value());
    }
    auto data = co_await read_some();
    if (!data) co_return data.error();
    if (data->empty()) {
      co_return Error{"stream_ended", "stream ended before a complete message"};
    }
    reader.feed(data.value());
  }
}

Task<Status> Stream::write_message(ByteView payload) {
  auto self = shared_from_this();
  Bytes framed;
  append_length_prefixed(framed, payload);
  co_return co_await write_all(framed);
}

void Stream::close_write() {
  if (auto connection = connection_.lock()) connection->close_write(id_);
}

void Stream::reset(std::string code) {
  if (is_reset()) return;
  end_code_ = std::move(code);
  notify();
  if (auto connection = connection_.lock()) connection->reset_stream(id_);
}

void Stream::set_receive_window(std::uint32_t window_bytes) {
  if (auto connection = connection_.lock()) connection->set_receive_window(id_, window_bytes);
}

Task<void> Stream::finish() {
  auto self = shared_from_this();
  close_write();
  {
    StreamDeadline deadline(self, kDrainTimeoutMs);
    std::size_t drained = 0;
    while (drained <= kMaxDrainBytes) {
      auto data = co_await read_some();
      if (!data || data->empty()) break;
      drained += data->size();
    }
  }
  if (!is_reset() && !remote_closed_) {
    reset();
  } else if (auto connection = connection_.lock()) {
    connection->forget(id_);
  }
}

StreamDeadline::StreamDeadline(const std::shared_ptr<Stream>& stream, std::uint32_t timeout_ms)
    : StreamDeadline(stream,
                     std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms)) {}

StreamDeadline::StreamDeadline(const std::shared_ptr<Stream>& stream,
                               std::chrono::steady_clock::time_point deadline)
    : timer_(stream->executor(), deadline), armed_(std::make_shared<bool>(true)) {
  // `armed` rather than the cancel alone: an expiry already queued must not reset a stream
  // whose exchange finished in the same turn.
  timer_.async_wait(
      [armed = armed_, weak = std::weak_ptr<Stream>(stream)](boost::system::error_code ec) {
        if (ec || !*armed) return;
        if (auto live = weak.lock()) live->reset("timeout");
      });
}

StreamDeadline::~StreamDeadline() {
  *armed_ = false;
  timer_.cancel();
}

}  // namespace aethel::p2p
