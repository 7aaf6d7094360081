// Must NOT compile under the clang-tsa preset: the ThreadSafety.* test
// checks that -Wthread-safety sees these two mistakes through
// frb::Mutex/MutexLock (std::mutex alone would let both pass).
#include "frb/thread_annotations.h"

class Counter {
 public:
  int Unlocked() { return n_; }  // reads n_ without mu_
  int Locked() {
    frb::MutexLock lock(&mu_);
    return n_;
  }
  void NeedsLock() REQUIRES(mu_) { ++n_; }
  void CallsWithoutLock() { NeedsLock(); }

 private:
  frb::Mutex mu_;
  int n_ GUARDED_BY(mu_) = 0;
};

int main() {
  Counter c;
  c.CallsWithoutLock();
  return c.Unlocked() + c.Locked();
}
