#include "cli/join.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <fstream>

#include "cli/node_client.h"
#include "http/http.h"
#include "storage/posix_file.h"

namespace aethel::cli {
namespace {

namespace json = boost::json;

constexpr uint32_t kJoinTimeout_ms = 10'000;
constexpr std::string_view kJoinedFile = "joined.json";

base::Error bad_join(const std::string& where, const std::string& what) {
  return base::Error{"bad_join", fmt::format("AETHEL_JOIN: {}: {}", where, what)};
}

base::Result<json::object> get_object(const http::Url& url, std::string_view target,
                                      const node::Config& config) {
  http::ClientOptions options = client_options(kJoinTimeout_ms);
  if (!config.tls_ca_file.empty()) options.trust.ca_file = config.tls_ca_file;
  auto reply = http::call(url, "GET", target, {}, options);
  std::string where = config.join_url + std::string(target);
  if (!reply.ok()) return bad_join(where, reply.error().message);
  if (reply->status != 200) return bad_join(where, fmt::format("status {}", reply->status));
  json::error_code ec;
  json::value value = json::parse(reply->body, ec);
  if (ec || !value.is_object()) return bad_join(where, "the answer is not a JSON object");
  return std::move(value.as_object());
}

// The document joined.json holds, and the one GET /api/lattice/members answers (with
// "genesis" added): one parser for both.
base::Result<Joined> parse_joined(const json::object& doc, const std::string& where) {
  Joined joined;
  joined.lattice_id = string_field(doc, "lattice_id").value_or("");
  const json::value* genesis = doc.if_contains("genesis");
  const json::value* validators = doc.if_contains("genesis_validators");
  const json::value* members = doc.if_contains("members");
  if (joined.lattice_id.empty() || !genesis || !validators || !validators->is_array() || !members ||
      !members->is_array()) {
    return bad_join(where, "lattice_id, genesis, genesis_validators or members is missing");
  }
  auto parsed = ledger::parse_genesis(json::serialize(*genesis));
  if (!parsed.ok()) return bad_join(where, "the genesis: " + parsed.error().message);
  joined.genesis = std::move(parsed).value();
  for (const json::value& v : validators->as_array()) {
    if (v.is_string()) joined.genesis_validators.emplace_back(v.as_string());
  }
  for (const json::value& v : members->as_array()) {
    if (!v.is_object()) continue;
    node::Member member;
    member.address.peer_id = string_field(v.as_object(), "peer_id").value_or("");
    member.address.url = string_field(v.as_object(), "url").value_or("");
    member.voter = string_field(v.as_object(), "role").value_or("") == "validator";
    if (!member.address.peer_id.empty()) joined.members.push_back(std::move(member));
  }
  if (node::lattice_id(joined.genesis_validators, joined.genesis) != joined.lattice_id) {
    return bad_join(where, "its lattice id does not follow from its genesis and validators");
  }
  if (joined.members.empty()) return bad_join(where, "it names no member");
  return joined;
}

json::object joined_json(const Joined& joined) {
  json::array validators(joined.genesis_validators.begin(), joined.genesis_validators.end());
  json::array members;
  for (const node::Member& m : joined.members) {
    members.push_back(json::object{{"peer_id", m.address.peer_id},
                                   {"url", m.address.url},
                                   {"role", m.voter ? "validator" : "learner"}});
  }
  return json::object{{"lattice_id", joined.lattice_id},
                      {"genesis", json::parse(ledger::genesis_to_json(joined.genesis))},
                      {"genesis_validators", std::move(validators)},
                      {"members", std::move(members)}};
}

base::Result<Joined> fetch_joined(const node::Config& config) {
  auto url = http::parse_url(config.join_url);
  if (!url.ok()) return bad_join(config.join_url, url.error().message);
  auto members = get_object(url.value(), "/api/lattice/members", config);
  if (!members.ok()) return members.error();
  auto genesis = get_object(url.value(), "/api/lattice/genesis", config);
  if (!genesis.ok()) return genesis.error();
  if (const json::value* g = genesis->if_contains("genesis")) members.value()["genesis"] = *g;
  return parse_joined(members.value(), config.join_url);
}

}  // namespace

base::Result<Joined> join_lattice(const node::Config& config) {
  std::filesystem::path path = config.data_dir / kJoinedFile;
  if (std::ifstream file{path}) {
    std::string text((std::istreambuf_iterator<char>(file)), {});
    json::error_code ec;
    json::value doc = json::parse(text, ec);
    if (ec || !doc.is_object()) return bad_join(path.string(), "not a JSON object");
    return parse_joined(doc.as_object(), path.string());
  }
  auto joined = fetch_joined(config);
  if (!joined.ok()) return joined;
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  storage::Status written = storage::write_file_atomically(
      config.data_dir, std::string(kJoinedFile), json::serialize(joined_json(joined.value())));
  if (!written.ok()) return base::Error{"io_error", written.to_string()};
  return joined;
}

}  // namespace aethel::cli
