// http::parse_url: what a node URL may be, and the errors for what it may not.
#include <gtest/gtest.h>

#include "http/http.h"

namespace aethel::http {
namespace {

Url parsed(std::string_view text) {
  auto url = parse_url(text);
  EXPECT_TRUE(url.ok()) << text << ": " << (url.ok() ? "" : url.error().message);
  return url.ok() ? url.value() : Url{};
}

std::string error_of(std::string_view text) {
  auto url = parse_url(text);
  EXPECT_FALSE(url.ok()) << text << " was accepted";
  if (url.ok()) return "";
  EXPECT_EQ(url.error().code, "bad_url");
  return url.error().message;
}

TEST(UrlTest, SchemesGiveDefaultPorts) {
  EXPECT_EQ(parsed("http://node1.example.com"), (Url{false, "node1.example.com", 80, ""}));
  EXPECT_EQ(parsed("https://node1.example.com"), (Url{true, "node1.example.com", 443, ""}));
  EXPECT_EQ(parsed("HTTPS://Node1.Example.COM:8443"), (Url{true, "node1.example.com", 8443, ""}));
}

TEST(UrlTest, BasePathsLoseTheirTrailingSlash) {
  EXPECT_EQ(parsed("https://api.example.com/"), (Url{true, "api.example.com", 443, ""}));
  EXPECT_EQ(parsed("https://api.example.com/aethel/v1/"),
            (Url{true, "api.example.com", 443, "/aethel/v1"}));
  EXPECT_EQ(parsed("http://127.0.0.1:8001/x"), (Url{false, "127.0.0.1", 8001, "/x"}));
}

TEST(UrlTest, Ipv6AddressesGoInBrackets) {
  Url url = parsed("http://[::1]:8000");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 8000);
  EXPECT_EQ(url.authority(), "[::1]:8000");
  EXPECT_EQ(url.to_string(), "http://[::1]:8000");
}

TEST(UrlTest, AuthorityOmitsTheDefaultPort) {
  EXPECT_EQ(parsed("https://a.example:443").authority(), "a.example");
  EXPECT_EQ(parsed("https://a.example:8443").authority(), "a.example:8443");
  EXPECT_EQ(parsed("http://a.example:443").authority(), "a.example:443");
  EXPECT_EQ(parsed("https://a.example/base").to_string(), "https://a.example/base");
}

TEST(UrlTest, WhatIsNotANodeUrlIsRefusedWithTheReason) {
  EXPECT_NE(error_of("ftp://x").find("scheme 'ftp' is not supported"), std::string::npos);
  EXPECT_NE(error_of("node2:8000").find("expected http://HOST"), std::string::npos);
  EXPECT_NE(error_of("http://").find("no host"), std::string::npos);
  EXPECT_NE(error_of("http://a:0").find("bad port '0'"), std::string::npos);
  EXPECT_NE(error_of("http://a:65536").find("bad port"), std::string::npos);
  EXPECT_NE(error_of("http://a:80x").find("bad port"), std::string::npos);
  EXPECT_NE(error_of("http://a:").find("empty port"), std::string::npos);
  EXPECT_NE(error_of("http://user:pw@a").find("user names"), std::string::npos);
  EXPECT_NE(error_of("http://a/x?y=1").find("no query"), std::string::npos);
  EXPECT_NE(error_of("http://a b").find("not a host name"), std::string::npos);
  EXPECT_NE(error_of("http://[::1").find("closing ']'"), std::string::npos);
  EXPECT_NE(error_of("http://[zz]:1").find("not an IPv6 address"), std::string::npos);
  EXPECT_EQ(error_of("gopher://x"),
            "'gopher://x' is not a usable URL: the scheme 'gopher' is "
            "not supported; use http:// or https://");
}

TEST(UrlTest, HeadersAreFoundInAnyCase) {
  Headers headers{{"Content-Type", "a"}, {"X-Thing", "b"}, {"x-thing", "c"}};
  EXPECT_EQ(find_header(headers, "content-type"), "a");
  EXPECT_EQ(find_header(headers, "X-THING"), "b");  // the first one
  EXPECT_EQ(find_header(headers, "Missing"), "");
}

}  // namespace
}  // namespace aethel::http
