// Feeds arbitrary bytes, split at arbitrary points, to both multistream-select roles.
#include <cstddef>
#include <cstdint>

#include "p2p/multistream.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace aethel::p2p;
  if (size == 0) return 0;
  const std::size_t split = data[0] % (size);
  const ByteView input(data + 1, size - 1);
  const ByteView first = input.first(std::min(split, input.size()));
  const ByteView second = input.subspan(first.size());

  MultistreamListener listener([](std::string_view p) { return p == "/yamux/1.0.0"; });
  (void)listener.start();
  auto a = listener.receive(first);
  if (a.ok()) (void)listener.receive(second);
  if (listener.done()) (void)listener.take_leftover();

  MultistreamDialer dialer({"/noise", "/yamux/1.0.0"});
  (void)dialer.start();
  auto b = dialer.receive(first);
  if (b.ok()) (void)dialer.receive(second);
  return 0;
}
