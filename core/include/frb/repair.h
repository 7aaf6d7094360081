// Repair and quarantine. A corrupt version is never deleted and never
// backed up: it is moved to <index dir>/quarantine/<id> (with a
// quarantine.json saying why), where retention never looks. A corrupt live
// version is replaced by a NEW live version copied from the newest intact
// one (rollback target, else newest other version on disk, else newest
// verified backup); its manifest records `repaired_from` and
// `repair_reason`.
#pragma once

#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/job_control.h"
#include "frb/json.h"
#include "frb/status.h"
#include "frb/store.h"
#include "frb/verify.h"

namespace frb {

// <index dir>/quarantine.
std::string QuarantineDir(const VersionStore& store);
// Version ids in quarantine (oldest first); none when the directory is absent.
Result<std::vector<std::string>> ListQuarantined(Env* env, const VersionStore& store);

// Moves versions/<id> (not live) into quarantine with `reason`. When it was
// the rollback target, the pointer moves to the newest other version on disk
// that passes VerifyVersion (those that fail are quarantined too), or is
// removed when there is none. Lock held. Appends every id moved to `moved`.
Status QuarantineVersion(Env* env, VersionStore& store, const std::string& id,
                         const std::string& reason, std::vector<std::string>* moved);

struct RepairOutcome {
  bool live_corrupt = false;      // the verify found live corrupt
  bool repaired = false;          // a new live version was published
  std::string corrupt_live;
  std::string new_version;
  std::string repaired_from;      // the intact version copied
  std::string source;             // "disk" | "backup"
  std::vector<std::string> quarantined;
  std::string error;              // live corrupt and not repaired: why
  Json ToJson() const;
};

// Acts on `report` (a verify of `index` just done): quarantines every
// corrupt non-live version and, when live is corrupt, publishes the newest
// intact version as a new live version and quarantines the corrupt one.
// Takes the index lock (waits for it when `wait_for_lock`). A live version
// that cannot be repaired (no intact copy anywhere) is left live and the
// outcome says why; that is not an error.
Result<RepairOutcome> RepairIndex(Env* env, const Config& config, const IndexConfig& index,
                                  const IndexVerifyReport& report, const std::string& job_id,
                                  JobControl& control, bool wait_for_lock = false);

// For a rebuild or restore whose backup of the outgoing live `version`
// failed with `backup_error`: checks the version itself. Returns a warning
// when the version is corrupt (the caller then goes on without the backup
// and calls QuarantineOutgoing after its publish), or "" when the version
// is intact and the failure is the backup's own (the caller fails). Lock held.
Result<std::string> CheckOutgoingVersion(Env* env, const VersionStore& store,
                                         const std::string& version, const Status& backup_error,
                                         JobControl& control);
// After a publish replaced the corrupt `version`: quarantines it (see
// QuarantineVersion). Lock held.
Status QuarantineOutgoing(Env* env, VersionStore& store, const std::string& version,
                          const std::string& reason, std::vector<std::string>* moved);

// Makes the rollback target live after verifying every byte of it (the
// live one becomes the rollback target). kFailedPrecondition when there is
// none, kCorruption naming the file and check when it fails. Takes the lock.
// Returns the new live version id.
Result<std::string> RollbackIndex(Env* env, const Config& config, const IndexConfig& index,
                                  JobControl& control);

}  // namespace frb
