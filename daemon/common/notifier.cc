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

bool Notifier::StartWatchdog(HealthCheck healthy) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return false;
  auto period = std::chrono::microseconds(usec / 2);
  spdlog::info("systemd watchdog enabled: pinging every {} ms",
               std::chrono::duration_cast<std::chrono::milliseconds>(period).count());
  std::lock_guard<std::mutex> lock(mu_);
  if (watchdog_.joinable()) return true;
  watchdog_ = std::thread([this, period, healthy = std::move(healthy)] {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
      // Not under the lock: sendmsg may block while the receiver is slow.
      lk.unlock();
      std::string why;
      if (healthy(&why)) {
        Send("WATCHDOG=1");
      } else {
        spdlog::error("unhealthy ({}); withholding the watchdog ping", why);
      }
      lk.lock();
      cv_.wait_for(lk, period, [&] { return stop_; });
    }
  });
  return true;
}

void Notifier::StartStatusUpdates(std::function<std::string()> status,
                                  std::chrono::milliseconds period) {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (status_.joinable()) return;
  status_ = std::thread([this, period, status = std::move(status)] {
    std::string last;
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
      lk.unlock();
      std::string now = status();
      if (now != last) Status(now);
      last = std::move(now);
      lk.lock();
      cv_.wait_for(lk, period, [&] { return stop_; });
    }
  });
}

void Notifier::StopThreads() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (status_.joinable()) status_.join();
}

}  // namespace frb::service
