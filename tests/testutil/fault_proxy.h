// A fault-injecting TCP proxy on a loopback ephemeral port, in front of a
// real server (e.g. S3TestServer): forwards bytes both ways, and on demand
// cuts connections after N bytes or answers the next K requests itself
// with 500 InternalError or 503 SlowDown.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace frb::test {

// Thread-safe: connections are served on internal threads; the controls
// may be called from any thread.
class FaultProxy {
 public:
  explicit FaultProxy(int target_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  // The next `connections` connections that carry `bytes` bytes (> 0)
  // client->server (upstream=true) or server->client are closed (RST)
  // right there.
  void CutAfter(uint64_t bytes, int connections = 1, bool upstream = true);
  // After `skip` more requests pass, the next `k` requests are answered by
  // the proxy with `status` (500 or 503; 503 carries the SlowDown error
  // code) after reading their head and Content-Length body; they never
  // reach the server.
  void FailNext(int k, int status, int skip = 0);
  // Removes If-Match / If-None-Match from forwarded requests: a store that
  // ignores conditional requests.
  void StripConditions(bool on) { strip_conditions_ = on; }
  // Counters since construction.
  int connections() const { return connections_.load(); }
  int cuts() const { return cuts_.load(); }
  int injected_errors() const { return injected_.load(); }
  uint64_t bytes_upstream() const { return up_.load(); }

 private:
  void Accept();
  void Serve(int client_fd);
  int status_for_injection();
  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> strip_conditions_{false};
  std::atomic<int> connections_{0}, cuts_{0}, injected_{0};
  std::atomic<uint64_t> up_{0};
  std::mutex mu_;
  uint64_t cut_bytes_ = 0;
  int cut_conns_ = 0;
  bool cut_upstream_ = true;
  int fail_k_ = 0;
  int fail_skip_ = 0;
  int fail_status_ = 500;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace frb::test
