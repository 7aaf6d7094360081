#include "http_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "connection_loop.h"
#include "frb/json.h"

namespace frb::http {
namespace {

// The soft limit on open files must fit the connections.
void RaiseFileLimit(int connections) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = static_cast<rlim_t>(connections) + 256;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace


bool BodyTimedOut() {
  const StreamState* st = CurrentStreamState();
  return st != nullptr && st->timed_out;
}

HttpServer::HttpServer(ServerOptions options)
    : options_(std::move(options)), server_(std::make_unique<Server>()) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  server_->set_payload_max_length(static_cast<size_t>(options_.limits.max_body_bytes));
  server_->set_keep_alive_timeout(options_.limits.keepalive_timeout.count());
  server_->set_keep_alive_max_count(1u << 30);
  // httplib answers a failed body read 400; say what failed.
  server_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (StreamState* st = CurrentStreamState(); st != nullptr && res.body.empty()) {
      if (st->body_too_large) res.status = 413;
      if (st->timed_out) res.status = 408;
    }
    if (!res.body.empty()) return;
    if (error_handler_) error_handler_(req, res);
    if (res.body.empty())
      res.set_content(ErrorJson(res.status == 413   ? "request body too large"
                                : res.status == 408 ? "request body not received in time"
                                : res.status == 404 ? "no route " + req.method + " " + req.path
                                                    : "HTTP " + std::to_string(res.status)),
                      "application/json");
  });
}

HttpServer::~HttpServer() {
  Stop();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

httplib::Server& HttpServer::routes() { return *server_; }

std::string HttpServer::ErrorJson(std::string_view message) {
  Json e = Json::MakeObject();
  e["error"] = std::string(message);
  return e.Dump();
}

void HttpServer::set_error_handler(httplib::Server::Handler handler) {
  error_handler_ = std::move(handler);
}

void HttpServer::set_head_check(HeadCheck check) { head_check_ = std::move(check); }

namespace {

httplib::Server::HandlerWithContentReader ReadBodyThen(size_t cap, BodyHandler handler) {
  return [cap, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& reader) {
    std::string body;
    bool too_large = false;
    const bool ok = reader([&](const char* data, size_t n) {
      if (body.size() + n > cap) {
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (too_large) {
      if (StreamState* st = CurrentStreamState()) st->body_too_large = true;
      res.status = 413;  // the error handler gives it a body
      return;
    }
    if (!ok) {
      res.status = 400;
      return;
    }
    handler(req, res, body);
  };
}

}  // namespace

void HttpServer::PostBody(const std::string& pattern, BodyHandler handler) {
  server_->Post(pattern,
                ReadBodyThen(static_cast<size_t>(options_.limits.max_body_bytes), std::move(handler)));
}

void HttpServer::DeleteBody(const std::string& pattern, BodyHandler handler) {
  server_->Delete(pattern,
                  ReadBodyThen(static_cast<size_t>(options_.limits.max_body_bytes), std::move(handler)));
}

Result<int> HttpServer::Bind(const HostPort& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(address.port);
  if (int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return IOError("cannot bind " + address.ToString() + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, ::freeaddrinfo);
  std::string why = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    const int bound = ss.ss_family == AF_INET6
                          ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                          : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = fd;
    RaiseFileLimit(options_.limits.max_connections);
    return bound;
  }
  return IOError("cannot bind " + address.ToString() + ": " + why);
}

Status HttpServer::Run() {
  if (listen_fd_ < 0) return FailedPrecondition("HttpServer::Run before Bind");
  if (!catch_all_) {
    // Registered last, these answer every other request that may carry a
    // body with 404 without reading it: httplib would otherwise buffer the
    // body of an unknown route before finding that no route matches.
    catch_all_ = true;
    auto none = [](const httplib::Request&, httplib::Response& res,
                   const httplib::ContentReader&) { res.status = 404; };
    server_->Post(".*", none);
    server_->Put(".*", none);
    server_->Patch(".*", none);
    server_->Delete(".*", none);
  }
  if (wake_fd_ < 0) return IOError("eventfd failed");
  Loop loop(*this);
  return loop.Run();
}

void HttpServer::Start() {
  thread_ = std::thread([this] {
    Status s = Run();
    if (!s.ok()) std::fprintf(stderr, "http server: %s\n", s.ToString().c_str());
  });
}

bool HttpServer::LoopAlive(std::chrono::milliseconds max_age) const {
  const int64_t tick = loop_tick_ns_;
  if (tick == 0 || stop_) return false;
  const auto age = std::chrono::steady_clock::now().time_since_epoch() -
                   std::chrono::steady_clock::duration(tick);
  return age <= max_age;
}

void HttpServer::Stop() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace frb::http
