// Shared helpers for unit and integration tests.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "frb/backup.h"
#include "frb/config.h"
#include "frb/rebuild.h"
#include "frb/env.h"
#include "synth.h"

namespace frb::test {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return JoinPath(path_, name); }

 private:
  std::string path_;
};

struct ProcessResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with the given arguments and extra "K=V" environment
// entries, capturing stdout and stderr; kills it after `timeout_s`.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {},
                         int timeout_s = 300);

// Starts argv[0] (a path) with stdin, stdout and stderr on /dev/null and
// returns its pid at once; the caller kills and reaps it (crash loops).
pid_t SpawnSilently(const std::vector<std::string>& argv);

// Iterations of a crash loop: $FRB_CRASH_ITERATIONS, else `default_n`.
int CrashIterations(int default_n);

// Version ids of the backups `store` lists, oldest first; a failed listing
// fails the test and gives none.
std::vector<std::string> BackupIds(const BackupStore& store);

// Path of a program built in this CMake tree (e.g. "cli/faiss-rebuild").
std::string BinPath(const std::string& rel);

// A config with one small index "t" over a fresh 20,000 x `dim` clustered
// source in `dir` (IVF64,Flat, nprobe 8, quick validation gates), so unit
// tests run real rebuilds in about a second.
Config SmallIndexConfig(const TempDir& dir, int dim);

// Inverts the byte in the middle of `path` (made writable first): the
// smallest damage a checksum must catch. A gtest failure when it cannot.
void FlipByte(const std::string& path);

// Options of a rebuild that builds even when live already has the same
// source and config (tests that rebuild one source several times).
inline RebuildOptions Forced() {
  RebuildOptions o;
  o.force = true;
  return o;
}

// The libfaiss.so this process loaded (the project's shared build, from
// glibc-hwcaps/x86-64-v3/ for the AVX2 one); empty when the build links
// Debian's static libfaiss.
std::string LoadedFaissPath();
// True when this build links the project's shared libfaiss (FRB_FAISS_ROOT).
inline bool SharedFaiss() { return !LoadedFaissPath().empty(); }

// Writes `text` to `path` (plain, for fixtures).
void WriteText(const std::string& path, const std::string& text);
std::string ReadText(const std::string& path);

}  // namespace frb::test
