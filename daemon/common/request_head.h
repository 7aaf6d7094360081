// The head of an HTTP/1.1 request (request line and header lines), parsed
// by the connection loop before any worker or body is involved, so limits
// and refusals cost no thread and no body bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace frb::http {

struct RequestHead {
  std::string method;
  std::string target;  // as sent: path and query
  std::string path;    // target up to '?'
  std::string version;  // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<uint64_t> content_length;
  bool chunked = false;          // Transfer-Encoding: chunked
  bool expect_continue = false;  // Expect: 100-continue

  // The first value of header `name` (case-insensitive), or "".
  std::string Header(std::string_view name) const;
  // True for methods that change state (anything but GET, HEAD, OPTIONS).
  bool Mutating() const;
};

// Where the head ends in `bytes`: the offset just past the blank line
// ("\r\n\r\n"), or 0 when the head is not complete yet.
size_t FindHeadEnd(std::string_view bytes);

struct HeadError {
  int status;           // 400, 431, 501
  std::string message;  // for the client
};

// Parses a complete head (`head` ends with the blank line). At most
// `max_headers` header lines (431 beyond); malformed lines, conflicting or
// bad Content-Length, and Content-Length together with Transfer-Encoding
// (a request-smuggling shape) are 400; a transfer coding other than
// chunked is 501.
std::variant<RequestHead, HeadError> ParseRequestHead(std::string_view head, int max_headers);

}  // namespace frb::http
