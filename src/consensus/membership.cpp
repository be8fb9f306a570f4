// Membership values and the single-server change rule (consensus.h, MEMBERSHIP).
#include <algorithm>
#include <set>

#include "consensus/consensus.h"

namespace aethel::consensus {
namespace {

bool contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

std::set<NodeId> as_set(const std::vector<NodeId>& ids) {
  return std::set<NodeId>(ids.begin(), ids.end());
}

// The one server whose place differs between the two sets, if exactly one does.
std::optional<NodeId> single_difference(const std::set<NodeId>& a, const std::set<NodeId>& b) {
  std::vector<NodeId> changed;
  std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(),
                                std::back_inserter(changed));
  if (changed.size() != 1) return std::nullopt;
  return changed.front();
}

constexpr std::uint8_t kMarker[] = {0xA7, 'M', 'B', 'R', 1};  // no block starts with 0xA7
constexpr std::size_t kMarkerBytes = sizeof kMarker;
constexpr std::size_t kIdBytes = 8;

void put_ids(Bytes& out, const std::vector<NodeId>& ids) {
  for (NodeId id : ids) {
    for (std::size_t i = 0; i < kIdBytes; ++i)
      out.push_back(static_cast<std::uint8_t>(id >> (8 * i)));
  }
}

std::vector<NodeId> get_ids(const Bytes& in, std::size_t offset, std::size_t count) {
  std::vector<NodeId> ids(count, 0);
  for (std::size_t n = 0; n < count; ++n) {
    for (std::size_t i = 0; i < kIdBytes; ++i) {
      ids[n] |= NodeId{in[offset + n * kIdBytes + i]} << (8 * i);
    }
  }
  return ids;
}

}  // namespace

bool is_membership_entry(const Bytes& data) {
  return data.size() >= kMarkerBytes && std::equal(kMarker, kMarker + kMarkerBytes, data.begin());
}

// Layout: marker | u8 voter count | u8 learner count | u64 LE per voter, per learner | data.
Bytes encode_membership_entry(const Membership& membership, const Bytes& data) {
  Bytes out(kMarker, kMarker + kMarkerBytes);
  out.push_back(static_cast<std::uint8_t>(membership.voters.size()));
  out.push_back(static_cast<std::uint8_t>(membership.learners.size()));
  put_ids(out, membership.voters);
  put_ids(out, membership.learners);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::optional<MembershipEntry> decode_membership_entry(const Bytes& data) {
  if (!is_membership_entry(data) || data.size() < kMarkerBytes + 2) return std::nullopt;
  const std::size_t voters = data[kMarkerBytes];
  const std::size_t learners = data[kMarkerBytes + 1];
  const std::size_t ids_at = kMarkerBytes + 2;
  const std::size_t data_at = ids_at + (voters + learners) * kIdBytes;
  if (data.size() < data_at) return std::nullopt;
  MembershipEntry entry;
  entry.membership.voters = get_ids(data, ids_at, voters);
  entry.membership.learners = get_ids(data, ids_at + voters * kIdBytes, learners);
  if (validate(entry.membership)) return std::nullopt;
  entry.data.assign(data.begin() + static_cast<long>(data_at), data.end());
  return entry;
}

bool Membership::is_voter(NodeId id) const {
  return contains(voters, id);
}

bool Membership::is_member(NodeId id) const {
  return contains(voters, id) || contains(learners, id);
}

std::optional<std::string> validate(const Membership& membership) {
  if (membership.voters.empty() || membership.voters.size() > kMaxVoters) {
    return "voters: 1..255 ids";
  }
  if (membership.learners.size() > kMaxVoters) return "learners: 0..255 ids";
  std::set<NodeId> all = as_set(membership.voters);
  if (all.size() != membership.voters.size()) return "voters must be distinct";
  for (NodeId learner : membership.learners) {
    if (!all.insert(learner).second) return "a learner is listed twice or is also a voter";
  }
  if (all.count(kNoNode) != 0) return "member ids must be non-zero";
  return std::nullopt;
}

std::optional<std::string> validate_change(const Membership& current, const Membership& next) {
  if (auto invalid = validate(next)) return invalid;
  const std::set<NodeId> voters = as_set(current.voters);
  const std::set<NodeId> next_voters = as_set(next.voters);
  const std::set<NodeId> learners = as_set(current.learners);
  const std::set<NodeId> next_learners = as_set(next.learners);
  if (voters == next_voters) {
    // A learner added or removed.
    if (single_difference(learners, next_learners)) return std::nullopt;
    return "exactly one server must change";
  }
  const std::optional<NodeId> voter = single_difference(voters, next_voters);
  if (!voter) return "only one voter may change at a time";
  if (next_voters.count(*voter) != 0) {
    // Promotion: the learner becomes a voter, nothing else moves.
    std::set<NodeId> expected = learners;
    if (expected.erase(*voter) == 0) return "only a learner can become a voter";
    if (expected != next_learners) return "exactly one server must change";
    return std::nullopt;
  }
  // Removal of a voter (never the last one: validate(next) requires a voter).
  if (learners != next_learners) return "exactly one server must change";
  return std::nullopt;
}

}  // namespace aethel::consensus
