// Snapshots: canonical bytes, round trip, validation of every kind of damage.
#include <gtest/gtest.h>

#include <cctype>
#include <deque>
#include <random>
#include <thread>

#include "ledger/ledger.h"
#include "ledger/record_log.h"

namespace aethel::ledger {
namespace {

Ledger busy_ledger() {
  Limits limits;
  limits.tx_retention_blocks = 50;
  Ledger ledger(default_genesis(), limits);
  for (int h = 1; h <= 5; ++h) {
    std::vector<Transaction> block{
        Transaction::transfer("Alice", "Bob", h, "k" + std::to_string(h)),
        Transaction::transfer("Bob", "New" + std::to_string(h), 2),
        Transaction::transfer("Charlie", "Alice", 100000)};  // a remembered failure
    EXPECT_TRUE(ledger.apply_block(ledger.height() + 1, block).ok());
  }
  return ledger;
}

std::string with_fixed_checksum(std::string bytes) {
  const std::string body = bytes.substr(0, bytes.size() - 32);
  const Hash sum = sha256(body);
  return body + std::string(sum.begin(), sum.end());
}

TEST(LedgerSnapshot, RoundTripKeepsStateRootAndMemory) {
  const Ledger original = busy_ledger();
  const std::string bytes = original.serialize();
  auto loaded = Ledger::deserialize(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  Ledger& copy = loaded.value();
  EXPECT_EQ(copy.serialize(), bytes);
  EXPECT_EQ(copy.root(), original.root());
  EXPECT_EQ(copy.height(), original.height());
  EXPECT_EQ(copy.limits(), original.limits());
  EXPECT_EQ(copy.accounts_page("", 1000), original.accounts_page("", 1000));
  EXPECT_EQ(copy.remembered_transactions(), original.remembered_transactions());
  EXPECT_FALSE(copy.check_invariants().has_value());
  // The loaded ledger answers a retry exactly as the original would.
  const std::vector<Transaction> retry{Transaction::transfer("Alice", "Bob", 3, "k3")};
  Ledger original_copy = original;
  const auto a = original_copy.apply_block(6, retry);
  const auto b = copy.apply_block(6, retry);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b.value().outcomes[0].exists);
  EXPECT_EQ(a.value().outcomes, b.value().outcomes);
  EXPECT_EQ(a.value().root, b.value().root);
}

TEST(LedgerSnapshot, EveryTruncationAndBitFlipIsRefused) {
  const std::string bytes = busy_ledger().serialize();
  for (size_t cut = 0; cut < bytes.size(); cut += 7) {
    const auto r = Ledger::deserialize(std::string_view(bytes).substr(0, cut));
    ASSERT_FALSE(r.ok()) << cut;
    EXPECT_EQ(r.error().code, "bad_snapshot");
  }
  for (size_t at = 0; at < bytes.size(); at += 5) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    EXPECT_FALSE(Ledger::deserialize(bad).ok()) << at;
  }
}

TEST(LedgerSnapshot, ContentErrorsBehindAValidChecksumAreRefused) {
  const std::string bytes = Ledger(default_genesis()).serialize();
  // Layout: magic 8, version 4, five u64 fields, lattice id 32, policy 1, root 32,
  // account count 8, then Alice: length 1, name 5 at 126, balance 8 at 131, nonce 8.
  ASSERT_EQ(bytes.substr(126, 5), "Alice");
  std::string richer = bytes;
  richer[138] = static_cast<char>(richer[138] + 1);  // Alice 1001: supply broken
  auto r = Ledger::deserialize(with_fixed_checksum(richer));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("supply"), std::string::npos) << r.error().message;

  std::string renamed = bytes;
  renamed[126] = 'Z';  // "Zlice" sorts after "Bob"
  r = Ledger::deserialize(with_fixed_checksum(renamed));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("order"), std::string::npos) << r.error().message;

  std::string nonce = bytes;
  nonce[146] = 1;  // Alice's nonce: state is consistent but the root no longer matches
  r = Ledger::deserialize(with_fixed_checksum(nonce));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("root"), std::string::npos) << r.error().message;

  std::string version = bytes;
  version[11] = 9;
  r = Ledger::deserialize(with_fixed_checksum(version));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "unsupported_snapshot_version");

  EXPECT_FALSE(Ledger::deserialize(with_fixed_checksum(bytes + "tail")).ok());
  EXPECT_FALSE(Ledger::deserialize("").ok());
}

// A snapshot whose records repeat an id (derived, or a client id in its scope) is
// refused: a ledger loaded from it would answer a retry with either outcome.
TEST(LedgerSnapshot, RepeatedRecordIdsAreRefused) {
  Ledger ledger(default_genesis());
  const std::vector<Transaction> block{Transaction::transfer("Alice", "Bob", 1),
                                       Transaction::transfer("Alice", "Bob", 2),
                                       Transaction::transfer("Alice", "Bob", 3, "id-a"),
                                       Transaction::transfer("Alice", "Bob", 4, "id-b")};
  const auto applied = ledger.apply_block(1, block);
  ASSERT_TRUE(applied.ok());
  const std::string bytes = ledger.serialize();
  ASSERT_TRUE(Ledger::deserialize(bytes).ok());
  const auto repeat = [&](const std::string& first, const std::string& second) {
    std::string bad = bytes;
    const size_t at = bad.find(second);
    EXPECT_NE(at, std::string::npos);
    EXPECT_EQ(bad.find(second, at + 1), std::string::npos);
    bad.replace(at, second.size(), first);
    return Ledger::deserialize(with_fixed_checksum(bad));
  };
  for (const auto& [first, second] :
       {std::pair{applied.value().outcomes[0].tx_id, applied.value().outcomes[1].tx_id},
        std::pair<std::string, std::string>{"id-a", "id-b"}}) {
    const auto r = repeat(first, second);
    ASSERT_FALSE(r.ok()) << second;
    EXPECT_NE(r.error().message.find("repeat"), std::string::npos) << r.error().message;
  }
}

// Blocks of `count` transfers with client ids, enough to fill and forget whole chunks
// of remembered outcomes.
void apply_id_block(Ledger& ledger, int count) {
  std::vector<Transaction> block;
  for (int i = 0; i < count; ++i) {
    const std::string id = "h" + std::to_string(ledger.height() + 1) + "-" + std::to_string(i);
    block.push_back(Transaction::transfer("Alice", "Bob", 1, id));
  }
  ASSERT_TRUE(ledger.apply_block(ledger.height() + 1, block).ok());
}

TEST(LedgerSnapshot, AFrozenStateSerializesAsTheLedgerDidAtThatHeight) {
  Limits limits;
  limits.tx_retention_count = RecordLog::kChunkOutcomes + 904;  // forgets mid-chunk
  Ledger ledger(make_genesis({{"Alice", 1'000'000}, {"Bob", 0}}).value(), limits);
  for (int h = 0; h < 6; ++h) apply_id_block(ledger, 1000);
  const std::string at_six = ledger.serialize();
  const SnapshotSource frozen = ledger.freeze();
  // Serialized on another thread while the ledger forgets every outcome it had.
  std::string built;
  std::thread builder([&] { built = frozen.serialize(); });
  for (int h = 0; h < 8; ++h) apply_id_block(ledger, 1000);
  builder.join();
  EXPECT_EQ(frozen.height(), 6u);
  EXPECT_EQ(built, at_six);
  EXPECT_EQ(frozen.serialize(), at_six);
  EXPECT_NE(ledger.serialize(), at_six);
  auto loaded = Ledger::deserialize(built);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded.value().remembered_transactions(), limits.tx_retention_count);
  EXPECT_TRUE(loaded.value().find_transaction("h6-999").has_value());
  EXPECT_FALSE(ledger.find_transaction("h6-999").has_value());
}

// A snapshot of several MiB comes out in pieces of about 1 MiB whose concatenation is
// the snapshot, with a checksum over all of them that the loader accepts.
TEST(LedgerSnapshot, PiecesMakeTheSnapshotAndNoneHoldsItWhole) {
  Ledger ledger(make_genesis({{"Alice", 1'000'000}, {"Bob", 0}}).value());
  for (int h = 0; h < 60; ++h) apply_id_block(ledger, 1000);
  std::vector<std::string> pieces;
  ledger.freeze().serialize_to([&](std::string_view piece) { pieces.emplace_back(piece); });
  std::string whole;
  for (const std::string& piece : pieces) {
    EXPECT_LT(piece.size(), (1u << 20) + 512);
    whole += piece;
  }
  EXPECT_GE(pieces.size(), 3u) << whole.size() << " bytes";
  EXPECT_EQ(whole, ledger.serialize());
  auto loaded = Ledger::deserialize(whole);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded.value().root(), ledger.root());
  EXPECT_TRUE(loaded.value().find_transaction("h1-0").has_value());
  whole[whole.size() / 2] ^= 1;
  EXPECT_FALSE(Ledger::deserialize(whole).ok()) << "the checksum covers every piece";
}

// Two ledgers that applied the same blocks keep one copy of the remembered outcomes,
// and each goes on answering retries and making snapshots as before.
TEST(LedgerSnapshot, TwinLedgersShareTheirOutcomesAndStayEqual) {
  Limits limits;
  limits.tx_retention_count = RecordLog::kChunkOutcomes + 904;
  const Ledger genesis(make_genesis({{"Alice", 1'000'000}, {"Bob", 0}}).value(), limits);
  Ledger a = genesis;
  Ledger b = genesis;
  for (int h = 0; h < 9; ++h) {
    apply_id_block(a, 1000);
    apply_id_block(b, 1000);
    b.share_outcomes_with(a);
    EXPECT_EQ(a.serialize(), b.serialize()) << h;
  }
  const std::vector<Transaction> retry{Transaction::transfer("Alice", "Bob", 1, "h9-5")};
  const auto from_a = a.apply_block(10, retry);
  const auto from_b = b.apply_block(10, retry);
  ASSERT_TRUE(from_a.ok() && from_b.ok());
  EXPECT_TRUE(from_b.value().outcomes[0].exists);
  EXPECT_EQ(from_a.value().outcomes, from_b.value().outcomes);
  Ledger other = genesis;
  apply_id_block(other, 10);
  EXPECT_DEATH(other.share_outcomes_with(a), "");
}

// Outcomes of every shape the log packs differently: derived (64 lower-case hex) and
// client ids, ids that only look derived, scopes, failures with and without messages,
// heights and indexes of every varint width.
Outcome numbered(uint64_t n) {
  Outcome o;
  const std::string hex = to_hex(sha256("outcome " + std::to_string(n)));
  switch (n % 5) {
    case 0:
      o.tx_id = hex;
      break;
    case 1:
      o.tx_id = "id-" + std::to_string(n);
      break;
    case 2:
      o.tx_id = hex, o.scope = "Alice";
      break;  // a client id that looks derived
    case 3:
      o.tx_id = hex.substr(0, 63) + "F";
      break;  // upper case: kept as text
    case 4:   // the longest client id and scope
      o.tx_id = std::to_string(n);
      o.tx_id.resize(kMaxClientIdBytes, 'x');
      o.scope = std::string(kMaxAccountNameBytes, 'B');
      break;
  }
  o.height = n % 7 == 0 ? n << 40 : n;
  o.index = static_cast<uint32_t>(n % 3 == 0 ? n * 65'537 : n % 200);
  if (n % 4 == 1) {
    o.code = static_cast<OutcomeCode>(1 + n % kMaxOutcomeCode);
    o.message = n % 8 == 1 ? std::string(1024, 'm') : "Alice has " + std::to_string(n);
    o.failed_transfer = static_cast<uint32_t>(n % 11);
  } else if (n % 4 == 2) {
    o.failed_transfer = 3;  // unusual for a commit, but kept
  }
  return o;
}

// Random appends and forgets, with copies taken along the way: every copy keeps
// what it held when taken, whatever the original does after.
TEST(RecordLog, CopiesKeepTheirContentsWhileTheOriginalMovesOn) {
  std::mt19937_64 random(7);
  RecordLog log;
  std::deque<Outcome> model;
  std::vector<std::pair<RecordLog, std::deque<Outcome>>> copies;
  uint64_t next = 0;
  for (int step = 0; step < 60'000; ++step) {
    if (random() % 3 != 0 || model.empty()) {
      log.push_back(numbered(next));
      model.push_back(numbered(next++));
    } else {
      for (uint64_t k = random() % 5000; k > 0 && !model.empty(); --k) {
        log.pop_front();
        model.pop_front();
      }
    }
    if (step % 5000 == 0) copies.emplace_back(log, model);
  }
  copies.emplace_back(log, model);
  for (const auto& [copy, expected] : copies) {
    ASSERT_EQ(copy.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ(copy[i], expected[i]) << i;
      ASSERT_EQ(copy.height_at(i), expected[i].height);
      std::string scratch;
      ASSERT_EQ(copy.id_view(i, scratch), expected[i].tx_id);
    }
    if (!expected.empty()) {
      EXPECT_EQ(copy.back(), expected.back());
    }
  }
}

TEST(RecordLog, MatchesIdsAndScopesExactly) {
  RecordLog log;
  for (uint64_t n = 0; n < 5; ++n) log.push_back(numbered(n));
  for (uint64_t n = 0; n < 5; ++n) {
    const Outcome o = numbered(n);
    EXPECT_TRUE(log.matches(n, o.tx_id, std::nullopt)) << n;
    EXPECT_TRUE(log.matches(n, o.tx_id, o.scope)) << n;
    EXPECT_FALSE(log.matches(n, o.tx_id, "Carol")) << n;
    EXPECT_FALSE(log.matches(n, o.tx_id.substr(1), std::nullopt)) << n;
    EXPECT_FALSE(log.matches(n, numbered(n + 5).tx_id, std::nullopt)) << n;
    EXPECT_EQ(log.unscoped_hex(n), n % 5 == 0) << n;  // only the derived shape
  }
  // The derived-looking id packs as bytes; its upper-case spelling is another id.
  std::string upper = numbered(0).tx_id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_FALSE(log.matches(0, upper, std::nullopt));
}

}  // namespace
}  // namespace aethel::ledger
