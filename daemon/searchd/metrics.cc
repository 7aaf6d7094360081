#include "metrics.h"

#include "frb/build_info.h"

#include <prometheus/text_serializer.h>

#include <vector>

namespace frb::searchd {

void SetVersionInfo(prometheus::Family<prometheus::Gauge>& family,
                    std::map<std::string, prometheus::Gauge*>* current,
                    const std::string& index, const std::string& version) {
  auto it = current->find(index);
  if (it != current->end()) family.Remove(it->second);
  auto& g = family.Add({{"index", index}, {"version", version}});
  g.Set(1);
  (*current)[index] = &g;
}
namespace {

// 100 µs .. 10 s, roughly 1-2.5-5 per decade: fine enough to read p99 of a
// sub-millisecond search and still catch multi-second stalls.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};
}

// Powers of two, 1 to 256: the default --coalesce-max is 32; larger caps
// (up to 1024) put their biggest batches in +Inf.
prometheus::Histogram::BucketBoundaries BatchBuckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256};
}

// The status codes the search API answers with; others are counted through
// the family (slower, but they do not occur on the hot path).
constexpr std::array<int, 8> kCodes = {200, 400, 404, 408, 413, 429, 500, 503};

int CodeSlot(int code) {
  for (size_t i = 0; i < kCodes.size(); ++i)
    if (kCodes[i] == code) return static_cast<int>(i);
  return -1;
}

}  // namespace

SearchMetrics::SearchMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("faiss_search_requests_total")
                    .Help("HTTP requests to the search API by index and status code.")
                    .Register(*registry_)),
      duration_(prometheus::BuildHistogram()
                    .Name("faiss_search_request_duration_seconds")
                    .Help("Wall time of search API requests, parsing to response.")
                    .Register(*registry_)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("faiss_search_batch_size")
                      .Help("Queries in the FAISS call that served each single-vector "
                            "search (concurrent searches are coalesced).")
                      .Register(*registry_)),
      reloads_(prometheus::BuildCounter()
                   .Name("faiss_search_reloads_total")
                   .Help("Attempts to load a new live version, by result.")
                   .Register(*registry_)),
      version_info_(prometheus::BuildGauge()
                        .Name("faiss_search_index_version_info")
                        .Help("Always 1; the version label names the version being served.")
                        .Register(*registry_)),
      loaded_ts_(prometheus::BuildGauge()
                     .Name("faiss_search_index_loaded_timestamp_seconds")
                     .Help("Unix time the served version of the index was loaded.")
                     .Register(*registry_)),
      degraded_(prometheus::BuildGauge()
                    .Name("faiss_search_degraded")
                    .Help("1 while the index serves another version than its live one "
                          "(live failed verification or did not fit in memory).")
                    .Register(*registry_)),
      default_param_(prometheus::BuildGauge()
                         .Name("faiss_search_default_param")
                         .Help("nprobe or efSearch the served version searches at when a "
                               "request does not override it (its tuned value, if tuned).")
                         .Register(*registry_)),
      config_reloads_(prometheus::BuildCounter()
                          .Name("faiss_search_config_reloads_total")
                          .Help("Configuration reloads (SIGHUP), by result.")
                          .Register(*registry_)) {
  for (const char* result : {"ok", "failed"}) config_reloads_.Add({{"result", result}});
  prometheus::BuildGauge()
      .Name("faiss_search_build_info")
      .Help("Always 1; the labels name this program's version, its FAISS version and "
            "which FAISS kernels run.")
      .Register(*registry_)
      .Add({{"version", ProgramVersion()}, {"faiss_version", FaissVersion()},
            {"kernels", FaissKernels()}})
      .Set(1);
}

SearchMetrics::RequestSeries& SearchMetrics::SeriesOf(const std::string& index) {
  {
    std::shared_lock<std::shared_mutex> lock(series_mu_);
    if (auto it = series_.find(index); it != series_.end()) return *it->second;
  }
  std::unique_lock<std::shared_mutex> lock(series_mu_);
  auto& slot = series_[index];
  if (!slot) {
    auto s = std::make_unique<RequestSeries>();
    s->duration = &duration_.Add({{"index", index}}, LatencyBuckets());
    s->batch_size = &batch_size_.Add({{"index", index}}, BatchBuckets());
    slot = std::move(s);
  }
  return *slot;
}

void SearchMetrics::ObserveRequest(const std::string& index, int code,
                                   double seconds) {
  RequestSeries& s = SeriesOf(index);
  const int slot = CodeSlot(code);
  prometheus::Counter* c = slot >= 0 ? s.by_code[slot].load(std::memory_order_acquire) : nullptr;
  if (c == nullptr) {
    // Family::Add returns the same child to every thread that races here.
    c = &requests_.Add({{"index", index}, {"code", std::to_string(code)}});
    if (slot >= 0) s.by_code[slot].store(c, std::memory_order_release);
  }
  c->Increment();
  s.duration->Observe(seconds);
}

void SearchMetrics::ObserveBatchSize(const std::string& index, int batch_size) {
  SeriesOf(index).batch_size->Observe(batch_size);
}

void SearchMetrics::CountReload(const std::string& index, std::string_view result) {
  reloads_.Add({{"index", index}, {"result", std::string(result)}}).Increment();
}

void SearchMetrics::RegisterIndex(const std::string& index) {
  for (const char* result : {"ok", "failed"}) reloads_.Add({{"index", index}, {"result", result}});
  degraded_.Add({{"index", index}}).Set(0);
}

void SearchMetrics::RemoveIndex(const std::string& index) {
  ClearLoaded(index);
  // Family::Add returns the existing child, which Remove then drops.
  degraded_.Remove(&degraded_.Add({{"index", index}}));
  loaded_ts_.Remove(&loaded_ts_.Add({{"index", index}}));
  SetDefaultParams(index, 0, 0);
}

void SearchMetrics::SetDegraded(const std::string& index, bool degraded) {
  degraded_.Add({{"index", index}}).Set(degraded ? 1 : 0);
}

void SearchMetrics::CountConfigReload(std::string_view result) {
  config_reloads_.Add({{"result", std::string(result)}}).Increment();
}

void SearchMetrics::SetLoaded(const std::string& index, const std::string& version,
                              double unix_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  SetVersionInfo(version_info_, &version_gauge_, index, version);
  loaded_ts_.Add({{"index", index}}).Set(unix_seconds);
}

void SearchMetrics::SetDefaultParams(const std::string& index, int nprobe, int ef_search) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [param, value] : {std::pair<const char*, int>{"nprobe", nprobe},
                                     std::pair<const char*, int>{"efSearch", ef_search}}) {
    auto& g = default_param_.Add({{"index", index}, {"param", param}});
    if (value > 0) g.Set(value);
    else default_param_.Remove(&g);
  }
}

void SearchMetrics::ClearLoaded(const std::string& index) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = version_gauge_.find(index);
  if (it == version_gauge_.end()) return;
  version_info_.Remove(it->second);
  version_gauge_.erase(it);
}

std::string SearchMetrics::Serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace frb::searchd
