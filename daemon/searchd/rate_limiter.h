// A token bucket: `qps` tokens per second, bursts up to one second's worth
// but never below one request, so a rate under 1/s (0.5 = one request every
// two seconds) still admits requests.
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>

namespace frb::searchd {

// Thread-safe: TryAcquire may be called from any thread.
class RateLimiter {
 public:
  // `qps` > 0.
  explicit RateLimiter(double qps)
      : qps_(qps), burst_(std::max(1.0, qps)), tokens_(burst_), last_(Clock::now()) {}

  bool TryAcquire() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock::now();
    tokens_ = std::min(burst_, tokens_ + qps_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::mutex mu_;
  const double qps_;
  const double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace frb::searchd
