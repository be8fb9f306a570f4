// Multiaddr text and binary forms for the protocols in Multiaddr::Protocol.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "p2p/codec.h"

namespace aethel::p2p {

namespace {
using Protocol = Multiaddr::Protocol;

constexpr std::size_t kMaxComponents = 16;
constexpr std::size_t kMaxDnsNameBytes = 253;

struct ProtocolName {
  Protocol protocol;
  std::string_view name;
};
constexpr ProtocolName kNames[] = {
    {Protocol::kIp4, "ip4"}, {Protocol::kTcp, "tcp"},   {Protocol::kIp6, "ip6"},
    {Protocol::kDns, "dns"}, {Protocol::kDns4, "dns4"}, {Protocol::kDns6, "dns6"},
    {Protocol::kP2p, "p2p"},
};

std::optional<Protocol> protocol_from_name(std::string_view name) {
  if (name == "ipfs") return Protocol::kP2p;  // the old name of /p2p/
  for (const auto& entry : kNames) {
    if (entry.name == name) return entry.protocol;
  }
  return std::nullopt;
}

std::optional<Protocol> protocol_from_code(std::uint64_t code) {
  for (const auto& entry : kNames) {
    if (static_cast<std::uint64_t>(entry.protocol) == code) return entry.protocol;
  }
  return std::nullopt;
}

std::string_view protocol_name(Protocol protocol) {
  for (const auto& entry : kNames) {
    if (entry.protocol == protocol) return entry.name;
  }
  return "?";
}

bool is_dns(Protocol protocol) {
  return protocol == Protocol::kDns || protocol == Protocol::kDns4 || protocol == Protocol::kDns6;
}

Result<Bytes> ip_to_bytes(Protocol protocol, const std::string& text) {
  if (protocol == Protocol::kIp4) {
    std::array<std::uint8_t, 4> raw{};
    if (::inet_pton(AF_INET, text.c_str(), raw.data()) != 1) {
      return Error{"bad_multiaddr",
                   "'" + text + "' is not an IPv4 address (a host name belongs under /dns4/)"};
    }
    return Bytes(raw.begin(), raw.end());
  }
  std::array<std::uint8_t, 16> raw{};
  if (::inet_pton(AF_INET6, text.c_str(), raw.data()) != 1) {
    return Error{"bad_multiaddr", "'" + text + "' is not an IPv6 address"};
  }
  return Bytes(raw.begin(), raw.end());
}

std::string ip_to_text(Protocol protocol, ByteView raw) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(protocol == Protocol::kIp4 ? AF_INET : AF_INET6, raw.data(), text, sizeof text);
  return text;
}

// Validates a component value given in text and returns it in canonical text form.
Result<std::string> canonical_value(Protocol protocol, std::string_view value) {
  switch (protocol) {
    case Protocol::kIp4:
    case Protocol::kIp6: {
      auto raw = ip_to_bytes(protocol, std::string(value));
      if (!raw) return raw.error();
      return ip_to_text(protocol, raw.value());
    }
    case Protocol::kTcp: {
      unsigned port = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
      if (ec != std::errc() || end != value.data() + value.size() || port > 65535 ||
          value.empty() || (value.size() > 1 && value[0] == '0')) {
        return Error{"bad_multiaddr", "'" + std::string(value) + "' is not a TCP port (0-65535)"};
      }
      return std::to_string(port);
    }
    case Protocol::kDns:
    case Protocol::kDns4:
    case Protocol::kDns6:
      if (value.empty() || value.size() > kMaxDnsNameBytes) {
        return Error{"bad_multiaddr", "DNS name must be 1-253 bytes"};
      }
      return std::string(value);
    case Protocol::kP2p: {
      auto peer = PeerId::parse(value);
      if (!peer) return peer.error();
      return peer->to_base58();
    }
  }
  return Error{"bad_multiaddr", "unknown protocol"};
}
}  // namespace

Result<Multiaddr> Multiaddr::parse(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return Error{"bad_multiaddr", "multiaddr '" + std::string(text) + "': " + why};
  };
  if (text.empty() || text.front() != '/') return fail("must start with '/'");
  Multiaddr address;
  std::size_t position = 1;
  while (position < text.size()) {
    const auto name_end = text.find('/', position);
    const auto name = text.substr(position, name_end - position);
    const auto protocol = protocol_from_name(name);
    if (!protocol) {
      return fail("unsupported protocol '" + std::string(name) +
                  "' (supported: ip4 ip6 dns dns4 dns6 tcp p2p)");
    }
    if (name_end == std::string_view::npos) {
      return fail("/" + std::string(name) + " needs a value");
    }
    const auto value_end = text.find('/', name_end + 1);
    const auto value = text.substr(name_end + 1, value_end - name_end - 1);
    auto canonical = canonical_value(*protocol, value);
    if (!canonical) {
      return fail("/" + std::string(name) + "/" + std::string(value) + ": " +
                  canonical.error().message);
    }
    if (address.components_.size() == kMaxComponents) return fail("too many components");
    address.components_.push_back({*protocol, std::move(canonical.value())});
    if (value_end == std::string_view::npos) break;
    position = value_end + 1;
    if (position == text.size()) break;  // tolerate one trailing '/'
  }
  if (address.components_.empty()) return fail("no components");
  return address;
}

Result<Multiaddr> Multiaddr::parse_bootstrap(std::string_view text, std::string& warning) {
  warning.clear();
  auto strict = parse(text);
  if (strict || !text.starts_with("/ip4/")) return strict;
  const auto host_end = text.find('/', 5);
  const std::string host(
      text.substr(5, host_end == std::string_view::npos ? std::string_view::npos : host_end - 5));
  std::array<std::uint8_t, 4> ignored{};
  const bool is_ipv4 = ::inet_pton(AF_INET, host.c_str(), ignored.data()) == 1;
  const bool looks_like_name =
      !host.empty() && host.find_first_not_of(
                           "abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == std::string::npos;
  // A malformed IPv4 address (all digits and dots) stays an error rather than a name.
  const bool has_letter = std::any_of(
      host.begin(), host.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
  if (is_ipv4 || !looks_like_name || !has_letter) return strict;
  const std::string rewritten = "/dns4/" + std::string(text.substr(5));
  auto lenient = parse(rewritten);
  if (!lenient) return lenient;
  warning = "'" + std::string(text) + "' has a host name under /ip4/; using " + rewritten;
  return lenient;
}

Result<Multiaddr> Multiaddr::from_bytes(ByteView bytes) {
  Multiaddr address;
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    if (address.components_.size() == kMaxComponents) {
      return Error{"bad_multiaddr", "multiaddr: too many components"};
    }
    auto code = decode_varint(bytes.subspan(offset));
    if (!code)
      return Error{"bad_multiaddr", "multiaddr: bad protocol code: " + code.error().message};
    offset += code->length;
    const auto protocol = protocol_from_code(code->value);
    if (!protocol) {
      return Error{"bad_multiaddr",
                   "multiaddr: unsupported protocol code " + std::to_string(code->value)};
    }
    std::size_t value_bytes = 0;
    if (*protocol == Protocol::kIp4) {
      value_bytes = 4;
    } else if (*protocol == Protocol::kIp6) {
      value_bytes = 16;
    } else if (*protocol == Protocol::kTcp) {
      value_bytes = 2;
    } else {
      auto length = decode_varint(bytes.subspan(offset));
      if (!length)
        return Error{"bad_multiaddr", "multiaddr: bad value length: " + length.error().message};
      offset += length->length;
      if (length->value > bytes.size())
        return Error{"bad_multiaddr", "multiaddr: value runs past the end"};
      value_bytes = static_cast<std::size_t>(length->value);
    }
    if (bytes.size() - offset < value_bytes)
      return Error{"bad_multiaddr", "multiaddr: value runs past the end"};
    const auto raw = bytes.subspan(offset, value_bytes);
    offset += value_bytes;
    std::string value;
    if (*protocol == Protocol::kIp4 || *protocol == Protocol::kIp6) {
      value = ip_to_text(*protocol, raw);
    } else if (*protocol == Protocol::kTcp) {
      value = std::to_string((static_cast<unsigned>(raw[0]) << 8) | raw[1]);
    } else if (is_dns(*protocol)) {
      if (raw.empty() || raw.size() > kMaxDnsNameBytes) {
        return Error{"bad_multiaddr", "multiaddr: DNS name must be 1-253 bytes"};
      }
      value = as_string(raw);
      if (value.find('/') != std::string::npos)
        return Error{"bad_multiaddr", "multiaddr: '/' in a DNS name"};
    } else {
      auto peer = PeerId::from_bytes(raw);
      if (!peer) return Error{"bad_multiaddr", "multiaddr: /p2p/ value: " + peer.error().message};
      value = peer->to_base58();
    }
    address.components_.push_back({*protocol, std::move(value)});
  }
  if (address.components_.empty()) return Error{"bad_multiaddr", "multiaddr: empty"};
  return address;
}

std::string Multiaddr::to_string() const {
  std::string text;
  for (const auto& component : components_) {
    text += '/';
    text += protocol_name(component.protocol);
    text += '/';
    text += component.value;
  }
  return text;
}

Bytes Multiaddr::to_bytes() const {
  Bytes out;
  for (const auto& component : components_) {
    append_varint(out, static_cast<std::uint64_t>(component.protocol));
    switch (component.protocol) {
      case Protocol::kIp4:
      case Protocol::kIp6: {
        auto raw = ip_to_bytes(component.protocol, component.value);
        out.insert(out.end(), raw->begin(), raw->end());  // validated on construction
        break;
      }
      case Protocol::kTcp: {
        const auto port = static_cast<std::uint16_t>(std::stoul(component.value));
        out.push_back(static_cast<std::uint8_t>(port >> 8));
        out.push_back(static_cast<std::uint8_t>(port & 0xff));
        break;
      }
      case Protocol::kDns:
      case Protocol::kDns4:
      case Protocol::kDns6:
        append_length_prefixed(out, as_bytes(component.value));
        break;
      case Protocol::kP2p: {
        auto peer = PeerId::parse(component.value);
        append_length_prefixed(out, peer->bytes());
        break;
      }
    }
  }
  return out;
}

std::optional<std::pair<std::string, std::uint16_t>> Multiaddr::tcp_endpoint() const {
  if (components_.size() < 2) return std::nullopt;
  const auto& host = components_[0];
  const auto& port = components_[1];
  if (port.protocol != Protocol::kTcp) return std::nullopt;
  if (host.protocol == Protocol::kTcp || host.protocol == Protocol::kP2p) return std::nullopt;
  return std::make_pair(host.value, static_cast<std::uint16_t>(std::stoul(port.value)));
}

std::optional<PeerId> Multiaddr::peer_id() const {
  for (const auto& component : components_) {
    if (component.protocol == Protocol::kP2p) {
      auto peer = PeerId::parse(component.value);
      if (peer) return peer.value();
    }
  }
  return std::nullopt;
}

Multiaddr Multiaddr::without_peer_id() const {
  Multiaddr copy;
  for (const auto& component : components_) {
    if (component.protocol != Protocol::kP2p) copy.components_.push_back(component);
  }
  return copy;
}

Multiaddr Multiaddr::with_peer_id(const PeerId& peer) const {
  Multiaddr copy = without_peer_id();
  copy.components_.push_back({Protocol::kP2p, peer.to_base58()});
  return copy;
}

}  // namespace aethel::p2p
