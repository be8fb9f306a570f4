// Big-endian byte writing and bounds-checked reading for the ledger's canonical
// encodings (transactions, proofs, snapshots). Internal to the ledger module.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "base/base.h"
#include "ledger/ledger.h"

namespace aethel::ledger {

using base::ByteReader;
using base::ByteWriter;

inline void put_hash(ByteWriter& out, const Hash& h) {
  out.bytes(std::span<const uint8_t>(h));
}

// A 32-byte hash; zeros (and the reader failed) when fewer bytes are left.
inline Hash read_hash(ByteReader& in) {
  Hash h{};
  std::string_view b = in.bytes(h.size());
  if (in.ok()) std::memcpy(h.data(), b.data(), h.size());
  return h;
}

// The canonical encoding of `tx` (encode_transaction) appended to `out`.
void append_transaction(ByteWriter& out, const Transaction& tx);

}  // namespace aethel::ledger
