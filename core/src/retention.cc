#include "frb/retention.h"

#include <algorithm>
#include <cstdio>
#include <set>

namespace frb {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string DayLabel(int64_t day) {
  int64_t y;
  int m, d;
  CivilFromDays(day, &y, &m, &d);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04lld-%02d-%02d", static_cast<long long>(y), m, d);
  return buf;
}

}  // namespace

int64_t LocalDayNumber(int64_t unix_s, const TimeZone& tz) {
  LocalTime lt = tz.ToLocal(unix_s);
  return DaysFromCivil(lt.year, lt.month, lt.day);
}

int64_t LocalWeekNumber(int64_t unix_s, const TimeZone& tz) {
  // Day 0 (1970-01-01) was a Thursday; shifting by 3 makes weeks start on Monday.
  return FloorDiv(LocalDayNumber(unix_s, tz) + 3, 7);
}

Result<std::vector<RetentionDecision>> DecideRetention(std::vector<RetentionItem> items,
                                                       const RetentionPolicy& p,
                                                       const TimeZone& tz) {
  if (p.keep_last < 0 || p.keep_daily < 0 || p.keep_weekly < 0)
    return InvalidArgument("retention policy: keep_last, keep_daily and keep_weekly must be >= 0");
  if (p.keep_last == 0 && p.keep_daily == 0 && p.keep_weekly == 0)
    return InvalidArgument(
        "retention policy keeps nothing (keep_last, keep_daily and keep_weekly are all 0); "
        "refusing to prune");
  std::sort(items.begin(), items.end(), [](const RetentionItem& a, const RetentionItem& b) {
    if (a.created_unix_s != b.created_unix_s) return a.created_unix_s > b.created_unix_s;
    return a.id > b.id;
  });
  std::vector<RetentionDecision> out;
  out.reserve(items.size());
  for (const auto& it : items) out.push_back({it.id, it.created_unix_s, false, {}});
  auto keep = [&](size_t i, std::string why) {
    out[i].keep = true;
    out[i].reasons.push_back(std::move(why));
  };

  // Newest first, so the first item seen in a day or week is its newest.
  std::set<int64_t> days, weeks;
  bool newest_verified_seen = false;
  for (size_t i = 0; i < items.size(); ++i) {
    const RetentionItem& it = items[i];
    if (static_cast<int>(i) < p.keep_last)
      keep(i, "last " + std::to_string(i + 1) + "/" + std::to_string(p.keep_last));
    int64_t day = LocalDayNumber(it.created_unix_s, tz);
    if (!days.count(day) && static_cast<int>(days.size()) < p.keep_daily) {
      days.insert(day);
      keep(i, "daily " + DayLabel(day));
    } else {
      days.insert(day);  // an older backup of a counted day, or beyond the count
    }
    int64_t week = LocalWeekNumber(it.created_unix_s, tz);
    if (!weeks.count(week) && static_cast<int>(weeks.size()) < p.keep_weekly) {
      weeks.insert(week);
      keep(i, "weekly (week of " + DayLabel(week * 7 - 3) + ")");
    } else {
      weeks.insert(week);
    }
    if (it.live) keep(i, "live version");
    if (it.rollback) keep(i, "rollback target");
    if (it.verified && !newest_verified_seen) {
      newest_verified_seen = true;
      keep(i, "newest verified backup");
    }
    if (!out[i].keep) {
      char why[160];
      std::snprintf(why, sizeof(why),
                    "not among keep_last=%d, keep_daily=%d, keep_weekly=%d", p.keep_last,
                    p.keep_daily, p.keep_weekly);
      out[i].reasons.push_back(why);
    }
  }
  return out;
}

}  // namespace frb
