// The HTTP lung's wire format: the body of POST /api/lattice/internal/messages.
//
// A body is records back to back; every body stays within the receiver's body limit
// (AETHEL_MAX_BODY_BYTES), so an envelope larger than the limit — a snapshot, a block
// of 8192 transfers with memos — travels as fragments over several requests (in any
// order: several requests may be in flight) and is put together on arrival.
//
//   whole envelope:  u8 1 | u32 length | bytes
//   fragment:        u8 2 | u64 message id | u32 index | u32 count | u32 length | bytes
//
// Integers are big-endian. Message ids are per sender; a sender starts them at a
// random value so that a restart does not collide with fragments still pending.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"

namespace aethel::lattice {

// Bytes a record adds to its payload.
inline constexpr size_t kWholeRecordOverhead = 1 + 4;
inline constexpr size_t kFragmentRecordOverhead = 1 + 8 + 4 + 4 + 4;

// Splits envelopes into records that each fit a body of max_body_bytes, and packs
// queued records into bodies.
class LungPacker {
 public:
  LungPacker(size_t max_body_bytes, uint64_t first_message_id)
      : max_body_bytes_(max_body_bytes), next_message_id_(first_message_id) {}

  // The records of one envelope (one, or its fragments), appended to `queue`.
  void add(std::string_view envelope, std::deque<std::string>& queue);
  // Takes records from the front of `queue` while they fit one body; at least one.
  std::string next_body(std::deque<std::string>& queue) const;

 private:
  size_t max_body_bytes_;
  uint64_t next_message_id_;
};

// Puts fragments back together, per sender, in bounded memory: at most
// max_pending_messages partial envelopes and max_pending_bytes of them; beyond that
// the oldest partial envelope is dropped (consensus sends it again).
class LungAssembler {
 public:
  LungAssembler(size_t max_pending_messages, size_t max_pending_bytes)
      : max_pending_messages_(max_pending_messages), max_pending_bytes_(max_pending_bytes) {}

  // The complete envelopes in `body`, in order; an Error "malformed_body" naming the
  // problem when the body does not parse (nothing of it is delivered then).
  base::Result<std::vector<std::string>> feed(std::string_view body);
  size_t pending_bytes() const { return pending_bytes_; }

 private:
  struct Partial {
    uint32_t count = 0;
    uint32_t received = 0;
    size_t bytes = 0;
    std::vector<std::string> parts;
  };
  base::Status add_fragment(base::ByteReader& in, std::vector<std::string>& complete);
  void evict_oldest();

  size_t max_pending_messages_;
  size_t max_pending_bytes_;
  size_t pending_bytes_ = 0;
  std::map<uint64_t, Partial> pending_;  // by message id
  std::deque<uint64_t> arrival_;         // message ids, oldest first
};

}  // namespace aethel::lattice
