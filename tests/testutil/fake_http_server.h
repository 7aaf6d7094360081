// A stand-in HTTP server on a loopback port for tests of programs that call
// another service (e.g. faiss-searchd reporting to faiss-rebuildd): records
// each request's head and answers every one with a fixed status.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace frb::test {

// Thread-safe: requests are served on an internal thread; any thread may
// read what was received.
class FakeHttpServer {
 public:
  // Listens on 127.0.0.1, an ephemeral port; answers `status` with a small
  // JSON body and closes each connection.
  explicit FakeHttpServer(int status);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  int port() const { return port_; }
  // The request line and headers of every request so far, oldest first.
  std::vector<std::string> requests() const;
  // True once at least `n` requests came (within `seconds`).
  bool WaitRequests(size_t n, double seconds) const;

 private:
  void Serve();
  int status_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace frb::test
