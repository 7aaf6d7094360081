#include "notifier.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>
#include <cstdlib>

namespace frb::service {

Notifier::~Notifier() { StopThreads(); }

void Notifier::Send(const std::string& msg) {
  int r = sd_notify(0, msg.c_str());
  if (r < 0) spdlog::warn("sd_notify failed: {}", r);
}

void Notifier::Ready(const std::string& status) { Send("READY=1\nSTATUS=" + status); }

void Notifier::Status(const std::string& status) { Send("STATUS=" + status); }

void Notifier::Reloading(const std::string& status) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t usec =
      static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=" + status);
}

void Notifier::Stopping(const std::string& status) { Send("STOPPING=1\nSTATUS=" + status); }

bool Notifier::Sleep(std::chrono::microseconds period) {
  MutexLock lock(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + period;
  while (!stop_ && cv_.WaitUntil(&mu_, deadline)) {
  }
  return !stop_;
}

bool Notifier::StartWatchdog(HealthCheck healthy) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return false;
  auto period = std::chrono::microseconds(usec / 2);
  spdlog::info("systemd watchdog enabled: pinging every {} ms",
               std::chrono::duration_cast<std::chrono::milliseconds>(period).count());
  MutexLock lock(&mu_);
  if (watchdog_.joinable()) return true;
  // Sends without the lock: sendmsg may block while the receiver is slow.
  watchdog_ = std::thread([this, period, healthy = std::move(healthy)] {
    do {
      std::string why;
      if (healthy(&why)) {
        Send("WATCHDOG=1");
      } else {
        spdlog::error("unhealthy ({}); withholding the watchdog ping", why);
      }
    } while (Sleep(period));
  });
  return true;
}

void Notifier::StartStatusUpdates(std::function<std::string()> status,
                                  std::chrono::milliseconds period) {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return;
  MutexLock lock(&mu_);
  if (status_.joinable()) return;
  status_ = std::thread([this, period, status = std::move(status)] {
    std::string last;
    do {
      std::string now = status();
      if (now != last) Status(now);
      last = std::move(now);
    } while (Sleep(period));
  });
}

void Notifier::StopThreads() {
  std::thread watchdog, status;
  {
    MutexLock lock(&mu_);
    stop_ = true;
    watchdog = std::move(watchdog_);
    status = std::move(status_);
  }
  cv_.NotifyAll();
  if (watchdog.joinable()) watchdog.join();
  if (status.joinable()) status.join();
}

}  // namespace frb::service
