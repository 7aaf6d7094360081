// A background thread that calls a function every `period` until stopped,
// for the daemons' pollers (scrub schedule, delta inbox). Stop wakes it at
// once instead of waiting out the period.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace frb {

// Thread-safe: Start and Stop may be called from any thread; `tick` runs
// only on the owned thread, never twice at once.
class PeriodicThread {
 public:
  PeriodicThread() = default;
  ~PeriodicThread() { Stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Runs `tick` now and then every `period`. At most once per object.
  void Start(std::function<void()> tick, std::chrono::milliseconds period);
  // Returns after the running tick (if any) has finished; idempotent.
  void Stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace frb
