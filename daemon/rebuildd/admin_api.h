// The admin HTTP API of faiss-rebuildd (BRIEF "Contract: daemon HTTP API"):
// routing, JSON errors, auth and body limits. Handlers are one call into
// the Daemon each.
#pragma once

#include <httplib.h>

#include <string>
#include <thread>

#include "frb/status.h"

namespace frb::rebuildd {

class Daemon;

// Thread-safe: httplib runs handlers on its own worker pool.
class AdminServer {
 public:
  static constexpr size_t kMaxBodyBytes = 64 * 1024;

  explicit AdminServer(Daemon& daemon);
  ~AdminServer();  // Stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds HOST:PORT (port 0 = any free port) and returns the bound port.
  Result<int> Bind(const std::string& listen);
  // Serves on a background thread.
  void Serve();
  void Stop();

 private:
  void Routes();
  Daemon& daemon_;
  httplib::Server server_;
  std::thread thread_;
};

}  // namespace frb::rebuildd
