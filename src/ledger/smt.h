// The incremental sparse Merkle tree behind Ledger::root(). Internal to the ledger
// module; the hashing rules it implements are the public ones of ledger.h and
// docs/MERKLE.md.
//
// Shape: a crit-bit (PATRICIA) trie over 256-bit keys. Only leaves and branching
// nodes exist in memory; the levels between a branching node and its parent, whose
// other side is empty, are hashed on the fly ("lifting"), and a subtree holding a
// single leaf hashes to that leaf's hash. So a touched leaf costs O(log n) hashes,
// not 256. Updates only mark paths dirty; commit() rehashes each dirty node once,
// so paths shared by many touched leaves in a block are hashed once.
//
// Keys are never removed: ledger accounts are never deleted.
#pragma once

#include <cstdint>
#include <vector>

#include "ledger/ledger.h"

namespace aethel::ledger {

// Bit `index` (0 = most significant bit of byte 0) of a key: the direction taken at
// depth `index` (0 = left, 1 = right).
inline int key_bit(const Hash& key, unsigned index) {
  return (key[index >> 3] >> (7 - (index & 7))) & 1;
}

class SparseMerkleTree {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // Adds a key that is not yet in the tree; `payload` is returned by walks that end
  // in this leaf (the ledger stores its account slot there). Returns the leaf id.
  uint32_t insert(const Hash& key, const Hash& leaf_hash, uint32_t payload);
  // Replaces the hash of an existing leaf.
  void update(uint32_t leaf_id, const Hash& leaf_hash);
  // The key a leaf was inserted with.
  const Hash& leaf_key(uint32_t leaf_id) const { return key_of(leaf_id); }
  // Rehashes everything dirty and returns the root.
  const Hash& commit();
  // The root as of the last commit().
  const Hash& root() const { return root_; }
  bool has_pending_changes() const { return root_id_ != kNone && dirty_[root_id_] != 0; }
  size_t leaf_count() const { return keys_.size(); }

  // The path of `key` from the root, as a proof needs it. Requires no pending
  // changes.
  struct Walk {
    ProofTerminal terminal = ProofTerminal::kEmpty;
    std::vector<Hash> siblings;
    uint32_t payload = kNone;  // the leaf reached (kLeaf, kOtherLeaf)
    Hash leaf_key{};           // its key
  };
  Walk walk(const Hash& key) const;

 private:
  static constexpr uint16_t kLeafBit = 256;
  struct Node {
    Hash hash{};  // leaf: its leaf hash; branch: hash of the subtree at depth `bit`
    uint32_t child[2] = {kNone, kNone};
    // Leaf: its number in keys_ and payloads_. Branch: the number of some leaf below,
    // whose key holds the prefix the branch's leaves share (keys are not repeated in
    // branches: 48-byte nodes instead of 80).
    uint32_t leaf = kNone;
    uint16_t bit = kLeafBit;  // branch: the depth at which its two sides split
  };
  bool is_leaf(uint32_t id) const { return nodes_[id].bit == kLeafBit; }
  const Hash& key_of(uint32_t id) const { return keys_[nodes_[id].leaf]; }
  void mark_dirty_upwards(uint32_t id);
  void rehash(uint32_t id);
  // Hash of the subtree of node `id` seen from depth `depth` (<= its own depth).
  Hash lifted_hash(uint32_t id, unsigned depth) const;

  uint32_t add_node(const Node& node, uint32_t parent);

  // Parallel arrays indexed by node id. Parent links and dirty flags are what an
  // update walks, so they are kept apart from the 80-byte nodes and stay in cache.
  std::vector<Node> nodes_;
  std::vector<uint32_t> parent_;
  std::vector<uint8_t> dirty_;
  // Per leaf, by its number (Node::leaf).
  std::vector<Hash> keys_;
  std::vector<uint32_t> payloads_;
  uint32_t root_id_ = kNone;
  Hash root_ = kEmptyHash;
};

}  // namespace aethel::ledger
