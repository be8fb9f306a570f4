// How the CLI talks to nodes. https:// URLs are verified against the system's CA
// store plus AETHEL_TLS_CA_FILE (or DIOTEC360_TLS_CA_FILE) from the environment, the
// same setting a node uses for its peers.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.h"
#include "storage/storage.h"

namespace aethel::cli {

http::ClientOptions client_options(uint32_t timeout_ms);

// The string under `key` in a node's JSON answer; nullopt when absent or not a string.
std::optional<std::string> string_field(const boost::json::object& object, std::string_view key);

// Stored blocks [from, from + limit) as the node keeps them (GET
// /api/lattice/blocks?encoding=hex); fewer when the node holds fewer. Errors name
// the node and what was wrong with its answer.
base::Result<std::vector<storage::Block>> fetch_blocks(const http::Url& node, uint64_t from,
                                                       uint32_t limit,
                                                       const http::ClientOptions& options);

}  // namespace aethel::cli
