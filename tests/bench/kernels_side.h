// One side of bench_kernels: the same measurement code compiled into
// bench_kernels (the project's FAISS build, loaded by RUNPATH and hwcaps) and
// into bench_kernels_debian (Debian's static libfaiss alone), so the two
// differ only in the FAISS library they run. Includes FAISS; nothing of core.
#pragma once

#include <faiss/Index.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/utils.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace frb::bench {

struct SideResult {
  double train_s = 0;        // k-means (index->train) on the training rows, one thread: wall
  double train_cpu_s = 0;    //   and CPU time of the thread
  double search_ms = 0;      // per single query, best of the passes, one thread: wall
  double search_cpu_ms = 0;  //   and CPU time of the thread (robust on a busy machine)
  std::string compile;       // faiss::get_compile_options() of the loaded libfaiss
  std::vector<faiss::Index::idx_t> labels;  // nq x k of the last pass
};

// Reads `count` float32 rows of `d` from a raw file; empty on error.
inline std::vector<float> ReadRawF32(const std::string& path, int64_t count, int d) {
  std::vector<float> v(static_cast<size_t>(count) * d);
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  size_t got = std::fread(v.data(), sizeof(float), v.size(), f);
  std::fclose(f);
  if (got != v.size()) return {};
  return v;
}

inline double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Trains a fresh `factory` index on `train` (timed, for k-means), then
// searches `index_path` (read from disk, the same file on both sides) one
// query at a time with `nprobe`, `passes` times; all on one thread.
inline SideResult RunSide(const std::vector<float>& train, int64_t ntrain, int d,
                          const std::string& factory, const std::string& index_path,
                          const std::vector<float>& queries, int64_t nq, int k, int nprobe,
                          int passes) {
  SideResult r;
  r.compile = faiss::get_compile_options();
  // One thread throughout: the kernels' cost, not OpenMP's scaling (and
  // thread CPU time then covers all the work).
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  {
    std::unique_ptr<faiss::Index> fresh(faiss::index_factory(d, factory.c_str()));
    auto t0 = std::chrono::steady_clock::now();
    double c0 = ThreadCpuSeconds();
    fresh->train(ntrain, train.data());
    r.train_cpu_s = ThreadCpuSeconds() - c0;
    r.train_s = Seconds(t0);
  }
  std::unique_ptr<faiss::Index> index(faiss::read_index(index_path.c_str()));
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index.get())) ivf->nprobe = nprobe;
  std::vector<float> dist(k);
  r.labels.assign(static_cast<size_t>(nq) * k, -1);
  for (int64_t q = 0; q < std::min<int64_t>(nq, 100); ++q)  // warm-up: caches, page faults
    index->search(1, queries.data() + q * d, k, dist.data(), r.labels.data() + q * k);
  r.search_ms = r.search_cpu_ms = 1e300;
  for (int p = 0; p < passes; ++p) {
    auto t0 = std::chrono::steady_clock::now();
    double c0 = ThreadCpuSeconds();
    for (int64_t q = 0; q < nq; ++q)
      index->search(1, queries.data() + q * d, k, dist.data(), r.labels.data() + q * k);
    const double n = static_cast<double>(nq);
    r.search_cpu_ms = std::min(r.search_cpu_ms, (ThreadCpuSeconds() - c0) * 1e3 / n);
    r.search_ms = std::min(r.search_ms, Seconds(t0) * 1e3 / n);
  }
  omp_set_num_threads(threads);
  return r;
}

}  // namespace frb::bench
