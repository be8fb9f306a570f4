// Prng and the names of enums.
#include "base/base.h"
#include "consensus/consensus.h"

namespace aethel::consensus {
namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

}  // namespace

Prng::Prng(std::uint64_t seed) {
  std::uint64_t state = seed;
  for (auto& word : s_) word = splitmix64(state);
}

std::uint64_t Prng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Prng::below(std::uint64_t bound) {
  AETHEL_CHECK(bound > 0);
  // Rejection sampling: exactly uniform, still deterministic for a given seed.
  const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
  std::uint64_t value = next();
  while (value >= limit) value = next();
  return value % bound;
}

bool Prng::chance(std::uint64_t numerator, std::uint64_t denominator) {
  return below(denominator) < numerator;
}

bool may_send_before_sync(const Message& message) {
  switch (message.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
    case MessageType::kTimeoutNow:
      return true;
    default:
      return false;  // votes and acknowledgements promise this node's writes
  }
}

const char* role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

const char* error_name(Error error) {
  switch (error) {
    case Error::kNone:
      return "none";
    case Error::kNotLeader:
      return "not leader";
    case Error::kTransferInProgress:
      return "leadership transfer in progress";
    case Error::kTooManyUncommitted:
      return "too many uncommitted entries";
    case Error::kEntryTooLarge:
      return "entry too large";
    case Error::kNotReady:
      return "leader has not committed in its term yet";
    case Error::kTooManyPendingReads:
      return "too many pending reads";
    case Error::kInvalidArgument:
      return "invalid argument";
    case Error::kChangePending:
      return "a membership change is pending";
    case Error::kLearnerBehind:
      return "the learner is behind";
    case Error::kRemovesLeader:
      return "the change removes the leader";
  }
  return "unknown";
}

}  // namespace aethel::consensus
