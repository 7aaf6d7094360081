#include "connection_loop.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace frb::http {
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

}  // namespace

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
    s_.loop_tick_ns_ = Clock::now().time_since_epoch().count();
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
  s_.loop_tick_ns_ = 0;
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
  const uint64_t cap = static_cast<uint64_t>(limits_.max_body_bytes);
  const auto write_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(limits_.request_timeout);
  for (;;) {
    const RequestHead& h = c->head;
    // A chunked body's framing costs a few bytes per chunk; the decoded cap
    // is exact where routes read through PostBody, this bounds the rest.
    const uint64_t limit = h.chunked ? cap + cap / 16 + 4096 : h.content_length.value_or(0);
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
    if (!keep) {
      StartDrain(c);
      break;
    }
    c->state = Conn::State::kIdle;
    c->deadline = Clock::now() + limits_.keepalive_timeout;
    if (!NextRequestReady(c)) break;
  }
  Return(c);
}

// A keep-alive client usually sends its next request right after reading
// the answer: waiting a moment for it here saves two thread hand-offs per
// request. Only a complete, unremarkable head is served on: anything else
// (partial, refused, still waiting for body bytes) goes back to the loop.
bool Loop::NextRequestReady(const ConnPtr& c) {
  constexpr int kWaitMs = 2;
  const size_t cap = static_cast<size_t>(limits_.max_header_bytes) + kPrefetchBytes;
  if (c->buf.empty()) {
    pollfd p{c->fd, POLLIN, 0};
    if (s_.stop_ || ::poll(&p, 1, kWaitMs) <= 0) return false;
  }
  char chunk[16 * 1024];
  while (c->buf.size() <= cap) {
    const ssize_t n = ::recv(c->fd, chunk, std::min(sizeof(chunk), cap + 1 - c->buf.size()), 0);
    if (n <= 0) break;  // EAGAIN, or EOF/error for the loop to see
    c->buf.append(chunk, static_cast<size_t>(n));
  }
  if (c->buf.empty()) return false;
  c->state = Conn::State::kHead;
  c->request_deadline = c->deadline = Clock::now() + limits_.request_timeout;
  const size_t max = static_cast<size_t>(limits_.max_header_bytes);
  const size_t end =
      FindHeadEnd(std::string_view(c->buf).substr(0, std::min(c->buf.size(), max + 4)));
  if (end == 0 || end > max) return false;
  auto parsed = ParseRequestHead(std::string_view(c->buf).substr(0, end),
                                 limits_.max_header_count);
  auto* head = std::get_if<RequestHead>(&parsed);
  if (head == nullptr || (head->content_length &&
                           *head->content_length > static_cast<uint64_t>(limits_.max_body_bytes)) ||
      (s_.head_check_ && s_.head_check_(*head)))
    return false;
  uint64_t want = 0;
  if (head->content_length && !head->expect_continue)
    want = std::min<uint64_t>(*head->content_length, kPrefetchBytes);
  if (c->buf.size() - end < want) return false;
  c->head = std::move(*head);
  c->head_len = end;
  return true;
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
    // A head that arrived while a worker held the connection.
    if (c->state != Conn::State::kDrain && !c->buf.empty()) Advance(c);
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

}  // namespace frb::http
