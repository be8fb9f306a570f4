// Noise_XX_25519_ChaChaPoly_SHA256 with the libp2p handshake payload (libp2p/specs noise),
// as sans-I/O state machines.
//
//   initiator                      responder
//   -> e                                          message 1 (no payload)
//                                  <- e, ee, s, es + payload(responder identity)
//   -> s, se + payload(initiator identity)        message 3
//
// The payload is the protobuf NoiseHandshakePayload {identity_key = 1 (libp2p PublicKey),
// identity_sig = 2}: the Ed25519 identity key signs "noise-libp2p-static-key:" || the
// X25519 static key, binding the peer ID to this session. Every handshake and transport
// message travels with a 2-byte big-endian length prefix (so at most 65535 bytes).
#pragma once

#include <optional>

#include "p2p/crypto.h"
#include "p2p/p2p.h"

namespace aethel::p2p {

inline constexpr std::string_view kNoiseProtocolId = "/noise";
inline constexpr std::size_t kNoiseMaxMessageBytes = 65535;
inline constexpr std::size_t kNoiseMaxPlaintextBytes = kNoiseMaxMessageBytes - kAeadTagBytes;

enum class NoiseRole { kInitiator, kResponder };

// One direction of the transport phase: a key and a nonce counter.
class NoiseCipher {
 public:
  NoiseCipher() = default;
  explicit NoiseCipher(const CipherKey& key) : key_(key) {}
  void encrypt(ByteView plaintext, Bytes& out_append);  // ciphertext (plaintext + 16)
  Result<Bytes> decrypt(ByteView ciphertext);

 private:
  CipherKey key_{};
  std::uint64_t nonce_ = 0;
};

// Splits a byte stream into 2-byte-length-prefixed frames.
class NoiseFrameReader {
 public:
  void feed(ByteView bytes) { buffer_.insert(buffer_.end(), bytes.begin(), bytes.end()); }
  // The next frame body, or std::nullopt until one is complete.
  std::optional<Bytes> next();
  std::size_t buffered_bytes() const { return buffer_.size() - offset_; }
  // Bytes received after the frames taken so far (handed to the next phase).
  Bytes take_rest();

 private:
  Bytes buffer_;
  std::size_t offset_ = 0;
};

void append_noise_frame(Bytes& out, ByteView body);

// The transport phase: encrypts outgoing bytes into frames and decrypts incoming frames.
class NoiseTransport {
 public:
  NoiseTransport(NoiseCipher send, NoiseCipher receive) : send_(send), receive_(receive) {}
  NoiseTransport() = default;
  // Appends as many frames as `plaintext` needs (at most 65519 plaintext bytes each).
  void encrypt(ByteView plaintext, Bytes& out_append);
  // Consumes wire bytes; appends every fully received, authenticated plaintext.
  Status decrypt(ByteView wire, Bytes& plaintext_out);

 private:
  NoiseCipher send_;
  NoiseCipher receive_;
  NoiseFrameReader frames_;
};

// The handshake payload (exposed for tests and fuzzing).
struct NoiseHandshakePayload {
  Bytes identity_key;  // libp2p PublicKey protobuf
  Bytes identity_sig;
  std::vector<std::string> stream_muxers;  // extensions.stream_muxers (informational)
};
Result<NoiseHandshakePayload> decode_noise_payload(ByteView encoded);
Bytes encode_noise_payload(const NoiseHandshakePayload& payload);

class NoiseHandshake {
 public:
  // `expected_remote`: when dialing a /p2p/ address, the peer ID the responder must prove.
  NoiseHandshake(NoiseRole role, const KeyPair& identity, std::optional<PeerId> expected_remote,
                 X25519KeyPair static_key = x25519_generate(),
                 X25519KeyPair ephemeral_key = x25519_generate());

  // True when it is this side's turn to write (and the handshake is not complete).
  bool should_write() const;
  // The next handshake message body (without its 2-byte length prefix).
  Result<Bytes> write_message();
  // Consumes the peer's next handshake message body.
  Status read_message(ByteView message);

  bool complete() const { return step_ == 3; }
  // After complete(): the authenticated remote identity and the transport ciphers.
  const PeerId& remote_peer() const { return *remote_peer_; }
  const PublicKey& remote_key() const { return *remote_key_; }
  NoiseTransport transport() const;

 private:
  void mix_hash(ByteView data);
  void mix_key(ByteView input_key_material);
  void encrypt_and_hash(ByteView plaintext, Bytes& out);
  Result<Bytes> decrypt_and_hash(ByteView ciphertext);
  Status mix_dh(const X25519Key& secret, const X25519Key& remote_public);
  Bytes signed_payload() const;
  Status verify_payload(ByteView payload);

  NoiseRole role_;
  const KeyPair& identity_;
  std::optional<PeerId> expected_remote_;
  X25519KeyPair static_;
  X25519KeyPair ephemeral_;
  X25519Key remote_static_{};
  X25519Key remote_ephemeral_{};
  Sha256Digest h_{};
  Sha256Digest ck_{};
  std::optional<CipherKey> k_;
  std::uint64_t n_ = 0;
  int step_ = 0;  // messages processed so far (0..3)
  bool failed_ = false;
  std::optional<PeerId> remote_peer_;
  std::optional<PublicKey> remote_key_;
};

}  // namespace aethel::p2p
