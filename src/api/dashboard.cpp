#include "api/dashboard.h"

#include <array>
#include <utility>

namespace aethel::api {
namespace {

struct Page {
  std::string_view path;
  std::string_view asset;
  std::string_view content_type;
};

constexpr std::array<Page, 6> kPages = {{
    {"/dashboard", "index.html", "text/html; charset=utf-8"},
    {"/dashboard/", "index.html", "text/html; charset=utf-8"},
    {"/dashboard/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/dashboard/charts.js", "charts.js", "text/javascript; charset=utf-8"},
    {"/dashboard/explorer.js", "explorer.js", "text/javascript; charset=utf-8"},
    {"/dashboard/style.css", "style.css", "text/css; charset=utf-8"},
}};

constexpr std::string_view kClientPrefix = "/dashboard/client/";

Response serve(const Request& request, std::string_view path, std::optional<std::string_view> body,
               std::string_view content_type) {
  if (request.method != "GET") {
    Response r = error_response(405, "method_not_allowed", std::string(path) + " accepts GET only");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (!body) return error_response(500, "internal_error", "dashboard asset missing from the build");
  Response r;
  r.status = 200;
  r.body = std::string(*body);
  r.content_type = std::string(content_type);
  return r;
}

}  // namespace

std::optional<Response> dashboard_route(const Request& request) {
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find_first_of("?#"));
  for (const Page& page : kPages) {
    if (path == page.path) {
      return serve(request, path, dashboard_asset(page.asset), page.content_type);
    }
  }
  if (path.starts_with(kClientPrefix)) {
    auto module = dashboard_client_asset(path.substr(kClientPrefix.size()));
    if (!module) return error_response(404, "not_found", "no dashboard file " + std::string(path));
    return serve(request, path, module, "text/javascript; charset=utf-8");
  }
  return std::nullopt;
}

}  // namespace aethel::api
