// The CLI's side of the daemon HTTP API (docs/api.md):
// where the daemon is, the bearer token, and one-line errors.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cli.h"

namespace httplib {
class Client;
}

namespace frb::cli {

struct HttpReply {
  int status = 0;
  std::string body;
  Json json;  // the parsed body; null when it is not JSON
  bool ok() const { return status >= 200 && status < 300; }
  // The daemon's {"error": ...} message, else "HTTP <status>" and the body.
  std::string Error() const;
};

// `segment` percent-encoded for one URL path segment: everything but
// RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) becomes %XX, so a
// '/', '?' or '#' in it cannot change the request's route.
std::string PathSegment(std::string_view segment);

class DaemonClient {
 public:
  // URL from --daemon, else http://<http.listen> of the config; the bearer
  // token from http.token_file when readable. Errors are one-line messages;
  // kInvalidArgument only for a malformed --daemon URL (a usage error).
  static Result<std::unique_ptr<DaemonClient>> Open(const GlobalOptions& g);
  ~DaemonClient();

  const std::string& url() const { return url_; }
  // One request; a non-2xx reply is still a reply. Fails (with the message
  // to print) only when the daemon cannot be reached or does not answer.
  Result<HttpReply> Call(const std::string& method, const std::string& path,
                         const std::string& body = "");

 private:
  DaemonClient(std::string url, const std::string& token);
  std::string url_;
  std::string token_note_;  // why no token is sent, when none is
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace frb::cli
