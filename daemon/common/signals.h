// Signal handling shared by faiss-rebuildd and faiss-searchd. Handlers, not
// sigwait with blocked signals: libraries (OpenBLAS, libgomp) start threads
// before main with the signals unblocked, and the kernel may deliver
// SIGTERM to any of them. A handler only writes to an eventfd; reload and
// shutdown then run as ordinary code on the threads that wait here.
#pragma once

#include "frb/status.h"

namespace frb::service {

// What woke a waiter.
enum class SignalEvent {
  kStop,     // SIGTERM, SIGINT or RequestStop()
  kReload,   // SIGHUP
  kClosed,   // CloseReload(): no more reloads will be waited for
};

// Thread-safe. One per process (the handlers are process-wide): construct
// in main before starting threads that wait on it.
class Signals {
 public:
  Signals();  // installs the handlers; SIGPIPE and SIGXFSZ are ignored
  ~Signals();  // restores the default dispositions
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  // Blocks until a stop or a reload request. For a daemon that handles
  // both on one thread (reload and shutdown never overlap).
  SignalEvent WaitAny();
  // Blocks until a stop request; for a thread that only stops.
  void WaitStop();
  // Blocks until SIGHUP (kReload) or CloseReload (kClosed); for a reload
  // thread of its own, so a long reload never holds up a stop.
  SignalEvent WaitReload();
  // Wakes the stop waiters as SIGTERM would (e.g. the server loop failed).
  void RequestStop();
  // Makes WaitReload return kClosed from now on.
  void CloseReload();
  // The last stop signal's name ("SIGTERM", "SIGINT"), "request" when none.
  static const char* StopCause();
};

}  // namespace frb::service
