// Owned accounts and signatures (SPEC §8): genesis owners and policy, signed debits
// with nonces, open_account and set_owner, client ids scoped to the debited account,
// proofs and snapshots of owned accounts, the signed encoding, and the documented
// test vector.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "base/base.h"
#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

std::array<uint8_t, 32> seed_of(uint8_t byte) {
  std::array<uint8_t, 32> seed{};
  seed.fill(byte);
  return seed;
}

const KeyPair kAlice = key_pair_from_seed(seed_of(0x01));
const KeyPair kMallory = key_pair_from_seed(seed_of(0x02));
const KeyPair kZed = key_pair_from_seed(seed_of(0x03));
const Hash kLatticeId = sha256("a test lattice");

Limits limits() {
  Limits l;
  l.lattice_id = kLatticeId;
  return l;
}

// Alice owned by kAlice, Bob without owner.
Genesis owned_genesis(bool open_accounts) {
  return make_genesis({{"Alice", 1000, kAlice.public_key}, {"Bob", 500}}, open_accounts).value();
}

Outcome apply_one(Ledger& ledger, const Transaction& tx) {
  auto result = ledger.apply_block(ledger.height() + 1, std::vector<Transaction>{tx});
  EXPECT_TRUE(result.ok());
  EXPECT_FALSE(ledger.check_invariants().has_value()) << ledger.check_invariants()->message;
  return result.value().outcomes.at(0);
}

Transaction signed_transfer(const KeyPair& key, std::string from, std::string to, int64_t amount,
                            uint64_t nonce, std::string id = {}) {
  Transaction tx = Transaction::transfer(std::move(from), std::move(to), amount, std::move(id));
  tx.transfers[0].nonce = nonce;
  sign_item(key, kLatticeId, tx, 0);
  return tx;
}

TEST(LedgerOwner, GenesisOwnersAndPolicyParseAndPrintCanonically) {
  const std::string hex = to_hex(kAlice.public_key);
  const auto g = parse_genesis(R"({"accounts": {"Alice": {"balance": 1000, "owner": ")" + hex +
                               R"("}, "Bob": 500}, "policy": {"open_accounts": false}})");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g.value(), owned_genesis(false));
  const std::string canonical = genesis_to_json(g.value());
  EXPECT_EQ(canonical, R"({"accounts":{"Alice":{"balance":1000,"owner":")" + hex +
                           R"("},"Bob":500},"policy":{"open_accounts":false}})");
  EXPECT_EQ(parse_genesis(canonical).value(), g.value());
  // Without owners and with the default policy, the old bytes (and lattice ids) stay.
  EXPECT_EQ(genesis_to_json(default_genesis()),
            R"({"accounts":{"Alice":1000,"Bob":500,"Charlie":250}})");
}

TEST(LedgerOwner, BadGenesisOwnersAndPoliciesAreRefusedByName) {
  auto g = parse_genesis(R"({"accounts": {"Alice": {"balance": 1, "owner": "abc"}}})");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, "bad_owner");
  EXPECT_NE(g.error().message.find("Alice"), std::string::npos);
  g = parse_genesis(R"({"accounts": {"A": 1}, "policy": {"open_accounts": "no"}})");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, "bad_policy");
  g = parse_genesis(R"({"accounts": {"A": {"balance": 1, "colour": "red"}}})");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message.find("colour"), std::string::npos);
  g = parse_genesis(R"({"accounts": {"A": {"owner": "00"}}})");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, "bad_balance");
}

// The retention window is a genesis policy: part of the canonical bytes (and so of the
// lattice id) only when set.
TEST(LedgerOwner, TheRetentionWindowIsAPolicyOfTheGenesis) {
  auto g = parse_genesis(R"({"accounts": {"A": 5}, "policy": {"tx_retention": 100}})");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g.value().tx_retention, 100u);
  EXPECT_TRUE(g.value().open_accounts);
  EXPECT_EQ(genesis_to_json(g.value()), R"({"accounts":{"A":5},"policy":{"tx_retention":100}})");
  g = parse_genesis(
      R"({"accounts": {"A": 5}, "policy": {"tx_retention": 7, "open_accounts": false}})");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(genesis_to_json(g.value()),
            R"({"accounts":{"A":5},"policy":{"open_accounts":false,"tx_retention":7}})");
  EXPECT_EQ(parse_genesis(genesis_to_json(g.value())).value(), g.value());
  for (const char* bad : {"0", "1000001", "-1", "1.5", "\"100\""}) {
    g = parse_genesis(std::string(R"({"accounts": {"A": 5}, "policy": {"tx_retention": )") + bad +
                      "}}");
    ASSERT_FALSE(g.ok()) << bad;
    EXPECT_EQ(g.error().code, "bad_policy");
    EXPECT_NE(g.error().message.find("tx_retention"), std::string::npos) << g.error().message;
  }
  g = parse_genesis(R"({"accounts": {"A": 5}, "policy": {"colour": 1}})");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message.find("colour"), std::string::npos) << g.error().message;
}

TEST(LedgerOwner, AnOwnedAccountMovesOnlyWithItsOwnersSignatureAndNextNonce) {
  Ledger ledger(owned_genesis(true), limits());
  const Hash root = ledger.root();
  Outcome o = apply_one(ledger, Transaction::transfer("Alice", "Mallory", 999));
  EXPECT_EQ(o.code, OutcomeCode::kUnauthorized);
  EXPECT_NE(o.message.find("\"nonce\": 1"), std::string::npos) << o.message;
  o = apply_one(ledger, signed_transfer(kMallory, "Alice", "Mallory", 999, 1));
  EXPECT_EQ(o.code, OutcomeCode::kUnauthorized);
  EXPECT_NE(o.message.find("owner key"), std::string::npos) << o.message;
  o = apply_one(ledger, signed_transfer(kAlice, "Alice", "Bob", 10, 2));
  EXPECT_EQ(o.code, OutcomeCode::kBadNonce);
  EXPECT_NE(o.message.find("next nonce is 1"), std::string::npos) << o.message;
  // A signature is over the content: changing the amount afterwards breaks it.
  Transaction tampered = signed_transfer(kAlice, "Alice", "Bob", 10, 1);
  tampered.transfers[0].amount = 999;
  EXPECT_EQ(apply_one(ledger, tampered).code, OutcomeCode::kUnauthorized);
  EXPECT_EQ(ledger.root(), root);
  EXPECT_EQ(ledger.account("Alice"), (Account{1000, 0, kAlice.public_key}));

  const Transaction good = signed_transfer(kAlice, "Alice", "Bob", 10, 1);
  ASSERT_TRUE(apply_one(ledger, good).committed());
  EXPECT_EQ(ledger.account("Alice"), (Account{990, 1, kAlice.public_key}));
  // The same signed transaction again (no client id): its nonce is spent.
  EXPECT_EQ(apply_one(ledger, good).code, OutcomeCode::kBadNonce);
  EXPECT_EQ(ledger.account("Bob")->balance, 510);
}

TEST(LedgerOwner, ASignatureForAnotherLatticeIsWorthlessHere) {
  Limits other = limits();
  other.lattice_id = sha256("another lattice");
  Ledger ledger(owned_genesis(true), other);
  EXPECT_EQ(apply_one(ledger, signed_transfer(kAlice, "Alice", "Bob", 10, 1)).code,
            OutcomeCode::kUnauthorized);
}

TEST(LedgerOwner, OpenLatticesKeepUnsignedTransfersBetweenAccountsWithoutOwner) {
  Ledger ledger(owned_genesis(true), limits());
  ASSERT_TRUE(apply_one(ledger, Transaction::transfer("Bob", "Carol", 5)).committed());
  EXPECT_EQ(ledger.account("Carol")->balance, 5);  // created by the transfer
  // A nonce on an unowned debit is still checked.
  Transaction with_nonce = Transaction::transfer("Bob", "Carol", 5);
  with_nonce.transfers[0].nonce = 7;
  EXPECT_EQ(apply_one(ledger, with_nonce).code, OutcomeCode::kBadNonce);
  with_nonce.transfers[0].nonce = 2;
  EXPECT_TRUE(apply_one(ledger, with_nonce).committed());
}

TEST(LedgerOwner, AClosedLatticeRefusesEveryUnsignedDebitAndUnknownReceivers) {
  Ledger ledger(owned_genesis(false), limits());
  const Hash root = ledger.root();
  Outcome o = apply_one(ledger, Transaction::transfer("Bob", "Alice", 5));
  EXPECT_EQ(o.code, OutcomeCode::kUnauthorized);
  EXPECT_NE(o.message.find("open_accounts"), std::string::npos) << o.message;
  o = apply_one(ledger, signed_transfer(kAlice, "Alice", "Nobody", 5, 1));
  EXPECT_EQ(o.code, OutcomeCode::kUnknownAccount);
  EXPECT_NE(o.message.find("open_account"), std::string::npos) << o.message;
  EXPECT_EQ(ledger.root(), root);
  EXPECT_TRUE(apply_one(ledger, signed_transfer(kAlice, "Alice", "Bob", 5, 1)).committed());
}

TEST(LedgerOwner, OpenAccountCreatesAnOwnedAccountSignedByItsKey) {
  Ledger ledger(owned_genesis(false), limits());
  Transaction open = Transaction::open_account("Zed", kZed.public_key);
  EXPECT_EQ(apply_one(ledger, open).code, OutcomeCode::kUnauthorized);  // unsigned
  sign_item(kMallory, kLatticeId, open, 0);
  EXPECT_EQ(apply_one(ledger, open).code, OutcomeCode::kUnauthorized);  // not by the key
  sign_item(kZed, kLatticeId, open, 0);
  ASSERT_TRUE(apply_one(ledger, open).committed());
  EXPECT_EQ(ledger.account("Zed"), (Account{0, 0, kZed.public_key}));
  EXPECT_EQ(apply_one(ledger, open).code, OutcomeCode::kAccountExists);
  Transaction taken = Transaction::open_account("Alice", kMallory.public_key);
  sign_item(kMallory, kLatticeId, taken, 0);
  EXPECT_EQ(apply_one(ledger, taken).code, OutcomeCode::kAccountExists);
  ASSERT_TRUE(apply_one(ledger, signed_transfer(kAlice, "Alice", "Zed", 40, 1)).committed());
  ASSERT_TRUE(apply_one(ledger, signed_transfer(kZed, "Zed", "Bob", 15, 1)).committed());
  EXPECT_EQ(ledger.account("Zed")->balance, 25);
}

TEST(LedgerOwner, SetOwnerRotatesTheKeyAndSpendsANonce) {
  Ledger ledger(owned_genesis(true), limits());
  Transaction rotate = Transaction::set_owner("Alice", kZed.public_key, 1);
  sign_item(kMallory, kLatticeId, rotate, 0);
  EXPECT_EQ(apply_one(ledger, rotate).code, OutcomeCode::kUnauthorized);
  sign_item(kAlice, kLatticeId, rotate, 0);
  ASSERT_TRUE(apply_one(ledger, rotate).committed());
  EXPECT_EQ(ledger.account("Alice"), (Account{1000, 1, kZed.public_key}));
  EXPECT_EQ(apply_one(ledger, signed_transfer(kAlice, "Alice", "Bob", 1, 2)).code,
            OutcomeCode::kUnauthorized);
  EXPECT_TRUE(apply_one(ledger, signed_transfer(kZed, "Alice", "Bob", 1, 2)).committed());
  Transaction claim = Transaction::set_owner("Bob", kMallory.public_key, 1);
  sign_item(kMallory, kLatticeId, claim, 0);
  EXPECT_EQ(apply_one(ledger, claim).code, OutcomeCode::kUnauthorized);  // Bob has no owner
  EXPECT_FALSE(ledger.account("Bob")->owner.has_value());
}

TEST(LedgerOwner, ABatchSignsEachItemWithConsecutiveNonces) {
  Ledger ledger(owned_genesis(true), limits());
  std::vector<Transfer> items(2);
  items[0].from = "Alice";
  items[0].to = "Bob";
  items[0].amount = 10;
  items[0].nonce = 1;
  items[1].from = "Alice";
  items[1].to = "Carol";
  items[1].amount = 20;
  items[1].nonce = 2;
  Transaction batch = Transaction::batch(items, "b-1");
  sign_item(kAlice, kLatticeId, batch, 0);
  sign_item(kAlice, kLatticeId, batch, 1);
  ASSERT_TRUE(apply_one(ledger, batch).committed());
  EXPECT_EQ(ledger.account("Alice"), (Account{970, 2, kAlice.public_key}));
  // The encoding carries the authorizations and round-trips.
  EXPECT_EQ(decode_transaction(encode_transaction(batch)).value(), batch);
}

// A sender name that breaks the name rule is no account's scope: the transaction fails
// with a derived id, and the snapshot stays loadable (found by the ledger fuzzer: the
// id was kept under the bad name, which the snapshot reader refuses).
TEST(LedgerOwner, ABadSenderNameTakesNoClientId) {
  Ledger ledger(default_genesis());
  const std::string bad_name = std::string("Al") + '\x82' + "ce";
  const Outcome bad = apply_one(ledger, Transaction::transfer(bad_name, "Bob", 10, "k1"));
  EXPECT_EQ(bad.code, OutcomeCode::kInvalidName);
  EXPECT_NE(bad.tx_id, "k1");
  EXPECT_TRUE(bad.scope.empty());
  EXPECT_EQ(ledger.check(Transaction::transfer(bad_name, "Bob", 10, "k1")).tx_id, "");
  auto restored = Ledger::deserialize(ledger.serialize());
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored.value().root(), ledger.root());
}

TEST(LedgerOwner, NobodyCanOccupyAnotherAccountsClientIds) {
  Ledger ledger(owned_genesis(true), limits());
  // Mallory tries Alice's next id: refused before authorization, the id stays free.
  Outcome squat = apply_one(ledger, Transaction::transfer("Alice", "Mallory", -1, "pay-7"));
  EXPECT_EQ(squat.code, OutcomeCode::kUnauthorized);
  EXPECT_NE(squat.tx_id, "pay-7");
  // Bob's failing transaction with the same id lives in Bob's scope.
  EXPECT_EQ(apply_one(ledger, Transaction::transfer("Bob", "Carol", 5000, "pay-7")).code,
            OutcomeCode::kInsufficientFunds);
  Transaction opening = Transaction::open_account("Alice", kMallory.public_key, "pay-7");
  sign_item(kMallory, kLatticeId, opening, 0);
  EXPECT_EQ(apply_one(ledger, opening).code, OutcomeCode::kAccountExists);
  const Outcome alice = apply_one(ledger, signed_transfer(kAlice, "Alice", "Bob", 10, 1, "pay-7"));
  ASSERT_TRUE(alice.committed()) << alice.message;
  EXPECT_FALSE(alice.exists);
  EXPECT_EQ(alice.scope, "Alice");
  const Outcome retry = apply_one(ledger, signed_transfer(kAlice, "Alice", "Bob", 10, 1, "pay-7"));
  EXPECT_TRUE(retry.exists);
  EXPECT_EQ(ledger.account("Alice")->balance, 990);
  EXPECT_EQ(ledger.find_transaction("pay-7", "Alice")->code, OutcomeCode::kCommitted);
  EXPECT_EQ(ledger.find_transaction("pay-7", "Bob")->code, OutcomeCode::kInsufficientFunds);
  EXPECT_FALSE(ledger.find_transaction("pay-7", "Mallory").has_value());
}

TEST(LedgerOwner, AnInvocationLoweringAnOwnedAccountNeedsItsSignature) {
  Ledger ledger(owned_genesis(true), limits());
  const std::string pay =
      "intent pay(payer: Account, payee: Account, amount: Amount) {\n"
      "  guard { amount > 0; old_payer >= amount; }\n"
      "  solve { priority: fee; }\n"
      "  verify { payer == old_payer - amount; payee == old_payee + amount; }\n"
      "}\n";
  const Outcome deployed = apply_one(ledger, Transaction::deploy(pay, "test"));
  ASSERT_TRUE(deployed.committed()) << deployed.message;
  Transaction call =
      Transaction::invoke({"pay", {{"payer", "Alice"}, {"payee", "Bob"}, {"amount", "7"}}});
  EXPECT_EQ(apply_one(ledger, call).code, OutcomeCode::kUnauthorized);
  call.transfers[0].nonce = 1;
  sign_item(kAlice, kLatticeId, call, 0);
  const Outcome o = apply_one(ledger, call);
  ASSERT_TRUE(o.committed()) << o.message;
  EXPECT_EQ(ledger.account("Alice"), (Account{993, 1, kAlice.public_key}));
}

TEST(LedgerOwner, ProofsAndSnapshotsCarryOwnersPolicyAndScopes) {
  Ledger ledger(owned_genesis(false), limits());
  ASSERT_TRUE(apply_one(ledger, signed_transfer(kAlice, "Alice", "Bob", 10, 1, "k")).committed());
  const ProofDocument document = ledger.prove_document("Alice");
  EXPECT_EQ(document.account->owner, kAlice.public_key);
  const auto parsed = parse_proof_document(proof_document_to_json(document));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed.value(), document);
  EXPECT_FALSE(verify_proof_document(parsed.value()).has_value());
  ProofDocument forged = document;
  forged.account->owner = kMallory.public_key;
  EXPECT_TRUE(verify_proof_document(forged).has_value());  // the owner is in the leaf

  const auto copy = Ledger::deserialize(ledger.serialize());
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  EXPECT_EQ(copy.value().root(), ledger.root());
  EXPECT_FALSE(copy.value().open_accounts());
  EXPECT_EQ(copy.value().limits(), ledger.limits());
  EXPECT_EQ(copy.value().find_transaction("k", "Alice"), ledger.find_transaction("k", "Alice"));
  EXPECT_EQ(copy.value().serialize(), ledger.serialize());
}

// A snapshot of format 1 (written before owners and lattice ids existed) of the
// default genesis, built by hand from docs/LEDGER.md.
std::string version_1_snapshot() {
  const Ledger genesis(default_genesis());
  base::ByteWriter out;
  out.bytes("AETHLSNP");
  out.u32(1);
  out.u64(0);
  out.i64(genesis.total_supply());
  out.u64(genesis.limits().tx_retention_blocks);
  out.u64(genesis.limits().tx_retention_count);
  out.u64(genesis.limits().max_accounts);
  out.bytes(std::span<const uint8_t>(genesis.root()));
  out.u64(3);
  for (const auto& [name, account] : genesis.accounts_page("", 3)) {
    out.u8(static_cast<uint8_t>(name.size()));
    out.bytes(name);
    out.i64(account.balance);
    out.u64(account.nonce);
  }
  out.u64(0);  // no remembered outcomes
  const Hash checksum = sha256(out.str());
  out.bytes(std::span<const uint8_t>(checksum));
  return out.take();
}

TEST(LedgerOwner, ASnapshotFromBeforeLatticeIdsTakesTheLatticesId) {
  auto old = Ledger::deserialize(version_1_snapshot());
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old.value().limits().lattice_id, Hash{});
  EXPECT_TRUE(old.value().open_accounts());
  old.value().adopt_lattice_id(kLatticeId);
  EXPECT_EQ(old.value().limits(), limits());
  // Written back in the current format, with the id.
  const auto again = Ledger::deserialize(old.value().serialize());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value().limits().lattice_id, kLatticeId);
  EXPECT_EQ(again.value().root(), Ledger(default_genesis()).root());
}

TEST(LedgerOwner, SignedEncodingsRoundTripAndRefuseUnknownFlags) {
  const Transaction tx = signed_transfer(kAlice, "Alice", "Bob", 10, 1, "id");
  const std::string bytes = encode_transaction(tx);
  EXPECT_EQ(bytes[0], 3);  // version 3: items carry authorizations
  EXPECT_EQ(decode_transaction(bytes).value(), tx);
  // An unsigned transfer keeps version 1 bytes.
  EXPECT_EQ(encode_transaction(Transaction::transfer("A", "B", 1))[0], 1);
  // The flags byte follows the item; an unknown bit is refused.
  const size_t flags_at = bytes.size() - 8 - (1 + 8 + 64);  // before the two empty strings
  std::string bad = bytes;
  bad[flags_at] = static_cast<char>(0x80);
  EXPECT_FALSE(decode_transaction(bad).ok());
}

// The test vector of docs/LEDGER.md ("Signatures").
TEST(LedgerOwner, TheDocumentedTestVectorHolds) {
  std::array<uint8_t, 32> seed{};
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i);
  const KeyPair key = key_pair_from_seed(seed);
  const Hash lattice_id = sha256("aethel test vector");
  Transaction tx = Transaction::transfer("Alice", "Bob", 100, "tx-1");
  tx.transfers[0].nonce = 1;
  sign_item(key, lattice_id, tx, 0);
  std::ifstream in(std::string(AETHEL_DOCS_DIR) + "/LEDGER.md");
  std::stringstream docs;
  docs << in.rdbuf();
  const std::string text = docs.str();
  const std::string message = to_hex(signing_bytes(lattice_id, tx, 0));
  EXPECT_NE(text.find(to_hex(key.public_key)), std::string::npos) << to_hex(key.public_key);
  EXPECT_NE(text.find(to_hex(lattice_id)), std::string::npos) << to_hex(lattice_id);
  EXPECT_NE(text.find(message), std::string::npos) << message;
  EXPECT_NE(text.find(to_hex(*tx.transfers[0].signature)), std::string::npos)
      << to_hex(*tx.transfers[0].signature);
  EXPECT_TRUE(signature_valid(key.public_key, lattice_id, tx, 0));
}

}  // namespace
}  // namespace aethel::ledger
