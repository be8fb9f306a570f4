// The bytes a node stores, serves and sends: blocks (what /api/lattice/blocks
// serves and the store keeps), Raft entries (a block without height and root) and
// the envelopes validators send each other through the Transport.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "consensus/consensus.h"
#include "ledger/ledger.h"

namespace aethel::node {

using ledger::Error;
using ledger::Result;

// A block: height, the root before it was applied (a replay checks it), and the
// transactions in commit order. Byte layout (docs/API.md, "Blocks"):
//   u8 version = 1 | u64 BE height | 32 bytes prev_root | u32 BE count |
//   count × (u32 BE length | encode_transaction bytes)
struct Block {
  uint64_t height = 0;
  ledger::Hash prev_root{};
  std::vector<ledger::Transaction> transactions;
};
std::string encode_block(const Block& block);
Result<Block> decode_block(std::string_view bytes);

// A Raft entry carries its transactions in the block layout with height and root
// zero: those are only known when the entry is applied.
std::string encode_entry(const std::vector<ledger::Transaction>& transactions);

// What validators send each other: one kind byte, then the payload.
enum class EnvelopeKind : uint8_t {
  kRaft = 1,               // a consensus::Message (consensus::encode)
  kForward = 2,            // follower → leader: u64 request id | transactions as an entry
  kForwardReply = 3,       // leader → follower: ForwardReply
  kProbe = 4,              // a node with an empty store asks: how long is your log? (no payload)
  kProbeReply = 5,         // u64 current term | u64 term, u64 index of the last log entry
                           // | u32 count | count × string32 voter peer ID
  kMemberChange = 6,       // follower → leader: a membership change (members.h)
  kMemberChangeReply = 7,  // leader → follower: its outcome
};

// The leader's answer to a forwarded write: `accepted` false means "I do not lead,
// route it again"; otherwise the write is at (term, index), from `offset` on.
// The leader's admission may add (encoded after the fixed fields, only when set):
// `known`, one slot per forwarded transaction, holding the original outcome of those
// whose ids its outcome index holds (they were not proposed again; index 0 when none
// was proposed), and `error`, a refusal of the whole write.
struct ForwardReply {
  uint64_t request_id = 0;
  bool accepted = false;
  uint64_t term = 0;
  uint64_t index = 0;
  uint32_t offset = 0;
  std::vector<std::optional<ledger::Outcome>> known;
  std::optional<Error> error;
};

std::string raft_envelope(std::string_view encoded_message);
std::string forward_envelope(uint64_t request_id, const std::vector<ledger::Transaction>& txs);
std::string forward_reply_envelope(const ForwardReply& reply);
std::string probe_envelope();
// What a probe learns: the peer's current term, where its log ends and the voters of
// the membership in force there (a node that lost its disk knows only the genesis or
// joined membership; the lattice may have changed since).
struct ProbeReply {
  consensus::Term term = 0;
  consensus::LogPosition last;
  std::vector<std::string> voters;
};
std::string probe_reply_envelope(const ProbeReply& reply);

struct Forward {
  uint64_t request_id = 0;
  std::vector<ledger::Transaction> transactions;
};
// Payload decoders (the bytes after the kind byte); nullopt for anything malformed.
std::optional<Forward> decode_forward(std::string_view payload);
std::optional<ForwardReply> decode_forward_reply(std::string_view payload);
std::optional<ProbeReply> decode_probe_reply(std::string_view payload);

}  // namespace aethel::node
