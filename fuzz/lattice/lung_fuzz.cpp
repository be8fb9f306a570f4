// libFuzzer target: the HTTP lung's body decoder must deliver or refuse any byte string
// without crashing, keep its pending memory within its bounds, and a body it packed
// itself must come back unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "lattice/lung.h"

using namespace aethel::lattice;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  constexpr size_t kMaxPendingBytes = 1 << 16;
  LungAssembler assembler(3, kMaxPendingBytes);
  auto fed = assembler.feed(bytes);
  if (!fed.ok() && fed.error().message.empty()) std::abort();  // a refusal says why
  if (assembler.pending_bytes() > kMaxPendingBytes) std::abort();

  // The same bytes as one envelope, packed into small bodies, must round-trip.
  LungPacker packer(1024 + kFragmentRecordOverhead, 1);
  std::deque<std::string> queue;
  packer.add(bytes, queue);
  LungAssembler receiver(3, 1 << 24);
  std::string got;
  size_t delivered = 0;
  while (!queue.empty()) {
    auto out = receiver.feed(packer.next_body(queue));
    if (!out.ok()) std::abort();
    for (std::string& e : out.value()) {
      got = std::move(e);
      ++delivered;
    }
  }
  if (delivered != 1 || got != bytes) std::abort();
  return 0;
}
