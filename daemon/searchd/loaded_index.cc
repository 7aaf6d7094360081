#include "loaded_index.h"

#include <faiss/AutoTune.h>
#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <mutex>
#include <vector>

#include "frb/index_file.h"
#include "frb/manifest.h"

namespace frb::searchd {
namespace {

faiss::IndexHNSW* FindHnsw(faiss::Index* idx) {
  while (idx != nullptr) {
    if (auto* h = dynamic_cast<faiss::IndexHNSW*>(idx)) return h;
    if (auto* p = dynamic_cast<faiss::IndexPreTransform*>(idx)) {
      idx = p->index;
    } else if (auto* m = dynamic_cast<faiss::IndexIDMap*>(idx)) {
      idx = m->index;
    } else {
      return nullptr;
    }
  }
  return nullptr;
}

// A query every index accepts: the origin. Checks the labels FAISS returns
// are in range, which a corrupt-but-parsable file can violate.
Status WarmUp(const LoadedIndex& li, const SearchOverride& o) {
  const int k = static_cast<int>(std::min<int64_t>(10, std::max<int64_t>(1, li.ntotal)));
  std::vector<float> q(li.dim, 0.0f), d(k);
  std::vector<int64_t> l(k);
  FRB_RETURN_IF_ERROR(li.Search(1, q.data(), k, o, d.data(), l.data()));
  for (int64_t id : l) {
    if (id < -1 || id >= li.ntotal)
      return Corruption("warm-up query returned id " + std::to_string(id) +
                        " outside [0, " + std::to_string(li.ntotal) + ")");
  }
  return Status::Ok();
}

// The largest per-request override: a tuned parameter may go up to the
// configured tune.max (the range tuning itself explored), a fixed one to
// `factor` times its value. Never below the served default.
int64_t MaxOverride(const IndexConfig& cfg, const std::string& param, bool tuned,
                    int served, int factor) {
  if (tuned && cfg.tune.param == param) return std::max<int64_t>(cfg.tune.max, served);
  return int64_t{factor} * served;
}

}  // namespace

const char* ParamKindName(ParamKind kind) {
  switch (kind) {
    case ParamKind::kNone: return "none";
    case ParamKind::kIVF: return "ivf";
    case ParamKind::kLocked: return "locked";
  }
  return "?";
}

void SetBlasFromBatchesOf(int n) { faiss::distance_compute_blas_threshold = n; }

LoadedIndex::~LoadedIndex() = default;

Result<std::shared_ptr<const LoadedIndex>> LoadedIndex::Load(
    Env* env, const VersionStore& store, const IndexConfig& cfg,
    const std::string& version, int param_factor, const FileInfo* verified_as) {
  auto start = std::chrono::steady_clock::now();
  FRB_ASSIGN_OR_RETURN(Manifest m, store.ReadManifest(version));
  const std::string path = store.VersionIndexPath(version);
  if (m.version_id != version)
    return Corruption(path + ": manifest names version '" + m.version_id + "'");
  if (m.dim != cfg.dimension)
    return InvalidArgument(path + ": manifest dimension " + std::to_string(m.dim) +
                           " differs from the configured " + std::to_string(cfg.dimension));
  LoadTimings timings;
  FRB_ASSIGN_OR_RETURN(auto index, LoadVerifiedIndex(env, path,
                                                     FileDigest{m.file_size, m.file_sha256},
                                                     verified_as, &timings));

  std::shared_ptr<LoadedIndex> li(new LoadedIndex());
  li->index_ = std::move(index);
  faiss::Index* idx = li->index_.get();
  if (idx->d != cfg.dimension)
    return Corruption(path + ": index dimension " + std::to_string(idx->d) +
                      " differs from the configured " + std::to_string(cfg.dimension));
  if (idx->ntotal != m.ntotal)
    return Corruption(path + ": index holds " + std::to_string(idx->ntotal) +
                      " vectors, manifest says " + std::to_string(m.ntotal));
  const bool want_ip = cfg.metric == Metric::kIP;
  if ((idx->metric_type == faiss::METRIC_INNER_PRODUCT) != want_ip)
    return InvalidArgument(path + ": index metric differs from the configured " +
                           std::string(MetricName(cfg.metric)));
  // The configured parameters, then the value tuned for this very version
  // (manifest), so a swap changes both together. Only while the config
  // still says auto: a fixed value set since then is the operator's choice.
  std::map<std::string, double> params = cfg.search;
  const std::optional<TuneReport>& tune = m.validation.tune;
  const bool tuned = tune && tune->chosen && cfg.tune.param == tune->param;
  if (tuned) params[tune->param] = *tune->chosen;
  try {
    faiss::ParameterSpace ps;
    for (const auto& [key, value] : params) ps.set_index_parameter(idx, key, value);
  } catch (const std::exception& e) {
    return InvalidArgument(path + ": cannot apply search parameters: " + e.what());
  }

  li->name = cfg.name;
  li->version = version;
  li->factory = m.factory;
  li->metric = m.metric;
  li->dim = idx->d;
  li->ntotal = idx->ntotal;
  li->file_size = m.file_size;
  if (const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(idx)) {
    li->kind = ParamKind::kIVF;
    li->nprobe = static_cast<int>(ivf->nprobe);
    li->max_nprobe = static_cast<int>(std::min<int64_t>(
        ivf->nlist, MaxOverride(cfg, "nprobe", tuned, li->nprobe, param_factor)));
  } else if (const faiss::IndexHNSW* h = FindHnsw(idx)) {
    li->kind = ParamKind::kLocked;  // see ParamKind: params are ignored
    li->ef_search = h->hnsw.efSearch;
    li->max_ef_search = static_cast<int>(
        MaxOverride(cfg, "efSearch", tuned, li->ef_search, param_factor));
  }
  li->tuned = tuned;
  li->hashed = timings.hashed;
  li->verify_seconds = timings.verify_seconds;
  li->read_seconds = timings.read_seconds;

  const auto warm_start = std::chrono::steady_clock::now();
  FRB_RETURN_IF_ERROR(WarmUp(*li, {}).WithContext(path));
  if (li->kind != ParamKind::kNone) {
    // Some wrappers (fast-scan IVF, Refine) refuse SearchParameters in FAISS
    // 1.7.3; find out now rather than on a user's request.
    SearchOverride o;
    if (li->nprobe > 0) o.nprobe = li->nprobe;
    if (li->ef_search > 0) o.ef_search = li->ef_search;
    if (!WarmUp(*li, o).ok()) {
      li->kind = ParamKind::kLocked;
      FRB_RETURN_IF_ERROR(WarmUp(*li, o).WithContext(path));
    }
  }
  li->loaded_unix_ms = NowUnixMillis();
  li->warmup_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - warm_start).count();
  li->load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::shared_ptr<const LoadedIndex>(std::move(li));
}

Status LoadedIndex::Search(int64_t n, const float* x, int k, const SearchOverride& o,
                           float* distances, int64_t* labels) const {
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t));
  auto* out = reinterpret_cast<faiss::Index::idx_t*>(labels);
  const bool override = o.nprobe.has_value() || o.ef_search.has_value();
  try {
    if (!override) {
      if (kind == ParamKind::kLocked) {
        std::shared_lock<std::shared_mutex> lock(param_mu_);
        index_->search(n, x, k, distances, out);
      } else {
        index_->search(n, x, k, distances, out);
      }
      return Status::Ok();
    }
    switch (kind) {
      case ParamKind::kIVF: {
        faiss::SearchParametersIVF p;
        p.nprobe = static_cast<size_t>(o.nprobe.value_or(nprobe));
        p.max_codes = faiss::ivflib::extract_index_ivf(index_.get())->max_codes;
        index_->search(n, x, k, distances, out, &p);
        return Status::Ok();
      }
      case ParamKind::kLocked:
        return SearchLocked(n, x, k, o, distances, labels);
      case ParamKind::kNone:
        break;
    }
    return InvalidArgument("this index has no search parameters to override");
  } catch (const std::exception& e) {
    return Internal(std::string("FAISS search failed: ") + e.what());
  }
}

Status LoadedIndex::SearchLocked(int64_t n, const float* x, int k, const SearchOverride& o,
                                 float* distances, int64_t* labels) const {
  // Exclusive: the override is written into the shared index, searched with
  // and restored before any plain search (shared lock) can run again.
  std::unique_lock<std::shared_mutex> lock(param_mu_);
  faiss::ParameterSpace ps;
  const char* key = o.nprobe ? "nprobe" : "efSearch";
  const int value = o.nprobe ? *o.nprobe : *o.ef_search;
  const int restore = o.nprobe ? nprobe : ef_search;
  ps.set_index_parameter(index_.get(), key, value);
  try {
    index_->search(n, x, k, distances, reinterpret_cast<faiss::Index::idx_t*>(labels));
  } catch (...) {
    ps.set_index_parameter(index_.get(), key, restore);
    throw;
  }
  ps.set_index_parameter(index_.get(), key, restore);
  return Status::Ok();
}

}  // namespace frb::searchd
