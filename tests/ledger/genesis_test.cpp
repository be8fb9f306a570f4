// Genesis: the default, the JSON parser and its refusals, account names.
#include <gtest/gtest.h>

#include "ledger/ledger.h"

namespace aethel::ledger {
namespace {

TEST(LedgerGenesis, DefaultIsAliceBobCharlie) {
  const Genesis g = default_genesis();
  ASSERT_EQ(g.accounts.size(), 3u);
  EXPECT_EQ(g.accounts[0], (GenesisAccount{"Alice", 1000}));
  EXPECT_EQ(g.accounts[1], (GenesisAccount{"Bob", 500}));
  EXPECT_EQ(g.accounts[2], (GenesisAccount{"Charlie", 250}));
  EXPECT_EQ(g.total_supply(), 1750);
}

TEST(LedgerGenesis, ParsesWrappedAndBareFormsSortedByName) {
  const auto wrapped = parse_genesis(R"({"accounts": {"Zed": 5, "Amy": 7}})");
  ASSERT_TRUE(wrapped.ok()) << wrapped.error().message;
  ASSERT_EQ(wrapped.value().accounts.size(), 2u);
  EXPECT_EQ(wrapped.value().accounts[0], (GenesisAccount{"Amy", 7}));
  EXPECT_EQ(wrapped.value().accounts[1], (GenesisAccount{"Zed", 5}));
  const auto bare = parse_genesis(R"({"Zed": 5, "Amy": 7})");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare.value(), wrapped.value());
}

TEST(LedgerGenesis, AnAccountMayBeNamedAccounts) {
  const auto g = parse_genesis(R"({"accounts": 10, "Bob": 1})");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g.value().total_supply(), 11);
}

TEST(LedgerGenesis, AcceptsZeroAndTheLargestSupply) {
  const auto g = parse_genesis(R"({"A": 0, "B": 9223372036854775807})");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g.value().total_supply(), INT64_MAX);
}

struct BadGenesis {
  const char* json;
  const char* code;
  const char* message_part;
};

class LedgerGenesisRefuses : public testing::TestWithParam<BadGenesis> {};

TEST_P(LedgerGenesisRefuses, WithACodeAndAMessageNamingTheProblem) {
  const auto g = parse_genesis(GetParam().json);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, GetParam().code) << g.error().message;
  EXPECT_NE(g.error().message.find(GetParam().message_part), std::string::npos)
      << g.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LedgerGenesisRefuses,
    testing::Values(BadGenesis{R"({"Alice": -1})", "negative_balance", "Alice"},
                    BadGenesis{R"({"Alice": 1, "Alice": 2})", "duplicate_name", "Alice"},
                    BadGenesis{R"({"accounts": {"Bob": 1, "Bob": 1}})", "duplicate_name", "Bob"},
                    BadGenesis{R"({"bad name": 1})", "bad_name", "bad name"},
                    BadGenesis{R"({"": 1})", "bad_name", "\"\""},
                    BadGenesis{R"({"A": 9223372036854775807, "B": 1})", "supply_overflow",
                               "9223372036854775807"},
                    BadGenesis{R"({"A": 1.5})", "bad_balance", "1.5"},
                    BadGenesis{R"({"A": "10"})", "bad_balance", "\"A\""},
                    BadGenesis{R"({"A": 9223372036854775808})", "bad_balance", "\"A\""},
                    BadGenesis{R"({"A": 1)", "bad_json", "invalid JSON"},
                    BadGenesis{R"([1, 2])", "bad_json", "object"},
                    BadGenesis{R"({})", "empty_genesis", "no accounts"},
                    BadGenesis{R"({"accounts": {}})", "empty_genesis", "no accounts"},
                    BadGenesis{R"({"accounts": {"A": 1}, "B": 2})", "bad_json", "other"}));

TEST(LedgerGenesis, CanonicalJsonRoundTrips) {
  const Genesis g = default_genesis();
  const std::string json = genesis_to_json(g);
  EXPECT_EQ(json, R"({"accounts":{"Alice":1000,"Bob":500,"Charlie":250}})");
  const auto back = parse_genesis(json);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), g);
}

TEST(LedgerNames, Rule) {
  EXPECT_TRUE(is_valid_account_name("Alice"));
  EXPECT_TRUE(is_valid_account_name("a.b-c_9"));
  EXPECT_TRUE(is_valid_account_name(std::string(64, 'x')));
  EXPECT_FALSE(is_valid_account_name(std::string(65, 'x')));
  EXPECT_FALSE(is_valid_account_name(""));
  EXPECT_FALSE(is_valid_account_name("a b"));
  EXPECT_FALSE(is_valid_account_name("a/b"));
  EXPECT_FALSE(is_valid_account_name("Ålice"));
  EXPECT_FALSE(is_valid_account_name(std::string_view("a\0b", 3)));
}

}  // namespace
}  // namespace aethel::ledger
