#include "cli/node_client.h"

#include <cstdlib>

namespace aethel::cli {

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

}  // namespace aethel::cli
