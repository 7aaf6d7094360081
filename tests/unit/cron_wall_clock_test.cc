// CronExpr against wall clocks: DST gaps and overlaps, random expressions
// against brute force, garbage input, sparse schedules.
#include "frb/cron.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <set>
#include <string>
#include <vector>
#include "cron_test_util.h"

namespace frb {
namespace cron_test {
namespace {

TEST(CronTest, WallClockClassification) {
  EXPECT_TRUE(MustParse("0 * * * *").wall_clock());
  EXPECT_TRUE(MustParse("0 */2 * * *").wall_clock());
  EXPECT_TRUE(MustParse("0 0-23 * * *").wall_clock());
  EXPECT_TRUE(MustParse("@hourly").wall_clock());
  EXPECT_FALSE(MustParse("0 2 * * *").wall_clock());
  EXPECT_FALSE(MustParse("* 2 * * *").wall_clock());
  EXPECT_FALSE(MustParse("@daily").wall_clock());
  EXPECT_TRUE(MustParse("0 0 * * * *").has_seconds());
  EXPECT_FALSE(MustParse("0 0 * * *").has_seconds());
}

// An independent, minute-by-minute statement of the DST policy, used to
// check Next on random expressions around real transitions.
struct Spec {
  std::string text;
  std::set<int> min, hour, dom, dow;
  bool dom_star = true, dow_star = true, wall_clock = true;
};

bool Matches(const Spec& s, const LocalTime& lt) {
  if (!s.min.count(lt.minute) || !s.hour.count(lt.hour)) return false;
  bool dom = s.dom.count(lt.day) > 0, dow = s.dow.count(lt.weekday) > 0;
  return s.dom_star || s.dow_star ? dom && dow : dom || dow;
}

bool BruteFires(const Spec& s, const TimeZone& tz, int64_t t) {
  LocalTime lt = tz.ToLocal(t);
  if (s.wall_clock) return Matches(s, lt);
  if (Matches(s, lt)) {
    bool repeat = false;  // the zones used change by 30 or 60 minutes
    for (int64_t d : {1800, 3600}) repeat |= tz.ToLocal(t - d).civil() == lt.civil();
    if (!repeat) return true;
  }
  int before = tz.UtcOffsetAt(t - 1), after = tz.UtcOffsetAt(t);
  for (int64_t skipped = before; skipped < after; skipped += 60) {
    LocalTime g = TimeZone().ToLocal(t + skipped);  // wall time in the gap
    if (Matches(s, g)) return true;
  }
  return false;
}

std::string RandomList(std::mt19937& rng, int lo, int hi, std::set<int>* out,
                       const std::vector<int>& favourites) {
  int n = 1 + rng() % 3;
  std::string text;
  for (int i = 0; i < n; ++i) {
    int v = rng() % 2 ? favourites[rng() % favourites.size()]
                      : lo + int(rng() % (hi - lo + 1));
    out->insert(v);
    text += (text.empty() ? "" : ",") + std::to_string(v);
  }
  return text;
}

Spec RandomSpec(std::mt19937& rng) {
  Spec s;
  std::string min, hour, dom = "*", dow = "*";
  switch (rng() % 3) {
    case 0: {
      int step = std::vector<int>{5, 10, 15, 20, 30}[rng() % 5];
      min = "*/" + std::to_string(step);
      for (int m = 0; m < 60; m += step) s.min.insert(m);
      break;
    }
    case 1: min = "*"; for (int m = 0; m < 60; ++m) s.min.insert(m); break;
    default: min = RandomList(rng, 0, 59, &s.min, {0, 15, 30, 45}); break;
  }
  switch (rng() % 3) {
    case 0: hour = "*"; for (int h = 0; h < 24; ++h) s.hour.insert(h); break;
    case 1: hour = "*/2"; for (int h = 0; h < 24; h += 2) s.hour.insert(h); break;
    default:
      hour = RandomList(rng, 0, 23, &s.hour, {0, 1, 2, 3});
      s.wall_clock = false;
      break;
  }
  for (int d = 1; d <= 31; ++d) s.dom.insert(d);
  for (int d = 0; d < 7; ++d) s.dow.insert(d);
  if (rng() % 4 == 0) {
    s.dom.clear();
    dom = RandomList(rng, 1, 31, &s.dom, {4, 5, 25, 26});
    s.dom_star = false;
  }
  if (rng() % 4 == 0) {
    s.dow.clear();
    dow = RandomList(rng, 0, 6, &s.dow, {0, 6});
    s.dow_star = false;
  }
  s.text = min + " " + hour + " " + dom + " * " + dow;
  return s;
}

TEST(CronTest, RandomExpressionsMatchBruteForceAcrossDst) {
  const std::pair<const char*, const char*> transitions[] = {
      {"America/New_York", "2026-03-08T07:00:00Z"},
      {"America/New_York", "2026-11-01T06:00:00Z"},
      {"Europe/Berlin", "2026-03-29T01:00:00Z"},
      {"Europe/Berlin", "2026-10-25T01:00:00Z"},
      {"Australia/Adelaide", "2026-04-04T16:30:00Z"},
      {"Australia/Adelaide", "2026-10-03T16:30:00Z"},
      {"Australia/Lord_Howe", "2026-04-04T15:00:00Z"},
      {"Australia/Lord_Howe", "2026-10-03T15:30:00Z"},
  };
  std::mt19937 rng(2026);
  int compared = 0;
  for (const auto& [zone, when] : transitions) {
    TimeZone tz = Zone(zone);
    const int64_t at = *ParseIso8601(when);
    for (int i = 0; i < 60; ++i) {
      Spec spec = RandomSpec(rng);
      CronExpr cron = MustParse(spec.text);
      ASSERT_EQ(cron.wall_clock(), spec.wall_clock) << spec.text;
      int64_t after = at - 86400 + int64_t(rng() % (2 * 86400));
      if (rng() % 2) after -= after % 60;  // hit minute boundaries too
      int64_t t = after - after % 60 + 60;
      for (int k = 0; k < 6; ++k) {
        while (t < at + 3 * 86400 && !BruteFires(spec, tz, t)) t += 60;
        if (t >= at + 3 * 86400) break;
        Result<int64_t> got = cron.Next(after, tz);
        ASSERT_TRUE(got.ok()) << spec.text;
        ASSERT_EQ(FormatIso8601(*got, tz), FormatIso8601(t, tz))
            << "'" << spec.text << "' in " << zone << " after "
            << FormatIso8601(after, tz);
        ++compared;
        after = t;
        t += 60;
      }
    }
  }
  EXPECT_GT(compared, 1000);
}

TEST(CronTest, RandomGarbageNeverCrashes) {
  const std::string alphabet = "0123456789*/-,@ \tJANmonSUN?#LW.x";
  std::mt19937 rng(99);
  TimeZone ny = Zone("America/New_York");
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    for (int n = rng() % 24; n > 0; --n) text += alphabet[rng() % alphabet.size()];
    if (i % 3 == 0) text = "1 2 3 4 5 6" + text.substr(0, 3);  // near-valid
    Result<CronExpr> c = CronExpr::Parse(text);
    if (!c.ok()) continue;
    ++parsed;
    ASSERT_TRUE(c->Next(1767225600, ny).ok()) << text;
    ASSERT_TRUE(CronExpr::Parse(c->ToString()).ok()) << text << " -> " << c->ToString();
  }
  EXPECT_GT(parsed, 0);
}

TEST(CronTest, FastForSparseSchedules) {
  auto start = std::chrono::steady_clock::now();
  TimeZone ny = Zone("America/New_York");
  // 40 leap days span 160 years (2100 is not one); each must be found by
  // skipping, not by scanning minutes.
  std::vector<int64_t> leap = MustParse("0 0 29 2 *").NextN(1767225600, ny, 40);
  ASSERT_EQ(leap.size(), 40u);
  EXPECT_EQ(FormatIso8601(leap.back(), ny), "2188-02-29T00:00:00-05:00");
  std::vector<int64_t> minutes =
      MustParse("*/7 * * * *").NextN(1767225600, Zone("Australia/Lord_Howe"), 20000);
  EXPECT_EQ(minutes.size(), 20000u);
  for (size_t i = 1; i < minutes.size(); ++i) ASSERT_LT(minutes[i - 1], minutes[i]);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

}  // namespace
}  // namespace cron_test
}  // namespace frb
