#include "node/members.h"

#include <algorithm>

#include "base/base.h"
#include "ledger/ledger.h"
#include "node/block.h"

namespace aethel::node {
namespace {

constexpr uint8_t kMemberVersion = 1;
constexpr uint8_t kConfigurationVersion = 1;
constexpr std::string_view kSnapshotMagic = "AETHMEMB";
constexpr size_t kMaxTextBytes = 4096;
constexpr uint32_t kMaxAddresses = 64;
constexpr uint32_t kMaxMembers = 1024;

void write_ids(base::ByteWriter& out, const std::vector<consensus::NodeId>& ids) {
  out.u32(static_cast<uint32_t>(ids.size()));
  for (consensus::NodeId id : ids) out.u64(id);
}

std::optional<std::vector<consensus::NodeId>> read_ids(base::ByteReader& in) {
  uint32_t count = in.u32();
  if (!in.ok() || count > kMaxMembers) return std::nullopt;
  std::vector<consensus::NodeId> ids;
  for (uint32_t i = 0; i < count && in.ok(); ++i) ids.push_back(in.u64());
  if (!in.ok()) return std::nullopt;
  return ids;
}

}  // namespace

consensus::NodeId member_node_id(const std::vector<std::string>& genesis_validators,
                                 std::string_view peer_id) {
  auto it = std::lower_bound(genesis_validators.begin(), genesis_validators.end(), peer_id);
  if (it != genesis_validators.end() && *it == peer_id) {
    return static_cast<consensus::NodeId>(it - genesis_validators.begin()) + 1;
  }
  ledger::Hash digest = ledger::sha256(peer_id);
  consensus::NodeId id = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | digest[i];
  return (id & ((consensus::NodeId{1} << 62) - 1)) | (consensus::NodeId{1} << 62);
}

std::string encode_member(const MemberAddress& member) {
  base::ByteWriter out;
  out.u8(kMemberVersion);
  out.string32(member.peer_id);
  out.string32(member.url);
  out.u32(static_cast<uint32_t>(member.p2p_addrs.size()));
  for (const std::string& address : member.p2p_addrs) out.string32(address);
  return out.take();
}

std::optional<MemberAddress> decode_member(std::string_view bytes) {
  base::ByteReader in(bytes);
  if (in.u8() != kMemberVersion) return std::nullopt;
  MemberAddress member;
  member.peer_id = in.string32(kMaxTextBytes);
  member.url = in.string32(kMaxTextBytes);
  uint32_t count = in.u32();
  if (!in.ok() || count > kMaxAddresses) return std::nullopt;
  for (uint32_t i = 0; i < count && in.ok(); ++i) {
    member.p2p_addrs.emplace_back(in.string32(kMaxTextBytes));
  }
  if (!in.ok() || !in.at_end() || member.peer_id.empty()) return std::nullopt;
  return member;
}

std::string snapshot_data_header(const std::vector<MemberAddress>& members) {
  base::ByteWriter out;
  out.bytes(kSnapshotMagic);
  out.u32(static_cast<uint32_t>(members.size()));
  for (const MemberAddress& member : members) out.string32(encode_member(member));
  return out.take();
}

std::optional<SnapshotData> decode_snapshot_data(std::string_view bytes) {
  if (!bytes.starts_with(kSnapshotMagic)) return SnapshotData{{}, bytes};
  base::ByteReader in(bytes.substr(kSnapshotMagic.size()));
  uint32_t count = in.u32();
  if (!in.ok() || count > kMaxMembers) return std::nullopt;
  SnapshotData data;
  for (uint32_t i = 0; i < count; ++i) {
    auto member = decode_member(in.string32(kMaxTextBytes * (kMaxAddresses + 2)));
    if (!in.ok() || !member) return std::nullopt;
    data.members.push_back(std::move(*member));
  }
  data.ledger_snapshot = in.rest();
  return data;
}

std::string member_change_envelope(const MemberChangeRequest& request) {
  base::ByteWriter out;
  out.u8(static_cast<uint8_t>(EnvelopeKind::kMemberChange));
  out.u64(request.request_id);
  out.u8(static_cast<uint8_t>(request.change));
  out.bytes(encode_member(request.member));
  return out.take();
}

std::optional<MemberChangeRequest> decode_member_change(std::string_view payload) {
  base::ByteReader in(payload);
  MemberChangeRequest request;
  request.request_id = in.u64();
  uint8_t change = in.u8();
  if (!in.ok() || change < 1 || change > 3) return std::nullopt;
  request.change = static_cast<MemberChange>(change);
  auto member = decode_member(in.rest());
  if (!member) return std::nullopt;
  request.member = std::move(*member);
  return request;
}

std::string member_change_reply_envelope(const MemberChangeReply& reply) {
  base::ByteWriter out;
  out.u8(static_cast<uint8_t>(EnvelopeKind::kMemberChangeReply));
  out.u64(reply.request_id);
  out.string32(reply.error ? reply.error->code : "");
  out.string32(reply.error ? reply.error->message : "");
  return out.take();
}

std::optional<MemberChangeReply> decode_member_change_reply(std::string_view payload) {
  base::ByteReader in(payload);
  MemberChangeReply reply;
  reply.request_id = in.u64();
  std::string code(in.string32(kMaxTextBytes));
  std::string message(in.string32(kMaxTextBytes));
  if (!in.ok() || !in.at_end()) return std::nullopt;
  if (!code.empty()) reply.error = base::Error{std::move(code), std::move(message)};
  return reply;
}

std::string encode_configuration(const consensus::Membership& membership) {
  base::ByteWriter out;
  out.u8(kConfigurationVersion);
  write_ids(out, membership.voters);
  write_ids(out, membership.learners);
  return out.take();
}

std::optional<consensus::Membership> decode_configuration(std::string_view bytes) {
  base::ByteReader in(bytes);
  if (in.u8() != kConfigurationVersion) return std::nullopt;
  auto voters = read_ids(in);
  auto learners = voters ? read_ids(in) : std::nullopt;
  if (!learners || !in.at_end()) return std::nullopt;
  return consensus::Membership{std::move(*voters), std::move(*learners)};
}

}  // namespace aethel::node
