#include "base/base.h"

#include <arpa/inet.h>
#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace aethel::base {

std::string Status::to_string() const {
  if (ok()) return "ok";
  return error_->code + ": " + error_->message;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  return to_hex(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::atomic<FatalHandler> g_fatal_handler{nullptr};

}  // namespace

std::optional<std::vector<uint8_t>> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int high = hex_digit(hex[2 * i]);
    int low = hex_digit(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return out;
}

void set_fatal_handler(FatalHandler handler) {
  g_fatal_handler.store(handler);
}

void name_this_thread(std::string_view name) {
  char kept[16] = {};
  name.copy(kept, sizeof kept - 1);
  pthread_setname_np(pthread_self(), kept);
}

void fatal(std::string_view what) {
  if (FatalHandler handler = g_fatal_handler.load()) handler(what);
  std::fprintf(stderr, "[FATAL] %.*s\n", static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  std::abort();
}

void check_failed(const char* condition, const char* file, int line) {
  fatal(std::string("invariant violated: ") + condition + " (" + file + ":" + std::to_string(line) +
        ")");
}

std::optional<std::string> canonical_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string input(text);
  unsigned char address[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, input.c_str(), address) == 1 &&
        inet_ntop(family, address, out, sizeof out) != nullptr) {
      return std::string(out);
    }
  }
  return std::nullopt;
}

}  // namespace aethel::base
