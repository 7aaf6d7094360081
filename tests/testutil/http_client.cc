#include "http_client.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string_view>
#include <utility>

namespace frb::test {
namespace {

constexpr int kConnectionTimeoutS = 30;

std::unique_ptr<httplib::Client> NewClient(const std::string& host, int port, int timeout_s,
                                           bool keep_alive) {
  auto c = std::make_unique<httplib::Client>(host, port);
  c->set_keep_alive(keep_alive);
  // httplib writes a request's head and body separately: with Nagle the
  // body waits for the server's delayed ACK, ~40 ms a request.
  c->set_tcp_nodelay(true);
  // Tests address routes and hostile paths byte for byte.
  c->set_url_encode(false);
  c->set_connection_timeout(timeout_s);
  c->set_read_timeout(timeout_s);
  c->set_write_timeout(timeout_s);
  return c;
}

// Adds the "Name: value\r\n" lines of `lines` to `req`.
void AddHeaderLines(std::string_view lines, httplib::Request* req) {
  while (!lines.empty()) {
    size_t eol = lines.find("\r\n");
    std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol == std::string_view::npos ? lines.size() : eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    req->headers.emplace(std::string(line.substr(0, colon)), std::string(value));
  }
}

HttpResponse Send(httplib::Client& client, httplib::Request& req) {
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  HttpResponse r;
  if (!client.send(req, res, error)) return r;
  r.status = res.status;
  r.body = std::move(res.body);
  return r;
}

}  // namespace

Json HttpResponse::json() const {
  auto j = Json::Parse(body);
  return j.ok() ? *j : Json();
}

HttpResponse Http(int port, const std::string& method, const std::string& path,
                  const std::string& body, const std::string& extra_headers, int timeout_s) {
  auto client = NewClient("127.0.0.1", port, timeout_s, /*keep_alive=*/false);
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.body = body;
  AddHeaderLines(extra_headers, &req);
  if (!req.has_header("Content-Length"))
    req.set_header("Content-Length", std::to_string(body.size()));
  return Send(*client, req);
}

HttpConnection::HttpConnection(int port, std::string host)
    : host_(std::move(host)), port_(port) {}

HttpConnection::~HttpConnection() = default;

void HttpConnection::Close() {
  client_.reset();
  used_ = false;
}

HttpResponse HttpConnection::Do(const std::string& method, const std::string& path,
                                const std::string& body) {
  for (int attempt = 0;; ++attempt) {
    if (!client_) client_ = NewClient(host_, port_, kConnectionTimeoutS, /*keep_alive=*/true);
    httplib::Request req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.set_header("Content-Type", "application/json");
    req.set_header("Content-Length", std::to_string(body.size()));
    const bool reused = used_;
    HttpResponse r = Send(*client_, req);
    if (r.status != 0) {
      used_ = true;
      return r;
    }
    Close();
    // A kept-alive connection the server closed while idle can fail on first
    // use; retry once on a fresh one (the tests' requests are idempotent).
    if (!reused || attempt > 0) return r;
  }
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
