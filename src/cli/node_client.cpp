#include "cli/node_client.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdlib>

namespace aethel::cli {
namespace json = boost::json;

std::optional<std::string> string_field(const json::object& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().as_string());
}

http::ClientOptions client_options(uint32_t timeout_ms) {
  http::ClientOptions options;
  options.timeout_ms = timeout_ms;
  for (const char* name : {"AETHEL_TLS_CA_FILE", "DIOTEC360_TLS_CA_FILE"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
      options.trust.ca_file = value;
      break;
    }
  }
  return options;
}

namespace {

base::Result<storage::Block> block_of(const json::value& item) {
  const json::object* object = item.if_object();
  const json::value* height = object ? object->if_contains("height") : nullptr;
  const json::value* data = object ? object->if_contains("data") : nullptr;
  if (!height || (!height->is_uint64() && !height->is_int64()) || !data || !data->is_string()) {
    return base::Error{"bad_answer", "a block without height and hex data"};
  }
  auto bytes = base::from_hex(data->as_string());
  if (!bytes) return base::Error{"bad_answer", "a block's data is not hex"};
  return storage::Block{height->to_number<uint64_t>(), std::move(*bytes)};
}

}  // namespace

base::Result<std::vector<storage::Block>> fetch_blocks(const http::Url& node, uint64_t from,
                                                       uint32_t limit,
                                                       const http::ClientOptions& options) {
  std::string target =
      fmt::format("/api/lattice/blocks?from={}&limit={}&encoding=hex", from, limit);
  auto reply = http::call(node, "GET", target, {}, options);
  std::string where = node.to_string() + target;
  if (!reply.ok()) return base::Error{"unreachable", where + ": " + reply.error().message};
  if (reply.value().status != 200) {
    return base::Error{"bad_answer", fmt::format("{} answered {}", where, reply.value().status)};
  }
  json::error_code ec;
  json::value body = json::parse(reply.value().body, ec);
  const json::value* blocks =
      !ec && body.is_object() ? body.as_object().if_contains("blocks") : nullptr;
  if (!blocks || !blocks->is_array()) return base::Error{"bad_answer", where + ": no blocks array"};
  std::vector<storage::Block> out;
  for (const json::value& item : blocks->as_array()) {
    auto block = block_of(item);
    if (!block.ok()) return base::Error{"bad_answer", where + ": " + block.error().message};
    out.push_back(std::move(block).value());
  }
  return out;
}

}  // namespace aethel::cli
