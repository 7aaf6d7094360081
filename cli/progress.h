// The stage-by-stage progress display on a TTY, shared by local rebuilds
// (fed by JobControl's listener) and daemon rebuilds followed with --wait
// (fed by polling GET /api/v1/jobs/{id}).
#pragma once

#include <cstddef>

#include "frb/job_control.h"

namespace frb::cli {

// One line per stage on stderr, redrawn in place while the stage runs.
class ProgressPrinter {
 public:
  // Closes the lines of stages that ended and redraws the running one.
  void Update(const JobSnapshot& s);
  // Prints every stage not yet closed; the last one shows FAIL unless the
  // job is done.
  void Finish(const JobSnapshot& s);

 private:
  size_t printed_ = 0;
};

}  // namespace frb::cli
