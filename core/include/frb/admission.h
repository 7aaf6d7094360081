// Admission of a build before it trains: will the index fit on the disk and
// the build in memory? Estimates come from the factory string, the vector
// count and the dimension alone, so a build that cannot finish fails in
// seconds instead of after hours of training.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/status.h"

namespace frb {

struct BuildEstimate {
  uint64_t index_bytes = 0;        // the index file, upper bound
  uint64_t peak_memory_bytes = 0;  // builder + validator, upper bound
  bool trains = true;              // some component needs training
  // Why the figure is a rough bound: the factory component not modelled
  // (then flat storage with headroom is assumed); empty when modelled.
  std::string unmodelled;
};

// Flat codes n*d*4; IVF adds nlist*d*4 centroids and 8 bytes of id per
// vector; PQm[xb] m*b/8 bytes per vector plus the codebooks; SQ by bits;
// HNSWm adds ~2m links of 4 bytes per vector; transforms a d*d' matrix;
// 10% + 1 MiB headroom. Memory: max(training: 4.5x the sample (k-means),
// adding: 1.7x the index (lists grow by doubling) plus one add batch) +
// 64 MiB for FAISS's search tiles during validation. Pure function.
BuildEstimate EstimateBuild(const IndexConfig& index, int64_t count, int dim);

// Supplies the bytes of memory the build may use (AvailableMemoryBytes).
using AvailableMemoryFn = std::function<Result<uint64_t>()>;

// kNoSpace naming `staging_dir` and both numbers when its filesystem has
// less free space than the estimated index; kFailedPrecondition naming both
// numbers (and the config key that turns the check off) when the estimated
// peak memory exceeds what `available` reports, if index.memory_admission.
// An unreadable memory figure is not a refusal.
Status AdmitBuild(Env* env, const IndexConfig& index, const BuildEstimate& estimate,
                  const std::string& staging_dir, const AvailableMemoryFn& available);

}  // namespace frb
