#include "frb/build_info.h"

#include <faiss/Index.h>
#include <faiss/utils/utils.h>

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
  // Asked of the libfaiss actually loaded, not of the one linked: with the
  // project's build the loader picks glibc-hwcaps/x86-64-v3/libfaiss.so
  // (compiled with -mavx2) on a CPU with AVX2 and lib/libfaiss.so otherwise,
  // and each reports the -m flags it was compiled with. Debian's static
  // libfaiss is a baseline build: "GENERIC".
  static const std::string kernels =
      faiss::get_compile_options().find("AVX2") != std::string::npos ? "avx2" : "generic";
  return kernels;
}

std::string VersionText(const std::string& program) {
  return program + " " + ProgramVersion() + "\nFAISS " + FaissVersion() +
         "\nFAISS kernels: " + FaissKernels();
}

}  // namespace frb
