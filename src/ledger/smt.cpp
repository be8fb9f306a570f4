#include "ledger/smt.h"

#include "base/base.h"

namespace aethel::ledger {
namespace {

// Index of the first bit where two keys differ; 256 when they are equal.
unsigned first_difference(const Hash& a, const Hash& b) {
  for (unsigned byte = 0; byte < a.size(); ++byte) {
    const unsigned diff = static_cast<unsigned>(a[byte] ^ b[byte]);
    if (diff != 0) return byte * 8 + static_cast<unsigned>(__builtin_clz(diff)) - 24;
  }
  return 256;
}

}  // namespace

uint32_t SparseMerkleTree::add_node(const Node& node, uint32_t parent) {
  AETHEL_CHECK(nodes_.size() < kNone - 1);
  nodes_.push_back(node);
  parent_.push_back(parent);
  dirty_.push_back(1);
  return static_cast<uint32_t>(nodes_.size() - 1);
}

uint32_t SparseMerkleTree::insert(const Hash& key, const Hash& leaf_hash, uint32_t payload) {
  Node leaf;
  leaf.hash = leaf_hash;
  leaf.leaf = static_cast<uint32_t>(keys_.size());
  keys_.push_back(key);
  payloads_.push_back(payload);
  if (root_id_ == kNone) {
    root_id_ = add_node(leaf, kNone);
    return root_id_;
  }
  // The leaf whose key shares the longest prefix with `key` is the one reached by
  // following `key`'s bits at every branch.
  uint32_t closest = root_id_;
  while (!is_leaf(closest)) closest = nodes_[closest].child[key_bit(key, nodes_[closest].bit)];
  const unsigned split_bit = first_difference(key, key_of(closest));
  AETHEL_CHECK(split_bit < 256);  // the key is not in the tree yet

  // The new branch goes above the first node on the path that splits deeper.
  uint32_t parent = kNone;
  uint32_t below = root_id_;
  while (!is_leaf(below) && nodes_[below].bit < split_bit) {
    parent = below;
    below = nodes_[below].child[key_bit(key, nodes_[below].bit)];
  }
  Node branch;
  branch.leaf = leaf.leaf;
  branch.bit = static_cast<uint16_t>(split_bit);
  const uint32_t branch_id = add_node(branch, parent);
  const uint32_t leaf_id = add_node(leaf, branch_id);
  const int side = key_bit(key, split_bit);
  nodes_[branch_id].child[side] = leaf_id;
  nodes_[branch_id].child[1 - side] = below;
  parent_[below] = branch_id;
  if (parent == kNone) {
    root_id_ = branch_id;
  } else {
    Node& p = nodes_[parent];
    p.child[key_bit(key, p.bit)] = branch_id;
    mark_dirty_upwards(parent);
  }
  return leaf_id;
}

void SparseMerkleTree::update(uint32_t leaf_id, const Hash& leaf_hash) {
  AETHEL_CHECK(leaf_id < nodes_.size() && is_leaf(leaf_id));
  nodes_[leaf_id].hash = leaf_hash;
  mark_dirty_upwards(leaf_id);
}

// Invariant: a dirty node's ancestors are all dirty, so the walk stops at the first
// node already marked.
void SparseMerkleTree::mark_dirty_upwards(uint32_t id) {
  while (id != kNone && dirty_[id] == 0) {
    dirty_[id] = 1;
    id = parent_[id];
  }
  // A leaf updated twice in a block is dirty already; its ancestors then are too.
}

const Hash& SparseMerkleTree::commit() {
  if (root_id_ == kNone) {
    root_ = kEmptyHash;
    return root_;
  }
  if (dirty_[root_id_] != 0) {
    rehash(root_id_);
    root_ = lifted_hash(root_id_, 0);
  }
  return root_;
}

void SparseMerkleTree::rehash(uint32_t id) {
  if (dirty_[id] == 0) return;
  dirty_[id] = 0;
  Node& node = nodes_[id];
  if (node.bit == kLeafBit) return;
  rehash(node.child[0]);
  rehash(node.child[1]);
  const unsigned child_depth = node.bit + 1u;
  node.hash = interior_hash(lifted_hash(node.child[0], child_depth),
                            lifted_hash(node.child[1], child_depth));
}

Hash SparseMerkleTree::lifted_hash(uint32_t id, unsigned depth) const {
  const Node& node = nodes_[id];
  Hash hash = node.hash;
  if (node.bit == kLeafBit) return hash;  // a lone leaf hashes to itself at any depth
  AETHEL_CHECK(depth <= node.bit);
  if (node.bit == depth) return hash;
  const Hash& prefix = key_of(id);  // read only when lifting: another cache line
  for (unsigned level = node.bit; level > depth; --level) {
    hash = key_bit(prefix, level - 1) == 0 ? interior_hash(hash, kEmptyHash)
                                           : interior_hash(kEmptyHash, hash);
  }
  return hash;
}

SparseMerkleTree::Walk SparseMerkleTree::walk(const Hash& key) const {
  AETHEL_CHECK(!has_pending_changes());
  Walk result;
  uint32_t id = root_id_;
  unsigned depth = 0;
  while (id != kNone) {
    const Node& node = nodes_[id];
    if (node.bit == kLeafBit) {
      result.terminal = key_of(id) == key ? ProofTerminal::kLeaf : ProofTerminal::kOtherLeaf;
      result.payload = payloads_[node.leaf];
      result.leaf_key = key_of(id);
      return result;
    }
    const Hash& prefix = key_of(id);
    for (unsigned level = depth; level < node.bit; ++level) {
      if (key_bit(key, level) != key_bit(prefix, level)) {
        // The key leaves this branch's prefix here: its side is empty.
        result.siblings.push_back(lifted_hash(id, level + 1));
        result.terminal = ProofTerminal::kEmpty;
        return result;
      }
      result.siblings.push_back(kEmptyHash);
    }
    const int side = key_bit(key, node.bit);
    result.siblings.push_back(lifted_hash(node.child[1 - side], node.bit + 1u));
    id = node.child[side];
    depth = node.bit + 1u;
  }
  result.terminal = ProofTerminal::kEmpty;  // the empty tree
  return result;
}

}  // namespace aethel::ledger
