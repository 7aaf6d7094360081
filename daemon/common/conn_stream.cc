#include "conn_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace frb::http {
namespace {

thread_local StreamState* tl_state = nullptr;

constexpr size_t kReadChunk = 16 * 1024;

int MillisUntil(Clock::time_point t) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
}

bool WaitFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

void Name(const sockaddr_storage& ss, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

}  // namespace

StreamState* CurrentStreamState() { return tl_state; }

ConnStream::ConnStream(int fd, std::string buffered, size_t head_len, uint64_t body_limit,
                       bool limit_is_cap, Clock::time_point deadline,
                       std::chrono::milliseconds write_timeout)
    : fd_(fd),
      buf_(std::move(buffered)),
      head_left_(head_len),
      body_limit_(body_limit),
      limit_is_cap_(limit_is_cap),
      deadline_(deadline),
      write_timeout_(write_timeout),
      previous_(tl_state) {
  tl_state = &state_;
}

ConnStream::~ConnStream() { tl_state = previous_; }

bool ConnStream::is_readable() const {
  return pos_ < buf_.size() || WaitFor(fd_, POLLIN, MillisUntil(deadline_));
}

bool ConnStream::is_writable() const {
  return WaitFor(fd_, POLLOUT, static_cast<int>(write_timeout_.count()));
}

bool ConnStream::Fill() {
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  for (;;) {
    const size_t old = buf_.size();
    buf_.resize(old + kReadChunk);
    const ssize_t n = ::recv(fd_, buf_.data() + old, kReadChunk, 0);
    buf_.resize(old + std::max<ssize_t>(n, 0));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
    if (!WaitFor(fd_, POLLIN, MillisUntil(deadline_))) {
      state_.timed_out = Clock::now() >= deadline_;
      return false;
    }
  }
}

ssize_t ConnStream::read(char* ptr, size_t size) {
  if (failed_) return -1;
  size_t want = size;
  if (head_left_ > 0) {
    want = std::min(want, head_left_);
  } else {
    const uint64_t left = body_limit_ - body_read_;
    if (left == 0) {
      if (!limit_is_cap_) return 0;  // the body is complete
      state_.body_too_large = true;
      failed_ = true;
      return -1;
    }
    want = static_cast<size_t>(std::min<uint64_t>(want, left));
  }
  if (pos_ == buf_.size() && !Fill()) {
    failed_ = true;
    return -1;
  }
  const size_t n = std::min(want, buf_.size() - pos_);
  std::memcpy(ptr, buf_.data() + pos_, n);
  pos_ += n;
  if (head_left_ > 0) {
    head_left_ -= n;
  } else {
    body_read_ += n;
  }
  return static_cast<ssize_t>(n);
}

ssize_t ConnStream::write(const char* ptr, size_t size) {
  const auto deadline = Clock::now() + write_timeout_;
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::send(fd_, ptr + done, size - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
        WaitFor(fd_, POLLOUT, MillisUntil(deadline)))
      continue;
    failed_ = true;
    return -1;
  }
  return static_cast<ssize_t>(size);
}

void ConnStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) Name(ss, ip, port);
}

void ConnStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) Name(ss, ip, port);
}

std::string ConnStream::TakeLeftover() {
  std::string rest = buf_.substr(pos_);
  buf_.clear();
  pos_ = 0;
  return rest;
}

}  // namespace frb::http
