// HOST:PORT listen and connect addresses, parsed once for the config, both
// daemons and the CLI.
#pragma once

#include <string>
#include <string_view>

#include "frb/status.h"

namespace frb {

// A parsed "HOST:PORT" or "[IPv6]:PORT". Thread safety: a value type.
struct HostPort {
  std::string host;  // without brackets: "127.0.0.1", "::1", "search.internal"
  int port = 0;

  // "host:port", bracketing an IPv6 literal: "[::1]:9465".
  std::string ToString() const;
  // The host as a URL or Host header wants it (IPv6 literals bracketed).
  std::string UrlHost() const;
};

// Parses "HOST:PORT" where HOST is an IPv4 literal, a bracketed IPv6
// literal or a DNS name (letters, digits, '-', '.'), and PORT is 1..65535
// (0 too when `allow_port_zero`, which binds an ephemeral port). An IPv6
// literal without brackets is refused: "::1:9000" is ambiguous.
// kInvalidArgument naming the text and the problem otherwise.
Result<HostPort> ParseHostPort(std::string_view text, bool allow_port_zero = false);

// True when `host` (unbracketed) is a numeric loopback address, as the
// resolver parses it (AI_NUMERICHOST): 127.0.0.0/8, ::1, ::ffff:127.x.y.z;
// or exactly "localhost". No other name is loopback: it could resolve
// anywhere.
bool IsLoopbackHost(std::string_view host);

// True for the wildcard addresses 0.0.0.0 and :: (every interface).
bool IsWildcardHost(std::string_view host);

// RFC 3986 percent-encoding: unreserved characters (letters, digits,
// '-', '.', '_', '~') stay, and '/' too when `keep_slash`; every other byte
// becomes %XX (upper-case hex). For URL path segments and S3 keys.
std::string PercentEncode(std::string_view s, bool keep_slash = false);

}  // namespace frb
