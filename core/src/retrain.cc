#include "frb/retrain.h"

#include <cstdio>

namespace frb {
namespace {

std::string Fmt(const char* fmt, double a, double b, double c = 0,
                double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), fmt, a, b, c, d);
  return buf;
}

}  // namespace

std::optional<std::string> AdviseRetrain(const RetrainPolicy& policy,
                                         double imbalance_factor,
                                         double empty_lists_ratio,
                                         uint64_t delta_rows_since_full,
                                         uint64_t ntotal) {
  std::string why;
  auto add = [&why](const std::string& reason) {
    why += (why.empty() ? "" : "; ") + reason;
  };
  if (policy.max_delta_fraction > 0 && delta_rows_since_full > 0) {
    // An empty index that received deltas is all delta: always due.
    double fraction = ntotal == 0 ? 1e300
                                  : static_cast<double>(delta_rows_since_full) /
                                        static_cast<double>(ntotal);
    if (fraction > policy.max_delta_fraction) {
      add(ntotal == 0 ? Fmt("%.0f delta rows since the last full build on an "
                            "empty index "
                            "(max_delta_fraction %.4g)",
                            static_cast<double>(delta_rows_since_full),
                            policy.max_delta_fraction)
                      : Fmt("%.0f delta rows since the last full build are "
                            "%.2f%% of %.0f vectors, "
                            "over max_delta_fraction %.2f%%",
                            static_cast<double>(delta_rows_since_full),
                            100 * fraction, static_cast<double>(ntotal),
                            100 * policy.max_delta_fraction));
    }
  }
  if (policy.max_imbalance_factor > 0 &&
      imbalance_factor > policy.max_imbalance_factor)
    add(Fmt("IVF imbalance factor %.3f is over max_imbalance_factor %.3f",
            imbalance_factor, policy.max_imbalance_factor));
  if (policy.max_empty_lists_ratio > 0 &&
      empty_lists_ratio > policy.max_empty_lists_ratio)
    add(Fmt(
        "%.2f%% of the IVF lists are empty, over max_empty_lists_ratio %.2f%%",
        100 * empty_lists_ratio, 100 * policy.max_empty_lists_ratio));
  if (why.empty()) return std::nullopt;
  return why;
}

}  // namespace frb
