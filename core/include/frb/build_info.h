// What this build is, for --version, the start-up log line and the
// build-info gauges in /metrics.
#pragma once

#include <string>

namespace frb {

// The project version, with `git describe` when the build was configured in
// a git checkout: "0.1.0" or "0.1.0+9f2c1ab-dirty".
std::string ProgramVersion();
// The FAISS library this program is linked against: "1.7.3".
std::string FaissVersion();
// Which FAISS kernels the linked library runs: "generic" or "avx2". The one
// place that knows; a FAISS build with other kernels changes only this.
std::string FaissKernels();
// The --version text of `program`, three lines (no final newline):
//   faiss-rebuild 0.1.0+9f2c1ab
//   FAISS 1.7.3
//   FAISS kernels: generic
std::string VersionText(const std::string& program);

}  // namespace frb
