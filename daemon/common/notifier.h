// systemd integration through sd_notify(3), shared by faiss-rebuildd and
// faiss-searchd: readiness, status lines, reload and stop notices, and a
// health-gated watchdog keep-alive. Every call is a no-op when the process
// is not run by systemd (no $NOTIFY_SOCKET).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "frb/thread_annotations.h"

namespace frb::service {

// Thread-safe.
class Notifier {
 public:
  // Says whether the daemon can still do its work; on false, `why` says
  // what is stuck (logged when a ping is withheld).
  using HealthCheck = std::function<bool(std::string* why)>;

  Notifier() = default;
  ~Notifier();  // StopThreads()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // READY=1 with STATUS=<status>.
  void Ready(const std::string& status);
  void Status(const std::string& status);
  // RELOADING=1 with the MONOTONIC_USEC that Type=notify-reload (systemd
  // >= 253) requires; follow with Ready once the reload is over.
  void Reloading(const std::string& status = "reloading the configuration");
  void Stopping(const std::string& status);

  // When systemd enabled the watchdog for this process (WATCHDOG_USEC, and
  // WATCHDOG_PID if set names us), sends WATCHDOG=1 every half period, but
  // only while `healthy` says so: a hung daemon stops pinging and systemd
  // restarts it. Returns whether the watchdog is enabled.
  bool StartWatchdog(HealthCheck healthy);
  // Sends STATUS=<status()> every `period` when it changed, so
  // `systemctl status` shows what the daemon is doing.
  void StartStatusUpdates(std::function<std::string()> status,
                          std::chrono::milliseconds period = std::chrono::seconds(2));
  // Ends the watchdog and status threads (idempotent).
  void StopThreads();

 private:
  static void Send(const std::string& msg);
  // Waits up to `period` or until StopThreads; false once stopping.
  bool Sleep(std::chrono::microseconds period) EXCLUDES(mu_);
  Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread watchdog_ GUARDED_BY(mu_);
  std::thread status_ GUARDED_BY(mu_);
};

}  // namespace frb::service
