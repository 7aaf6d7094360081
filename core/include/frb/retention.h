// Backup retention as a pure function: given the backups of one index with
// their timestamps and flags and a policy, decide which to keep and why.
// No I/O, so it can be property-tested over random histories and zones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frb/status.h"
#include "frb/timezone.h"

namespace frb {

struct RetentionPolicy {
  int keep_last = 0;    // the newest N backups
  int keep_daily = 0;   // the newest backup of each of the newest N local days
  int keep_weekly = 0;  // the newest backup of each of the newest N local weeks (Mon-Sun)
};

struct RetentionItem {
  std::string id;          // version id of the backed-up version
  int64_t created_unix_s = 0;
  bool live = false;       // backup of the live version
  bool rollback = false;   // backup of the rollback target
  bool verified = false;   // the last verify of this backup succeeded
};

struct RetentionDecision {
  std::string id;
  int64_t created_unix_s = 0;
  bool keep = false;
  // Every rule that keeps it ("last 1/7", "daily 2026-11-21", "live version",
  // ...), or the one reason it goes.
  std::vector<std::string> reasons;
};

// Decisions for `items` (any order), newest first; ties on time are broken
// by id so the result is deterministic. Days and weeks are those of `tz`.
// Pinned regardless of the policy (docs/architecture.md): the live version, the
// rollback target and the newest verified backup. kInvalidArgument when every
// count is zero (an empty policy would delete everything unpinned) or any is
// negative.
// Thread safety: pure function, safe from any thread.
Result<std::vector<RetentionDecision>> DecideRetention(std::vector<RetentionItem> items,
                                                       const RetentionPolicy& policy,
                                                       const TimeZone& tz);

// Local calendar day (days since 1970-01-01 in `tz`) and Monday-based week
// number of an instant; exposed for tests.
int64_t LocalDayNumber(int64_t unix_s, const TimeZone& tz);
int64_t LocalWeekNumber(int64_t unix_s, const TimeZone& tz);

}  // namespace frb
