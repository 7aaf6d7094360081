// The HTTP front of faiss-searchd: routes, validation, metrics, rate limit.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "frb/config.h"
#include "frb/host_port.h"
#include "frb/status.h"
#include "coalescer.h"
#include "index_registry.h"
#include "metrics.h"
#include "rate_limiter.h"
#include "request.h"

namespace frb::http {
class HttpServer;
}

namespace frb::searchd {

struct ServerOptions {
  int threads = 0;         // HTTP worker threads; 0 = max(16, 4 x cores), see server.cc
  double rate_limit = 0;   // requests/s over all search requests; 0 = off
  HttpLimits http = DefaultSearchLimits();  // connections, deadlines, head and body caps
  // Most concurrent single-vector searches run in one FAISS call (see
  // SearchCoalescer); 1 = every search alone.
  int coalesce_max = 32;
  RequestLimits limits;
};

// Thread-safe: Bind then Run on one thread; Stop from any thread.
class SearchServer {
 public:
  SearchServer(IndexRegistry* registry, SearchMetrics* metrics, ServerOptions options);
  ~SearchServer();

  // Binds the address (port 0 = ephemeral) and returns the bound port.
  Result<int> Bind(const HostPort& address);
  // Serves until Stop. Returns an error when the accept loop failed.
  Status Run();
  void Stop();
  // For the watchdog: false, saying why, when the connection loop stopped
  // turning (hung) or is not running.
  bool Alive(std::string* why) const;

 private:
  void Routes();
  std::unique_ptr<http::HttpServer> http_;
  IndexRegistry* registry_;
  SearchMetrics* metrics_;
  ServerOptions options_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<SearchCoalescer> coalescer_;  // null when coalesce_max is 1
  std::atomic<int> in_flight_{0};  // concurrent searches, to size OpenMP
};

}  // namespace frb::searchd
