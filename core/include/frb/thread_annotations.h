// Clang thread-safety analysis (-Wthread-safety): which mutex guards which
// member, and which functions need it held. The attributes compile to
// nothing elsewhere (GCC builds), so they cost nothing at run time; the
// clang-tsa CMake preset checks them. libstdc++'s std::mutex carries no
// annotations, hence frb::Mutex, frb::MutexLock and frb::CondVar.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define FRB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define FRB_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) FRB_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY FRB_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) FRB_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) FRB_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) FRB_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) FRB_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) FRB_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) FRB_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) FRB_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) FRB_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) FRB_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) FRB_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) FRB_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) FRB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) FRB_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) FRB_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS FRB_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace frb {

// std::mutex with the annotations. Thread-safe.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis the caller holds the lock (where it cannot see it).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

  // BasicLockable, for std::condition_variable_any (CondVar).
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds a Mutex for a scope (std::lock_guard, annotated); Unlock/Lock let a
// scope drop it around slow work. Not thread-safe: one owner thread.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() {
    if (locked_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    mu_->Unlock();
    locked_ = false;
  }
  void Lock() ACQUIRE() {
    mu_->Lock();
    locked_ = true;
  }

 private:
  Mutex* const mu_;
  bool locked_ = true;
};

// A condition variable for Mutex. Thread-safe. Waits need the mutex held
// and hold it again when they return; write the predicate as a loop
// around Wait so the analysis sees it under the lock.
class CondVar {
 public:
  void Wait(Mutex* mu) REQUIRES(mu) { cv_.wait(*mu); }
  // False when `timeout` passed without a notification.
  template <typename Rep, typename Period>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> timeout) REQUIRES(mu) {
    return cv_.wait_for(*mu, timeout) == std::cv_status::no_timeout;
  }
  template <typename ClockT, typename Duration>
  bool WaitUntil(Mutex* mu, std::chrono::time_point<ClockT, Duration> deadline) REQUIRES(mu) {
    return cv_.wait_until(*mu, deadline) == std::cv_status::no_timeout;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace frb
