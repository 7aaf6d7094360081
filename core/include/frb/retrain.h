// Retrain advice: whether an IVF index updated by deltas should get a full
// rebuild (new coarse centroids) now. Deltas add vectors to the lists their
// nearest centroid owns, so lists grow unevenly as the data drifts, and some
// empty out; only retraining the quantizer restores the balance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace frb {

// `retrain:` under defaults or an index. 0 switches a trigger off.
struct RetrainPolicy {
  // Delta rows (upserts + deletes) since the last full build / ntotal.
  double max_delta_fraction = 0;
  // nlist * sum(list_size^2) / ntotal^2 (1 = perfectly even lists).
  double max_imbalance_factor = 0;
  // Empty lists / nlist.
  double max_empty_lists_ratio = 0;
};

// The reason a full rebuild is due under `policy` (every trigger exceeded,
// "; "-joined, naming the measured value and the limit), or nullopt when none
// is. A trigger fires when its value is strictly over the limit; health
// figures of 0 (not an IVF index) never fire. Pure; thread-safe.
std::optional<std::string> AdviseRetrain(const RetrainPolicy& policy,
                                         double imbalance_factor,
                                         double empty_lists_ratio,
                                         uint64_t delta_rows_since_full,
                                         uint64_t ntotal);

}  // namespace frb
