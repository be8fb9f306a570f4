// SHA-256 for the ledger's hot paths. Internal to the ledger module.
//
// libsodium's crypto_hash_sha256 is the reference and the fallback. On x86-64 CPUs
// with the SHA extensions (SHA-NI) the compression function runs on those
// instructions instead, several times faster (the Merkle update of a block is
// dominated by SHA-256). Both paths give identical bytes; tests compare them on
// every length up to several blocks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace aethel::ledger {

void sha256_digest(const uint8_t* data, size_t size, uint8_t out[32]);

// The two implementations, exposed for the equivalence test.
void sha256_digest_sodium(const uint8_t* data, size_t size, uint8_t out[32]);
// Returns false (and writes nothing) when the CPU lacks SHA-NI.
bool sha256_digest_shani(const uint8_t* data, size_t size, uint8_t out[32]);
bool cpu_has_shani();

}  // namespace aethel::ledger
