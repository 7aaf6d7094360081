// One HTTP server toolkit for faiss-rebuildd and faiss-searchd: routes are
// cpp-httplib's, but connections are owned by an epoll loop that enforces
// the limits httplib 0.11 cannot (its read timeout is per recv() and its
// pool gives each keep-alive connection a worker for life):
//   - open connections are bounded; the excess is answered 503 and closed;
//   - a request's head is collected without a worker, within
//     request_timeout (408), max_header_bytes and max_header_count (431);
//   - Content-Length beyond max_body_bytes is 413 before any body byte is
//     read, and a HeadCheck (e.g. auth) may refuse before the body too;
//   - only a complete head goes to a worker, which reads the body within
//     what is left of request_timeout and at most max_body_bytes, chunked
//     or not (413);
//   - idle keep-alive connections wait in the loop, not on a worker.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "frb/config.h"
#include "frb/host_port.h"
#include "frb/status.h"
#include "request_head.h"

namespace frb::http {

struct ServerOptions {
  HttpLimits limits;
  int threads = 8;  // workers running handlers (not one per connection)
};

// An answer given from the head alone, before the body is read.
struct Refusal {
  int status = 400;
  std::string message;  // sent as {"error": message}
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called for every complete head, on the loop thread or on a worker
// reading a keep-alive connection's next request: must be thread-safe,
// fast and non-blocking. nullopt lets the request through.
using HeadCheck = std::function<std::optional<Refusal>(const RequestHead&)>;

// Handler of a route whose body is read (capped) before it runs.
using BodyHandler =
    std::function<void(const httplib::Request&, httplib::Response&, const std::string& body)>;

// Counts of what the protections did (for logs, metrics and tests).
struct ServerCounters {
  std::atomic<uint64_t> refused_connections{0};  // beyond max_connections
  std::atomic<uint64_t> head_timeouts{0};        // 408 before the head completed
  std::atomic<uint64_t> head_too_large{0};       // 431
  std::atomic<uint64_t> body_too_large{0};       // 413
  std::atomic<uint64_t> refused_early{0};        // HeadCheck answers
};

class Server;

// On a worker: true when the body of the request it serves stopped
// arriving at the request's deadline (answer 408, not 400).
bool BodyTimedOut();

// Thread safety: register routes and the HeadCheck before Run; Run on one
// thread; Stop from any thread (also before Run). Handlers run on workers.
class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The routes (Get, error and exception handlers) as cpp-httplib offers
  // them. Routes with a body must be PostBody/DeleteBody or take a
  // ContentReader: Run adds catch-alls for POST, PUT, PATCH and DELETE
  // that answer 404 without reading the body, and they shadow plain
  // (non-reader) handlers of those methods.
  httplib::Server& routes();
  // POST route whose body (at most max_body_bytes, decoded) is read
  // before `handler` runs; beyond the cap the answer is 413.
  void PostBody(const std::string& pattern, BodyHandler handler);
  void DeleteBody(const std::string& pattern, BodyHandler handler);
  void set_head_check(HeadCheck check);
  // Gives error answers without a body (httplib's 404, 413, 400 ...) one;
  // runs after the status is corrected for an oversized or late body. Use
  // this, not routes().set_error_handler.
  void set_error_handler(httplib::Server::Handler handler);
  // Formats the JSON body of errors the server answers itself.
  static std::string ErrorJson(std::string_view message);

  // Binds `address` (port 0 = ephemeral) and returns the bound port.
  Result<int> Bind(const HostPort& address);
  // Serves until Stop. An error when the loop could not run.
  Status Run();
  // Serves on a background thread.
  void Start();
  // Stops accepting, closes idle connections, waits for running handlers.
  void Stop();

  // True while Run's loop turns (it wakes at least every 50 ms) and last
  // did within `max_age`: false before Run, after Stop and when it hangs.
  bool LoopAlive(std::chrono::milliseconds max_age) const;

  const ServerOptions& options() const { return options_; }
  const ServerCounters& counters() const { return counters_; }

 private:
  friend class Loop;
  ServerOptions options_;
  std::unique_ptr<Server> server_;
  HeadCheck head_check_;
  httplib::Server::Handler error_handler_;
  ServerCounters counters_;
  bool catch_all_ = false;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  // steady_clock nanoseconds of the loop's last turn; 0 when not running.
  std::atomic<int64_t> loop_tick_ns_{0};
  std::thread thread_;
};

}  // namespace frb::http
