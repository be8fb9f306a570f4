// Every protobuf and multiformat decoder that sees network or config input.
#include <cstddef>
#include <cstdint>

#include "p2p/codec.h"
#include "p2p/identify.h"
#include "p2p/p2p.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace aethel::p2p;
  const ByteView input(data, size);
  if (auto identify = decode_identify(input); identify.ok()) {
    const PeerId peer = PeerId::from_public_key(KeyPair::from_seed({1}).public_key());
    (void)identify_to_peer_info(peer, identify.value());
    (void)decode_identify(encode_identify(identify.value()));
  }
  (void)PublicKey::from_protobuf(input);
  (void)KeyPair::from_protobuf(input);
  if (auto peer = PeerId::from_bytes(input); peer.ok()) {
    auto again = PeerId::parse(peer->to_base58());
    if (!again.ok() || again.value() != peer.value()) __builtin_trap();
  }
  if (auto address = Multiaddr::from_bytes(input); address.ok()) {
    auto again = Multiaddr::parse(address->to_string());
    if (!again.ok() || again->to_bytes() != address->to_bytes()) __builtin_trap();
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)Multiaddr::parse(text);
  (void)PeerId::parse(text);
  (void)base58_decode(text);
  LengthPrefixedReader reader(1024);
  reader.feed(input);
  while (true) {
    auto message = reader.next();
    if (!message.ok() || !message.value()) break;
  }
  return 0;
}
