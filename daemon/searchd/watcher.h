// Follows publishes: wakes on inotify events in each index directory (the
// `live` symlink is replaced by rename, which inotify reports as
// IN_MOVED_TO) and, as a fallback for filesystems without inotify (NFS,
// some overlays) and for directories created later, every poll interval.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "index_registry.h"

namespace frb::searchd {

// How the watcher (= loader) thread is scheduled. Loading a version (SHA-256
// of the file, deserializing, page faults of the new copy, warm-up) is CPU
// work beside the searches; at a lower priority it takes longer instead of
// raising query latency. Linux applies both per thread.
struct LoaderPriority {
  int nice = 10;      // setpriority for the thread, 0..19
  bool idle = false;  // SCHED_IDLE: runs only on otherwise idle CPU time
};

// Thread-safe: Start/Stop from one controlling thread; the work runs on an
// internal thread.
class LiveWatcher {
 public:
  // use_inotify=false leaves only polling (filesystems where inotify
  // misses changes, and tests of the fallback).
  LiveWatcher(IndexRegistry* registry, std::chrono::milliseconds poll, bool use_inotify,
              LoaderPriority priority = {});
  ~LiveWatcher();
  LiveWatcher(const LiveWatcher&) = delete;
  LiveWatcher& operator=(const LiveWatcher&) = delete;

  // Runs a first Refresh (the initial load) on the watcher thread.
  void Start();
  void Stop();
  // Makes the watcher thread Refresh now (after a configuration reload)
  // instead of at the next event or poll. Returns at once.
  void Wake();

 private:
  void Run();
  IndexRegistry* registry_;
  std::chrono::milliseconds poll_;
  bool use_inotify_;
  LoaderPriority priority_;
  int wake_fd_ = -1;  // eventfd: wakes the poll(2) at Stop and Wake
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace frb::searchd
