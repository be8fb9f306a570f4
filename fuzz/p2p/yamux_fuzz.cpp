// Yamux: arbitrary frames into client and server sessions, with the application consuming
// and writing between chunks so window and stream-state paths run too.
#include <cstddef>
#include <cstdint>

#include "p2p/yamux.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace aethel::p2p;
  if (size == 0) return 0;
  const bool is_client = data[0] & 1;
  YamuxSession session(is_client, YamuxConfig{64 * 1024, 8});
  ByteView input(data + 1, size - 1);
  const std::uint8_t payload[100] = {};
  while (!input.empty()) {
    const std::size_t chunk = std::min<std::size_t>(input.size(), 1 + input[0] % 64);
    if (!session.receive(input.first(chunk)).ok()) break;
    input = input.subspan(chunk);
    for (const auto& event : session.take_events()) {
      if (event.kind == YamuxEvent::Kind::kData) {
        session.consumed(event.stream_id, static_cast<std::uint32_t>(event.data.size()));
        (void)session.send(event.stream_id, payload);
      } else if (event.kind == YamuxEvent::Kind::kStreamOpened) {
        session.set_receive_window(event.stream_id, 64 * 1024 + input.size());  // some raised
      } else if (event.kind == YamuxEvent::Kind::kRemoteClosed) {
        session.close_write(event.stream_id);
      }
    }
    if (session.stream_count() < 4) (void)session.open_stream();
    (void)session.take_output();
  }
  return 0;
}
