#include "signals.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>

namespace frb::service {
namespace {

// Written by the handlers; async-signal-safe (eventfd write, atomic store).
// A stop stays signalled (never read down) so every stop waiter wakes.
int g_stop_fd = -1;
int g_reload_fd = -1;
std::atomic<bool> g_reload_closed{false};
std::atomic<int> g_stop_signal{0};

void Post(int fd) {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
}

void OnStop(int sig) {
  g_stop_signal.store(sig);
  Post(g_stop_fd);
}

void OnHangup(int) { Post(g_reload_fd); }

void Install(int sig, void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(sig, &sa, nullptr);
}

// Polls the given eventfds; returns the index of a readable one.
int PollEither(int a, int b) {
  pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  const nfds_t n = b < 0 ? 1 : 2;
  for (;;) {
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return 0;  // cannot happen with valid descriptors: treat as a stop
    }
    if (fds[0].revents & POLLIN) return 0;
    if (n == 2 && (fds[1].revents & POLLIN)) return 1;
  }
}

// Consumes one reload request. False when there was none (another
// waiter took it).
bool TakeReload() {
  uint64_t n = 0;
  return ::read(g_reload_fd, &n, sizeof(n)) == static_cast<ssize_t>(sizeof(n));
}

}  // namespace

Signals::Signals() {
  g_stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  g_reload_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  g_reload_closed = false;
  g_stop_signal = 0;
  Install(SIGTERM, OnStop);
  Install(SIGINT, OnStop);
  Install(SIGHUP, OnHangup);
  std::signal(SIGPIPE, SIG_IGN);  // a client hanging up must not kill us
  // Past RLIMIT_FSIZE a write fails with EFBIG (reported like a full disk)
  // instead of the signal killing us mid-publish.
  std::signal(SIGXFSZ, SIG_IGN);
}

Signals::~Signals() {
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGHUP, SIG_DFL);
  ::close(g_stop_fd);
  ::close(g_reload_fd);
  g_stop_fd = g_reload_fd = -1;
}

SignalEvent Signals::WaitAny() {
  for (;;) {
    if (PollEither(g_stop_fd, g_reload_fd) == 0) return SignalEvent::kStop;
    if (TakeReload()) return SignalEvent::kReload;
  }
}

void Signals::WaitStop() { PollEither(g_stop_fd, -1); }

SignalEvent Signals::WaitReload() {
  for (;;) {
    if (g_reload_closed) return SignalEvent::kClosed;
    PollEither(g_reload_fd, -1);
    if (g_reload_closed) return SignalEvent::kClosed;
    if (TakeReload()) return SignalEvent::kReload;
  }
}

void Signals::RequestStop() { Post(g_stop_fd); }

void Signals::CloseReload() {
  g_reload_closed = true;
  Post(g_reload_fd);
}

const char* Signals::StopCause() {
  switch (g_stop_signal.load()) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    default: return "request";
  }
}

}  // namespace frb::service
