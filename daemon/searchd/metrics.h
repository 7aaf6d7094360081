// Prometheus metrics of faiss-searchd (names are a contract, listed
// in docs/api.md), served as text by the same HTTP server.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace frb::searchd {

// Sets family{index=I, version=V} to 1 and removes I's previous child, so an
// info gauge names one version per index. `current` holds each index's
// child; the caller serializes calls for one `current`.
void SetVersionInfo(prometheus::Family<prometheus::Gauge>& family,
                    std::map<std::string, prometheus::Gauge*>* current,
                    const std::string& index, const std::string& version);

// Thread-safe: every method may be called from any thread.
class SearchMetrics {
 public:
  SearchMetrics();

  // One finished HTTP request on `index` ("" when the path names no
  // configured index, so client typos cannot create label sets).
  void ObserveRequest(const std::string& index, int code, double seconds);
  // One single-vector search of `index` ran in a FAISS call of
  // `batch_size` queries (1 = alone; see SearchCoalescer).
  void ObserveBatchSize(const std::string& index, int batch_size);
  // result: "ok" | "fallback" | "failed" | "refused_memory" | "superseded".
  void CountReload(const std::string& index, std::string_view result);
  // Creates the index's reload counters at 0, so increase() in alert rules
  // sees the first failure (Prometheus does not count a series' first sample),
  // and its degraded gauge at 0.
  void RegisterIndex(const std::string& index);
  // The index left the configuration: drops its gauges (counters stay).
  void RemoveIndex(const std::string& index);
  // The index serves another version than its live one (1) or not (0).
  void SetDegraded(const std::string& index, bool degraded);
  // One configuration reload (SIGHUP); result: "ok" | "failed".
  void CountConfigReload(std::string_view result);
  // A version became the served one at `unix_seconds`.
  void SetLoaded(const std::string& index, const std::string& version,
                 double unix_seconds);
  // The served version searches at `nprobe` / `ef_search` by default (0 =
  // not applicable: that series is dropped).
  void SetDefaultParams(const std::string& index, int nprobe, int ef_search);
  // The index serves nothing (unready window of the "unready" policy).
  void ClearLoaded(const std::string& index);
  // Prometheus text exposition format 0.0.4.
  std::string Serialize() const;
  // Where other parts of the server (the follower) register their families,
  // so one /metrics scrape has them all.
  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Family<prometheus::Gauge>& version_info_;
  prometheus::Family<prometheus::Gauge>& loaded_ts_;
  prometheus::Family<prometheus::Gauge>& degraded_;
  prometheus::Family<prometheus::Gauge>& default_param_;
  prometheus::Family<prometheus::Counter>& config_reloads_;
  std::mutex mu_;  // guards version_gauge_ (remove-then-add must be atomic)
  std::map<std::string, prometheus::Gauge*> version_gauge_;

  // The per-request series of one index label, looked up once: Family::Add
  // builds a label map, hashes it and copies the bucket list on every call.
  // Counters and histograms are never removed, so the pointers stay valid.
  struct RequestSeries {
    // kCodes order; null until the code is first seen (no series at 0
    // for codes that never occur).
    std::array<std::atomic<prometheus::Counter*>, 8> by_code{};
    prometheus::Histogram* duration = nullptr;
    prometheus::Histogram* batch_size = nullptr;
  };
  // The series of `index`, created on first use.
  RequestSeries& SeriesOf(const std::string& index);
  mutable std::shared_mutex series_mu_;  // guards series_ (the map, not the series)
  std::unordered_map<std::string, std::unique_ptr<RequestSeries>> series_;
};

}  // namespace frb::searchd
