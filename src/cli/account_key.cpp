#include "cli/account_key.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/node_client.h"
#include "intents/intents.h"

namespace aethel::cli {
namespace json = boost::json;
using ledger::to_hex;
namespace {

constexpr uint32_t kLookupTimeout_ms = 10'000;

// What signing needs from the lattice: its id, and each debited account's next nonce.
struct SigningContext {
  ledger::Hash lattice_id{};
  std::map<std::string, uint64_t> next_nonce;  // filled as accounts are first met
};
constexpr int kBase64Variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

std::string base64url(std::span<const uint8_t> bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kBase64Variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kBase64Variant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// Exactly 32 bytes from base64url, or nullopt.
std::optional<std::array<uint8_t, 32>> key_bytes(std::string_view text) {
  std::array<uint8_t, 32> out{};
  size_t length = 0;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &length, nullptr,
                        kBase64Variant) != 0 ||
      length != out.size()) {
    return std::nullopt;
  }
  return out;
}

std::string jwk_text(const ledger::KeyPair& key) {
  return json::serialize(json::object{{"kty", "OKP"},
                                      {"crv", "Ed25519"},
                                      {"x", base64url(key.public_key)},
                                      {"d", base64url(key.seed)}}) +
         "\n";
}

base::Error bad_key(const std::filesystem::path& path, std::string_view what) {
  return base::Error{"bad_key", fmt::format("{}: {}", path.string(), what)};
}

// GET `target` from the node as a JSON object with its HTTP status.
base::Result<std::pair<unsigned, json::object>> get_json(const http::Url& node,
                                                         const std::string& target) {
  auto reply = http::call(node, "GET", target, {}, client_options(kLookupTimeout_ms));
  if (!reply.ok()) return base::Error{"unreachable", reply.error().message};
  json::error_code ec;
  json::value body = json::parse(reply.value().body, ec);
  if (ec || !body.is_object()) {
    return base::Error{"bad_answer", fmt::format("{} answered HTTP {} without a JSON object",
                                                 target, reply.value().status)};
  }
  return std::make_pair(reply.value().status, std::move(body.as_object()));
}

base::Result<ledger::Hash> lattice_id_of(const http::Url& node) {
  auto members = get_json(node, "/api/lattice/members");
  if (!members.ok()) return members.error();
  auto id = string_field(members.value().second, "lattice_id");
  auto hash = id ? ledger::hash_from_hex(*id) : std::nullopt;
  if (!hash) return base::Error{"bad_answer", "the node reports no lattice_id"};
  return *hash;
}

// The account's next nonce, once its owner is shown to be `key` (or it has none).
base::Result<uint64_t> next_nonce_of(const http::Url& node, const std::string& account,
                                     const ledger::KeyPair& key) {
  auto found = get_json(node, "/api/lattice/accounts/" + account);
  if (!found.ok()) return found.error();
  const auto& [status, body] = found.value();
  if (status != 200) {
    return base::Error{"unknown_account",
                       fmt::format("the node has no account '{}' (HTTP {})", account, status)};
  }
  if (auto owner = string_field(body, "owner"); owner && *owner != to_hex(key.public_key)) {
    return base::Error{"wrong_key", fmt::format("{} is owned by {}, not by this key ({})", account,
                                                *owner, to_hex(key.public_key))};
  }
  const json::value* nonce = body.if_contains("nonce");
  if (nonce == nullptr || !nonce->is_number()) {
    return base::Error{"bad_answer", "the account has no nonce"};
  }
  return nonce->to_number<uint64_t>() + 1;
}

// The calls of `program` in the order of lang::intents_of (nullptr for definitions),
// so that index i matches the i-th outcome of check_program.
std::vector<lang::IntentCall*> calls_in_order(lang::Program& program) {
  std::vector<lang::IntentCall*> calls;
  auto add = [&](auto& item) {
    using T = std::decay_t<decltype(item)>;
    if constexpr (std::is_same_v<T, lang::IntentCall>) calls.push_back(&item);
    if constexpr (std::is_same_v<T, lang::IntentDef>) calls.push_back(nullptr);
  };
  for (lang::Item& item : program.items) {
    std::visit(
        [&](auto& i) {
          if constexpr (std::is_same_v<std::decay_t<decltype(i)>, lang::AtomicBatch>) {
            for (lang::BatchItem& inner : i.items) std::visit(add, inner);
          } else {
            add(i);
          }
        },
        item);
  }
  return calls;
}

void set_field(lang::IntentCall& call, std::string name, lang::Field::Kind kind,
               std::string value) {
  for (lang::Field& f : call.fields) {
    if (f.name == name) {
      f.kind = kind;
      f.value = std::move(value);
      return;
    }
  }
  call.fields.push_back({std::move(name), kind, std::move(value), call.pos});
}

// The account a call debits: a transfer's sender, else the one named on the command
// line.
base::Result<std::string> debited_account(const lang::IntentCall& call,
                                          const std::optional<std::string>& invocation_account) {
  if (call.name == lang::kBuiltinIntent) {
    const lang::Field* from = call.field("from");
    if (from == nullptr) return base::Error{"bad_call", "a transfer without 'from'"};
    return from->value;
  }
  if (!invocation_account) {
    return base::Error{"bad_call",
                       fmt::format("the invocation of '{}' needs --account NAME: the account it "
                                   "debits, whose nonce it carries",
                                   call.name)};
  }
  return *invocation_account;
}

// Writes each call's nonce: the one written, or the account's next.
base::Status assign_nonces(const std::vector<lang::IntentCall*>& calls, const ledger::KeyPair& key,
                           const std::optional<std::string>& invocation_account,
                           const http::Url& node, SigningContext& context) {
  for (lang::IntentCall* call : calls) {
    if (call == nullptr || call->field("nonce") != nullptr) continue;
    auto account = debited_account(*call, invocation_account);
    if (!account.ok()) return account.error();
    auto next = context.next_nonce.find(account.value());
    if (next == context.next_nonce.end()) {
      auto fetched = next_nonce_of(node, account.value(), key);
      if (!fetched.ok()) return fetched.error();
      next = context.next_nonce.emplace(account.value(), fetched.value()).first;
    }
    set_field(*call, "nonce", lang::Field::Kind::kNumber, std::to_string(next->second++));
  }
  return {};
}

}  // namespace

base::Result<ledger::KeyPair> create_account_key(const std::filesystem::path& path) {
  if (sodium_init() < 0) return base::Error{"io_error", "libsodium failed to initialise"};
  std::array<uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  const ledger::KeyPair key = ledger::key_pair_from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const bool exists = errno == EEXIST;
    return base::Error{exists ? "exists" : "io_error",
                       fmt::format("{}: {}", path.string(), std::strerror(errno))};
  }
  const std::string text = jwk_text(key);
  // fchmod: the umask may have taken bits from 0600, never added; 0600 exactly.
  const bool written = ::fchmod(fd, 0600) == 0 &&
                       ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  const int saved_errno = errno;
  ::close(fd);
  if (!written) {
    std::filesystem::remove(path);
    return base::Error{"io_error",
                       fmt::format("{}: {}", path.string(), std::strerror(saved_errno))};
  }
  return key;
}

base::Result<ledger::KeyPair> read_account_key(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return bad_key(path, "cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  json::error_code ec;
  json::value doc = json::parse(text.str(), ec);
  const json::object* jwk = ec ? nullptr : doc.if_object();
  if (jwk == nullptr) return bad_key(path, "not a JSON object (an account key file is a JWK)");
  if (string_field(*jwk, "kty") != "OKP" || string_field(*jwk, "crv") != "Ed25519") {
    return bad_key(path, "not an Ed25519 key (needs \"kty\": \"OKP\", \"crv\": \"Ed25519\")");
  }
  auto seed = key_bytes(string_field(*jwk, "d").value_or(""));
  auto public_key = key_bytes(string_field(*jwk, "x").value_or(""));
  if (!seed || !public_key) return bad_key(path, "\"d\" and \"x\" must be 32 bytes in base64url");
  ledger::KeyPair key = ledger::key_pair_from_seed(*seed);
  if (key.public_key != *public_key) return bad_key(path, "\"x\" is not the public key of \"d\"");
  return key;
}

base::Result<json::object> sign_open_account(const std::string& name, const std::string& client_id,
                                             const ledger::KeyPair& key, const http::Url& node) {
  auto lattice_id = lattice_id_of(node);
  if (!lattice_id.ok()) return lattice_id.error();
  ledger::Transaction tx = ledger::Transaction::open_account(name, key.public_key, client_id);
  ledger::sign_item(key, lattice_id.value(), tx, 0);
  json::object item{{"kind", "open_account"},
                    {"account", name},
                    {"owner", to_hex(key.public_key)},
                    {"signature", to_hex(*tx.transfers[0].signature)}};
  if (!client_id.empty()) item["id"] = client_id;
  return item;
}

base::Status sign_program(lang::Program& program, const ledger::KeyPair& key,
                          const std::optional<std::string>& invocation_account,
                          const http::Url& node) {
  SigningContext context;
  auto lattice_id = lattice_id_of(node);
  if (!lattice_id.ok()) return lattice_id.error();
  context.lattice_id = lattice_id.value();
  const std::vector<lang::IntentCall*> calls = calls_in_order(program);
  if (base::Status nonces = assign_nonces(calls, key, invocation_account, node, context);
      !nonces.ok()) {
    return nonces;
  }
  // The transactions exactly as the node will build them (intents::plan), so the
  // signed kind, client id and items are the node's.
  const std::vector<lang::IntentOutcome> outcomes = lang::check_program(program);
  intents::Plan plan = intents::plan(outcomes);
  std::vector<size_t> items_signed(plan.transactions.size(), 0);
  for (size_t i = 0; i < outcomes.size() && i < calls.size(); ++i) {
    if (!plan.transaction_of[i] || calls[i] == nullptr) continue;
    ledger::Transaction& tx = plan.transactions[*plan.transaction_of[i]];
    const size_t item = items_signed[*plan.transaction_of[i]]++;
    ledger::sign_item(key, context.lattice_id, tx, item);
    set_field(*calls[i], "signature", lang::Field::Kind::kString,
              to_hex(*tx.transfers[item].signature));
  }
  return {};
}

}  // namespace aethel::cli
