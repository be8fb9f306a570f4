// Noise: arbitrary handshake messages at every step of both roles, arbitrary transport
// frames, and the handshake payload decoder.
#include <cstddef>
#include <cstdint>

#include "p2p/noise.h"

namespace {
using namespace aethel::p2p;

const KeyPair& identity() {
  static const KeyPair key = KeyPair::from_seed({7});
  return key;
}

X25519KeyPair fixed_x25519(std::uint8_t seed) {
  X25519Key secret{};
  secret.fill(seed);
  return x25519_from_secret(secret);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t selector = data[0];
  const ByteView input(data + 1, size - 1);
  switch (selector % 4) {
    case 0: {  // responder reading message 1, then (if accepted) message 3
      NoiseHandshake responder(NoiseRole::kResponder, identity(), std::nullopt, fixed_x25519(1),
                               fixed_x25519(2));
      const std::size_t cut = std::min<std::size_t>(input.size(), 32);
      if (!responder.read_message(input.first(cut)).ok()) break;
      if (!responder.write_message().ok()) break;
      (void)responder.read_message(input.subspan(cut));
      break;
    }
    case 1: {  // initiator reading message 2
      NoiseHandshake initiator(NoiseRole::kInitiator, identity(), std::nullopt, fixed_x25519(3),
                               fixed_x25519(4));
      if (!initiator.write_message().ok()) break;
      (void)initiator.read_message(input);
      break;
    }
    case 2: {  // transport frames with a fixed key
      CipherKey key{};
      key.fill(9);
      NoiseTransport transport{NoiseCipher(key), NoiseCipher(key)};
      Bytes plaintext;
      (void)transport.decrypt(input, plaintext);
      NoiseFrameReader frames;
      frames.feed(input);
      while (frames.next()) {
      }
      break;
    }
    default:
      (void)decode_noise_payload(input);
      break;
  }
  return 0;
}
