// Owned accounts end to end (SPEC §8; issue 13), against three real `aethel node`
// processes on a closed lattice (open_accounts false) whose Alice is owned by a key
// that the real `aethel account new` made: unsigned and wrongly signed debits are
// refused and change nothing, `aethel submit --key` signs and commits, a replay never
// applies twice, nobody can occupy Alice's client ids, accounts are opened by
// `aethel account open`, bad authorization fields are a 400, and `aethel audit`
// replays the signed history to the same root.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "lattice_fixture.h"
#include "ledger/ledger.h"

namespace aethel::test {
namespace {

std::string node_url(const NodeProcess& node) {
  return "http://127.0.0.1:" + std::to_string(node.url().port);
}

// A key made by `aethel account new`, in a directory of its own.
struct AccountKey {
  std::filesystem::path path;
  std::string public_hex;
};

AccountKey new_key(const std::filesystem::path& dir, const std::string& name) {
  AccountKey key{dir / (name + ".key"), ""};
  CliRun made = aethel("account new --out " + key.path.string());
  EXPECT_EQ(made.exit_code, 0) << made.output;
  // The public key is stdout's line; the note on stderr may come before it.
  std::istringstream lines(made.output);
  for (std::string line; std::getline(lines, line);) {
    if (ledger::public_key_from_hex(line)) key.public_hex = line;
  }
  return key;
}

// A closed lattice: Alice 1000 owned by `alice`, Bob 500 without owner.
struct ClosedLattice {
  std::filesystem::path dir = make_temp_dir("owners");
  AccountKey alice = new_key(dir, "alice");
  std::filesystem::path genesis = write_genesis();
  Lattice lattice{{.extra_env = {"AETHEL_GENESIS_FILE=" + genesis.string()}}};

  ~ClosedLattice() { std::filesystem::remove_all(dir); }

  std::filesystem::path write_genesis() {
    std::filesystem::path path = dir / "genesis.json";
    std::ofstream(path) << R"({"accounts": {"Alice": {"balance": 1000, "owner": ")"
                        << alice.public_hex
                        << R"("}, "Bob": 500}, "policy": {"open_accounts": false}})";
    return path;
  }
};

json::object account(const NodeProcess& node, const std::string& name) {
  return node.get("/api/lattice/accounts/" + name).body.as_object();
}

// POST /api/lattice/transactions with one item; its outcome.
json::object post_one(const NodeProcess& node, const json::object& item) {
  auto reply =
      node.post("/api/lattice/transactions", json::object{{"transactions", json::array{item}}});
  EXPECT_EQ(reply.status, 200u) << json::serialize(reply.body);
  return reply.body.at("results").at(0).as_object();
}

std::string code_of(const json::object& outcome) {
  return std::string(outcome.at("code").as_string());
}

// A transfer item signed with the key in `key_file` for the lattice `node` is in.
json::object signed_item(const NodeProcess& node, const std::filesystem::path& key_file,
                         const std::string& from, const std::string& to, int64_t amount,
                         uint64_t nonce, const std::string& id) {
  std::ifstream in(key_file);
  std::stringstream text;
  text << in.rdbuf();
  const json::object jwk = json::parse(text.str()).as_object();
  const json::string& d = jwk.at("d").as_string();
  std::array<uint8_t, 32> seed{};
  size_t length = 0;
  EXPECT_EQ(sodium_base642bin(seed.data(), seed.size(), d.data(), d.size(), nullptr, &length,
                              nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
            0);
  EXPECT_EQ(length, seed.size());
  const ledger::KeyPair key = ledger::key_pair_from_seed(seed);
  const auto lattice_id = ledger::hash_from_hex(
      std::string(node.get("/api/lattice/members").body.at("lattice_id").as_string()));
  ledger::Transaction tx = ledger::Transaction::transfer(from, to, amount, id);
  tx.transfers[0].nonce = nonce;
  ledger::sign_item(key, *lattice_id, tx, 0);
  json::object item{{"from", from},
                    {"to", to},
                    {"amount", amount},
                    {"nonce", nonce},
                    {"signature", ledger::to_hex(*tx.transfers[0].signature)}};
  if (!id.empty()) item["id"] = id;
  return item;
}

TEST(OwnerTest, AccountNewWritesAKeyOnlyItsOwnerCanRead) {
  const auto dir = make_temp_dir("account-new");
  const mode_t old_umask = ::umask(0);  // the file must still be 0600
  const AccountKey key = new_key(dir, "k");
  ::umask(old_umask);
  struct stat st {};
  ASSERT_EQ(::stat(key.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(key.public_hex.size(), 64u);
  EXPECT_TRUE(ledger::public_key_from_hex(key.public_hex).has_value()) << key.public_hex;
  const CliRun again = aethel("account new --out " + key.path.string());
  EXPECT_EQ(again.exit_code, 1) << again.output;  // never overwrites a key
  std::filesystem::remove_all(dir);
}

TEST(OwnerTest, OnAClosedLatticeOnlyTheOwnersSignatureMovesMoney) {
  ClosedLattice closed;
  Lattice& lattice = closed.lattice;
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(20'000)));
  NodeProcess& node = lattice.node((lattice.leader() + 1) % Lattice::kNodes);
  EXPECT_EQ(std::string(account(node, "Alice").at("owner").as_string()), closed.alice.public_hex);

  // Anyone spending Alice: refused, through both write routes, nothing moves.
  json::object stolen = post_one(node, {{"from", "Alice"}, {"to", "Bob"}, {"amount", 999}});
  EXPECT_EQ(code_of(stolen), "unauthorized") << json::serialize(stolen);
  auto verified = node.post("/api/verify", json::object{{"code",
                                                         "intent transfer { from: Alice, to: Bob, "
                                                         "amount: 999 }"}});
  EXPECT_NE(json::serialize(verified.body).find("unauthorized"), std::string::npos)
      << json::serialize(verified.body);
  // An account without owner cannot be debited on a closed lattice; unknown names
  // are not created.
  EXPECT_EQ(code_of(post_one(node, {{"from", "Bob"}, {"to", "Alice"}, {"amount", 5}})),
            "unauthorized");
  const AccountKey mallory = new_key(closed.dir, "mallory");
  EXPECT_EQ(code_of(post_one(node, signed_item(node, mallory.path, "Alice", "Bob", 10, 1, ""))),
            "unauthorized");
  EXPECT_EQ(account(node, "Alice").at("balance").to_number<int64_t>(), 1000);

  // Nobody occupies Alice's next id: the refusal leaves "pay-1" free.
  json::object squat =
      post_one(node, {{"id", "pay-1"}, {"from", "Alice"}, {"to", "Bob"}, {"amount", -1}});
  EXPECT_EQ(code_of(squat), "unauthorized");
  EXPECT_NE(std::string(squat.at("id").as_string()), "pay-1");

  // The owner signs with `aethel submit --key`: it commits.
  const std::string source = (closed.dir / "pay.ae").string();
  std::ofstream(source) << "intent transfer { from: Alice, to: Bob, amount: 100, id: \"pay-1\" }\n";
  CliRun paid = aethel("submit --node " + node_url(node) + " --key " + closed.alice.path.string() +
                       " " + source);
  EXPECT_EQ(paid.exit_code, 0) << paid.output;
  json::object alice = account(node, "Alice");
  EXPECT_EQ(alice.at("balance").to_number<int64_t>(), 900);
  EXPECT_EQ(alice.at("nonce").to_number<uint64_t>(), 1u);
  auto found = node.get("/api/lattice/tx/pay-1?account=Alice");
  EXPECT_EQ(found.status, 200u);
  EXPECT_EQ(code_of(found.body.as_object()), "committed") << json::serialize(found.body);

  // A signed request captured and replayed never applies twice: with its id it is
  // the original outcome, without one its nonce is spent.
  const json::object second = signed_item(node, closed.alice.path, "Alice", "Bob", 50, 2, "pay-2");
  EXPECT_EQ(code_of(post_one(node, second)), "committed");
  json::object replay = post_one(node, second);
  EXPECT_TRUE(replay.at("exists").as_bool());
  json::object no_id = second;
  no_id.erase("id");
  EXPECT_EQ(code_of(post_one(node, no_id)), "bad_nonce");
  EXPECT_EQ(
      code_of(post_one(node, signed_item(node, closed.alice.path, "Alice", "Nobody", 5, 3, ""))),
      "unknown_account");
  EXPECT_EQ(account(node, "Alice").at("balance").to_number<int64_t>(), 850);

  // Accounts are opened by their owner's signed open_account.
  const AccountKey zed = new_key(closed.dir, "zed");
  CliRun opened = aethel("account open Zed --key " + zed.path.string() + " --node " +
                         node_url(node) + " --id open-zed");
  EXPECT_EQ(opened.exit_code, 0) << opened.output;
  EXPECT_EQ(std::string(account(node, "Zed").at("owner").as_string()), zed.public_hex);
  CliRun again =
      aethel("account open Zed --key " + mallory.path.string() + " --node " + node_url(node));
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_NE(again.output.find("account_exists"), std::string::npos) << again.output;
  EXPECT_EQ(code_of(post_one(node, signed_item(node, closed.alice.path, "Alice", "Zed", 5, 3, ""))),
            "committed");

  // Every node reaches the same root, and the signed history replays from genesis.
  ASSERT_TRUE(eventually([&] { return lattice.converged({0, 1, 2}); }, milliseconds(20'000)));
  CliRun audit = aethel("audit " + node_url(lattice.node(lattice.leader())));
  EXPECT_EQ(audit.exit_code, 0) << audit.output;
}

TEST(OwnerTest, MalformedAuthorizationFieldsAreABadRequestThatChangesNothing) {
  ClosedLattice closed;
  Lattice& lattice = closed.lattice;
  lattice.start_all();
  ASSERT_TRUE(eventually([&] { return lattice.leader() >= 0; }, milliseconds(20'000)));
  NodeProcess& node = lattice.node(lattice.leader());
  const json::object cases[] = {
      {{"from", "Alice"}, {"to", "Bob"}, {"amount", 1}, {"nonce", 1}, {"signature", "zz"}},
      {{"from", "Alice"}, {"to", "Bob"}, {"amount", 1}, {"nonce", -1}},
      {{"from", "Alice"}, {"to", "Bob"}, {"amount", 1}, {"nonce", "1"}},
      {{"kind", "open_account"}, {"account", "Eve"}},
      {{"kind", "open_account"}, {"account", "Eve"}, {"owner", "abc"}},
      {{"kind", "mint"}, {"account", "Eve"}},
  };
  for (const json::object& item : cases) {
    auto reply =
        node.post("/api/lattice/transactions", json::object{{"transactions", json::array{item}}});
    EXPECT_EQ(reply.status, 400u) << json::serialize(item);
    EXPECT_EQ(std::string(reply.body.at("error").at("code").as_string()), "bad_field")
        << json::serialize(reply.body);
  }
  auto verify =
      node.post("/api/verify", json::object{{"code",
                                             "intent transfer { from: Alice, to: Bob, "
                                             "amount: 1, nonce: 1, signature: \"ab\" }"}});
  EXPECT_NE(json::serialize(verify.body).find("128 hex digits"), std::string::npos)
      << json::serialize(verify.body);
  EXPECT_EQ(u64(node.get("/api/lattice/state?limit=0").body.at("height")), 0u);
}

}  // namespace
}  // namespace aethel::test
