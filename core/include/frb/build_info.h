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
// Which FAISS kernels the libfaiss loaded in this process runs: "avx2" (the
// glibc-hwcaps/x86-64-v3 build, picked by the loader on a CPU with AVX2) or
// "generic" (baseline x86-64: that build masked or absent, or Debian's static
// libfaiss). The one place that knows.
std::string FaissKernels();
// The --version text of `program`, three lines (no final newline):
//   faiss-rebuild 0.1.0+9f2c1ab
//   FAISS 1.7.3
//   FAISS kernels: generic
std::string VersionText(const std::string& program);

}  // namespace frb
