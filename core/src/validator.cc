#include "frb/validator.h"

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/utils/distances.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "faiss_util.h"
#include "frb/builder.h"
#include "ivf_health.h"
#include "tuner.h"

namespace frb {
namespace {

std::string Fmt(const char* fmt, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), fmt, a, b, c, d);
  return buf;
}

// Query vectors: the configured query file, else rows sampled from the source.
Result<std::vector<float>> LoadQueries(Env* env, const IndexConfig& cfg,
                                       const VectorSource& source, int* nq) {
  const int d = source.dim();
  std::vector<float> q;
  if (!cfg.validation.query_file.empty()) {
    const std::string& path = cfg.validation.query_file;
    SourceFormat fmt = SourceFormat::kRawF32;
    for (auto f : {SourceFormat::kNpy, SourceFormat::kFvecs, SourceFormat::kBvecs}) {
      std::string ext = "." + std::string(SourceFormatName(f));
      if (path.size() > ext.size() && path.ends_with(ext)) fmt = f;
    }
    FRB_ASSIGN_OR_RETURN(auto qs, VectorSource::Open(env, path, fmt, d));
    int64_t n = std::min<int64_t>(qs->count(), cfg.validation.queries);
    q.resize(static_cast<size_t>(n) * d);
    FRB_RETURN_IF_ERROR(qs->Read(0, n, q.data()));
    *nq = static_cast<int>(n);
    return q;
  }
  int64_t n = std::min<int64_t>(source.count(), cfg.validation.queries);
  std::mt19937_64 rng(cfg.validation.seed + 1);
  std::uniform_int_distribution<int64_t> pick(0, source.count() - 1);
  q.resize(static_cast<size_t>(n) * d);
  for (int64_t i = 0; i < n; ++i)
    FRB_RETURN_IF_ERROR(source.Read(pick(rng), 1, q.data() + i * d));
  source.Release(0, source.count());
  *nq = static_cast<int>(n);
  return q;
}

// Exact k-NN of the queries over the whole source, streamed in blocks so the
// source is never held in memory; per-block results are merged per query.
Result<std::vector<int64_t>> ExactKnn(const IndexConfig& cfg, const VectorSource& src,
                                      const std::vector<float>& q, int nq, int k,
                                      JobControl& control) {
  const int d = src.dim();
  const int64_t count = src.count();
  const bool ip = cfg.metric == Metric::kIP;
  // 16 MiB copies at d=128: small next to the index held beside them.
  const int64_t block = 32768;
  std::vector<float> best_d(static_cast<size_t>(nq) * k, ip ? -INFINITY : INFINITY);
  std::vector<int64_t> best_i(static_cast<size_t>(nq) * k, -1);
  std::vector<float> buf, bd(static_cast<size_t>(nq) * k);
  std::vector<int64_t> bi(static_cast<size_t>(nq) * k);
  std::vector<std::pair<float, int64_t>> merged;
  for (int64_t begin = 0; begin < count; begin += block) {
    FRB_RETURN_IF_ERROR(control.Check());
    int64_t n = std::min(block, count - begin);
    buf.resize(static_cast<size_t>(n) * d);
    FRB_RETURN_IF_ERROR(src.Read(begin, n, buf.data()));
    src.Release(begin, n);
    FRB_RETURN_IF_ERROR(CallFaiss("exact search", [&] {
      if (ip) {
        faiss::knn_inner_product(q.data(), buf.data(), d, nq, n, k, bd.data(), bi.data());
      } else {
        faiss::knn_L2sqr(q.data(), buf.data(), d, nq, n, k, bd.data(), bi.data());
      }
    }));
    for (int qi = 0; qi < nq; ++qi) {
      merged.clear();
      for (int j = 0; j < k; ++j) {
        size_t a = static_cast<size_t>(qi) * k + j;
        if (best_i[a] >= 0) merged.emplace_back(best_d[a], best_i[a]);
        if (bi[a] >= 0) merged.emplace_back(bd[a], bi[a] + begin);
      }
      auto better = [ip](const auto& x, const auto& y) {
        return ip ? x.first > y.first : x.first < y.first;
      };
      size_t keep = std::min<size_t>(k, merged.size());
      std::partial_sort(merged.begin(), merged.begin() + keep, merged.end(), better);
      for (size_t j = 0; j < keep; ++j) {
        best_d[qi * k + j] = merged[j].first;
        best_i[qi * k + j] = merged[j].second;
      }
    }
    control.SetProgress(0.7 * static_cast<double>(begin + n) / count);
  }
  return best_i;
}

// Mean per-query recall@k of `index` against `truth` (rows of truth_stride).
Result<double> MeasureRecall(faiss::Index& index, const std::vector<float>& q, int nq,
                             int k, const std::vector<int64_t>& truth, int truth_stride) {
  std::vector<float> dist(static_cast<size_t>(nq) * k);
  std::vector<faiss::Index::idx_t> ids(static_cast<size_t>(nq) * k);
  FRB_RETURN_IF_ERROR(CallFaiss("search", [&] {
    index.search(nq, q.data(), k, dist.data(), ids.data());
  }));
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t));
  return RecallAtK(reinterpret_cast<const int64_t*>(ids.data()), nq, k, truth.data(),
                   truth_stride);
}

Status ApplySearchParams(faiss::Index& index, const std::map<std::string, double>& params) {
  faiss::ParameterSpace ps;
  for (const auto& param : params) {
    // Not a structured binding: clang 14 cannot capture those in a lambda.
    const std::string& name = param.first;
    const double value = param.second;
    FRB_RETURN_IF_ERROR(CallFaiss("set " + name, [&] {
      ps.set_index_parameter(&index, name, value);
    }).WithContext("search parameter '" + name + "'"));
  }
  return Status::Ok();
}

// Names the recall the largest value tried reached, so the operator can
// judge whether a larger max or a lower target is the fix.
std::string TuneFailure(const TuneReport& t) {
  const TunePoint& top = t.curve.back();
  std::string v = std::to_string(static_cast<int64_t>(top.value));
  return "tune: no " + t.param + " up to " + v +
         Fmt(" reaches target_recall %.4f", t.target_recall) +
         (t.use_lower_bound ? " (95% CI lower bound)" : " (estimate)") + "; the largest, " +
         t.param + " " + v + Fmt(", reached recall@%.0f %.4f (95%% CI %.4f-%.4f)", t.k,
                                top.recall, top.ci_low, top.ci_high);
}

// Records the list-size health of an IVF index and applies its optional
// gates; other index types have no lists to weigh.
void CheckIvfHealth(const faiss::Index& index, const ValidationConfig& vc,
                    ValidationReport* r) {
  r->ivf = MeasureIvfHealth(index);
  if (!r->ivf) return;
  const IvfHealth& h = *r->ivf;
  if (vc.max_imbalance_factor && h.imbalance_factor > *vc.max_imbalance_factor)
    r->failures.push_back(Fmt("ivf: imbalance factor %.3f (largest list %.0f of %.0f vectors) "
                              "is over max_imbalance_factor %.3f",
                              h.imbalance_factor, static_cast<double>(h.largest_list),
                              static_cast<double>(h.ntotal), *vc.max_imbalance_factor));
  if (vc.max_empty_lists_ratio && h.empty_lists_ratio > *vc.max_empty_lists_ratio)
    r->failures.push_back(Fmt("ivf: %.0f of %.0f lists are empty (%.2f%%), "
                              "over max_empty_lists_ratio %.2f%%",
                              static_cast<double>(h.empty_lists), static_cast<double>(h.nlist),
                              100 * h.empty_lists_ratio, 100 * *vc.max_empty_lists_ratio));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(std::ceil(p * v.size())) - 1;
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

void WilsonInterval(double p, double n, double* low, double* high) {
  if (n <= 0) {
    *low = 0;
    *high = 1;
    return;
  }
  const double z = 1.959963984540054;
  double denom = 1 + z * z / n;
  double centre = (p + z * z / (2 * n)) / denom;
  double half = z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom;
  *low = std::max(0.0, centre - half);
  *high = std::min(1.0, centre + half);
}

Result<ValidationReport> Validator::Validate(const IndexConfig& cfg,
                                             const VectorSource& source,
                                             const std::string& staged_path,
                                             const FileDigest& expected,
                                             const std::optional<LiveVersionInfo>& live,
                                             JobControl& control,
                                             const std::vector<int64_t>* labels) {
  ScopedFaissInterrupt interrupt(&control);
  ScopedOmpThreads threads(cfg.threads);
  auto t0 = std::chrono::steady_clock::now();
  const ValidationConfig& vc = cfg.validation;
  ValidationReport r;
  r.expected_ntotal = source.count();
  r.k = vc.k;
  r.search_params = cfg.search;
  auto fail = [&r](std::string why) { r.failures.push_back(std::move(why)); };
  auto finish = [&] {
    r.passed = r.failures.empty();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };

  // Exact ground truth first, before the staged index is loaded: the
  // search's blocks (source rows, FAISS's distance tiles) and the index are
  // then never resident at once, which keeps the cycle's peak near one index.
  // Tuning reuses the same exact neighbours (as many as the larger of the two
  // k), so it costs searches, not another exact pass over the source.
  int nq = 0;
  FRB_ASSIGN_OR_RETURN(std::vector<float> q, LoadQueries(env_, cfg, source, &nq));
  const bool tuning = !cfg.tune.param.empty();
  int k = static_cast<int>(std::min<int64_t>(vc.k, source.count()));
  int tune_k = static_cast<int>(
      std::min<int64_t>(cfg.tune.k > 0 ? cfg.tune.k : vc.k, source.count()));
  int truth_k = tuning ? std::max(k, tune_k) : k;
  FRB_ASSIGN_OR_RETURN(auto truth, ExactKnn(cfg, source, q, nq, truth_k, control));
  // The index answers with labels: compare in those terms.
  if (labels != nullptr)
    for (int64_t& t : truth)
      if (t >= 0 && t < static_cast<int64_t>(labels->size()))
        t = (*labels)[static_cast<size_t>(t)];
  ::malloc_trim(0);  // the freed blocks, before the index takes their place

  // Structure: the bytes on disk are what we wrote and FAISS reads them back.
  auto loaded = LoadVerifiedIndex(env_, staged_path, expected);
  if (!loaded.ok()) {
    if (loaded.status().code() != Code::kCorruption) return loaded.status();
    fail("structure: " + loaded.status().message());
    return finish();
  }
  r.checksum_ok = true;
  std::unique_ptr<faiss::Index> index = std::move(loaded).value();
  control.SetProgress(0.75);
  r.dim = index->d;
  r.metric = index->metric_type == faiss::METRIC_INNER_PRODUCT ? "IP" : "L2";
  r.ntotal = index->ntotal;
  if (r.dim != cfg.dimension)
    fail("structure: dimension " + std::to_string(r.dim) + " != configured " +
         std::to_string(cfg.dimension));
  if (r.metric != MetricName(cfg.metric))
    fail("structure: metric " + r.metric + " != configured " + std::string(MetricName(cfg.metric)));
  if (r.ntotal != r.expected_ntotal)
    fail("structure: ntotal " + std::to_string(r.ntotal) + " != source vector count " +
         std::to_string(r.expected_ntotal));
  if (!r.failures.empty()) return finish();
  CheckIvfHealth(*index, vc, &r);
  FRB_RETURN_IF_ERROR(ApplySearchParams(*index, cfg.search));

  // Recall@k against the exact neighbours computed above.
  int lq = std::max(1, std::min(vc.latency_queries, nq));
  const TunePoint* tuned = nullptr;  // the point the index is left at
  if (tuning) {
    FRB_ASSIGN_OR_RETURN(TuneReport t, SearchTuner(cfg.tune).Tune(*index, q.data(), nq, tune_k,
                                                                  lq, truth, truth_k, control));
    r.tune = std::move(t);
    tuned = &r.tune->curve.back();
    r.search_params[cfg.tune.param] = tuned->value;
    if (!r.tune->chosen)
      fail(TuneFailure(*r.tune));
  }
  r.queries = nq;
  if (tuned != nullptr && tune_k == k) {
    r.recall = tuned->recall;
  } else {
    FRB_ASSIGN_OR_RETURN(r.recall, MeasureRecall(*index, q, nq, k, truth, truth_k));
  }
  WilsonInterval(r.recall, nq, &r.recall_ci_low, &r.recall_ci_high);
  if (r.recall < vc.min_recall)
    fail(Fmt("recall: recall@%.0f %.4f (95%% CI %.4f-%.4f)", k, r.recall,
             r.recall_ci_low, r.recall_ci_high) +
         Fmt(" is below min_recall %.4f", vc.min_recall));
  control.SetProgress(0.8);

  // Single-query latency at the configured (or tuned) search parameters;
  // tuning timed the chosen value already.
  FRB_RETURN_IF_ERROR(control.Check());
  if (tuned != nullptr) {
    r.latency_queries = lq;
    r.p50_ms = tuned->p50_ms;
    r.p99_ms = tuned->p99_ms;
  } else {
    std::vector<double> ms;
    std::vector<float> dist(k);
    std::vector<faiss::Index::idx_t> ids(k);
    FRB_RETURN_IF_ERROR(CallFaiss("latency search", [&] {
      for (int i = 0; i < std::min(lq, 10); ++i)  // warm caches first
        index->search(1, q.data() + static_cast<size_t>(i) * cfg.dimension, k, dist.data(), ids.data());
      for (int i = 0; i < lq; ++i) {
        auto s = std::chrono::steady_clock::now();
        index->search(1, q.data() + static_cast<size_t>(i) * cfg.dimension, k, dist.data(), ids.data());
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
      }
    }));
    r.latency_queries = lq;
    r.p50_ms = Percentile(ms, 0.50);
    r.p99_ms = Percentile(ms, 0.99);
  }
  if (r.p99_ms > vc.max_p99_ms)
    fail(Fmt("latency: p99 %.3f ms is over max_p99_ms %.3f", r.p99_ms, vc.max_p99_ms));
  control.SetProgress(0.85);

  // Drift guards against the live version.
  if (live) {
    const Manifest& lm = live->manifest;
    r.live_ntotal = lm.ntotal;
    r.live_file_size = lm.file_size;
    if (lm.ntotal > 0) {
      r.count_change = static_cast<double>(r.ntotal - lm.ntotal) / lm.ntotal;
      if (std::abs(*r.count_change) > vc.max_count_change)
        fail(Fmt("drift: vector count changes by %+.1f%% (%.0f -> %.0f), over max_count_change ",
                 100 * *r.count_change, lm.ntotal, r.ntotal) +
             Fmt("%.1f%%", 100 * vc.max_count_change));
    }
    if (lm.file_size > 0 && vc.max_size_change > 0) {
      r.size_change = (static_cast<double>(expected.size) - lm.file_size) / lm.file_size;
      if (std::abs(*r.size_change) > vc.max_size_change)
        fail(Fmt("drift: index file size changes by %+.1f%%, over max_size_change %.1f%%",
                 100 * *r.size_change, 100 * vc.max_size_change));
    }
    if (vc.max_recall_drop_vs_live) {
      index.reset();  // never hold both indexes at once
      FRB_ASSIGN_OR_RETURN(auto live_index,
                           LoadVerifiedIndex(env_, live->index_path,
                                             FileDigest{lm.file_size, lm.file_sha256}));
      // The live index answers these queries only if it has their dimension
      // (FAISS reads d floats per query: a larger d reads past the buffer),
      // the same metric and the configured search parameters. It may not:
      // the configuration changed, or the file is another kind of index.
      std::string live_metric =
          live_index->metric_type == faiss::METRIC_INNER_PRODUCT ? "IP" : "L2";
      Status comparable = live_index->d != cfg.dimension || live_metric != r.metric
                              ? FailedPrecondition("its index has dimension " +
                                                   std::to_string(live_index->d) + " and metric " +
                                                   live_metric + ", the candidate " +
                                                   std::to_string(cfg.dimension) + " and " + r.metric)
                              : ApplySearchParams(*live_index, r.search_params);
      if (!comparable.ok()) {
        fail("recall: cannot compare with the live version " + lm.version_id + ": " +
             comparable.message() + " (unset max_recall_drop_vs_live to replace it)");
      } else {
        FRB_ASSIGN_OR_RETURN(double lr, MeasureRecall(*live_index, q, nq, k, truth, truth_k));
        r.live_recall = lr;
        if (r.recall < lr - *vc.max_recall_drop_vs_live)
          fail(Fmt("recall: %.4f is worse than the live version's %.4f by more than %.4f",
                   r.recall, lr, *vc.max_recall_drop_vs_live));
      }
    }
  }
  control.SetProgress(1);
  return finish();
}

}  // namespace frb
