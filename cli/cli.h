// Shared pieces of the faiss-rebuild CLI.
#pragma once

#include <optional>
#include <string>

#include "frb/config.h"
#include "frb/json.h"
#include "frb/status.h"

namespace frb {
struct JobOutcome;
}

namespace frb::cli {

// Exit codes (documented in docs/cli.md).
enum Exit : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitValidationFailed = 3,
  kExitBusy = 4,
  kExitCancelled = 5,
  kExitNotReady = 6,
  kExitCorrupt = 7,  // verify / backup verify found corruption; rollback target corrupt
};

struct GlobalOptions {
  std::string config_path;
  bool json = false;
  bool local = false;
  std::string daemon_url;
};

// Maps a status to an exit code.
int ExitCodeFor(const Status& s);
// Prints "faiss-rebuild: <message>" on one line to stderr; returns the code.
int Fail(const Status& s);
int Fail(int code, const std::string& message);

// Loads the config named by the global options (default path, or
// $FAISS_REBUILD_CONFIG).
Result<Config> LoadCliConfig(const GlobalOptions& g);

void PrintJson(const Json& j);
bool StderrIsTty();
// "3m12s", "2h05m", "1d04h".
std::string HumanDuration(double seconds);
std::string HumanBytes(uint64_t bytes);

// Commands.
// The input files of `apply`.
struct DeltaFiles {
  std::string upserts;  // float32 .npy (count, dim)
  std::string ids;      // int64 .npy, one per upsert
  std::string deletes;  // int64 .npy
};
// cmd_delta.cc: logs the delta, then applies it (`apply --local`).
int CmdApplyLocal(const GlobalOptions& g, const std::string& name, const DeltaFiles& files);
// cmd_remote.cc: POST /api/v1/indexes/NAME/deltas (the daemon logs the
// files, then queues the job); with `wait` follows it like `rebuild --wait`.
int CmdApplyRemote(const GlobalOptions& g, const std::string& name, const DeltaFiles& files,
                   bool wait);
int CmdConfigValidate(const GlobalOptions& g, const std::string& file);
int CmdConfigGenerate();
int CmdRebuildLocal(const GlobalOptions& g, const std::string& name, bool force);
int CmdStatusLocal(const GlobalOptions& g, const std::string& name);
// The end of a rebuild, local or followed through the daemon: on success the
// published version (unless --json), else the failed gates and a one-line
// reason; returns the exit code for the outcome.
int ReportOutcome(const GlobalOptions& g, const JobOutcome& out);
// Human `status` lines for an array of index objects (local or daemon JSON).
void PrintStatusText(const Json& indexes);
// cmd_remote.cc: through the daemon's HTTP API (the default without --local).
int CmdStatusRemote(const GlobalOptions& g, const std::string& name);
int CmdRebuildRemote(const GlobalOptions& g, const std::string& name, bool wait, bool force);
int CmdJobsRemote(const GlobalOptions& g);
int CmdJobShowRemote(const GlobalOptions& g, const std::string& id);
int CmdCancelRemote(const GlobalOptions& g, const std::string& id);
int CmdHealthRemote(const GlobalOptions& g);
// Backups and restores as daemon jobs (queued behind its other jobs on the
// index), followed to the end like `rebuild --wait`.
int CmdBackupListRemote(const GlobalOptions& g, const std::string& name);
int CmdBackupCreateRemote(const GlobalOptions& g, const std::string& name);
int CmdRestoreRemote(const GlobalOptions& g, const std::string& name, const std::string& version);
// cmd_backup.cc (local on the data dir).
int CmdBackupList(const GlobalOptions& g, const std::string& name);
// The backups table (or the JSON array with --json), local or from the API.
int PrintBackupList(const GlobalOptions& g, const Json& backups);
int CmdBackupCreate(const GlobalOptions& g, const std::string& name);
// Empty `version`: every backup of the index.
int CmdBackupVerify(const GlobalOptions& g, const std::string& name, const std::string& version);
int CmdBackupPrune(const GlobalOptions& g, const std::string& name, bool dry_run);
int CmdRestore(const GlobalOptions& g, const std::string& name, const std::string& version);
// Versions on disk and in backups (location disk / backup / disk+backup).
int CmdVersionsAll(const GlobalOptions& g, const std::string& name);
int CmdDisk(const GlobalOptions& g);
// cmd_verify.cc: verify every on-disk version and backup of NAME (all
// indexes when empty), exit 7 on any corruption; with `repair`, quarantine
// corrupt versions and re-publish an intact one over a corrupt live one.
int CmdVerify(const GlobalOptions& g, const std::string& name, bool repair);
// The verify reports (JSON array of IndexVerifyReport, each maybe with
// "repair"), as text or --json; exit 7 when any is not ok.
int PrintVerifyReports(const GlobalOptions& g, const Json& reports);
// Makes the rollback target live after verifying it.
int CmdRollback(const GlobalOptions& g, const std::string& name);
// cmd_remote.cc: the same as daemon jobs ("verify" always repairs when
// scrub.repair is on).
int CmdVerifyRemote(const GlobalOptions& g, const std::string& name);
int CmdRollbackRemote(const GlobalOptions& g, const std::string& name);
// cmd_repo.cc: the object-storage repository (config `repository:`).
int CmdRepoLs(const GlobalOptions& g, const std::string& name);
// Empty `version`: every version in the repository; exit 7 on corruption.
int CmdRepoVerify(const GlobalOptions& g, const std::string& name, const std::string& version);
// Empty `version`: the pointer's live version.
int CmdRepoPull(const GlobalOptions& g, const std::string& name, const std::string& version,
                const std::string& dir);
// Prints the next `count` fire times of `expr` after `from` (ISO 8601; now
// when empty), one ISO 8601 timestamp with offset per line.
int CmdScheduleNext(const GlobalOptions& g, const std::string& expr, const std::string& zone,
                    const std::string& from, int count);

}  // namespace frb::cli
