// Tells faiss-rebuildd that an index's live version failed verification
// here, so the daemon verifies it and repairs it (by publishing an intact
// version): POST <daemon>/api/v1/indexes/{name}/verify, expecting 202.
// Fire-and-forget: Report queues and returns; one background thread sends
// with a short timeout and a few spaced retries, so a slow or absent daemon
// never delays loading or serving.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "frb/config.h"
#include "frb/env.h"

namespace frb::searchd {

struct ReporterTarget {
  bool enabled = true;
  std::string host;        // the daemon's http.listen, wildcard -> loopback
  int port = 0;
  std::string token_file;  // bearer token (read at each report); "" = none
};

// The daemon the config file names (search_server.report_corruption,
// http.listen, http.token_file).
ReporterTarget ReporterTargetFrom(const Config& config);

struct ReporterOptions {
  std::chrono::milliseconds timeout{2000};  // connect, and read
  int attempts = 3;
  std::chrono::milliseconds backoff{1000};  // before the 2nd try; doubled after
  size_t max_queued = 64;                   // further reports are dropped
};

// Thread-safe: Report and SetTarget from any thread.
class CorruptionReporter {
 public:
  CorruptionReporter(Env* env, ReporterTarget target, ReporterOptions options = {});
  ~CorruptionReporter();  // stops the sender; unsent reports are dropped
  CorruptionReporter(const CorruptionReporter&) = delete;
  CorruptionReporter& operator=(const CorruptionReporter&) = delete;

  // Queues a request for the daemon to verify `index`; returns at once.
  // A report already queued for the same index is not queued twice.
  void Report(const std::string& index);
  // After a configuration reload.
  void SetTarget(ReporterTarget target);

 private:
  void Run();
  // One POST; the HTTP status, or 0 when no answer came.
  int Send(const ReporterTarget& target, const std::string& index);

  Env* env_;
  const ReporterOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  ReporterTarget target_;          // mu_
  std::deque<std::string> queue_;  // mu_
  bool stop_ = false;              // mu_
  bool warned_404_ = false;        // sender thread only
  std::thread thread_;
};

}  // namespace frb::searchd
