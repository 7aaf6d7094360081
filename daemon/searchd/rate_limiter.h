// A token bucket: `qps` tokens per second, bursts up to one second's worth
// but never below one request, so a rate under 1/s (0.5 = one request every
// two seconds) still admits requests.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <utility>

#include "frb/thread_annotations.h"

namespace frb::searchd {

// Thread-safe: TryAcquire may be called from any thread.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // `qps` > 0. `now` replaces the steady clock (tests).
  explicit RateLimiter(double qps, std::function<Clock::time_point()> now = Clock::now)
      : now_(std::move(now)),
        qps_(qps),
        burst_(std::max(1.0, qps)),
        tokens_(burst_),
        last_(now_()) {}

  // Takes one token; false (nothing taken) when the bucket is empty.
  bool TryAcquire() {
    MutexLock lock(&mu_);
    const auto now = now_();
    tokens_ = std::min(burst_, tokens_ + qps_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  const std::function<Clock::time_point()> now_;
  Mutex mu_;
  const double qps_;
  const double burst_;
  double tokens_ GUARDED_BY(mu_);
  Clock::time_point last_ GUARDED_BY(mu_);
};

}  // namespace frb::searchd
