// The connection loop behind HttpServer: accepts, collects request heads
// without a thread, refuses early, and hands complete requests to workers.
// Private to daemon/common.
#pragma once

#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "conn_stream.h"
#include "http_server.h"
#include "request_head.h"

namespace frb::http {

// httplib's Server with process_request reachable: the loop hands it one
// request at a time over a ConnStream.
class Server : public httplib::Server {
 public:
  using httplib::Server::process_request;
};

// One client connection. Thread safety: owned by the loop while polled,
// by one worker while it serves a request.
struct Conn {
  enum class State { kIdle, kHead, kPrefetch, kDrain };
  int fd = -1;
  State state = State::kIdle;
  std::string buf;
  Clock::time_point deadline;          // of the current state
  Clock::time_point request_deadline;  // the whole request's
  size_t head_len = 0;
  size_t drained = 0;
  RequestHead head;
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
};

// The connection loop of one Run. Thread safety: the loop thread owns the
// connections it polls; a worker owns the one it serves and gives it back
// through Return.
class Loop {
 public:
  explicit Loop(HttpServer& s) : s_(s), limits_(s.options_.limits) {}

  Status Run();

 private:
  using ConnPtr = std::shared_ptr<Conn>;
  void Accept();
  void OnReadable(const ConnPtr& c);
  void Advance(const ConnPtr& c);
  void Refuse(const ConnPtr& c, int status, std::string_view message,
              const std::vector<std::pair<std::string, std::string>>& headers = {});
  void StartDrain(const ConnPtr& c);
  void Watch(const ConnPtr& c);
  void Close(const ConnPtr& c);
  void Dispatch(const ConnPtr& c);
  void Serve(const ConnPtr& c);  // on a worker
  bool NextRequestReady(const ConnPtr& c);  // on a worker
  void Return(ConnPtr c);        // from a worker
  void TakeReturned();
  void Expire();

  HttpServer& s_;
  const HttpLimits limits_;
  int epoll_fd_ = -1;
  int spare_fd_ = -1;  // closed to accept-and-refuse when out of descriptors
  std::unordered_map<int, ConnPtr> conns_;  // polled by the loop
  std::atomic<int> open_{0};                // polled + on workers
  std::unique_ptr<httplib::ThreadPool> pool_;
  std::mutex mu_;
  std::vector<ConnPtr> returned_;  // guarded by mu_
};

}  // namespace frb::http
