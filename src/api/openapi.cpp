// GET /api/openapi.json: src/api/openapi.json, compiled in (cmake/EmbedAssets.cmake).
// tests/openapi checks it with an OpenAPI 3.1 validator and against real answers.
#include <optional>

#include "api/api.h"

namespace aethel::api {

std::optional<std::string_view> api_document_asset(std::string_view name);  // generated

std::string_view openapi_document() {
  static const std::string_view document = api_document_asset("openapi.json").value_or("{}");
  return document;
}

}  // namespace aethel::api
