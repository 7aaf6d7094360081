// frb::TimeZone over cctz: civil arithmetic, zone loading, offsets against
// zdump and glibc, transitions, gaps and overlaps.
#include "frb/timezone.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "testutil.h"
#include "timezone_test_util.h"

namespace frb {
namespace timezone_test {
namespace {

TEST(CivilTest, CalendarArithmetic) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
  EXPECT_EQ(DaysFromCivil(1, 1, 1), -719162);
  int64_t y;
  int m, d;
  CivilFromDays(DaysFromCivil(2028, 2, 29), &y, &m, &d);
  EXPECT_EQ(y * 10000 + m * 100 + d, 20280229);
  CivilFromDays(-719162, &y, &m, &d);
  EXPECT_EQ(y * 10000 + m * 100 + d, 10101);
  EXPECT_EQ(WeekdayFromDays(0), 4);   // 1970-01-01 was a Thursday
  EXPECT_EQ(WeekdayFromDays(-1), 3);
  EXPECT_EQ(WeekdayFromDays(-4), 0);
  EXPECT_EQ(WeekdayFromDays(-5), 6);
  EXPECT_EQ(WeekdayFromDays(DaysFromCivil(2026, 3, 8)), 0);
  EXPECT_TRUE(IsLeapYear(2000));
  EXPECT_FALSE(IsLeapYear(2100));
  EXPECT_EQ(DaysInMonth(2028, 2), 29);
  EXPECT_EQ(DaysInMonth(2026, 2), 28);
  EXPECT_EQ(DaysInMonth(2026, 13), 0);
}

TEST(TimeZoneTest, UtcIsBuiltIn) {
  test::TempDir empty;
  ScopedEnv env("TZDIR", empty.path());
  for (const char* name : {"UTC", "Etc/UTC", "GMT", "Etc/GMT"}) {
    Result<TimeZone> tz = TimeZone::Load(name);
    ASSERT_TRUE(tz.ok()) << name << ": " << tz.status().ToString();
    EXPECT_EQ(tz->name(), name);
    EXPECT_EQ(tz->UtcOffsetAt(Utc(2026, 7, 1)), 0);
    EXPECT_FALSE(tz->NextTransition(0).has_value());
  }
  EXPECT_FALSE(TimeZone::Load("America/New_York").ok());
  EXPECT_EQ(TimeZone().name(), "UTC");
  EXPECT_EQ(TimeZone::Utc().UtcOffsetAt(-1e10), 0);
}

TEST(TimeZoneTest, UnknownZoneIsAClearError) {
  Result<TimeZone> tz = TimeZone::Load("Mars/Olympus_Mons");
  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.status().code(), Code::kInvalidArgument);
  EXPECT_NE(tz.status().message().find("unknown timezone 'Mars/Olympus_Mons'"),
            std::string::npos)
      << tz.status().message();
  // A directory, and a text file that is not TZif.
  for (const char* name : {"America", "leapseconds"}) {
    Result<TimeZone> r = TimeZone::Load(name);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.status().message().find("unknown timezone"), std::string::npos)
        << r.status().message();
  }
}

TEST(TimeZoneTest, PathTraversalAndOddNamesAreRejected) {
  for (const char* name :
       {"", "/etc/localtime", "../../../../etc/passwd", "America/../UTC",
        "America//New_York", "America/New_York/", "./UTC", "America/.",
        "Amer ica/New_York", "America/New_York\n", "zone.tab", "UTC;rm",
        "America\\New_York", "%2e%2e/passwd", "..", "."}) {
    Result<TimeZone> tz = TimeZone::Load(name);
    ASSERT_FALSE(tz.ok()) << "'" << name << "'";
    EXPECT_EQ(tz.status().message(), "unknown timezone '" + std::string(name) + "'");
  }
  // Leap-second zones would be silently wrong by ~27 s.
  EXPECT_FALSE(TimeZone::Load("right/UTC").ok());
}

struct OffsetCase {
  const char* zone;
  int64_t t;
  int offset;
  bool dst;
};

TEST(TimeZoneTest, OffsetsMatchZdump) {
  // From `zdump -v -c 2026,2027 <zone>` and friends.
  const OffsetCase cases[] = {
      {"America/New_York", Utc(2026, 3, 8, 6, 59, 59), -18000, false},
      {"America/New_York", Utc(2026, 3, 8, 7), -14400, true},
      {"America/New_York", Utc(2026, 11, 1, 5, 59, 59), -14400, true},
      {"America/New_York", Utc(2026, 11, 1, 6), -18000, false},
      {"America/New_York", Utc(2040, 3, 11, 6, 59, 59), -18000, false},
      {"America/New_York", Utc(2040, 3, 11, 7), -14400, true},
      {"America/New_York", Utc(1883, 11, 18, 16, 59, 59), -17762, false},
      {"America/New_York", Utc(1883, 11, 18, 17), -18000, false},
      {"America/New_York", Utc(1700, 1, 1), -17762, false},
      {"Europe/Berlin", Utc(2026, 3, 29, 0, 59, 59), 3600, false},
      {"Europe/Berlin", Utc(2026, 3, 29, 1), 7200, true},
      {"Europe/Berlin", Utc(2026, 10, 25, 0, 59, 59), 7200, true},
      {"Europe/Berlin", Utc(2026, 10, 25, 1), 3600, false},
      {"Europe/Berlin", Utc(1945, 6, 1), 10800, true},  // double summer time
      {"Australia/Adelaide", Utc(2026, 4, 4, 16, 29, 59), 37800, true},
      {"Australia/Adelaide", Utc(2026, 4, 4, 16, 30), 34200, false},
      {"Australia/Adelaide", Utc(2026, 10, 3, 16, 29, 59), 34200, false},
      {"Australia/Adelaide", Utc(2026, 10, 3, 16, 30), 37800, true},
      {"Australia/Lord_Howe", Utc(2026, 4, 4, 14, 59, 59), 39600, true},
      {"Australia/Lord_Howe", Utc(2026, 4, 4, 15), 37800, false},
      {"Australia/Lord_Howe", Utc(2026, 10, 3, 15, 29, 59), 37800, false},
      {"Australia/Lord_Howe", Utc(2026, 10, 3, 15, 30), 39600, true},
      {"Asia/Kathmandu", Utc(2026, 1, 1), 20700, false},
      {"Asia/Kolkata", Utc(2026, 1, 1), 19800, false},
      {"Pacific/Chatham", Utc(2026, 1, 1), 49500, true},
      {"Europe/Dublin", Utc(2026, 1, 1), 0, true},  // IST is "standard" there
      {"Europe/Dublin", Utc(2026, 7, 1), 3600, false},
      {"Etc/GMT+5", Utc(2026, 7, 1), -18000, false},  // POSIX sign: west
      {"Asia/Tokyo", Utc(2026, 7, 1), 32400, false},
  };
  for (const OffsetCase& c : cases) {
    TimeZone tz = Zone(c.zone);
    EXPECT_EQ(tz.UtcOffsetAt(c.t), c.offset) << c.zone << " @" << c.t;
    EXPECT_EQ(tz.ToLocal(c.t).is_dst, c.dst) << c.zone << " @" << c.t;
  }
}

// glibc reads the same files with its own parser: agreement on offsets,
// DST flags and calendar fields over two centuries (past the end of the
// explicit tables, where the POSIX footer rules) is strong evidence.
TEST(TimeZoneTest, AgreesWithGlibcLocaltime) {
  const char* zones[] = {
      "America/New_York", "Europe/Berlin",    "Australia/Adelaide",
      "Australia/Lord_Howe", "Europe/Dublin", "America/Sao_Paulo",
      "Pacific/Apia",     "Asia/Kathmandu",   "Pacific/Chatham",
      "America/St_Johns", "Africa/Casablanca", "Asia/Tehran",
      "Antarctica/Troll", "America/Nuuk",     "Asia/Gaza",
      "Europe/Moscow",    "Pacific/Kiritimati", "America/Santiago",
  };
  std::mt19937_64 rng(42);
  for (const char* name : zones) {
    TimeZone tz = Zone(name);
    ScopedEnv env("TZ", name);
    auto check = [&](int64_t t) {
      time_t tt = static_cast<time_t>(t);
      std::tm tm{};
      ASSERT_NE(localtime_r(&tt, &tm), nullptr);
      LocalTime lt = tz.ToLocal(t);
      ASSERT_EQ(lt.utc_offset, tm.tm_gmtoff) << name << " @" << t;
      ASSERT_EQ(lt.is_dst, tm.tm_isdst > 0) << name << " @" << t;
      ASSERT_EQ(lt.year, tm.tm_year + 1900);
      ASSERT_EQ(lt.month, tm.tm_mon + 1);
      ASSERT_EQ(lt.day, tm.tm_mday);
      ASSERT_EQ(lt.hour, tm.tm_hour);
      ASSERT_EQ(lt.minute, tm.tm_min);
      ASSERT_EQ(lt.second, tm.tm_sec);
      ASSERT_EQ(lt.weekday, tm.tm_wday);
      // Every instant is one of the readings of its own local time.
      std::vector<int64_t> back = tz.FromLocal(lt.civil());
      ASSERT_NE(std::find(back.begin(), back.end(), t), back.end())
          << name << " @" << t;
    };
    const int64_t lo = Utc(1890, 1, 1), hi = Utc(2100, 1, 1);
    for (int i = 0; i < 3000; ++i) check(lo + int64_t(rng() % uint64_t(hi - lo)));
    // Both sides of every change, through the table and the footer.
    int transitions = 0;
    for (auto z = tz.NextTransition(lo); z && z->at < hi;
         z = tz.NextTransition(z->at)) {
      ++transitions;
      check(z->at - 1);
      check(z->at);
      ASSERT_EQ(tz.UtcOffsetAt(z->at - 1), z->offset_before) << name;
      ASSERT_EQ(tz.UtcOffsetAt(z->at), z->offset_after) << name;
      auto prev = tz.PrevTransition(z->at);
      ASSERT_TRUE(prev.has_value());
      ASSERT_EQ(prev->at, z->at);
      if (testing::Test::HasFatalFailure()) return;
    }
    EXPECT_GT(transitions, 0) << name;
  }
}

TEST(TimeZoneTest, TransitionsAroundNow) {
  TimeZone ny = Zone("America/New_York");
  auto next = ny.NextTransition(Utc(2026, 1, 1));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->at, Utc(2026, 3, 8, 7));
  EXPECT_EQ(next->offset_before, -18000);
  EXPECT_EQ(next->offset_after, -14400);
  EXPECT_EQ(ny.NextTransition(next->at)->at, Utc(2026, 11, 1, 6));
  EXPECT_EQ(ny.PrevTransition(next->at)->at, next->at);
  EXPECT_EQ(ny.PrevTransition(next->at - 1)->at, Utc(2025, 11, 2, 6));
  // Far beyond the table, the footer still produces changes.
  EXPECT_EQ(ny.NextTransition(Utc(2200, 1, 1))->at, Utc(2200, 3, 9, 7));
  EXPECT_FALSE(Zone("Asia/Kolkata").NextTransition(Utc(2026, 1, 1)).has_value());
  EXPECT_EQ(Zone("Asia/Kolkata").PrevTransition(Utc(2026, 1, 1))->offset_after,
            19800);
}

TEST(TimeZoneTest, FromLocalGapsAndOverlaps) {
  struct Case {
    const char* zone;
    CivilTime civil;
    std::vector<int64_t> want;
  };
  const Case cases[] = {
      {"America/New_York", {2026, 3, 8, 1, 59, 59}, {Utc(2026, 3, 8, 6, 59, 59)}},
      {"America/New_York", {2026, 3, 8, 2, 0, 0}, {}},
      {"America/New_York", {2026, 3, 8, 2, 30, 0}, {}},
      {"America/New_York", {2026, 3, 8, 3, 0, 0}, {Utc(2026, 3, 8, 7)}},
      {"America/New_York",
       {2026, 11, 1, 1, 30, 0},
       {Utc(2026, 11, 1, 5, 30), Utc(2026, 11, 1, 6, 30)}},
      {"America/New_York", {2026, 11, 1, 2, 0, 0}, {Utc(2026, 11, 1, 7)}},
      {"Europe/Berlin", {2026, 3, 29, 2, 30, 0}, {}},
      {"Europe/Berlin",
       {2026, 10, 25, 2, 30, 0},
       {Utc(2026, 10, 25, 0, 30), Utc(2026, 10, 25, 1, 30)}},
      {"Australia/Adelaide", {2026, 10, 4, 2, 30, 0}, {}},
      {"Australia/Adelaide",
       {2026, 4, 5, 2, 30, 0},
       {Utc(2026, 4, 4, 16), Utc(2026, 4, 4, 17)}},
      {"Australia/Lord_Howe", {2026, 10, 4, 2, 15, 0}, {}},
      {"Australia/Lord_Howe", {2026, 10, 4, 2, 30, 0}, {Utc(2026, 10, 3, 15, 30)}},
      {"Australia/Lord_Howe",
       {2026, 4, 5, 1, 45, 0},
       {Utc(2026, 4, 4, 14, 45), Utc(2026, 4, 4, 15, 15)}},
      // Samoa skipped the whole of 2011-12-30.
      {"Pacific/Apia", {2011, 12, 30, 12, 0, 0}, {}},
      {"UTC", {2026, 2, 29, 0, 0, 0}, {}},  // not a date
      {"UTC", {2026, 1, 1, 24, 0, 0}, {}},
      {"UTC", {2028, 2, 29, 0, 0, 0}, {Utc(2028, 2, 29)}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Zone(c.zone).FromLocal(c.civil), c.want)
        << c.zone << " " << c.civil.year << "-" << c.civil.month << "-"
        << c.civil.day << " " << c.civil.hour << ":" << c.civil.minute;
  }
}

// The footer rule is cctz's to evaluate; these pin that it is applied, for
// northern and southern rules, odd offsets and transition times.

}  // namespace
}  // namespace timezone_test
}  // namespace frb
