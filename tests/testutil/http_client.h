// A minimal HTTP/1.1 client for the integration tests: one request per
// connection ("Connection: close") to a loopback port, over POSIX sockets.
#pragma once

#include <string>
#include <string_view>

#include "frb/json.h"

namespace frb::test {

struct HttpResponse {
  int status = 0;       // 0: no connection / no response
  std::string headers;  // status line and headers, without the blank line
  std::string body;     // de-chunked when the response was chunked
  // The body as JSON; an empty Json when it does not parse.
  Json json() const;
};

// Sends `method path` to 127.0.0.1:`port` with `body` (always with a
// Content-Length) and `extra_headers` (complete "Name: value\r\n" lines), and
// reads the response: a Content-Length body, a chunked body or, failing both,
// everything up to the close. Gives up on a response after `timeout_s`.
HttpResponse Http(int port, const std::string& method, const std::string& path,
                  const std::string& body = "", const std::string& extra_headers = "",
                  int timeout_s = 10);

// A socket connected to 127.0.0.1:`port`, or -1. For tests that send
// malformed or deliberately slow requests byte by byte.
int ConnectLoopback(int port);
// send(2) until all of `bytes` is out; false when the peer went away.
bool SendAll(int fd, std::string_view bytes);

// A loopback TCP port nothing listens on (bound, then released).
int FreePort();

// Value of one sample line "name{labels} value" in a Prometheus scrape
// (labels exactly as the exporter orders them), or NaN when absent.
double Sample(const std::string& scrape, const std::string& series);

}  // namespace frb::test
