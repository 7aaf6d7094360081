#include "tuner.h"

#include <faiss/AutoTune.h>
#include <faiss/IVFlib.h>
#include <faiss/IndexIVF.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_set>

#include "faiss_util.h"
#include "frb/validator.h"

namespace frb {
namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

std::vector<int> TuneLadder(const std::string& param, int max, int64_t nlist) {
  std::vector<int> ladder;
  int64_t limit = max;
  int64_t v = 1;
  if (param == "nprobe") {
    limit = std::min<int64_t>(max, nlist);
  } else if (param == "efSearch") {
    v = 16;
  } else {
    return ladder;
  }
  for (; v <= limit; v *= 2) ladder.push_back(static_cast<int>(v));
  return ladder;
}

double RecallAtK(const int64_t* ids, int nq, int k, const int64_t* truth, int truth_stride) {
  if (nq <= 0) return 0;
  double sum = 0;
  std::unordered_set<int64_t> want;
  for (int qi = 0; qi < nq; ++qi) {
    const int64_t* t = truth + static_cast<size_t>(qi) * truth_stride;
    want.clear();
    want.insert(t, t + k);
    want.erase(-1);
    if (want.empty()) continue;
    int hits = 0;
    for (int j = 0; j < k; ++j) hits += want.count(ids[static_cast<size_t>(qi) * k + j]) ? 1 : 0;
    sum += static_cast<double>(hits) / static_cast<double>(want.size());
  }
  return sum / nq;
}

Result<TuneReport> SearchTuner::Tune(faiss::Index& index, const float* q, int nq, int k,
                                     int latency_queries, const std::vector<int64_t>& truth,
                                     int truth_stride, JobControl& control) const {
  auto t0 = std::chrono::steady_clock::now();
  TuneReport r;
  r.param = cfg_.param;
  r.target_recall = cfg_.target_recall;
  r.use_lower_bound = cfg_.use_lower_bound;
  r.k = k;
  r.max = cfg_.max;
  int64_t nlist = 0;
  if (cfg_.param == "nprobe") {
    const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(&index);
    if (ivf == nullptr)
      return InvalidArgument("search.nprobe: auto: the index has no IVF stage to tune");
    nlist = static_cast<int64_t>(ivf->nlist);
  }
  std::vector<int> ladder = TuneLadder(cfg_.param, cfg_.max, nlist);
  if (ladder.empty())
    return InvalidArgument("tune: no " + cfg_.param + " value to try up to max " +
                           std::to_string(cfg_.max));

  const int d = index.d;
  const int lq = std::max(1, std::min(latency_queries, nq));
  std::vector<float> dist(static_cast<size_t>(nq) * k);
  std::vector<faiss::Index::idx_t> ids(static_cast<size_t>(nq) * k);
  faiss::ParameterSpace ps;
  for (int value : ladder) {
    FRB_RETURN_IF_ERROR(control.Check());
    TunePoint p;
    p.value = value;
    FRB_RETURN_IF_ERROR(CallFaiss("set " + cfg_.param, [&] {
      ps.set_index_parameter(&index, cfg_.param, value);
    }).WithContext("search parameter '" + cfg_.param + "'"));
    FRB_RETURN_IF_ERROR(CallFaiss("search", [&] {
      index.search(nq, q, k, dist.data(), ids.data());
    }, &control));
    static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t));
    p.recall = RecallAtK(reinterpret_cast<const int64_t*>(ids.data()), nq, k, truth.data(),
                         truth_stride);
    WilsonInterval(p.recall, nq, &p.ci_low, &p.ci_high);
    // Single queries, as searchd mostly serves them: batch time divided by
    // nq would hide the per-query overhead a small value still pays.
    std::vector<double> ms;
    ms.reserve(static_cast<size_t>(lq));
    FRB_RETURN_IF_ERROR(CallFaiss("latency search", [&] {
      for (int i = 0; i < std::min(lq, 10); ++i)  // warm caches first
        index.search(1, q + static_cast<size_t>(i) * d, k, dist.data(), ids.data());
      for (int i = 0; i < lq; ++i) {
        auto s = std::chrono::steady_clock::now();
        index.search(1, q + static_cast<size_t>(i) * d, k, dist.data(), ids.data());
        ms.push_back(std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - s).count());
      }
    }, &control));
    p.p50_ms = Percentile(ms, 0.50);
    p.p99_ms = Percentile(ms, 0.99);
    r.curve.push_back(p);
    double measured = cfg_.use_lower_bound ? p.ci_low : p.recall;
    if (measured >= cfg_.target_recall) {
      r.chosen = value;
      break;
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace frb
