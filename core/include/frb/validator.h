// Validator: the gate before publish. A failed gate is a normal outcome
// (report.passed == false), not an error; errors are I/O, cancel, timeout.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/index_file.h"
#include "frb/job_control.h"
#include "frb/manifest.h"
#include "frb/source.h"
#include "frb/status.h"

namespace frb {

struct LiveVersionInfo {
  Manifest manifest;
  std::string index_path;  // used only for the recall-vs-live gate
};

// Stateless; Validate may run concurrently for different jobs.
class Validator {
 public:
  explicit Validator(Env* env) : env_(env) {}

  // Re-reads the staged file (checksum first), checks structure against
  // `cfg` and `source`, measures recall@k vs exact search on sampled queries
  // and single-query latency at cfg.search, and compares with `live`. With
  // `ids` (one per source row) the index's labels are those ids, else row
  // numbers.
  Result<ValidationReport> Validate(const IndexConfig& cfg,
                                    const VectorSource& source,
                                    const std::string& staged_path,
                                    const FileDigest& expected,
                                    const std::optional<LiveVersionInfo>& live,
                                    JobControl& control,
                                    const std::vector<int64_t>* ids = nullptr);

 private:
  Env* env_;
};

// 95% Wilson score interval for a proportion `p` observed over `n` trials.
void WilsonInterval(double p, double n, double* low, double* high);

}  // namespace frb
