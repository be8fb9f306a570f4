// How the CLI talks to nodes. https:// URLs are verified against the system's CA
// store plus AETHEL_TLS_CA_FILE (or DIOTEC360_TLS_CA_FILE) from the environment, the
// same setting a node uses for its peers.
#pragma once

#include <cstdint>

#include "http/http.h"

namespace aethel::cli {

http::ClientOptions client_options(uint32_t timeout_ms);

}  // namespace aethel::cli
