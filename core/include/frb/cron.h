// Cron expressions and their fire times in an IANA time zone.
//
// Syntax: 5 fields "min hour dom mon dow" or 6 fields "sec min hour dom mon
// dow". Each field is '*' or a comma list of N, A-B, */S, A-B/S and N/S
// (= N-max/S). Months take JAN-DEC, weekdays SUN-SAT (case-insensitive);
// weekday 7 is Sunday like 0, and a range may end in SUN ("FRI-SUN").
// Macros: @yearly @annually @monthly @weekly @daily @midnight @hourly.
// Day rule (Vixie cron): when both day-of-month and day-of-week are
// restricted (neither field starts with '*'), a day matching either fires;
// otherwise both must match. "0 0 1 * MON" = the 1st and every Monday;
// "0 0 */2 * MON" = odd days that are Mondays.
//
// DST policy. Jobs are either wall-clock or fixed-hour:
//  * Wall-clock jobs -- the hour field starts with '*' ("*", "*/2") or lists
//    all 24 hours -- fire at every instant whose local time matches. A local
//    time skipped by a spring-forward change never happens, so it does not
//    fire; a local time repeated by a fall-back change happens twice, so it
//    fires twice ("30 * * * *" runs at 01:30 EDT and again at 01:30 EST).
//    This is what Vixie cron and cronie do for their "wildcard" jobs.
//  * Fixed-hour jobs (any other hour field, e.g. "30 2 * * *") must neither
//    lose nor repeat a run. Matching local times inside a spring-forward gap
//    fire once, at the first instant after the jump ("30 2 * * *" fires at
//    03:00 on the day 02:00 jumps to 03:00, however many of its times fell
//    in the gap). Matching times in a fall-back overlap fire only in their
//    first occurrence. Vixie cron and cronie treat jobs with a fixed minute
//    and hour this way too. Two deliberate differences: they count a job
//    with a wildcard minute ("*/5 1 * * *") as wildcard, while here the hour
//    decides, so the repeated hour does not run it twice; and they run each
//    skipped fixed time at the jump, while here they coalesce into one run.
// Fire times are always strictly increasing instants; a gap run at 03:00
// and a regular 03:00 run are the same fire.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frb/status.h"
#include "frb/timezone.h"

namespace frb {

// An immutable parsed expression; safe to share between threads.
class CronExpr {
 public:
  // Errors name the expression, the field and the bad token, e.g.
  // "cron '0 25 * * *': hour field: 25 is out of range 0-23". Expressions
  // whose day fields can never match ("0 0 30 2 *") are rejected here with
  // "never fires" rather than at 2 a.m. years later.
  static Result<CronExpr> Parse(std::string_view expr);

  // The first fire time strictly after `after_unix` under the DST policy
  // above. Fails only when nothing fires within kSearchYears, or when
  // `after_unix` is outside years 1..9999.
  Result<int64_t> Next(int64_t after_unix, const TimeZone& tz) const;
  // Up to `n` successive fire times after `after_unix` (fewer only when Next
  // fails).
  std::vector<int64_t> NextN(int64_t after_unix, const TimeZone& tz,
                             size_t n) const;

  // Normalized form: macros expanded, names as numbers, Sunday as 0, sorted
  // and merged lists, e.g. "@daily" -> "0 0 * * *", "0 9 * * fri,mon-thu" ->
  // "0 9 * * 1-5". 6-field expressions keep their seconds field.
  std::string ToString() const;
  // The text given to Parse.
  const std::string& source() const { return source_; }
  bool has_seconds() const { return has_seconds_; }
  bool wall_clock() const { return wall_clock_; }

  // Leap days can be 8 years apart and a weekday-restricted one ~40 years;
  // Parse already rejects expressions that can never match.
  static constexpr int kSearchYears = 100;

 private:
  CronExpr() = default;
  friend class CronParser;

  // First local second >= from (seconds since 1970-01-01T00:00 local) whose
  // fields match, ignoring zones; nullopt if none <= limit.
  std::optional<int64_t> NextLocalMatch(int64_t from, int64_t limit) const;
  bool DayMatches(int64_t days, int day_of_month) const;
  std::optional<int> NextSecondOfDay(int from) const;

  std::string source_;
  uint64_t seconds_ = 1;  // bit i = second i
  uint64_t minutes_ = 0;
  uint32_t hours_ = 0;
  uint32_t days_ = 0;    // bits 1-31
  uint16_t months_ = 0;  // bits 1-12
  uint8_t weekdays_ = 0;  // bits 0-6, 0 = Sunday
  bool dom_star_ = false;
  bool dow_star_ = false;
  bool has_seconds_ = false;
  bool wall_clock_ = false;
  std::string hour_text_, dom_text_, dow_text_;  // for ToString
};

}  // namespace frb
