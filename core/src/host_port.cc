#include "frb/host_port.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>

namespace frb {
namespace {

// Parses a numeric host the way bind() and connect() will see it.
// Returns the family (AF_INET/AF_INET6) and fills `out`, or 0 for a
// non-numeric host.
int ParseNumeric(const std::string& host, sockaddr_storage* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return 0;
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, ::freeaddrinfo);
  if (res->ai_addrlen > sizeof(*out)) return 0;
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  return res->ai_family;
}

bool IsDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '-';
    if (!ok || ++label > 63) return false;
  }
  return label > 0 || s.back() == '.';
}

}  // namespace

std::string HostPort::UrlHost() const {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string HostPort::ToString() const { return UrlHost() + ":" + std::to_string(port); }

Result<HostPort> ParseHostPort(std::string_view text, bool allow_port_zero) {
  const std::string quoted = "'" + std::string(text) + "'";
  HostPort hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos)
      return InvalidArgument("address " + quoted + " has '[' without ']'");
    hp.host = std::string(text.substr(1, close - 1));
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return InvalidArgument("address " + quoted + " has no :PORT after ']'");
    port = text.substr(close + 2);
    sockaddr_storage ss{};
    if (hp.host.empty() || ParseNumeric(hp.host, &ss) != AF_INET6)
      return InvalidArgument("address " + quoted + ": '[" + hp.host +
                             "]' is not an IPv6 address");
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return InvalidArgument("address " + quoted + " has no :PORT (want HOST:PORT)");
    hp.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (hp.host.find(':') != std::string::npos)
      return InvalidArgument("address " + quoted +
                             ": write an IPv6 address in brackets, e.g. [::1]:9465");
    if (hp.host.empty()) return InvalidArgument("address " + quoted + " has no host");
    sockaddr_storage ss{};
    if (ParseNumeric(hp.host, &ss) == 0 && !IsDnsName(hp.host))
      return InvalidArgument("address " + quoted + ": '" + hp.host +
                             "' is neither an IP address nor a host name");
  }
  if (port.empty() || port.size() > 5)
    return InvalidArgument("address " + quoted + " has a bad port");
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return InvalidArgument("address " + quoted + " has a bad port");
    value = value * 10 + (c - '0');
  }
  if (value > 65535 || (value == 0 && !allow_port_zero))
    return InvalidArgument("address " + quoted + ": port must be in 1..65535");
  hp.port = value;
  return hp;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  sockaddr_storage ss{};
  switch (ParseNumeric(std::string(host), &ss)) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
      return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      const in6_addr& a = in6->sin6_addr;
      if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
      return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
    }
    default:
      return false;
  }
}

bool IsWildcardHost(std::string_view host) {
  sockaddr_storage ss{};
  switch (ParseNumeric(std::string(host), &ss)) {
    case AF_INET:
      return reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    case AF_INET6: {
      const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
      return IN6_IS_ADDR_UNSPECIFIED(&a);
    }
    default:
      return false;
  }
}

std::string PercentEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                            c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace frb
