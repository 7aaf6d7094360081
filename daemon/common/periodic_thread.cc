#include "periodic_thread.h"

#include <utility>

namespace frb {

void PeriodicThread::Start(std::function<void()> tick, std::chrono::milliseconds period) {
  thread_ = std::thread([this, tick = std::move(tick), period] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      tick();
      lock.lock();
      cv_.wait_for(lock, period, [this] { return stop_; });
    }
  });
}

void PeriodicThread::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace frb
