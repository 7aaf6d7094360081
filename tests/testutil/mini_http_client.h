// A minimal blocking HTTP/1.1 keep-alive client over POSIX sockets, for the
// searchd tests and benchmark: their targets do not link cpp-httplib (the
// Debian build is a compiled library), and a load generator should cost as
// little CPU as possible. Not a general client: Content-Length bodies only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace frb::searchd::testing {

struct HttpResponse {
  int status = 0;  // 0 = transport error (connect, send, receive, parse)
  std::string body;
};

// Not thread-safe: one connection, one thread.
class MiniHttpClient {
 public:
  explicit MiniHttpClient(int port, std::string host = "127.0.0.1")
      : host_(std::move(host)), port_(port) {}
  ~MiniHttpClient() { Close(); }
  MiniHttpClient(const MiniHttpClient&) = delete;
  MiniHttpClient& operator=(const MiniHttpClient&) = delete;

  HttpResponse Get(const std::string& path) { return Do("GET", path, ""); }
  HttpResponse Post(const std::string& path, const std::string& body) {
    return Do("POST", path, body);
  }
  // Sends raw bytes as a request (for malformed-request tests).
  HttpResponse Raw(const std::string& request) { return Exchange(request, true); }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

 private:
  HttpResponse Do(const std::string& method, const std::string& path,
                  const std::string& body) {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + host_ +
                      "\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    // A keep-alive connection the server closed while idle fails on first
    // use; retry once on a fresh connection (requests here are idempotent).
    HttpResponse r = Exchange(req, true);
    if (r.status == 0 && reused_) r = Exchange(req, false);
    return r;
  }

  bool Connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    ::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Close();
      return false;
    }
    return true;
  }

  HttpResponse Exchange(const std::string& req, bool allow_reuse) {
    reused_ = fd_ >= 0 && allow_reuse;
    if (!allow_reuse) Close();
    if (fd_ < 0 && !Connect()) return {};
    for (size_t off = 0; off < req.size();) {
      ssize_t n = ::send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        Close();
        return {};
      }
      off += static_cast<size_t>(n);
    }
    // Headers.
    size_t hdr_end;
    while ((hdr_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!Fill()) return {};
    HttpResponse r;
    if (buf_.compare(0, 9, "HTTP/1.1 ") != 0 || buf_.size() < 12) {
      Close();
      return {};
    }
    r.status = std::atoi(buf_.c_str() + 9);
    size_t len = 0;
    bool close_after = false;
    std::string headers = buf_.substr(0, hdr_end);
    for (char& c : headers) c = static_cast<char>(std::tolower(c));
    size_t p = headers.find("\r\ncontent-length:");
    if (p != std::string::npos) len = std::strtoul(headers.c_str() + p + 17, nullptr, 10);
    if (headers.find("\r\nconnection: close") != std::string::npos) close_after = true;
    buf_.erase(0, hdr_end + 4);
    while (buf_.size() < len)
      if (!Fill()) return {};
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    if (close_after) Close();
    return r;
  }

  bool Fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      Close();
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  std::string host_;
  int port_;
  int fd_ = -1;
  bool reused_ = false;
  std::string buf_;
};

}  // namespace frb::searchd::testing
