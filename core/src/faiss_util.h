// Private helpers for calling FAISS from the core: exceptions become Status.
#pragma once

#include <faiss/Index.h>
#include <faiss/MetricType.h>
#include <omp.h>

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "frb/config.h"
#include "frb/job_control.h"
#include "frb/status.h"

namespace frb {

inline faiss::MetricType ToFaissMetric(Metric m) {
  return m == Metric::kIP ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2;
}

// First line of a FAISS error, without the "Error in ... at file:line" noise.
std::string FaissMessage(const std::exception& e);

// Longest factory string accepted; real ones ("OPQ64_256,IVF65536_HNSW32,
// PQ64x4fsr,RFlat") are well under 100 characters.
inline constexpr size_t kMaxFactoryLength = 256;

// "" when `factory` is safe to hand to faiss::index_factory, else why not.
// FAISS parses it with std::regex, whose matcher recurses once per
// character: a long string overflows the stack (SIGSEGV) instead of
// failing. So: bounded length, only the characters factory strings use
// (letters, digits and ",_()+."), and balanced parentheses nested at most
// kMaxFactoryNesting deep. Whether FAISS accepts it is a separate question.
std::string FactoryStringProblem(std::string_view factory);
inline constexpr int kMaxFactoryNesting = 4;

// Runs `fn`, turning exceptions into Status. When `control` says the job was
// cancelled or timed out, that reason wins over FAISS's "interrupted" error.
template <typename Fn>
Status CallFaiss(const std::string& what, Fn&& fn, const JobControl* control = nullptr) {
  try {
    fn();
    return Status::Ok();
  } catch (const std::bad_alloc&) {
    return Internal("FAISS " + what + ": out of memory");
  } catch (const std::exception& e) {
    if (control != nullptr && !control->Check().ok()) return control->Check();
    return Internal("FAISS " + what + ": " + FaissMessage(e));
  }
}

// Trains the coarse quantizer of an IVF `index` with k-means one iteration
// per Clustering::train call, each from the previous call's centroids (the
// same iterations, sample, seed and splits as FAISS's single call of
// cp.niter), reporting "iterations" to `control` after each; a following
// index.train(n, x) then trains only the rest (FAISS skips a trained
// quantizer holding nlist centroids). No-op for other indexes and for IVF
// with a clustering index, a self-training quantizer or n <= nlist.
// Throws what FAISS throws. Defined in builder.cc.
void TrainIvfQuantizerStepwise(faiss::Index& index, int64_t n, const float* x,
                               JobControl& control);

// Sets the calling thread's OpenMP thread count for its lifetime (0 = leave).
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int n) : previous_(omp_get_max_threads()) {
    if (n > 0) omp_set_num_threads(n);
  }
  ~ScopedOmpThreads() { omp_set_num_threads(previous_); }

 private:
  int previous_;
};

}  // namespace frb
