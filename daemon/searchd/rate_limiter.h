// A token bucket: `qps` tokens per second, bursts up to one second's worth.
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>

namespace frb::searchd {

// Thread-safe: TryAcquire may be called from any thread.
class RateLimiter {
 public:
  explicit RateLimiter(double qps) : qps_(qps), tokens_(qps), last_(Clock::now()) {}

  bool TryAcquire() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    tokens_ = std::min(qps_, tokens_ + qps_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::mutex mu_;
  const double qps_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace frb::searchd
