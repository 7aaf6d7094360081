// The admin HTTP API of faiss-rebuildd (docs/api.md):
// routing, JSON errors, auth and body limits. Handlers are one call into
// the Daemon each.
#pragma once

#include <memory>
#include <string>

#include "frb/status.h"
#include "http_server.h"

namespace frb::rebuildd {

class Daemon;

// Thread-safe: handlers run on the HTTP server's workers.
class AdminServer {
 public:
  // Limits from the daemon's config (http:).
  explicit AdminServer(Daemon& daemon);
  ~AdminServer();  // Stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds HOST:PORT (port 0 = any free port) and returns the bound port.
  Result<int> Bind(const HostPort& listen);
  // Serves on a background thread.
  void Serve();
  void Stop();

 private:
  void Routes();
  Daemon& daemon_;
  http::HttpServer http_;
};

}  // namespace frb::rebuildd
