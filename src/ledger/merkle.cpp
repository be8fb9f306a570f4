// Hash primitives, the from-scratch root (the definition), and proof checking.
#include <algorithm>
#include <cstring>

#include "base/base.h"
#include "ledger/bytes.h"
#include "ledger/ledger.h"
#include "ledger/sha256.h"
#include "ledger/smt.h"

namespace aethel::ledger {
namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kInteriorPrefix = 0x01;
constexpr uint8_t kOwnedLeafPrefix = 0x03;  // 0x02 is the state root's

struct KeyedLeaf {
  Hash key;
  Hash leaf;
};

// The definition of a subtree's hash: empty -> kEmptyHash, one leaf -> its leaf
// hash, otherwise the interior hash of its two halves at the next depth.
Hash subtree_hash(std::span<const KeyedLeaf> leaves, unsigned depth) {
  if (leaves.empty()) return kEmptyHash;
  if (leaves.size() == 1) return leaves[0].leaf;
  AETHEL_CHECK(depth < 256);  // two equal keys cannot be in one tree
  const auto split = std::partition_point(
      leaves.begin(), leaves.end(), [&](const KeyedLeaf& l) { return key_bit(l.key, depth) == 0; });
  const auto left_count = static_cast<size_t>(split - leaves.begin());
  return interior_hash(subtree_hash(leaves.first(left_count), depth + 1),
                       subtree_hash(leaves.subspan(left_count), depth + 1));
}

bool shares_prefix(const Hash& a, const Hash& b, unsigned bits) {
  for (unsigned i = 0; i < bits; ++i) {
    if (key_bit(a, i) != key_bit(b, i)) return false;
  }
  return true;
}

}  // namespace

std::optional<Hash> hash_from_hex(std::string_view hex) {
  if (hex.size() != Hash{}.size() * 2) return std::nullopt;
  auto bytes = base::from_hex(hex);
  if (!bytes) return std::nullopt;
  Hash out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

Hash sha256(std::string_view bytes) {
  Hash out{};
  sha256_digest(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), out.data());
  return out;
}

Hash account_key(std::string_view name) {
  return sha256(name);
}

Hash leaf_hash(const Hash& key, const Account& account) {
  uint8_t buffer[1 + 32 + 8 + 8 + 32];
  buffer[0] = account.owner ? kOwnedLeafPrefix : kLeafPrefix;
  std::memcpy(buffer + 1, key.data(), 32);
  base::store_be(std::span<uint8_t>(buffer + 33, 8), static_cast<uint64_t>(account.balance));
  base::store_be(std::span<uint8_t>(buffer + 41, 8), account.nonce);
  size_t size = 49;
  if (account.owner) {
    std::memcpy(buffer + 49, account.owner->data(), 32);
    size += 32;
  }
  Hash out{};
  sha256_digest(buffer, size, out.data());
  return out;
}

Hash interior_hash(const Hash& left, const Hash& right) {
  uint8_t buffer[1 + 32 + 32];
  buffer[0] = kInteriorPrefix;
  std::memcpy(buffer + 1, left.data(), 32);
  std::memcpy(buffer + 33, right.data(), 32);
  Hash out{};
  sha256_digest(buffer, sizeof buffer, out.data());
  return out;
}

Hash merkle_root_from_scratch(std::span<const std::pair<std::string, Account>> accounts) {
  std::vector<KeyedLeaf> leaves;
  leaves.reserve(accounts.size());
  for (const auto& [name, account] : accounts) {
    const Hash key = account_key(name);
    leaves.push_back({key, leaf_hash(key, account)});
  }
  std::sort(leaves.begin(), leaves.end(),
            [](const KeyedLeaf& a, const KeyedLeaf& b) { return a.key < b.key; });
  return subtree_hash(leaves, 0);
}

Hash state_root(const Hash& accounts_root, const std::optional<Hash>& intents_root) {
  if (!intents_root) return accounts_root;
  std::string input(1, '\x02');
  input.append(reinterpret_cast<const char*>(accounts_root.data()), accounts_root.size());
  input.append(reinterpret_cast<const char*>(intents_root->data()), intents_root->size());
  return sha256(input);
}

namespace {

std::optional<Error> proof_failure(std::string message) {
  return Error{"proof_invalid", std::move(message)};
}

// The accounts root that `proof` implies for `name` in state `claim`, into `root`.
std::optional<Error> root_of_proof(std::string_view name, const std::optional<Account>& claim,
                                   const Proof& proof, Hash& root) {
  const auto fail = proof_failure;
  const size_t depth = proof.siblings.size();
  if (depth > 256) return fail("proof has more than 256 siblings");
  if (depth > 0 && proof.siblings[depth - 1] == kEmptyHash) {
    return fail("proof is not minimal: the deepest sibling is empty");
  }
  const Hash key = account_key(name);
  Hash hash{};
  switch (proof.terminal) {
    case ProofTerminal::kLeaf:
      if (!claim) return fail("proof shows the account exists but its absence is claimed");
      hash = leaf_hash(key, *claim);
      break;
    case ProofTerminal::kEmpty:
      if (claim) return fail("proof shows the account is absent but a state is claimed");
      hash = kEmptyHash;
      break;
    case ProofTerminal::kOtherLeaf:
      if (claim) return fail("proof shows the account is absent but a state is claimed");
      if (proof.other_key == key) return fail("proof's other leaf has the account's own key");
      if (!shares_prefix(proof.other_key, key, static_cast<unsigned>(depth))) {
        return fail("proof's other leaf does not lie on the account's path");
      }
      hash = leaf_hash(proof.other_key, proof.other_account);
      break;
    default:
      return fail("unknown proof terminal");
  }
  for (size_t level = depth; level > 0; --level) {
    const Hash& sibling = proof.siblings[level - 1];
    hash = key_bit(key, static_cast<unsigned>(level - 1)) == 0 ? interior_hash(hash, sibling)
                                                               : interior_hash(sibling, hash);
  }
  root = hash;
  return std::nullopt;
}

}  // namespace

std::optional<Error> verify_proof_against(const Hash& root, const std::optional<Hash>& intents_root,
                                          std::string_view name,
                                          const std::optional<Account>& claim, const Proof& proof) {
  Hash accounts_root{};
  if (auto failure = root_of_proof(name, claim, proof, accounts_root)) return failure;
  const Hash hash = state_root(accounts_root, intents_root);
  if (hash != root) {
    return proof_failure("root mismatch: proof gives " + to_hex(hash) + ", expected " +
                         to_hex(root));
  }
  return std::nullopt;
}

std::optional<Error> verify_proof(const Hash& root, std::string_view name,
                                  const std::optional<Account>& claim, const Proof& proof) {
  return verify_proof_against(root, std::nullopt, name, claim, proof);
}

}  // namespace aethel::ledger
