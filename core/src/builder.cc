#include "frb/builder.h"

#include <faiss/Clustering.h>
#include <faiss/Index.h>
#include <faiss/IVFlib.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/invlists/InvertedLists.h>
#include <omp.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <numeric>
#include <random>
#include <unordered_set>
#include <vector>

#include "faiss_util.h"

namespace frb {
namespace {

thread_local const JobControl* tls_control = nullptr;

// FAISS calls want_interrupt() from the thread that runs the long loop, which
// is the job's thread, so a thread-local routes it to the right job.
struct JobInterruptCallback final : faiss::InterruptCallback {
  bool want_interrupt() override {
    return tls_control != nullptr && !tls_control->Check().ok();
  }
};

std::once_flag install_once;

// Uniform sample of `want` distinct rows out of `count`, sorted so reads
// walk the file forward.
std::vector<int64_t> SampleRows(int64_t count, int64_t want, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> rows;
  if (want >= count) {
    rows.resize(static_cast<size_t>(count));
    std::iota(rows.begin(), rows.end(), 0);
    return rows;
  }
  // Floyd's algorithm: exact uniform sample without a count-sized array.
  std::vector<int64_t> chosen;
  chosen.reserve(static_cast<size_t>(want));
  std::unordered_set<int64_t> seen;
  seen.reserve(static_cast<size_t>(want) * 2);
  for (int64_t j = count - want; j < count; ++j) {
    int64_t t = std::uniform_int_distribution<int64_t>(0, j)(rng);
    int64_t pick = seen.insert(t).second ? t : (seen.insert(j), j);
    chosen.push_back(pick);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace

void TrainIvfQuantizerStepwise(faiss::Index& index, int64_t n, const float* x,
                               JobControl& control) {
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(&index);
  if (ivf == nullptr || ivf->quantizer_trains_alone != 0 || ivf->clustering_index != nullptr ||
      (ivf->quantizer->is_trained && ivf->quantizer->ntotal == static_cast<int64_t>(ivf->nlist)) ||
      n <= static_cast<int64_t>(ivf->nlist))
    return;
  faiss::ClusteringParameters cp = ivf->cp;
  const int niter = std::max(1, cp.niter);
  cp.niter = 1;
  faiss::Clustering clus(ivf->d, ivf->nlist, cp);
  ivf->quantizer->reset();
  control.SetWork(0, niter, "iterations");
  for (int it = 0; it < niter; ++it) {
    clus.train(n, x, *ivf->quantizer);  // leaves the centroids in the quantizer
    control.SetWork(it + 1, niter, "iterations");
  }
  ivf->quantizer->is_trained = true;
}


ScopedFaissInterrupt::ScopedFaissInterrupt(const JobControl* control)
    : previous_(tls_control) {
  std::call_once(install_once, [] {
    std::lock_guard<std::mutex> lock(faiss::InterruptCallback::lock);
    faiss::InterruptCallback::instance.reset(new JobInterruptCallback());
  });
  tls_control = control;
}

ScopedFaissInterrupt::~ScopedFaissInterrupt() { tls_control = previous_; }

Result<BuildResult> Builder::Build(const IndexConfig& cfg,
                                   const VectorSource& source,
                                   const std::string& out_path,
                                   JobControl& control,
                                   const std::vector<int64_t>* ids) {
  ScopedFaissInterrupt interrupt(&control);
  ScopedOmpThreads threads(cfg.threads);
  const int d = source.dim();
  const int64_t count = source.count();
  BuildResult result;
  result.threads = omp_get_max_threads();

  // Configs are checked when loaded, but an IndexConfig can be built in code.
  if (std::string why = FactoryStringProblem(cfg.factory); !why.empty())
    return InvalidArgument("index '" + cfg.name + "': factory string " + why);
  std::unique_ptr<faiss::Index> index;
  FRB_RETURN_IF_ERROR(CallFaiss("index_factory('" + cfg.factory + "')", [&] {
    index.reset(faiss::index_factory(d, cfg.factory.c_str(), ToFaissMetric(cfg.metric)));
  }));
  if (ids != nullptr && static_cast<int64_t>(ids->size()) != count)
    return InvalidArgument("index '" + cfg.name + "': " + std::to_string(ids->size()) +
                           " ids for " + std::to_string(count) + " vectors");
  // Flat, HNSW and the like number rows themselves; an id map carries ours.
  if (ids != nullptr && faiss::ivflib::try_extract_index_ivf(index.get()) == nullptr &&
      dynamic_cast<faiss::IndexIDMap*>(index.get()) == nullptr) {
    auto mapped = std::make_unique<faiss::IndexIDMap2>(index.get());
    index.release();
    mapped->own_fields = true;
    index = std::move(mapped);
  }
  const faiss::Index::idx_t* xids =
      ids != nullptr ? reinterpret_cast<const faiss::Index::idx_t*>(ids->data()) : nullptr;

  control.EnterStage(Stage::kTraining);
  if (!index->is_trained) {
    std::vector<int64_t> rows = SampleRows(count, cfg.train_sample, cfg.validation.seed);
    std::vector<float> train(rows.size() * static_cast<size_t>(d));
    // Rows are sorted: pages behind the reader are dropped as it goes, so
    // RSS holds the sample, not the file.
    int64_t released = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      FRB_RETURN_IF_ERROR(source.Read(rows[i], 1, train.data() + i * d));
      if (i % 4096 == 0) {
        FRB_RETURN_IF_ERROR(control.Check());
        control.SetProgress(0.1 * static_cast<double>(i) / rows.size());
        source.Release(released, rows[i] - released);
        released = rows[i];
      }
    }
    source.Release(0, count);
    result.train_vectors = static_cast<int64_t>(rows.size());
    FRB_RETURN_IF_ERROR(CallFaiss("train", [&] {
      TrainIvfQuantizerStepwise(*index, static_cast<int64_t>(rows.size()), train.data(), control);
      // An IVF quantizer trained above is left alone here (FAISS skips a
      // trained quantizer holding nlist centroids); this trains the rest.
      index->train(static_cast<faiss::Index::idx_t>(rows.size()), train.data());
    }, &control));
  }
  control.SetProgress(1);

  control.EnterStage(Stage::kAdding);
  // At least ~50 progress steps (each a separate add), but no batch under
  // 4096 vectors, where FAISS's per-call costs would start to show.
  const int64_t batch = std::max<int64_t>(
      1, std::min<int64_t>(cfg.add_batch, std::max<int64_t>(4096, count / 50)));
  std::vector<float> buf(static_cast<size_t>(std::min(batch, count)) * d);
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(index.get());
  auto* lists = ivf != nullptr ? dynamic_cast<faiss::ArrayInvertedLists*>(ivf->invlists) : nullptr;
  if (lists != nullptr && ivf->ntotal == 0) {
    // Inverted lists grown by appends end up with up to twice the capacity
    // they need (std::vector doubling), and each growth copies the list:
    // peak RSS near 2x the index. So: assign every vector first, size each
    // list exactly, then add with those assignments (FAISS's add does the
    // same two steps per batch; the source is read twice, assigned once).
    std::vector<faiss::Index::idx_t> assign(static_cast<size_t>(count));
    for (int64_t begin = 0; begin < count; begin += batch) {
      FRB_RETURN_IF_ERROR(control.Check());
      const int64_t n = std::min(batch, count - begin);
      FRB_RETURN_IF_ERROR(source.Read(begin, n, buf.data()));
      source.Release(begin, n);
      FRB_RETURN_IF_ERROR(CallFaiss("assign", [&] {
        ivf->quantizer->assign(static_cast<faiss::Index::idx_t>(n), buf.data(),
                               assign.data() + begin);
      }, &control));
      control.SetWork(static_cast<double>(begin + n), static_cast<double>(count), "vectors");
    }
    std::vector<size_t> sizes(ivf->nlist, 0);
    for (faiss::Index::idx_t a : assign)
      if (a >= 0 && static_cast<size_t>(a) < sizes.size()) ++sizes[a];
    FRB_RETURN_IF_ERROR(CallFaiss("reserve inverted lists", [&] {
      for (size_t l = 0; l < sizes.size(); ++l) {
        lists->codes[l].reserve(sizes[l] * lists->code_size);
        lists->ids[l].reserve(sizes[l]);
      }
    }));
    for (int64_t begin = 0; begin < count; begin += batch) {
      FRB_RETURN_IF_ERROR(control.Check());
      const int64_t n = std::min(batch, count - begin);
      FRB_RETURN_IF_ERROR(source.Read(begin, n, buf.data()));
      source.Release(begin, n);
      FRB_RETURN_IF_ERROR(CallFaiss("add", [&] {
        ivf->add_core(static_cast<faiss::Index::idx_t>(n), buf.data(),
                      xids != nullptr ? xids + begin : nullptr, assign.data() + begin);
      }, &control));
    }
  } else {
    for (int64_t begin = 0; begin < count; begin += batch) {
      FRB_RETURN_IF_ERROR(control.Check());
      int64_t n = std::min(batch, count - begin);
      FRB_RETURN_IF_ERROR(source.Read(begin, n, buf.data()));
      source.Release(begin, n);
      FRB_RETURN_IF_ERROR(CallFaiss("add", [&] {
        if (xids != nullptr)
          index->add_with_ids(static_cast<faiss::Index::idx_t>(n), buf.data(), xids + begin);
        else
          index->add(static_cast<faiss::Index::idx_t>(n), buf.data());
      }, &control));
      control.SetWork(static_cast<double>(begin + n), static_cast<double>(count), "vectors");
    }
  }
  std::vector<float>().swap(buf);
  result.ntotal = index->ntotal;

  control.EnterStage(Stage::kWritingStaging);
  FRB_RETURN_IF_ERROR(control.Check());
  FRB_ASSIGN_OR_RETURN(result.file, WriteIndexFile(env_, *index, out_path));
  control.SetProgress(1);
  return result;
}

}  // namespace frb
