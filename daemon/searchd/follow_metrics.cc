#include "follow_metrics.h"

#include "metrics.h"

namespace frb::searchd {

FollowMetrics::FollowMetrics(prometheus::Registry& registry)
    : version_info_(prometheus::BuildGauge()
                        .Name("faiss_search_follow_version_info")
                        .Help("Always 1; the version label names the live version the "
                              "repository pointer names, as last read.")
                        .Register(registry)),
      lag_(prometheus::BuildGauge()
               .Name("faiss_search_follow_lag_seconds")
               .Help("Seconds the served version lags behind the repository pointer "
                     "(since the pointer moved); 0 when it serves the pointer's version.")
               .Register(registry)),
      pointer_read_(prometheus::BuildGauge()
                        .Name("faiss_search_follow_pointer_read_timestamp_seconds")
                        .Help("Unix time of the last successful read of the repository "
                              "pointer.")
                        .Register(registry)),
      bytes_(prometheus::BuildCounter()
                 .Name("faiss_search_follow_bytes_total")
                 .Help("Bytes downloaded from the repository.")
                 .Register(registry)),
      failures_(prometheus::BuildCounter()
                    .Name("faiss_search_follow_failures_total")
                    .Help("Failed follow steps by stage (pointer, manifest, download, "
                          "verify, install); the served version stays in place.")
                    .Register(registry)),
      installs_(prometheus::BuildCounter()
                    .Name("faiss_search_follow_installs_total")
                    .Help("Versions handed to the server, by how they got into the cache "
                          "(download, or cache for a rollback without a download).")
                    .Register(registry)) {}

void FollowMetrics::RegisterIndex(const std::string& index) {
  for (const char* stage : {"pointer", "manifest", "download", "verify", "install"})
    failures_.Add({{"index", index}, {"stage", stage}});
  for (const char* how : {"download", "cache"}) installs_.Add({{"index", index}, {"how", how}});
  bytes_.Add({{"index", index}});
  lag_.Add({{"index", index}}).Set(0);
}

void FollowMetrics::SetPointerVersion(const std::string& index, const std::string& version) {
  std::lock_guard<std::mutex> lock(mu_);
  SetVersionInfo(version_info_, &version_gauge_, index, version);
}

void FollowMetrics::SetLag(const std::string& index, double seconds) {
  lag_.Add({{"index", index}}).Set(seconds);
}

void FollowMetrics::SetPointerRead(const std::string& index, double unix_seconds) {
  pointer_read_.Add({{"index", index}}).Set(unix_seconds);
}

void FollowMetrics::AddBytes(const std::string& index, uint64_t bytes) {
  bytes_.Add({{"index", index}}).Increment(static_cast<double>(bytes));
}

void FollowMetrics::CountFailure(const std::string& index, std::string_view stage) {
  failures_.Add({{"index", index}, {"stage", std::string(stage)}}).Increment();
}

void FollowMetrics::CountInstall(const std::string& index, std::string_view how) {
  installs_.Add({{"index", index}, {"how", std::string(how)}}).Increment();
}

}  // namespace frb::searchd
