// faiss-searchd's request rate limiter (a token bucket), on a fake clock.
#include "rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace frb::searchd {
namespace {

using Clock = RateLimiter::Clock;
using std::chrono::milliseconds;

// A clock the test moves by hand.
struct FakeClock {
  Clock::time_point t = Clock::time_point(std::chrono::hours(1));
  std::function<Clock::time_point()> Fn() {
    return [this] { return t; };
  }
};

int Drain(RateLimiter& limiter, int tries) {
  int ok = 0;
  for (int i = 0; i < tries; ++i) ok += limiter.TryAcquire() ? 1 : 0;
  return ok;
}

TEST(SearchRateLimiterTest, BurstIsOneSecondOfTokensThenTheRate) {
  FakeClock clock;
  RateLimiter limiter(5, clock.Fn());
  EXPECT_EQ(Drain(limiter, 20), 5);  // the burst
  clock.t += milliseconds(200);      // one token's worth
  EXPECT_EQ(Drain(limiter, 20), 1);
  clock.t += milliseconds(100);      // half a token
  EXPECT_EQ(Drain(limiter, 20), 0);
  clock.t += milliseconds(100);
  EXPECT_EQ(Drain(limiter, 20), 1);
  clock.t += std::chrono::seconds(60);  // idle: capped at the burst
  EXPECT_EQ(Drain(limiter, 20), 5);
}

TEST(SearchRateLimiterTest, FractionalRateAdmitsOneRequestPerPeriod) {
  FakeClock clock;
  RateLimiter limiter(0.5, clock.Fn());  // one every 2 s, burst of one
  EXPECT_EQ(Drain(limiter, 5), 1);
  clock.t += milliseconds(1900);
  EXPECT_EQ(Drain(limiter, 5), 0);
  clock.t += milliseconds(100);
  EXPECT_EQ(Drain(limiter, 5), 1);
}

TEST(SearchRateLimiterTest, ConcurrentCallersShareOneBucket) {
  FakeClock clock;  // frozen: exactly the burst is admitted
  RateLimiter limiter(100, clock.Fn());
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] { admitted += Drain(limiter, 50); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted, 100);
}

TEST(SearchRateLimiterTest, RealClockHoldsTheRate) {
  RateLimiter limiter(50);
  const auto start = Clock::now();
  int ok = 0;
  while (Clock::now() - start < milliseconds(500)) {
    ok += limiter.TryAcquire() ? 1 : 0;
    std::this_thread::sleep_for(milliseconds(1));
  }
  // 50 of burst + 25 over half a second, give or take scheduling.
  EXPECT_GE(ok, 70);
  EXPECT_LE(ok, 80);
}

}  // namespace
}  // namespace frb::searchd
