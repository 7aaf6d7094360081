#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace frb::test {
namespace {

// Value of header `name` (lower case, without the colon) in `headers`,
// lower-cased; `found` tells whether the header is there at all.
std::string HeaderValue(const std::string& headers, const std::string& name, bool* found) {
  std::string lower = headers;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t p = lower.find("\r\n" + name + ":");
  *found = p != std::string::npos;
  if (!*found) return "";
  size_t start = p + 2 + name.size() + 1;
  size_t eol = lower.find("\r\n", start);
  std::string v = lower.substr(start, eol == std::string::npos ? std::string::npos : eol - start);
  v.erase(0, v.find_first_not_of(" \t"));
  return v;
}

// The data of a chunked body; `complete` when the last (0) chunk was seen.
std::string Dechunk(const std::string& raw, bool* complete) {
  *complete = false;
  std::string joined;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t eol = raw.find("\r\n", pos);
    if (eol == std::string::npos) break;
    size_t len = std::strtoul(raw.c_str() + pos, nullptr, 16);
    if (len == 0) {
      *complete = true;
      break;
    }
    if (eol + 2 + len > raw.size()) break;
    joined += raw.substr(eol + 2, len);
    pos = eol + 2 + len + 2;
  }
  return joined;
}

}  // namespace

Json HttpResponse::json() const {
  auto j = Json::Parse(body);
  return j.ok() ? *j : Json();
}

int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

HttpResponse Http(int port, const std::string& method, const std::string& path,
                  const std::string& body, const std::string& extra_headers, int timeout_s) {
  HttpResponse r;
  int fd = ConnectLoopback(port);
  if (fd < 0) return r;
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers +
                    "\r\n" + body;
  // A server may answer (413, 401) before taking the whole body: read anyway.
  (void)SendAll(fd, req);
  // Reads until the body is complete (by Content-Length or the last chunk)
  // or the server closes.
  std::string raw;
  size_t hdr_end = std::string::npos;
  bool chunked = false, has_length = false;
  size_t length = 0;
  char buf[8192];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) {
    raw.append(buf, static_cast<size_t>(n));
    if (hdr_end == std::string::npos) {
      hdr_end = raw.find("\r\n\r\n");
      if (hdr_end == std::string::npos) continue;
      std::string head = raw.substr(0, hdr_end);
      bool te = false;
      chunked = HeaderValue(head, "transfer-encoding", &te).find("chunked") != std::string::npos;
      std::string cl = HeaderValue(head, "content-length", &has_length);
      if (has_length) length = std::strtoul(cl.c_str(), nullptr, 10);
    }
    const std::string rest = raw.substr(hdr_end + 4);
    bool complete = false;
    if (chunked) Dechunk(rest, &complete);
    else if (has_length) complete = rest.size() >= length;
    if (complete) break;
  }
  ::close(fd);
  size_t sp = raw.find(' ');
  hdr_end = raw.find("\r\n\r\n");
  if (sp == std::string::npos || hdr_end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + sp + 1);
  r.headers = raw.substr(0, hdr_end);
  r.body = raw.substr(hdr_end + 4);
  if (chunked) {
    bool complete = false;
    r.body = Dechunk(r.body, &complete);
  } else if (has_length && r.body.size() > length) {
    r.body.resize(length);
  }
  return r;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

double Sample(const std::string& scrape, const std::string& series) {
  size_t pos = ("\n" + scrape).find("\n" + series + " ");
  if (pos == std::string::npos) return std::nan("");
  return std::strtod(scrape.c_str() + pos + series.size() + 1, nullptr);
}

}  // namespace frb::test
