#include "watcher.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>

namespace frb::searchd {

LiveWatcher::LiveWatcher(IndexRegistry* registry, std::chrono::milliseconds poll,
                         bool use_inotify, LoaderPriority priority)
    : registry_(registry), poll_(poll), use_inotify_(use_inotify), priority_(priority) {}

LiveWatcher::~LiveWatcher() { Stop(); }

void LiveWatcher::Start() {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Run(); });
}

void LiveWatcher::Wake() {
  uint64_t one = 1;
  if (wake_fd_ >= 0 && write(wake_fd_, &one, sizeof(one)) < 0) {
    // Cannot happen for an eventfd below its maximum; the poll timeout
    // still comes within one interval.
  }
}

void LiveWatcher::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  Wake();
  thread_.join();
  close(wake_fd_);
  wake_fd_ = -1;
}

void LiveWatcher::Run() {
  // See LoaderPriority. Linux applies nice and the policy per thread.
  if (priority_.idle) {
    sched_param sp{};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
      spdlog::warn("cannot put the loader thread in SCHED_IDLE");
  }
  // Only ever lower it: a service already running at a higher nice value
  // (systemd Nice=) keeps that; raising would need CAP_SYS_NICE.
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, tid);
  if (priority_.nice > 0 && (errno != 0 || current < priority_.nice) &&
      setpriority(PRIO_PROCESS, tid, priority_.nice) != 0)
    spdlog::warn("cannot lower the loader thread's priority to nice {}: {}", priority_.nice,
                 std::strerror(errno));
  int ino = use_inotify_ ? inotify_init1(IN_NONBLOCK | IN_CLOEXEC) : -1;
  if (use_inotify_ && ino < 0)
    spdlog::warn("inotify unavailable ({}); polling every {} ms", std::strerror(errno),
                 poll_.count());
  std::map<std::string, int> watched;  // dir -> watch descriptor
  bool first = true;
  while (!stop_) {
    if (ino >= 0) {
      // Directories appear when the first version is built; (re)try them.
      for (const std::string& dir : registry_->WatchDirs()) {
        if (watched.count(dir)) continue;
        int wd = inotify_add_watch(ino, dir.c_str(),
                                   IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_ONLYDIR);
        if (wd >= 0) watched[dir] = wd;
      }
    }
    registry_->Refresh();
    if (first) {
      spdlog::info("initial load done; following new versions ({}, polling every {} ms)",
                   ino >= 0 ? "inotify" : "no inotify", poll_.count());
      first = false;
    }
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {ino, POLLIN, 0}};
    int n = poll(fds, ino >= 0 ? 2 : 1, static_cast<int>(poll_.count()));
    if (n > 0 && (fds[0].revents & POLLIN)) {
      uint64_t count = 0;  // drain, or the next poll returns at once
      [[maybe_unused]] ssize_t got = read(wake_fd_, &count, sizeof(count));
    }
    if (n > 0 && (fds[1].revents & POLLIN)) {
      alignas(inotify_event) char buf[8192];
      ssize_t got;
      while ((got = read(ino, buf, sizeof(buf))) > 0) {
        for (char* p = buf; p < buf + got;) {
          auto* ev = reinterpret_cast<inotify_event*>(p);
          if (ev->mask & (IN_DELETE_SELF | IN_IGNORED)) {
            for (auto it = watched.begin(); it != watched.end(); ++it)
              if (it->second == ev->wd) {
                watched.erase(it);
                break;
              }
          }
          p += sizeof(inotify_event) + ev->len;
        }
      }
      // Events for other entries (staging, SEQ) also wake us; Refresh is a
      // readlink per index when nothing changed, so no filtering is needed.
    }
  }
  if (ino >= 0) close(ino);
}

}  // namespace frb::searchd
