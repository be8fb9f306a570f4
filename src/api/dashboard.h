// The network status page of SPEC §7, served by the node itself: GET /dashboard (the
// HTML), /dashboard/app.js and /dashboard/style.css. The files live in
// src/api/dashboard/ and are compiled into the binary (cmake/EmbedAssets.cmake), so a
// node needs nothing on disk to serve them.
#pragma once

#include <optional>
#include <string_view>

#include "api/api.h"

namespace aethel::api {

// The response for a dashboard request, or nullopt when the request's path is not a
// dashboard path (then the JSON routes handle it). GET only; any other method gets
// a JSON 405 with Allow: GET. The query string is ignored.
std::optional<Response> dashboard_route(const Request& request);

// An embedded file by its name in src/api/dashboard/ ("index.html", "app.js",
// "style.css"); nullopt for any other name. Defined in the generated source.
std::optional<std::string_view> dashboard_asset(std::string_view name);
// A module of the TypeScript client by its name in clients/typescript/dist/
// ("index.js", "client.js", ...), served as /dashboard/client/<name>.
std::optional<std::string_view> dashboard_client_asset(std::string_view name);

}  // namespace aethel::api
