// Prometheus metrics of a following faiss-searchd (names are a contract,
// listed in docs/api.md), registered beside the search metrics.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace frb::searchd {

// Thread-safe: every method may be called from any thread.
class FollowMetrics {
 public:
  explicit FollowMetrics(prometheus::Registry& registry);

  // Creates the index's series at 0 so alert rules see the first failure.
  void RegisterIndex(const std::string& index);
  // The repository pointer names `version` as live (info-style gauge).
  void SetPointerVersion(const std::string& index, const std::string& version);
  // Seconds the served version lags behind the pointer (0 when it serves it).
  void SetLag(const std::string& index, double seconds);
  // A successful read of the pointer (changed or not) at `unix_seconds`.
  void SetPointerRead(const std::string& index, double unix_seconds);
  void AddBytes(const std::string& index, uint64_t bytes);
  // stage: "pointer" | "manifest" | "download" | "verify" | "install".
  void CountFailure(const std::string& index, std::string_view stage);
  // A version made available to the server; how: "download" | "cache".
  void CountInstall(const std::string& index, std::string_view how);

 private:
  prometheus::Family<prometheus::Gauge>& version_info_;
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Gauge>& pointer_read_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& failures_;
  prometheus::Family<prometheus::Counter>& installs_;
  std::mutex mu_;  // guards version_gauge_ (remove-then-add must be atomic)
  std::map<std::string, prometheus::Gauge*> version_gauge_;
};

}  // namespace frb::searchd
