// The outcome index (node/outcome_index.h) over a real LMDB store, and the forward
// reply that carries its answers from the leader to a follower.
#include "node/outcome_index.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "node/block.h"
#include "storage/storage.h"

namespace aethel::node {
namespace {

namespace fs = std::filesystem;

struct TempStore {
  TempStore() {
    dir = fs::temp_directory_path() / ("outcome-index-" + std::to_string(std::random_device{}()));
    store = storage::Store::open(dir).value();
  }
  ~TempStore() {
    store.reset();
    fs::remove_all(dir);
  }
  fs::path dir;
  std::unique_ptr<storage::Store> store;
};

ledger::Outcome outcome(std::string id, std::string scope, uint64_t height) {
  ledger::Outcome o;
  o.tx_id = std::move(id);
  o.scope = std::move(scope);
  o.height = height;
  o.index = 2;
  o.code = ledger::OutcomeCode::kInsufficientFunds;
  o.message = "Alice has 40, needs 100";
  return o;
}

storage::Block block(uint64_t height) {
  return storage::Block{height, storage::Bytes{1, 2, 3}};
}

TEST(OutcomeIndex, HoldsFirstOutcomesByIdAndScopeAndAnswersThemAsRetries) {
  TempStore t;
  storage::WriteBatch batch;
  batch.blocks = {block(1)};
  ledger::Outcome repeat = outcome("tx-1", "Alice", 1);
  repeat.exists = true;  // a retry inside the window is not a new record
  ledger::Outcome derived = outcome(std::string(64, 'a'), "", 1);
  const std::vector<ledger::Transaction> applied = {
      ledger::Transaction::transfer("Alice", "Bob", 5, "tx-1"),
      ledger::Transaction::transfer("Alice", "Bob", 5, "tx-1"),
      ledger::Transaction::transfer("Bob", "Alice", 5, "tx-1"),
      ledger::Transaction::transfer("Bob", "Alice", 5)};
  add_outcome_records(applied,
                      {outcome("tx-1", "Alice", 1), repeat, outcome("tx-1", "Bob", 1), derived},
                      batch.outcomes);
  ASSERT_EQ(batch.outcomes.size(), 2u) << "neither the repeat nor the derived id";
  ASSERT_TRUE(t.store->write(batch).ok());

  std::vector<ledger::Transaction> txs = {ledger::Transaction::transfer("Alice", "Bob", 5, "tx-1"),
                                          ledger::Transaction::transfer("Carol", "Bob", 5, "tx-1"),
                                          ledger::Transaction::transfer("Alice", "Bob", 5)};
  auto found = recorded_outcomes(*t.store, txs);
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_EQ(found.value().size(), 3u);
  ASSERT_TRUE(found.value()[0]);
  EXPECT_EQ(found.value()[0]->scope, "Alice");
  EXPECT_EQ(found.value()[0]->message, "Alice has 40, needs 100");
  EXPECT_TRUE(found.value()[0]->exists);
  EXPECT_FALSE(found.value()[1]) << "Carol's scope holds no tx-1";
  EXPECT_FALSE(found.value()[2]) << "no client id";

  auto any_scope = find_recorded_outcome(*t.store, "tx-1", std::nullopt);
  ASSERT_TRUE(any_scope.ok() && any_scope.value());
  EXPECT_EQ(any_scope.value()->scope, "Alice");  // the first scope in key order
  auto bob = find_recorded_outcome(*t.store, "tx-1", std::string_view("Bob"));
  ASSERT_TRUE(bob.ok() && bob.value());
  EXPECT_EQ(bob.value()->scope, "Bob");
  auto carol = find_recorded_outcome(*t.store, "tx-1", std::string_view("Carol"));
  ASSERT_TRUE(carol.ok());
  EXPECT_FALSE(carol.value());
  auto prefix = find_recorded_outcome(*t.store, "tx-", std::nullopt);
  ASSERT_TRUE(prefix.ok());
  EXPECT_FALSE(prefix.value()) << "an id is not a prefix of a longer one";
}

TEST(OutcomeIndex, AStoreWithAGapInItsHistoryCannotDecide) {
  TempStore t;
  storage::WriteBatch batch;
  batch.blocks = {block(1), block(5)};  // 2..4 came inside a snapshot
  ASSERT_TRUE(t.store->write(batch).ok());
  std::vector<ledger::Transaction> txs = {ledger::Transaction::transfer("Alice", "Bob", 5, "x")};
  auto found = recorded_outcomes(*t.store, txs);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code, "history_incomplete");
  EXPECT_NE(found.error().message.find("2..4"), std::string::npos) << found.error().message;

  std::vector<ledger::Transaction> unkeyed = {ledger::Transaction::transfer("Alice", "Bob", 5)};
  EXPECT_TRUE(recorded_outcomes(*t.store, unkeyed).ok()) << "nothing to decide without ids";

  storage::WriteBatch backfill;
  backfill.history = {block(2), block(3), block(4)};
  add_outcome_records(txs, {outcome("x", "Alice", 3)}, backfill.outcomes);
  ASSERT_TRUE(t.store->write(backfill).ok());
  found = recorded_outcomes(*t.store, txs);
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_TRUE(found.value()[0]);
  EXPECT_EQ(found.value()[0]->height, 3u);
}

TEST(OutcomeIndex, SnapshotInstallsKeepTheIndexAndReopeningKeepsItsStart) {
  TempStore t;
  EXPECT_EQ(t.store->outcomes_indexed_from().value(), 1u);
  storage::WriteBatch batch;
  batch.blocks = {block(1)};
  add_outcome_records(std::vector{ledger::Transaction::transfer("Alice", "Bob", 1, "kept")},
                      {outcome("kept", "Alice", 1)}, batch.outcomes);
  ASSERT_TRUE(t.store->write(batch).ok());
  storage::WriteBatch install;
  install.snapshot = storage::Snapshot{10, 2, {}, storage::Bytes{9}};
  install.replace_state = true;
  ASSERT_TRUE(t.store->write(install).ok());
  t.store.reset();
  t.store = storage::Store::open(t.dir).value();
  EXPECT_EQ(t.store->outcomes_indexed_from().value(), 1u);
  auto kept = find_recorded_outcome(*t.store, "kept", std::string_view("Alice"));
  ASSERT_TRUE(kept.ok() && kept.value());
}

TEST(ForwardReplyCodec, CarriesKnownOutcomesAndErrorsAndReadsThePlainForm) {
  ForwardReply plain{7, true, 3, 42, 5, {}, std::nullopt};
  std::string envelope = forward_reply_envelope(plain);
  auto decoded = decode_forward_reply(std::string_view(envelope).substr(1));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->index, 42u);
  EXPECT_TRUE(decoded->known.empty());
  EXPECT_FALSE(decoded->error);

  ledger::Outcome original = outcome("tx-9", "Alice", 17);
  ForwardReply admitted{8, true, 3, 0, 0, {std::nullopt, original}, std::nullopt};
  envelope = forward_reply_envelope(admitted);
  decoded = decode_forward_reply(std::string_view(envelope).substr(1));
  ASSERT_TRUE(decoded);
  ASSERT_EQ(decoded->known.size(), 2u);
  EXPECT_FALSE(decoded->known[0]);
  ASSERT_TRUE(decoded->known[1]);
  EXPECT_TRUE(decoded->known[1]->exists);
  decoded->known[1]->exists = false;
  EXPECT_EQ(*decoded->known[1], original);

  ForwardReply refused{9, true, 0, 0, 0, {}, Error{"history_incomplete", "wait"}};
  envelope = forward_reply_envelope(refused);
  decoded = decode_forward_reply(std::string_view(envelope).substr(1));
  ASSERT_TRUE(decoded && decoded->error);
  EXPECT_EQ(decoded->error->code, "history_incomplete");

  // Cut after the 29 bytes of a plain reply (which decodes as one), every prefix fails.
  for (size_t cut = 31; cut < envelope.size(); ++cut) {
    EXPECT_FALSE(decode_forward_reply(std::string_view(envelope).substr(1, cut - 1)))
        << "truncated at " << cut;
  }
  EXPECT_FALSE(decode_forward_reply(envelope.substr(1) + "x"));
}

}  // namespace
}  // namespace aethel::node
