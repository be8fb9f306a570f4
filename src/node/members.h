// Who belongs to a lattice beyond its genesis validators (SPEC §10), as the replica
// keeps it: consensus ids derived from peer IDs, the addresses of members added
// later, and the bytes that carry both through membership entries and snapshots.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "consensus/consensus.h"

namespace aethel::node {

// How to reach a member: what `POST /api/lattice/members` names.
struct MemberAddress {
  std::string peer_id;
  std::string url;                     // its API base URL; empty: learned otherwise
  std::vector<std::string> p2p_addrs;  // multiaddrs to dial; may be empty
  bool operator==(const MemberAddress&) const = default;
};

// A membership change (SPEC §10), one server at a time.
enum class MemberChange : uint8_t { kAdd = 1, kPromote = 2, kRemove = 3 };

// A follower hands a change to the leader (EnvelopeKind::kMemberChange):
// u64 request id | u8 change | encode_member bytes. The answer
// (kMemberChangeReply): u64 request id | string32 error code (empty: done) |
// string32 message.
struct MemberChangeRequest {
  uint64_t request_id = 0;
  MemberChange change = MemberChange::kAdd;
  MemberAddress member;
};
std::string member_change_envelope(const MemberChangeRequest& request);
std::optional<MemberChangeRequest> decode_member_change(std::string_view payload);
struct MemberChangeReply {
  uint64_t request_id = 0;
  std::optional<base::Error> error;
};
std::string member_change_reply_envelope(const MemberChangeReply& reply);
std::optional<MemberChangeReply> decode_member_change_reply(std::string_view payload);

// A member and its role.
struct Member {
  MemberAddress address;
  bool voter = false;
};

// Genesis validators keep their position in the sorted list plus one. Any other peer
// gets the first 8 bytes of SHA-256(peer ID) with bit 62 set and bit 63 clear, so it
// never meets a genesis id, and a joining node knows its own id before it is added.
consensus::NodeId member_node_id(const std::vector<std::string>& genesis_validators,
                                 std::string_view peer_id);

// The data of an "add learner" membership entry: u8 version = 1 | string32 peer ID |
// string32 URL | u32 count | count × string32 multiaddr.
std::string encode_member(const MemberAddress& member);
std::optional<MemberAddress> decode_member(std::string_view bytes);

// A snapshot's data: "AETHMEMB" | u32 count | count × encode_member (string32) |
// the ledger snapshot. Data that does not start with the magic is a ledger snapshot
// alone (written before membership changes existed). The header is everything before
// the ledger snapshot, which is written after it a piece at a time (tens of MB).
std::string snapshot_data_header(const std::vector<MemberAddress>& members);
struct SnapshotData {
  std::vector<MemberAddress> members;
  std::string_view ledger_snapshot;
};
std::optional<SnapshotData> decode_snapshot_data(std::string_view bytes);

// storage::Snapshot::configuration: the membership at the snapshot's index.
// u8 version = 1 | u32 voters | voters × u64 | u32 learners | learners × u64.
std::string encode_configuration(const consensus::Membership& membership);
std::optional<consensus::Membership> decode_configuration(std::string_view bytes);

}  // namespace aethel::node
