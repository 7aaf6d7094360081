#include "frb/build_info.h"

#include <faiss/Index.h>

#ifndef FRB_VERSION
#define FRB_VERSION "unknown"
#endif
#ifndef FRB_GIT_DESCRIBE
#define FRB_GIT_DESCRIBE ""
#endif

namespace frb {

std::string ProgramVersion() {
  std::string v = FRB_VERSION;
  std::string git = FRB_GIT_DESCRIBE;
  if (!git.empty()) v += "+" + git;  // one token: also a metric label value
  return v;
}

std::string FaissVersion() {
  return std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "." +
         std::to_string(FAISS_VERSION_PATCH);
}

std::string FaissKernels() {
  // Debian's libfaiss is built for the baseline ISA (no -mavx2 and no
  // runtime dispatch in 1.7.3), so its distance kernels are the generic
  // ones.
  return "generic";
}

std::string VersionText(const std::string& program) {
  return program + " " + ProgramVersion() + "\nFAISS " + FaissVersion() +
         "\nFAISS kernels: " + FaissKernels();
}

}  // namespace frb
