#include "p2p/noise.h"

#include <sodium.h>

#include "p2p/codec.h"

namespace aethel::p2p {

namespace {
constexpr std::string_view kProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";
constexpr std::string_view kSignaturePrefix = "noise-libp2p-static-key:";
constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kMaxStreamMuxers = 16;
static_assert(kProtocolName.size() == 32, "name is used as h directly (no hashing)");
}  // namespace

// ---- transport ----

void NoiseCipher::encrypt(ByteView plaintext, Bytes& out_append) {
  aead_encrypt(key_, nonce_++, {}, plaintext, out_append);
}

Result<Bytes> NoiseCipher::decrypt(ByteView ciphertext) {
  auto plaintext = aead_decrypt(key_, nonce_, {}, ciphertext);
  if (plaintext) ++nonce_;
  return plaintext;
}

std::optional<Bytes> NoiseFrameReader::next() {
  const std::size_t available = buffer_.size() - offset_;
  if (available < 2) return std::nullopt;
  const std::size_t length =
      (static_cast<std::size_t>(buffer_[offset_]) << 8) | buffer_[offset_ + 1];
  if (available < 2 + length) return std::nullopt;
  const auto begin = buffer_.begin() + static_cast<std::ptrdiff_t>(offset_ + 2);
  Bytes body(begin, begin + static_cast<std::ptrdiff_t>(length));
  offset_ += 2 + length;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ > 64 * 1024) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset_));
    offset_ = 0;
  }
  return body;
}

Bytes NoiseFrameReader::take_rest() {
  Bytes rest(buffer_.begin() + static_cast<std::ptrdiff_t>(offset_), buffer_.end());
  buffer_.clear();
  offset_ = 0;
  return rest;
}

void append_noise_frame(Bytes& out, ByteView body) {
  out.push_back(static_cast<std::uint8_t>(body.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(body.size() & 0xff));
  out.insert(out.end(), body.begin(), body.end());
}

void NoiseTransport::encrypt(ByteView plaintext, Bytes& out_append) {
  do {
    const auto chunk = plaintext.first(std::min(plaintext.size(), kNoiseMaxPlaintextBytes));
    const std::size_t length = chunk.size() + kAeadTagBytes;
    out_append.push_back(static_cast<std::uint8_t>(length >> 8));
    out_append.push_back(static_cast<std::uint8_t>(length & 0xff));
    send_.encrypt(chunk, out_append);
    plaintext = plaintext.subspan(chunk.size());
  } while (!plaintext.empty());
}

Status NoiseTransport::decrypt(ByteView wire, Bytes& plaintext_out) {
  frames_.feed(wire);
  while (auto frame = frames_.next()) {
    auto plaintext = receive_.decrypt(*frame);
    if (!plaintext) return plaintext.error();
    plaintext_out.insert(plaintext_out.end(), plaintext->begin(), plaintext->end());
  }
  return {};
}

// ---- payload ----

Result<NoiseHandshakePayload> decode_noise_payload(ByteView encoded) {
  NoiseHandshakePayload payload;
  auto decoded = for_each_field(encoded, [&](const ProtoField& f) -> Status {
    if (f.type != WireType::kLengthDelimited) return {};
    if (f.number == 1) payload.identity_key.assign(f.bytes.begin(), f.bytes.end());
    if (f.number == 2) payload.identity_sig.assign(f.bytes.begin(), f.bytes.end());
    if (f.number != 4) return {};
    auto extensions = for_each_field(f.bytes, [&](const ProtoField& extension) {  // NoiseExtensions
      if (extension.number == 2 && extension.type == WireType::kLengthDelimited &&
          payload.stream_muxers.size() < kMaxStreamMuxers) {
        payload.stream_muxers.push_back(as_string(extension.bytes));
      }
    });
    if (!extensions) return Error{"bad_noise_payload", "extensions: " + extensions.error().message};
    return {};
  });
  if (!decoded) return Error{"bad_noise_payload", "noise payload: " + decoded.error().message};
  return payload;
}

Bytes encode_noise_payload(const NoiseHandshakePayload& payload) {
  ProtoWriter writer;
  writer.add_bytes(1, payload.identity_key);
  writer.add_bytes(2, payload.identity_sig);
  if (!payload.stream_muxers.empty()) {
    ProtoWriter extensions;
    for (const auto& muxer : payload.stream_muxers) extensions.add_string(2, muxer);
    writer.add_bytes(4, extensions.bytes());
  }
  return writer.take();
}

// ---- handshake ----

NoiseHandshake::NoiseHandshake(NoiseRole role, const KeyPair& identity,
                               std::optional<PeerId> expected_remote, X25519KeyPair static_key,
                               X25519KeyPair ephemeral_key)
    : role_(role),
      identity_(identity),
      expected_remote_(std::move(expected_remote)),
      static_(static_key),
      ephemeral_(ephemeral_key) {
  std::copy(kProtocolName.begin(), kProtocolName.end(), h_.begin());
  ck_ = h_;
  mix_hash({});  // empty prologue
}

bool NoiseHandshake::should_write() const {
  if (failed_ || complete()) return false;
  const bool initiator = role_ == NoiseRole::kInitiator;
  return (step_ % 2 == 0) == initiator;
}

void NoiseHandshake::mix_hash(ByteView data) {
  h_ = sha256(h_, data);
}

void NoiseHandshake::mix_key(ByteView input_key_material) {
  const auto [chaining_key, key] = noise_hkdf2(ck_, input_key_material);
  ck_ = chaining_key;
  k_ = key;
  n_ = 0;
}

void NoiseHandshake::encrypt_and_hash(ByteView plaintext, Bytes& out) {
  const std::size_t start = out.size();
  if (k_) {
    aead_encrypt(*k_, n_++, h_, plaintext, out);
  } else {
    out.insert(out.end(), plaintext.begin(), plaintext.end());
  }
  mix_hash(ByteView(out).subspan(start));
}

Result<Bytes> NoiseHandshake::decrypt_and_hash(ByteView ciphertext) {
  Bytes plaintext;
  if (k_) {
    auto decrypted = aead_decrypt(*k_, n_, h_, ciphertext);
    if (!decrypted)
      return Error{"handshake_failed", "noise handshake: " + decrypted.error().message};
    ++n_;
    plaintext = std::move(decrypted.value());
  } else {
    plaintext.assign(ciphertext.begin(), ciphertext.end());
  }
  mix_hash(ciphertext);
  return plaintext;
}

Status NoiseHandshake::mix_dh(const X25519Key& secret, const X25519Key& remote_public) {
  auto shared = x25519(secret, remote_public);
  if (!shared) return shared.error();
  mix_key(shared.value());
  sodium_memzero(shared->data(), shared->size());
  return {};
}

Bytes NoiseHandshake::signed_payload() const {
  Bytes message(kSignaturePrefix.begin(), kSignaturePrefix.end());
  message.insert(message.end(), static_.public_key.begin(), static_.public_key.end());
  const auto signature = identity_.sign(message);
  NoiseHandshakePayload payload;
  payload.identity_key = identity_.public_key().to_protobuf();
  payload.identity_sig.assign(signature.begin(), signature.end());
  return encode_noise_payload(payload);
}

Status NoiseHandshake::verify_payload(ByteView encoded) {
  auto payload = decode_noise_payload(encoded);
  if (!payload) return payload.error();
  auto key = PublicKey::from_protobuf(payload->identity_key);
  if (!key) return Error{"bad_noise_payload", "noise payload identity key: " + key.error().message};
  Bytes message(kSignaturePrefix.begin(), kSignaturePrefix.end());
  message.insert(message.end(), remote_static_.begin(), remote_static_.end());
  if (!key->verify(message, payload->identity_sig)) {
    return Error{"bad_noise_payload",
                 "noise payload: identity signature over the static key is invalid"};
  }
  const PeerId peer = PeerId::from_public_key(key.value());
  if (expected_remote_ && peer != *expected_remote_) {
    return Error{"peer_id_mismatch", "noise: dialed " + expected_remote_->to_base58() +
                                         " but the remote is " + peer.to_base58()};
  }
  remote_key_ = key.value();
  remote_peer_ = peer;
  return {};
}

Result<Bytes> NoiseHandshake::write_message() {
  if (!should_write()) return Error{"handshake_failed", "noise: not this side's turn to write"};
  Bytes out;
  if (step_ == 0) {  // -> e
    out.insert(out.end(), ephemeral_.public_key.begin(), ephemeral_.public_key.end());
    mix_hash(ephemeral_.public_key);
    encrypt_and_hash({}, out);
  } else if (step_ == 1) {  // <- e, ee, s, es
    out.insert(out.end(), ephemeral_.public_key.begin(), ephemeral_.public_key.end());
    mix_hash(ephemeral_.public_key);
    if (auto s = mix_dh(ephemeral_.secret, remote_ephemeral_); !s) return s.error();
    encrypt_and_hash(static_.public_key, out);
    if (auto s = mix_dh(static_.secret, remote_ephemeral_); !s) return s.error();
    encrypt_and_hash(signed_payload(), out);
  } else {  // -> s, se
    encrypt_and_hash(static_.public_key, out);
    if (auto s = mix_dh(static_.secret, remote_ephemeral_); !s) return s.error();
    encrypt_and_hash(signed_payload(), out);
  }
  ++step_;
  return out;
}

Status NoiseHandshake::read_message(ByteView message) {
  if (failed_ || complete() || should_write()) {
    return Error{"handshake_failed", "noise: unexpected handshake message"};
  }
  failed_ = true;  // cleared on success below
  if (step_ == 0 || step_ == 1) {
    if (message.size() < kKeyBytes)
      return Error{"handshake_failed", "noise: handshake message too short"};
    std::copy(message.begin(), message.begin() + kKeyBytes, remote_ephemeral_.begin());
    mix_hash(message.first(kKeyBytes));
    message = message.subspan(kKeyBytes);
  }
  if (step_ == 0) {  // -> e (payload must be empty for libp2p, but is hashed either way)
    auto payload = decrypt_and_hash(message);
    if (!payload) return payload.error();
  } else {
    if (step_ == 1) {  // <- e, ee, s, es
      if (auto s = mix_dh(ephemeral_.secret, remote_ephemeral_); !s) return s.error();
    }
    const std::size_t static_bytes = kKeyBytes + kAeadTagBytes;
    if (message.size() < static_bytes)
      return Error{"handshake_failed", "noise: handshake message too short"};
    auto remote_static = decrypt_and_hash(message.first(static_bytes));
    if (!remote_static) return remote_static.error();
    std::copy(remote_static->begin(), remote_static->end(), remote_static_.begin());
    // es for the initiator (reading message 2), se for the responder (reading message 3):
    // both are DH(own ephemeral, remote static).
    if (auto s = mix_dh(ephemeral_.secret, remote_static_); !s) return s.error();
    auto payload = decrypt_and_hash(message.subspan(static_bytes));
    if (!payload) return payload.error();
    if (auto verified = verify_payload(payload.value()); !verified) return verified;
  }
  failed_ = false;
  ++step_;
  return {};
}

NoiseTransport NoiseHandshake::transport() const {
  const auto [initiator_to_responder, responder_to_initiator] = noise_hkdf2(ck_, {});
  if (role_ == NoiseRole::kInitiator) {
    return NoiseTransport(NoiseCipher(initiator_to_responder), NoiseCipher(responder_to_initiator));
  }
  return NoiseTransport(NoiseCipher(responder_to_initiator), NoiseCipher(initiator_to_responder));
}

}  // namespace aethel::p2p
