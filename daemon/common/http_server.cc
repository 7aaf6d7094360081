#include "http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "conn_stream.h"
#include "frb/json.h"

namespace frb::http {

// httplib's Server with process_request reachable: the loop hands it one
// request at a time over a ConnStream.
class Server : public httplib::Server {
 public:
  using httplib::Server::process_request;
};

namespace {

// Body bytes the loop collects before dispatch, so a small request never
// holds a worker while its body trickles in.
constexpr size_t kPrefetchBytes = 16 * 1024;
// A closing connection may send this much, for this long, before it is cut.
constexpr size_t kDrainBytes = 1 << 20;
constexpr auto kDrainTime = std::chrono::seconds(2);
constexpr auto kTick = std::chrono::milliseconds(50);

const char* Reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

std::string Response(int status, std::string_view message,
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  const std::string body = HttpServer::ErrorJson(message);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
  return out;
}

void SendAll(int fd, const std::string& bytes) {
  // Best effort on a non-blocking socket: these answers fit a socket buffer.
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

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

struct Conn {
  enum class State { kIdle, kHead, kPrefetch, kDrain };
  int fd = -1;
  State state = State::kIdle;
  std::string buf;
  Clock::time_point deadline;          // of the current state
  Clock::time_point request_deadline;  // the whole request's
  size_t head_len = 0;
  size_t drained = 0;
  RequestHead head;
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
};

// The connection loop of one Run. Thread safety: the loop thread owns the
// connections it polls; a worker owns the one it serves and gives it back
// through Return.
class Loop {
 public:
  explicit Loop(HttpServer& s) : s_(s), limits_(s.options_.limits) {}

  Status Run();

 private:
  using ConnPtr = std::shared_ptr<Conn>;
  void Accept();
  void OnReadable(const ConnPtr& c);
  void Advance(const ConnPtr& c);
  void Refuse(const ConnPtr& c, int status, std::string_view message,
              const std::vector<std::pair<std::string, std::string>>& headers = {});
  void StartDrain(const ConnPtr& c);
  void Watch(const ConnPtr& c);
  void Close(const ConnPtr& c);
  void Dispatch(const ConnPtr& c);
  void Serve(const ConnPtr& c);  // on a worker
  void Return(ConnPtr c);        // from a worker
  void TakeReturned();
  void Expire();

  HttpServer& s_;
  const HttpLimits limits_;
  int epoll_fd_ = -1;
  int spare_fd_ = -1;  // closed to accept-and-refuse when out of descriptors
  std::unordered_map<int, ConnPtr> conns_;  // polled by the loop
  std::atomic<int> open_{0};                // polled + on workers
  std::unique_ptr<httplib::ThreadPool> pool_;
  std::mutex mu_;
  std::vector<ConnPtr> returned_;  // guarded by mu_
};

Status Loop::Run() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return IOError(std::string("epoll_create1: ") + std::strerror(errno));
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = s_.listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s_.listen_fd_, &ev);
  ev.data.fd = s_.wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s_.wake_fd_, &ev);
  pool_ = std::make_unique<httplib::ThreadPool>(std::max(1, s_.options_.threads));

  auto last_scan = Clock::now();
  std::vector<epoll_event> events(256);
  while (!s_.stop_) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                               static_cast<int>(kTick.count()));
    for (int i = 0; i < n && !s_.stop_; ++i) {
      const int fd = events[i].data.fd;
      if (fd == s_.listen_fd_) {
        Accept();
      } else if (fd == s_.wake_fd_) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(s_.wake_fd_, &v, sizeof(v));
        TakeReturned();
      } else if (auto it = conns_.find(fd); it != conns_.end()) {
        ConnPtr c = it->second;
        OnReadable(c);
      }
    }
    if (Clock::now() - last_scan >= kTick) {
      last_scan = Clock::now();
      TakeReturned();
      Expire();
    }
  }
  // Running handlers finish; their connections come back and are closed.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s_.listen_fd_, nullptr);
  pool_->shutdown();
  {
    std::lock_guard<std::mutex> lock(mu_);
    returned_.clear();
  }
  conns_.clear();
  ::close(epoll_fd_);
  if (spare_fd_ >= 0) ::close(spare_fd_);
  return Status::Ok();
}

void Loop::Accept() {
  for (;;) {
    int fd = ::accept4(s_.listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
        // Out of descriptors: refuse one waiting client rather than spin.
        ::close(spare_fd_);
        fd = ::accept4(s_.listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
          SendAll(fd, Response(503, "server out of file descriptors"));
          ::close(fd);
          s_.counters_.refused_connections++;
        }
        spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      }
      return;
    }
    if (open_.load() >= limits_.max_connections) {
      SendAll(fd, Response(503, "too many open connections (limit " +
                                    std::to_string(limits_.max_connections) + ")"));
      ::close(fd);
      s_.counters_.refused_connections++;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_shared<Conn>();
    c->fd = fd;
    c->state = Conn::State::kIdle;
    c->deadline = Clock::now() + limits_.keepalive_timeout;
    open_++;
    Watch(c);
  }
}

void Loop::Watch(const ConnPtr& c) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = c->fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &ev);
  conns_[c->fd] = c;
}

void Loop::Close(const ConnPtr& c) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  conns_.erase(c->fd);
  open_--;
}

void Loop::OnReadable(const ConnPtr& c) {
  char chunk[16 * 1024];
  const size_t cap = static_cast<size_t>(limits_.max_header_bytes) + kPrefetchBytes;
  for (;;) {
    size_t room = sizeof(chunk);
    if (c->state != Conn::State::kDrain) {
      if (c->buf.size() > cap) break;
      room = std::min(room, cap + 1 - c->buf.size());
    }
    const ssize_t n = ::recv(c->fd, chunk, room, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      // The client is gone (or half-closed before finishing its request).
      if (c->state == Conn::State::kPrefetch) return Dispatch(c);
      return Close(c);
    }
    if (c->state == Conn::State::kDrain) {
      c->drained += static_cast<size_t>(n);
      if (c->drained > kDrainBytes) return Close(c);
      continue;
    }
    if (c->state == Conn::State::kIdle) {
      c->state = Conn::State::kHead;
      c->request_deadline = c->deadline = Clock::now() + limits_.request_timeout;
    }
    c->buf.append(chunk, static_cast<size_t>(n));
  }
  if (c->state != Conn::State::kDrain) Advance(c);
}

void Loop::Advance(const ConnPtr& c) {
  if (c->state == Conn::State::kIdle && !c->buf.empty()) {
    c->state = Conn::State::kHead;
    c->request_deadline = c->deadline = Clock::now() + limits_.request_timeout;
  }
  if (c->state == Conn::State::kHead) {
    const size_t max = static_cast<size_t>(limits_.max_header_bytes);
    const size_t end =
        FindHeadEnd(std::string_view(c->buf).substr(0, std::min(c->buf.size(), max + 4)));
    if (end == 0) {
      if (c->buf.size() > max) {
        s_.counters_.head_too_large++;
        Refuse(c, 431, "request head larger than " + std::to_string(max) + " bytes");
      }
      return;
    }
    auto parsed = ParseRequestHead(std::string_view(c->buf).substr(0, end),
                                   limits_.max_header_count);
    if (auto* err = std::get_if<HeadError>(&parsed)) {
      if (err->status == 431) s_.counters_.head_too_large++;
      return Refuse(c, err->status, err->message);
    }
    c->head = std::move(std::get<RequestHead>(parsed));
    c->head_len = end;
    // Authentication first: an unauthenticated client learns no limits.
    if (s_.head_check_) {
      if (auto refusal = s_.head_check_(c->head)) {
        s_.counters_.refused_early++;
        return Refuse(c, refusal->status, refusal->message, refusal->headers);
      }
    }
    const uint64_t cap = static_cast<uint64_t>(limits_.max_body_bytes);
    if (c->head.content_length && *c->head.content_length > cap) {
      s_.counters_.body_too_large++;
      return Refuse(c, 413, "request body of " + std::to_string(*c->head.content_length) +
                                " bytes exceeds the limit of " + std::to_string(cap));
    }
    c->state = Conn::State::kPrefetch;
  }
  if (c->state == Conn::State::kPrefetch) {
    uint64_t want = 0;
    if (c->head.content_length && !c->head.expect_continue)
      want = std::min<uint64_t>(*c->head.content_length, kPrefetchBytes);
    if (c->buf.size() - c->head_len >= want) Dispatch(c);
  }
}

void Loop::Refuse(const ConnPtr& c, int status, std::string_view message,
                  const std::vector<std::pair<std::string, std::string>>& headers) {
  SendAll(c->fd, Response(status, message, headers));
  StartDrain(c);
}

// Half-closes and reads what the client still sends for a while, so the
// answer is not lost to a reset by unread bytes at close.
void Loop::StartDrain(const ConnPtr& c) {
  ::shutdown(c->fd, SHUT_WR);
  c->state = Conn::State::kDrain;
  c->buf.clear();
  c->buf.shrink_to_fit();
  c->drained = 0;
  c->deadline = Clock::now() + kDrainTime;
}

void Loop::Dispatch(const ConnPtr& c) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  conns_.erase(c->fd);
  pool_->enqueue([this, c] { Serve(c); });
}

void Loop::Serve(const ConnPtr& c) {
  const RequestHead& h = c->head;
  const uint64_t cap = static_cast<uint64_t>(limits_.max_body_bytes);
  // A chunked body's framing costs a few bytes per chunk; the decoded cap
  // is exact where routes read through PostBody, this bounds the rest.
  const uint64_t limit = h.chunked ? cap + cap / 16 + 4096 : h.content_length.value_or(0);
  const auto write_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(limits_.request_timeout);
  bool keep = false;
  {
    ConnStream stream(c->fd, std::move(c->buf), c->head_len, limit, h.chunked,
                      c->request_deadline, write_timeout);
    // A chunked body's end is httplib's to find: never reuse such a connection.
    const bool close = s_.stop_ || h.chunked;
    bool closed_by_client = false;
    const bool ok = s_.server_->process_request(stream, close, closed_by_client, nullptr);
    if (CurrentStreamState()->body_too_large) s_.counters_.body_too_large++;
    keep = ok && !close && !closed_by_client && !stream.failed() &&
           stream.body_read() == h.content_length.value_or(0);
    c->buf = stream.TakeLeftover();
  }
  if (keep) {
    c->state = Conn::State::kIdle;
    c->deadline = Clock::now() + limits_.keepalive_timeout;
  } else {
    StartDrain(c);
  }
  Return(c);
}

void Loop::Return(ConnPtr c) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    returned_.push_back(std::move(c));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(s_.wake_fd_, &one, sizeof(one));
}

void Loop::TakeReturned() {
  std::vector<ConnPtr> back;
  {
    std::lock_guard<std::mutex> lock(mu_);
    back.swap(returned_);
  }
  for (auto& c : back) {
    Watch(c);
    if (c->state == Conn::State::kIdle && !c->buf.empty()) Advance(c);  // pipelined
  }
}

void Loop::Expire() {
  const auto now = Clock::now();
  std::vector<ConnPtr> due;
  for (const auto& [fd, c] : conns_)
    if (now >= c->deadline) due.push_back(c);
  for (const auto& c : due) {
    if (c->state == Conn::State::kHead || c->state == Conn::State::kPrefetch) {
      s_.counters_.head_timeouts++;
      Refuse(c, 408, "request not complete within " +
                         std::to_string(limits_.request_timeout.count()) + " s");
    } else {
      Close(c);
    }
  }
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

void HttpServer::Stop() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace frb::http
