// systemd integration through sd_notify: readiness, status lines, reload and
// stop notices, and the watchdog keep-alive. Every call is a no-op when the
// daemon is not run by systemd (no $NOTIFY_SOCKET).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace frb::rebuildd {

// Thread-safe.
class Notifier {
 public:
  Notifier() = default;
  ~Notifier();  // StopThreads()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void Ready(const std::string& status);
  void Status(const std::string& status);
  void Reloading();
  void Stopping(const std::string& status);

  // When systemd enabled the watchdog for us, pings WATCHDOG=1 every half
  // WATCHDOG_USEC, but only while `healthy()` says the scheduler loop is
  // alive: a hung daemon stops pinging and systemd restarts it.
  void StartWatchdog(std::function<bool()> healthy);
  void StopThreads();
  // Sends STATUS=<status()> every `period` when it changed, so
  // `systemctl status` shows what the daemon is doing. Stopped by
  // StopThreads.
  void StartStatusUpdates(std::function<std::string()> status,
                          std::chrono::milliseconds period = std::chrono::seconds(2));

 private:
  static void Send(const std::string& msg);
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread watchdog_;
  std::thread status_;
};

}  // namespace frb::rebuildd
