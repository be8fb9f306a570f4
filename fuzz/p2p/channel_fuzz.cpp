// Channel records: arbitrary bytes, fed in arbitrary chunks, into the decoder; acks go to
// the sender's bookkeeping. Checks that no record exceeds the limit and that an ack is
// only accepted within what was written.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "p2p/channel_codec.h"
#include "p2p/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace aethel::p2p;
  if (size < 2) return 0;
  constexpr std::size_t kMaxFrameBytes = 4096;
  ChannelDecoder decoder(kMaxFrameBytes);
  ChannelAcks acks;
  const auto now = ChannelAcks::Clock::time_point{};
  const std::uint64_t written = data[0];  // frames the "sender" has written so far
  for (std::uint64_t i = 0; i < written; ++i) acks.queued(now);
  acks.written(written, now);
  ByteView input(data + 1, size - 1);
  while (!input.empty()) {
    const std::size_t chunk = std::min<std::size_t>(input.size(), 1 + input[0] % 97);
    decoder.feed(input.first(chunk));
    input = input.subspan(chunk);
    while (true) {
      auto record = decoder.next();
      if (!record.ok()) return 0;  // the stream would be reset here
      if (!record.value()) break;
      if (record.value()->kind == ChannelRecord::Kind::kData) {
        if (record.value()->frame.size() > kMaxFrameBytes) std::abort();
        continue;
      }
      const std::uint64_t before = acks.acked_through();
      const bool accepted = acks.acked(record.value()->ack, now).ok();
      if (accepted && (record.value()->ack > written || record.value()->ack < before)) {
        std::abort();
      }
      if (!accepted) return 0;
    }
    if (decoder.buffered_bytes() > kMaxFrameBytes + kMaxVarintBytes + 1 + 97) std::abort();
  }
  return 0;
}
