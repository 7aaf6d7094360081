#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cli.h"
#include "frb/env.h"

namespace frb::cli {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return kExitOk;
    case Code::kValidationFailed: return kExitValidationFailed;
    case Code::kBusy: return kExitBusy;
    case Code::kCancelled:
    case Code::kTimedOut: return kExitCancelled;
    default: return kExitError;
  }
}

int Fail(const Status& s) { return Fail(ExitCodeFor(s), s.message()); }

int Fail(int code, const std::string& message) {
  std::string one = message;
  for (char& c : one)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "faiss-rebuild: %s\n", one.c_str());
  return code;
}

Result<Config> LoadCliConfig(const GlobalOptions& g) {
  std::string path = g.config_path;
  ConfigOptions opts;
  if (path.empty()) {
    const char* env = std::getenv("FAISS_REBUILD_CONFIG");
    path = env ? env : "/etc/faiss-rebuild/config.yaml";
    opts.missing_hint = env ? "named by $FAISS_REBUILD_CONFIG; pass --config FILE or fix it"
                            : "the default path; pass --config FILE or set $FAISS_REBUILD_CONFIG";
  } else {
    opts.missing_hint = "named by --config";
  }
  opts.check_sources = false;  // a missing source fails its own job, not the CLI
  return LoadConfig(Env::Default(), path, opts);
}

void PrintJson(const Json& j) { std::printf("%s\n", j.Dump(2).c_str()); }

bool StderrIsTty() { return ::isatty(2) == 1; }

std::string HumanDuration(double s) {
  char buf[64];
  if (s < 60) std::snprintf(buf, sizeof(buf), "%.1fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof(buf), "%dm%02ds", int(s) / 60, int(s) % 60);
  else if (s < 86400) std::snprintf(buf, sizeof(buf), "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
  else std::snprintf(buf, sizeof(buf), "%dd%02dh", int(s) / 86400, int(s) % 86400 / 3600);
  return buf;
}

std::string HumanBytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace frb::cli
