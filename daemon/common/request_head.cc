#include "request_head.h"

#include <charconv>

namespace frb::http {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 token characters (method and header names).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 32 || c >= 127) return false;
    if (std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) !=
        std::string_view::npos)
      return false;
  }
  return true;
}

HeadError Bad(std::string message) { return HeadError{400, std::move(message)}; }

}  // namespace

std::string RequestHead::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (IEquals(k, name)) return v;
  return "";
}

bool RequestHead::Mutating() const {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

size_t FindHeadEnd(std::string_view bytes) {
  const size_t at = bytes.find("\r\n\r\n");
  return at == std::string_view::npos ? 0 : at + 4;
}

std::variant<RequestHead, HeadError> ParseRequestHead(std::string_view head, int max_headers) {
  RequestHead h;
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return Bad("malformed request line");
  const std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return Bad("malformed request line");
  h.method = std::string(line.substr(0, sp1));
  h.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  h.version = std::string(line.substr(sp2 + 1));
  if (!IsToken(h.method) || h.target.empty() ||
      (h.version != "HTTP/1.1" && h.version != "HTTP/1.0"))
    return Bad("malformed request line");
  h.path = h.target.substr(0, h.target.find('?'));

  size_t pos = eol + 2;
  bool te_seen = false;
  while (pos < head.size()) {
    eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) return Bad("malformed header line");
    const std::string_view l = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (l.empty()) break;  // the blank line
    if (static_cast<int>(h.headers.size()) >= max_headers)
      return HeadError{431, "more than " + std::to_string(max_headers) + " header lines"};
    const size_t colon = l.find(':');
    if (colon == std::string_view::npos || !IsToken(l.substr(0, colon)))
      return Bad("malformed header line");  // also obsolete line folding
    std::string name(l.substr(0, colon));
    std::string value(Trim(l.substr(colon + 1)));
    if (IEquals(name, "Content-Length")) {
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size())
        return Bad("bad Content-Length");
      if (h.content_length && *h.content_length != n) return Bad("conflicting Content-Length");
      h.content_length = n;
    } else if (IEquals(name, "Transfer-Encoding")) {
      if (te_seen || !IEquals(value, "chunked"))
        return HeadError{501, "only Transfer-Encoding: chunked is supported"};
      te_seen = true;
      h.chunked = true;
    } else if (IEquals(name, "Expect")) {
      if (!IEquals(value, "100-continue")) return HeadError{417, "unsupported Expect"};
      h.expect_continue = true;
    }
    h.headers.emplace_back(std::move(name), std::move(value));
  }
  if (h.chunked && h.content_length)
    return Bad("both Content-Length and Transfer-Encoding");
  if (h.chunked && h.version == "HTTP/1.0")
    return Bad("chunked transfer coding in HTTP/1.0");
  return h;
}

}  // namespace frb::http
