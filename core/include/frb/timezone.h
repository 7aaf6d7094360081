// IANA time zones from the system tz database (TZif files), evaluated by
// Google's cctz, because libstdc++ 12 has no std::chrono::tzdb and the
// scheduler must be correct across DST changes in any zone an index is
// configured with.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frb/status.h"

namespace frb {

// A wall-clock reading with no zone attached.
struct CivilTime {
  int year = 1970;
  int month = 1;  // 1-12
  int day = 1;    // 1-31
  int hour = 0;
  int minute = 0;
  int second = 0;
  friend bool operator==(const CivilTime&, const CivilTime&) = default;
};

// What a clock in some zone shows at one instant.
struct LocalTime {
  int year = 1970;
  int month = 1;
  int day = 1;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int weekday = 4;     // 0 = Sunday ... 6 = Saturday
  int utc_offset = 0;  // seconds east of UTC
  bool is_dst = false;
  CivilTime civil() const { return {year, month, day, hour, minute, second}; }
};

// A change of UTC offset: from `at` on, clocks read UTC + offset_after.
struct ZoneTransition {
  int64_t at = 0;
  int offset_before = 0;
  int offset_after = 0;
};

// Proleptic Gregorian calendar arithmetic (days counted from 1970-01-01).
bool IsLeapYear(int64_t year);
int DaysInMonth(int64_t year, int month);
int64_t DaysFromCivil(int64_t year, int month, int day);
void CivilFromDays(int64_t days, int64_t* year, int* month, int* day);
// 0 = Sunday.
int WeekdayFromDays(int64_t days);

// An immutable, cheaply copyable handle to one zone's rules. All methods are
// const and safe to call from any number of threads.
//
// Offsets are exact to the second (LMT offsets like -4:56:02 included).
// Instants are Unix seconds; leap seconds do not exist in this model.
class TimeZone {
 public:
  // UTC.
  TimeZone();

  // Loads `name` (e.g. "Europe/Berlin") from $TZDIR, or /usr/share/zoneinfo
  // when TZDIR is unset. Names must be relative paths of [A-Za-z0-9_+-/]
  // without "." or ".." components; anything else, a missing file or a
  // non-TZif file is "unknown timezone 'name'". "UTC", "Etc/UTC", "GMT" and
  // "Etc/GMT" are built in and need no file. Loaded zones are cached
  // process-wide (keyed by file path, so a changed TZDIR is honoured). A
  // TZif file cctz refuses (truncated, leap seconds, ...) is kCorruption.
  static Result<TimeZone> Load(std::string_view name);
  static TimeZone Utc();
  // Parses TZif data (RFC 8536, versions 1-4, with the POSIX TZ footer rule
  // for times past its table); `name` is only for display. Bad data is
  // kCorruption. Each distinct content stays loaded for the process's life
  // (cctz never unloads a zone).
  static Result<TimeZone> FromTzif(std::string name, std::string_view data);

  const std::string& name() const;

  // Seconds east of UTC in effect at `unix_seconds`.
  int UtcOffsetAt(int64_t unix_seconds) const;
  LocalTime ToLocal(int64_t unix_seconds) const;

  // Every instant whose local reading is `civil`, ascending: none when the
  // time falls in a spring-forward gap, two in a fall-back overlap. Also
  // none when `civil` is not a valid date and time (month 13, 25:00, ...).
  std::vector<int64_t> FromLocal(const CivilTime& civil) const;

  // The first offset change strictly after `after`, if any.
  std::optional<ZoneTransition> NextTransition(int64_t after) const;
  // The last offset change at or before `at_or_before`, if any.
  std::optional<ZoneTransition> PrevTransition(int64_t at_or_before) const;

  struct Impl;

 private:
  explicit TimeZone(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// "2026-03-08T03:00:00-04:00"; UTC gives "+00:00". Offsets with seconds
// (LMT) are rounded to the nearest minute (and kept within +-23:59) and the
// wall time printed with that offset, so the string still parses back to
// exactly `unix_seconds`.
std::string FormatIso8601(int64_t unix_seconds, const TimeZone& tz);

// Parses "YYYY-MM-DDTHH:MM[:SS[.fff]]" followed by "Z", "+hh:mm", "+hhmm",
// "+hh" (or '-'), or by nothing, in which case the time is read as local
// time in `local_zone`. A local time repeated by a fall-back change means its
// first occurrence; one skipped by a spring-forward change is an error.
// A space may replace 'T'; fractions of a second are truncated.
Result<int64_t> ParseIso8601(std::string_view text,
                             const TimeZone& local_zone = TimeZone());

}  // namespace frb
