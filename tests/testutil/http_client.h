// The tests' HTTP clients, on cpp-httplib's client: Http() for one request
// on a fresh connection, HttpConnection for a keep-alive connection (the
// searchd tests and the load-generating benchmarks). Requests a real client
// would never send go through raw_connection.h instead.
#pragma once

#include <memory>
#include <string>

#include "frb/json.h"

namespace httplib {
class Client;
}  // namespace httplib

namespace frb::test {

struct HttpResponse {
  int status = 0;    // 0: no connection / no complete response
  std::string body;  // de-chunked when the response was chunked
  // The body as JSON; an empty Json when it does not parse.
  Json json() const;
};

// Sends `method path` (verbatim, not re-encoded) to 127.0.0.1:`port` on a
// connection of its own ("Connection: close"), with `body` (always with a
// Content-Length) and `extra_headers` (complete "Name: value\r\n" lines),
// and reads the response. Connecting, sending and each read give up after
// `timeout_s`.
HttpResponse Http(int port, const std::string& method, const std::string& path,
                  const std::string& body = "", const std::string& extra_headers = "",
                  int timeout_s = 10);

// One keep-alive connection to `host`:`port`, opened on first use and
// reopened when the server closed it. JSON bodies; 30 s timeouts.
// Not thread-safe: one connection, one thread.
class HttpConnection {
 public:
  explicit HttpConnection(int port, std::string host = "127.0.0.1");
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  HttpResponse Get(const std::string& path) { return Do("GET", path, ""); }
  HttpResponse Post(const std::string& path, const std::string& body) {
    return Do("POST", path, body);
  }
  // Closes the connection; the next request opens a new one.
  void Close();

 private:
  HttpResponse Do(const std::string& method, const std::string& path, const std::string& body);
  std::string host_;
  int port_;
  std::unique_ptr<httplib::Client> client_;
  bool used_ = false;  // a request went over the current connection
};

// A loopback TCP port nothing listens on (bound, then released).
int FreePort();

// Value of one sample line "name{labels} value" in a Prometheus scrape
// (labels exactly as the exporter orders them), or NaN when absent.
double Sample(const std::string& scrape, const std::string& series);

}  // namespace frb::test
