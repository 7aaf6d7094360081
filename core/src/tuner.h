// Search-parameter tuning, run by the validator for an index whose nprobe or
// efSearch is `auto`: recall@k against the exact neighbours the validator
// already has, at a ladder of values, smallest first.
#pragma once

#include <faiss/Index.h>

#include <cstdint>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/job_control.h"
#include "frb/manifest.h"
#include "frb/status.h"

namespace frb {

// The values tried for `param`, smallest first: nprobe 1, 2, 4, ... up to
// min(max, nlist); efSearch 16, 32, 64, ... up to max. Empty when none fits.
std::vector<int> TuneLadder(const std::string& param, int max, int64_t nlist);

// Mean per-query recall@k of `ids` (nq rows of k) against `truth` (nq rows
// of `truth_stride` >= k exact neighbours, best first; -1 = none). A query
// whose truth is empty counts as 0.
double RecallAtK(const int64_t* ids, int nq, int k, const int64_t* truth, int truth_stride);

// Stateless; Tune may run concurrently on different indexes.
class SearchTuner {
 public:
  explicit SearchTuner(const TuneConfig& cfg) : cfg_(cfg) {}

  // Sets cfg.param on `index` to each ladder value in turn, measuring
  // recall@k of the nq queries `q` against `truth` and single-query latency
  // on the first `latency_queries` of them, and stops at the first value
  // whose recall (95% Wilson lower bound, or the estimate) meets the
  // target: the cheapest. Returns with the index set to that value, or to
  // the largest tried when none meets it (report.chosen unset). Errors: the
  // parameter does not apply to the index, FAISS failures, cancel/timeout.
  Result<TuneReport> Tune(faiss::Index& index, const float* q, int nq, int k,
                          int latency_queries, const std::vector<int64_t>& truth,
                          int truth_stride, JobControl& control) const;

 private:
  const TuneConfig& cfg_;
};

}  // namespace frb
