// The stage-by-stage progress display on a TTY, shared by local rebuilds
// (fed by JobControl's listener) and daemon rebuilds followed with --wait
// (fed by polling GET /api/v1/jobs/{id}).
#pragma once

#include <cstddef>
#include <string>

#include "frb/job_control.h"

namespace frb::cli {

// The running stage as one line: name, bar, percent, pace and ETA, and the
// time in the stage, e.g.
//   "adding           [#########.....................]  31%  52.1k vectors/s  ETA 4.1s      1.9s"
std::string FormatProgressLine(const JobSnapshot& s);
// "52.1k vectors/s", "48.2 MB/s", "3.1 %/s"; "" when the rate is unknown.
std::string FormatRate(double rate, const std::string& unit);

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

struct GlobalOptions;

// A job run in this process (--local): SIGINT/SIGTERM cancel it
// cooperatively (so staging is cleaned), and on a TTY without --json its
// stages are drawn as they run. One at a time per process.
class LocalJob {
 public:
  LocalJob(const GlobalOptions& g, const std::string& title);
  ~LocalJob();
  LocalJob(const LocalJob&) = delete;
  LocalJob& operator=(const LocalJob&) = delete;
  JobControl& control() { return control_; }
  // Stops the display: closes every stage line (FAIL unless done).
  void Finish();

 private:
  JobControl control_;
  ProgressPrinter printer_;
  bool tty_ = false;
  bool finished_ = false;
};

}  // namespace frb::cli
