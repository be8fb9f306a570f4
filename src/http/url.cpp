// Base URLs of nodes: http(s)://host[:port][/base/path].
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "http/http.h"

namespace aethel::http {
namespace {

base::Error bad_url(std::string_view url, std::string_view why) {
  return base::Error{"bad_url", fmt::format("'{}' is not a usable URL: {}", url, why)};
}

bool is_default_port(const Url& url) {
  return url.port == (url.tls ? 443 : 80);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// "host", "host:port", "[v6]" or "[v6]:port" into url.host and url.port.
std::optional<std::string> parse_authority(std::string_view authority, Url& url) {
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return "an IPv6 address needs a closing ']'";
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return "unexpected text after ']'";
    if (!rest.empty()) port = rest.substr(1);
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != host.npos) {
      return fmt::format("'{}' is not an IPv6 address", host);
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return "an empty port after ':'";
    }
    if (host.empty()) return "no host";
    if (!std::all_of(host.begin(), host.end(), valid_host_char)) {
      return fmt::format("'{}' is not a host name", host);
    }
  }
  if (!port.empty() || authority.ends_with(':')) {
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      return fmt::format("bad port '{}' (expected 1..65535)", port);
    }
    url.port = static_cast<uint16_t>(value);
  }
  url.host = lower(host);
  return std::nullopt;
}

}  // namespace

std::string_view find_header(const Headers& headers, std::string_view name) {
  for (const auto& [field, value] : headers) {
    if (field.size() == name.size() &&
        std::equal(field.begin(), field.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return value;
    }
  }
  return {};
}

std::string Url::authority() const {
  std::string name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (is_default_port(*this)) return name;
  return fmt::format("{}:{}", name, port);
}

std::string Url::to_string() const {
  return fmt::format("{}://{}{}", tls ? "https" : "http", authority(), base_path);
}

base::Result<Url> parse_url(std::string_view text) {
  Url url;
  std::string_view rest = text;
  std::string scheme = lower(rest.substr(0, rest.find("://")));
  if (rest.find("://") == std::string_view::npos) {
    return bad_url(text, "expected http://HOST[:PORT] or https://HOST[:PORT]");
  }
  if (scheme != "http" && scheme != "https") {
    return bad_url(
        text, fmt::format("the scheme '{}' is not supported; use http:// or https://", scheme));
  }
  url.tls = scheme == "https";
  url.port = url.tls ? 443 : 80;
  rest.remove_prefix(scheme.size() + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return bad_url(text, "a base URL has no query or fragment");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) {
    return bad_url(text, "user names and passwords in URLs are not supported");
  }
  if (auto problem = parse_authority(authority, url)) return bad_url(text, *problem);
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    while (path.ends_with('/')) path.remove_suffix(1);
    if (path.find_first_of(" \t\r\n") != std::string_view::npos) {
      return bad_url(text, "the path has white space");
    }
    url.base_path = std::string(path);
  }
  return url;
}

}  // namespace aethel::http
