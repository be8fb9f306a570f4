// The sparse Merkle tree: hashing rules by hand, incremental == from scratch,
// inclusion and non-inclusion proofs, their encodings, tampering.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "base/base.h"
#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

// Root of the built-in genesis (Alice 1000, Bob 500, Charlie 250, nonces 0).
constexpr const char* DEFAULT_GENESIS_ROOT_HEX =
    "0d9f0d6a20558bbebf5f9791b4e015ca22df483604c1319f4dca49a8435a514d";

std::string raw(const Hash& h) {
  return std::string(h.begin(), h.end());
}

// The leaf hash spelled out from docs/MERKLE.md, independently of leaf_hash().
Hash doc_leaf(std::string_view name, int64_t balance, uint64_t nonce) {
  base::ByteWriter preimage;
  preimage.u8(0);
  preimage.bytes(raw(sha256(name)));
  preimage.i64(balance);
  preimage.u64(nonce);
  return sha256(preimage.str());
}

Hash doc_interior(const Hash& left, const Hash& right) {
  return sha256("\x01" + raw(left) + raw(right));
}

int bit(const Hash& key, unsigned i) {
  return (key[i / 8] >> (7 - i % 8)) & 1;
}

BlockResult apply(Ledger& ledger, std::vector<Transaction> txs) {
  auto r = ledger.apply_block(ledger.height() + 1, txs);
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

TEST(LedgerMerkle, EmptyTreeRootIsThirtyTwoZeroBytes) {
  EXPECT_EQ(merkle_root_from_scratch({}), kEmptyHash);
  EXPECT_EQ(to_hex(kEmptyHash), std::string(64, '0'));
}

TEST(LedgerMerkle, HashRulesMatchTheDocumentedBytes) {
  EXPECT_EQ(account_key("Alice"), sha256("Alice"));
  EXPECT_EQ(leaf_hash(account_key("Alice"), {1000, 7}), doc_leaf("Alice", 1000, 7));
  const Hash a = sha256("a");
  const Hash b = sha256("b");
  EXPECT_EQ(interior_hash(a, b), doc_interior(a, b));
  EXPECT_NE(interior_hash(a, b), interior_hash(b, a));
}

TEST(LedgerMerkle, SingleAccountRootIsItsLeafHash) {
  const std::vector<std::pair<std::string, Account>> one{{"Alice", {5, 1}}};
  EXPECT_EQ(merkle_root_from_scratch(one), doc_leaf("Alice", 5, 1));
  const auto g = make_genesis({{"Alice", 5}});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(Ledger(g.value()).root(), doc_leaf("Alice", 5, 0));
}

TEST(LedgerMerkle, DefaultGenesisRootByHand) {
  // Build the three-leaf tree of the default genesis from the rules alone.
  struct Leaf {
    Hash key;
    Hash hash;
  };
  std::vector<Leaf> leaves;
  for (const auto& g : default_genesis().accounts) {
    leaves.push_back({sha256(g.name), doc_leaf(g.name, g.balance, 0)});
  }
  // Recursive definition, written out again here on purpose.
  std::function<Hash(std::vector<Leaf>, unsigned)> subtree = [&](std::vector<Leaf> ls,
                                                                 unsigned depth) -> Hash {
    if (ls.empty()) return Hash{};
    if (ls.size() == 1) return ls[0].hash;
    std::vector<Leaf> left, right;
    for (const Leaf& l : ls) (bit(l.key, depth) ? right : left).push_back(l);
    return doc_interior(subtree(left, depth + 1), subtree(right, depth + 1));
  };
  const Hash expected = subtree(leaves, 0);
  const Ledger ledger(default_genesis());
  EXPECT_EQ(ledger.root(), expected);
  // Pinned in docs/MERKLE.md as a test vector for independent checkers.
  EXPECT_EQ(to_hex(ledger.root()), DEFAULT_GENESIS_ROOT_HEX);
}

// Names whose keys share a long prefix force long runs of empty siblings.
std::pair<std::string, std::string> names_sharing_prefix(unsigned bits) {
  std::map<uint32_t, std::string> seen;
  for (int i = 0;; ++i) {
    const std::string name = "p" + std::to_string(i);
    const Hash key = sha256(name);
    const uint32_t prefix =
        ((uint32_t{key[0]} << 24) | (uint32_t{key[1]} << 16) | (uint32_t{key[2]} << 8) | key[3]) >>
        (32 - bits);
    auto [it, inserted] = seen.emplace(prefix, name);
    if (!inserted) return {it->second, name};
  }
}

TEST(LedgerMerkle, LongSharedPrefixIncrementalMatchesScratchAndProofsHold) {
  const auto [first, second] = names_sharing_prefix(18);
  const auto g = make_genesis({{"Alice", 100}, {first, 0}});
  ASSERT_TRUE(g.ok());
  Ledger ledger(g.value());
  apply(ledger, {Transaction::transfer("Alice", second, 30)});
  EXPECT_FALSE(ledger.check_invariants().has_value());
  for (const std::string& name : {first, second, std::string("Alice")}) {
    const Proof proof = ledger.prove(name);
    EXPECT_EQ(proof.terminal, ProofTerminal::kLeaf);
    if (name != "Alice") {
      EXPECT_GE(proof.siblings.size(), 18u);
    }
    EXPECT_FALSE(verify_proof(ledger.root(), name, ledger.account(name), proof).has_value());
  }
}

Ledger ledger_with_accounts(int count) {
  std::vector<GenesisAccount> accounts;
  for (int i = 0; i < count; ++i) accounts.push_back({"acct" + std::to_string(i), 100 + i});
  return Ledger(make_genesis(accounts).value());
}

TEST(LedgerProof, InclusionForEveryAccountAndBothKindsOfNonInclusion) {
  Ledger ledger = ledger_with_accounts(64);
  apply(ledger, {Transaction::transfer("acct1", "acct2", 50)});
  for (int i = 0; i < 64; ++i) {
    const std::string name = "acct" + std::to_string(i);
    const Proof proof = ledger.prove(name);
    ASSERT_EQ(proof.terminal, ProofTerminal::kLeaf);
    EXPECT_FALSE(verify_proof(ledger.root(), name, ledger.account(name), proof).has_value());
  }
  int empty = 0;
  int other = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string name = "ghost" + std::to_string(i);
    const Proof proof = ledger.prove(name);
    ASSERT_NE(proof.terminal, ProofTerminal::kLeaf);
    (proof.terminal == ProofTerminal::kEmpty ? empty : other)++;
    const auto error = verify_proof(ledger.root(), name, std::nullopt, proof);
    EXPECT_FALSE(error.has_value()) << error->message;
    // Claiming the ghost exists must fail.
    EXPECT_TRUE(verify_proof(ledger.root(), name, Account{0, 0}, proof).has_value());
  }
  EXPECT_GT(empty, 0);
  EXPECT_GT(other, 0);
}

TEST(LedgerProof, EmptyTreeAndSingleLeafEdgeCases) {
  Proof empty_proof;
  EXPECT_FALSE(verify_proof(kEmptyHash, "Anyone", std::nullopt, empty_proof).has_value());
  const auto g = make_genesis({{"Solo", 9}});
  const Ledger solo(g.value());
  const Proof in = solo.prove("Solo");
  EXPECT_EQ(in.terminal, ProofTerminal::kLeaf);
  EXPECT_TRUE(in.siblings.empty());
  EXPECT_FALSE(verify_proof(solo.root(), "Solo", Account{9, 0}, in).has_value());
  const Proof out = solo.prove("Other");
  EXPECT_EQ(out.terminal, ProofTerminal::kOtherLeaf);
  EXPECT_FALSE(verify_proof(solo.root(), "Other", std::nullopt, out).has_value());
}

TEST(LedgerProof, TamperingIsDetected) {
  Ledger ledger = ledger_with_accounts(32);
  const std::string name = "acct7";
  const Account truth = *ledger.account(name);
  const Proof proof = ledger.prove(name);
  ASSERT_FALSE(proof.siblings.empty());
  const Hash root = ledger.root();
  ASSERT_FALSE(verify_proof(root, name, truth, proof).has_value());

  for (size_t s = 0; s < proof.siblings.size(); ++s) {
    for (unsigned b = 0; b < 256; b += 37) {
      Proof bad = proof;
      bad.siblings[s][b / 8] ^= static_cast<uint8_t>(1u << (b % 8));
      EXPECT_TRUE(verify_proof(root, name, truth, bad).has_value()) << s << "/" << b;
    }
  }
  EXPECT_TRUE(verify_proof(root, name, Account{truth.balance + 1, truth.nonce}, proof));
  EXPECT_TRUE(verify_proof(root, name, Account{truth.balance, truth.nonce + 1}, proof));
  EXPECT_TRUE(verify_proof(root, "acct8", truth, proof));
  EXPECT_TRUE(verify_proof(root, name, std::nullopt, proof));
  Hash wrong_root = root;
  wrong_root[31] ^= 1;
  const auto error = verify_proof(wrong_root, name, truth, proof);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("root mismatch"), std::string::npos);
  Proof shorter = proof;
  shorter.siblings.pop_back();
  EXPECT_TRUE(verify_proof(root, name, truth, shorter));
  Proof padded = proof;
  padded.siblings.push_back(kEmptyHash);
  EXPECT_TRUE(verify_proof(root, name, truth, padded));

  // A non-inclusion proof whose other leaf is altered fails as well.
  for (int i = 0;; ++i) {
    const std::string ghost = "ghost" + std::to_string(i);
    const Proof absent = ledger.prove(ghost);
    if (absent.terminal != ProofTerminal::kOtherLeaf) continue;
    ASSERT_FALSE(verify_proof(root, ghost, std::nullopt, absent).has_value());
    Proof bad = absent;
    bad.other_account.balance += 1;
    EXPECT_TRUE(verify_proof(root, ghost, std::nullopt, bad));
    bad = absent;
    bad.other_key = account_key(ghost);
    EXPECT_TRUE(verify_proof(root, ghost, std::nullopt, bad));
    break;
  }
}

TEST(LedgerProof, ByteAndJsonFormsRoundTrip) {
  Ledger ledger = ledger_with_accounts(40);
  for (const std::string name : {"acct3", "ghost1", "ghost2", "ghost3", "ghost4", "ghost5"}) {
    const Proof proof = ledger.prove(name);
    const auto from_bytes = decode_proof(encode_proof(proof));
    ASSERT_TRUE(from_bytes.ok()) << from_bytes.error().message;
    EXPECT_EQ(from_bytes.value(), proof);
    const auto from_json = proof_from_json(proof_to_json(proof));
    ASSERT_TRUE(from_json.ok()) << from_json.error().message;
    EXPECT_EQ(from_json.value(), proof);
  }
}

TEST(LedgerProof, DecodersRefuseMalformedInput) {
  Ledger ledger = ledger_with_accounts(40);
  Proof proof;
  for (int i = 0;; ++i) {  // an other_leaf proof exercises every field
    proof = ledger.prove("ghost" + std::to_string(i));
    if (proof.terminal == ProofTerminal::kOtherLeaf) break;
  }
  const std::string bytes = encode_proof(proof);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(decode_proof(bytes.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(decode_proof(bytes + std::string(1, '\0')).ok());
  std::string wrong_version = bytes;
  wrong_version[0] = 2;
  EXPECT_FALSE(decode_proof(wrong_version).ok());
  std::string wrong_terminal = bytes;
  wrong_terminal[1] = 3;
  EXPECT_FALSE(decode_proof(wrong_terminal).ok());

  EXPECT_FALSE(proof_from_json("{").ok());
  EXPECT_FALSE(proof_from_json(R"({"version":1,"terminal":"leaf"})").ok());
  EXPECT_FALSE(proof_from_json(R"({"version":2,"terminal":"leaf","siblings":[]})").ok());
  EXPECT_FALSE(proof_from_json(R"({"version":1,"terminal":"leaf","siblings":["zz"]})").ok());
  EXPECT_FALSE(proof_from_json(R"({"version":1,"terminal":"other_leaf","siblings":[]})").ok());
  EXPECT_TRUE(proof_from_json(R"({"version":1,"terminal":"empty","siblings":[],"name":"x"})").ok());
}

}  // namespace
}  // namespace aethel::ledger

namespace aethel::ledger {
namespace {

TEST(LedgerProofDocument, RoundTripsAndVerifiesForPresentAndAbsentAccounts) {
  Ledger ledger(default_genesis());
  ASSERT_TRUE(
      ledger.apply_block(1, std::vector<Transaction>{Transaction::transfer("Alice", "Bob", 100)})
          .ok());
  for (const std::string name : {"Bob", "Mallory"}) {
    const ProofDocument document = ledger.prove_document(name);
    EXPECT_EQ(document.root, ledger.root());
    EXPECT_EQ(document.height, 1u);
    EXPECT_EQ(document.account, ledger.account(name));
    const std::string json = proof_document_to_json(document);
    const auto parsed = parse_proof_document(json);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed.value(), document);
    EXPECT_FALSE(verify_proof_document(parsed.value()).has_value());
  }
  // Embedded in an API response with extra members, and then lying about Bob.
  std::string json = proof_document_to_json(ledger.prove_document("Bob"));
  json.insert(1, R"("success":true,)");
  ASSERT_TRUE(parse_proof_document(json).ok());
  const auto at = json.find("\"balance\":600");
  ASSERT_NE(at, std::string::npos);
  json.replace(at, 13, "\"balance\":601");
  const auto lying = parse_proof_document(json);
  ASSERT_TRUE(lying.ok());
  EXPECT_TRUE(verify_proof_document(lying.value()).has_value());
  EXPECT_FALSE(parse_proof_document(R"({"name":"Bob","exists":true})").ok());
}

}  // namespace
}  // namespace aethel::ledger
