// Wall-clock time as the scheduler sees it, behind an interface so tests can
// drive cron fire times, cooldowns and misfires without sleeping.
#pragma once

#include <atomic>
#include <cstdint>

namespace frb {

// Thread-safe: implementations must allow concurrent calls.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowUnixMillis() const = 0;
  int64_t NowUnixSeconds() const { return NowUnixMillis() / 1000; }

  // The system clock. Never null; never destroyed.
  static Clock* Real();
};

// A clock that only moves when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_unix_ms) : now_ms_(start_unix_ms) {}
  int64_t NowUnixMillis() const override { return now_ms_.load(); }
  void SetUnixMillis(int64_t ms) { now_ms_.store(ms); }
  void AdvanceSeconds(int64_t s) { now_ms_.fetch_add(s * 1000); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace frb
