#include "notify_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace frb::test {

NotifySocket::NotifySocket(const std::string& path) : path_(path) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << path;
  // The timeout lets the reader notice stop_.
  timeval tv{0, 50000};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  reader_ = std::thread([this] {
    while (!stop_) {
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      all_.append(buf, static_cast<size_t>(n)).push_back('\n');
    }
  });
}

NotifySocket::~NotifySocket() {
  stop_ = true;
  reader_.join();
  ::close(fd_);
  ::unlink(path_.c_str());
}

bool NotifySocket::WaitFor(const std::string& want, int timeout_ms) const {
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);;) {
    if (all().find(want) != std::string::npos) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string NotifySocket::all() const {
  std::lock_guard<std::mutex> lock(mu_);
  return all_;
}

int NotifySocket::Count(const std::string& want) const {
  std::string text = all();
  int n = 0;
  for (size_t at = text.find(want); at != std::string::npos; at = text.find(want, at + 1)) ++n;
  return n;
}

}  // namespace frb::test
