// The incremental sparse Merkle tree against the definition, on larger random sets
// than the ledger-level properties reach, with many updates between commits.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "ledger/ledger.h"
#include "ledger/smt.h"

namespace aethel::ledger {
namespace {

RC_GTEST_PROP(LedgerSmtProperty, IncrementalTreeEqualsDefinitionAfterEveryCommit, ()) {
  const int rounds = *rc::gen::inRange(1, 6);
  SparseMerkleTree tree;
  std::vector<std::pair<std::string, Account>> accounts;
  std::vector<uint32_t> leaf_ids;
  RC_ASSERT(tree.commit() == kEmptyHash);
  for (int round = 0; round < rounds; ++round) {
    // Some new accounts, then updates to random existing ones (repeats included).
    const int inserts = *rc::gen::inRange(0, 200);
    for (int i = 0; i < inserts; ++i) {
      const std::string name = "n" + std::to_string(accounts.size());
      const Account account{*rc::gen::inRange<int64_t>(0, 1'000'000), 0};
      const Hash key = account_key(name);
      leaf_ids.push_back(
          tree.insert(key, leaf_hash(key, account), static_cast<uint32_t>(accounts.size())));
      accounts.emplace_back(name, account);
    }
    if (!accounts.empty()) {
      const int updates = *rc::gen::inRange(0, 100);
      for (int u = 0; u < updates; ++u) {
        const auto i = *rc::gen::inRange<size_t>(0, accounts.size());
        auto& [name, account] = accounts[i];
        account.nonce += 1;
        account.balance = *rc::gen::inRange<int64_t>(0, 1'000'000);
        tree.update(leaf_ids[i], leaf_hash(account_key(name), account));
      }
    }
    RC_ASSERT(tree.commit() == merkle_root_from_scratch(accounts));
    RC_ASSERT(tree.leaf_count() == accounts.size());
  }
  // Every account's walk is an inclusion proof that verifies; a stranger's is not.
  for (size_t i = 0; i < accounts.size(); i += 7) {
    const auto walk = tree.walk(account_key(accounts[i].first));
    RC_ASSERT(walk.terminal == ProofTerminal::kLeaf);
    RC_ASSERT(walk.payload == i);
    Proof proof;
    proof.terminal = walk.terminal;
    proof.siblings = walk.siblings;
    RC_ASSERT(!verify_proof(tree.root(), accounts[i].first, accounts[i].second, proof));
  }
  const auto stranger = tree.walk(account_key("stranger"));
  RC_ASSERT(stranger.terminal != ProofTerminal::kLeaf);
}

}  // namespace
}  // namespace aethel::ledger
