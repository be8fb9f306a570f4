// Thin wrappers over libsodium for the primitives Noise_XX_25519_ChaChaPoly_SHA256 needs.
// Internal to p2p.
#pragma once

#include <array>
#include <cstdint>

#include "p2p/p2p.h"

namespace aethel::p2p {

// Initialises libsodium once (thread-safe via a function-local static).
void ensure_sodium();

using Sha256Digest = std::array<std::uint8_t, 32>;
using X25519Key = std::array<std::uint8_t, 32>;
using CipherKey = std::array<std::uint8_t, 32>;

inline constexpr std::size_t kAeadTagBytes = 16;

// Fills `out` from the operating system's CSPRNG.
void random_bytes(std::span<std::uint8_t> out);

Sha256Digest sha256(ByteView a, ByteView b = {});
Sha256Digest hmac_sha256(ByteView key, ByteView a, ByteView b = {});

// Noise's HKDF: two 32-byte outputs from chaining key `ck` and input key material.
std::pair<Sha256Digest, Sha256Digest> noise_hkdf2(const Sha256Digest& ck, ByteView ikm);

struct X25519KeyPair {
  X25519Key secret{};
  X25519Key public_key{};
};
X25519KeyPair x25519_generate();
X25519KeyPair x25519_from_secret(const X25519Key& secret);
// Fails on a low-order remote point (all-zero shared secret).
Result<X25519Key> x25519(const X25519Key& secret, const X25519Key& remote_public);

// ChaCha20-Poly1305 (IETF) with the Noise nonce layout: 4 zero bytes, then the 64-bit
// counter little-endian.
void aead_encrypt(const CipherKey& key, std::uint64_t nonce, ByteView associated_data,
                  ByteView plaintext, Bytes& out_append);
Result<Bytes> aead_decrypt(const CipherKey& key, std::uint64_t nonce, ByteView associated_data,
                           ByteView ciphertext);

}  // namespace aethel::p2p
