// The receiving end of sd_notify(3) for tests: a datagram socket a daemon
// started with NOTIFY_SOCKET=<path> reports READY=1, WATCHDOG=1, STOPPING=1
// to, as it would to systemd.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace frb::test {

// Thread-safe: a reader thread drains the socket like systemd, which always
// reads (a full queue would block the sender); any thread may query.
class NotifySocket {
 public:
  // Binds `path` (which must not exist yet; fails the test otherwise).
  explicit NotifySocket(const std::string& path);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // True once some message contains `want` (within `timeout_ms`).
  bool WaitFor(const std::string& want, int timeout_ms = 15000) const;
  // Every message so far, one per line.
  std::string all() const;
  // How many messages so far contain `want`.
  int Count(const std::string& want) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  mutable std::mutex mu_;
  std::string all_;
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

}  // namespace frb::test
