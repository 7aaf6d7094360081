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

namespace frb {
namespace {

using namespace std::string_literals;

// timegm is glibc's, so expectations do not depend on the code under test.
int64_t Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return timegm(&tm);
}

TimeZone Zone(const std::string& name) {
  Result<TimeZone> tz = TimeZone::Load(name);
  EXPECT_TRUE(tz.ok()) << tz.status().ToString();
  return tz.ok() ? *tz : TimeZone();
}

// Sets an environment variable for one scope; tzset() keeps glibc in sync.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) old_ = old;
    had_ = old != nullptr;
    setenv(name, value.c_str(), 1);
    tzset();
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
    tzset();
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

void Put32(std::string* s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s->push_back(char(v >> shift));
}
void Put64(std::string* s, int64_t v) {
  Put32(s, static_cast<uint32_t>(static_cast<uint64_t>(v) >> 32));
  Put32(s, static_cast<uint32_t>(v));
}

struct TestType {
  int32_t offset;
  bool dst;
  uint8_t abbr_index = 0;  // byte offset into the abbreviation string
};

// A TZif file as zic writes it: version '\0' is v1 only; for '2'+ the v1
// block is a stub ("slim") and the real data is in the 64-bit block.
std::string BuildTzif(char version, const std::vector<int64_t>& times,
                      const std::vector<uint8_t>& idx,
                      const std::vector<TestType>& types,
                      const std::string& footer, const std::string& abbr = "ABC") {
  // `abbr` may hold several NUL-separated abbreviations.
  const uint32_t charcnt = static_cast<uint32_t>(abbr.size() + 1);
  auto header = [&](std::string* s, uint32_t timecnt, uint32_t typecnt) {
    *s += "TZif";
    s->push_back(version);
    s->append(15, '\0');
    for (uint32_t c : {0u, 0u, 0u, timecnt, typecnt, charcnt}) Put32(s, c);
  };
  auto body = [&](std::string* s, bool wide) {
    for (int64_t t : times) wide ? Put64(s, t) : Put32(s, uint32_t(t));
    for (uint8_t i : idx) s->push_back(char(i));
    for (const TestType& t : types) {
      Put32(s, uint32_t(t.offset));
      s->push_back(t.dst ? 1 : 0);
      s->push_back(static_cast<char>(t.abbr_index));
    }
    s->append(abbr.data(), abbr.size());
    s->push_back('\0');
  };
  std::string out;
  if (version == '\0') {
    header(&out, times.size(), types.size());
    body(&out, false);
    return out;
  }
  header(&out, 0, 1);
  Put32(&out, 0);
  out.append(2, '\0');
  out.append(abbr.data(), abbr.size());
  out.push_back('\0');
  header(&out, times.size(), types.size());
  body(&out, true);
  return out + "\n" + footer + "\n";
}

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

// A TZif file whose table ends around 2020 with a change to DST and one back
// to standard time (`times`, default: any two in 2020), and whose POSIX TZ
// footer rule covers the rest.
Result<TimeZone> FooterZone(const std::string& rule, TestType std_type,
                            const std::string& std_abbr, int32_t dst_offset = 0,
                            const std::string& dst_abbr = "",
                            std::vector<int64_t> times = {Utc(2020, 6, 1), Utc(2020, 12, 1)}) {
  if (dst_abbr.empty())
    return TimeZone::FromTzif(rule, BuildTzif('2', {Utc(2020, 1, 1)}, {0}, {std_type}, rule,
                                              std_abbr));
  const TestType dst{dst_offset, true, static_cast<uint8_t>(std_abbr.size() + 1)};
  return TimeZone::FromTzif(rule, BuildTzif('2', times, {1, 0}, {std_type, dst}, rule,
                                            std_abbr + '\0' + dst_abbr));
}

// The footer rule is cctz's to evaluate; these pin that it is applied, for
// northern and southern rules, odd offsets and transition times.
TEST(TimeZoneTest, FooterRules) {
  struct Case {
    const char* rule;
    TestType type;
    const char* abbr;
    int32_t dst_offset;
    const char* dst_abbr;
    const char* zone;  // must agree with this zone in 2026-2030
  };
  const Case cases[] = {
      {"CST6CDT,M3.2.0,M11.1.0", {-21600, false}, "CST", -18000, "CDT", "America/Chicago"},
      {"ACST-9:30ACDT,M10.1.0,M4.1.0/3", {34200, false}, "ACST", 37800, "ACDT",
       "Australia/Adelaide"},
      {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", {37800, false}, "+1030", 39600, "+11",
       "Australia/Lord_Howe"},
      {"IST-1GMT0,M10.5.0,M3.5.0/1", {3600, false}, "IST", 0, "GMT", "Europe/Dublin"},
      {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", {-7200, false}, "-02", -3600, "-01", "America/Nuuk"},
      {"NZST-12NZDT,M9.5.0,M4.1.0/3", {43200, false}, "NZST", 46800, "NZDT",
       "Pacific/Auckland"},
  };
  for (const Case& c : cases) {
    TimeZone zone = Zone(c.zone);
    // The table: the zone's last change back to standard time before 2025,
    // and the change to DST before it.
    auto back = zone.PrevTransition(Utc(2025, 1, 1));
    while (back && back->offset_after != c.type.offset) back = zone.PrevTransition(back->at - 1);
    ASSERT_TRUE(back.has_value()) << c.zone;
    auto to_dst = zone.PrevTransition(back->at - 1);
    ASSERT_TRUE(to_dst.has_value()) << c.zone;
    Result<TimeZone> rule = FooterZone(c.rule, c.type, c.abbr, c.dst_offset, c.dst_abbr,
                                       {to_dst->at, back->at});
    ASSERT_TRUE(rule.ok()) << c.rule << ": " << rule.status().ToString();
    int64_t lo = Utc(2026, 1, 1), hi = Utc(2030, 1, 1);
    for (int64_t t = lo; t < hi; t += 1800) {
      ASSERT_EQ(rule->UtcOffsetAt(t), zone.UtcOffsetAt(t)) << c.rule << " @" << t;
    }
  }
  // Permanent DST: the change back happens as the year's DST starts again.
  Result<TimeZone> always =
      FooterZone("EST5EDT,0/0,J365/25", {-18000, false}, "EST", -14400, "EDT");
  ASSERT_TRUE(always.ok()) << always.status().ToString();
  for (int64_t t : {Utc(2026, 1, 1, 5), Utc(2026, 7, 1), Utc(2026, 12, 31, 23)}) {
    EXPECT_EQ(always->UtcOffsetAt(t), -14400) << t;
  }
  EXPECT_FALSE(always->NextTransition(Utc(2026, 1, 1)).has_value());
  // Unparsable footers, one at odds with the table, and a footer a table
  // too short for cctz 2.3 to extend ("slim" files): cctz would go on with
  // wrong offsets, so the zone is refused.
  for (const char* bad : {"EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0,M11.1.0junk", "<+05"}) {
    EXPECT_EQ(FooterZone(bad, {-18000, false}, "EST", -14400, "EDT").status().code(),
              Code::kCorruption)
        << bad;
  }
  Result<TimeZone> slim = TimeZone::FromTzif(
      "slim", BuildTzif('2', {}, {}, {{-21600, false}}, "CST6CDT,M3.2.0,M11.1.0", "CST"));
  EXPECT_EQ(slim.status().code(), Code::kCorruption);
  EXPECT_NE(slim.status().message().find("Too few transitions"), std::string::npos)
      << slim.status().message();
  EXPECT_EQ(FooterZone("EST5", {-14400, false}, "EST").status().code(), Code::kCorruption);
  EXPECT_TRUE(FooterZone("EST5", {-18000, false}, "EST").ok());
}

TEST(TimeZoneTest, SlimAndV1FilesViaTzdir) {
  test::TempDir dir;
  Env* env = Env::Default();
  ASSERT_TRUE(env->CreateDirs(dir.Sub("Test")).ok());
  // Slim v2: no transitions at all, everything would come from the footer.
  test::WriteText(dir.Sub("Test/Slim"),
                  BuildTzif('2', {}, {}, {{-21600, false}}, "CST6CDT,M3.2.0,M11.1.0"));
  // v1 only: one transition, no footer.
  test::WriteText(dir.Sub("Test/V1"),
                  BuildTzif('\0', {1000000000}, {1}, {{3600, false}, {7200, true}}, ""));
  // v3 with an out-of-range type index.
  test::WriteText(dir.Sub("Test/Bad"),
                  BuildTzif('3', {1000000000}, {5}, {{3600, false}}, ""));
  test::WriteText(dir.Sub("Test/Short"), BuildTzif('2', {}, {}, {{0, false}}, "UTC0")
                                             .substr(0, 60));
  ScopedEnv tzdir("TZDIR", dir.path());
  // cctz 2.3 cannot extend a slim file's table by its footer: refused, not
  // silently without DST (Debian's tzdata is "fat").
  EXPECT_EQ(TimeZone::Load("Test/Slim").status().code(), Code::kCorruption);
  Result<TimeZone> v1 = TimeZone::Load("Test/V1");
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(v1->UtcOffsetAt(999999999), 3600);
  EXPECT_EQ(v1->UtcOffsetAt(1000000000), 7200);
  EXPECT_EQ(v1->UtcOffsetAt(Utc(2100, 1, 1)), 7200);
  EXPECT_EQ(TimeZone::Load("Test/Bad").status().code(), Code::kCorruption);
  // Whatever odd data cctz accepts (offsets of almost a day, a footer at
  // odds with the last transition, transitions near the end of time), the
  // zone answers consistently and its ISO-8601 strings parse back: a type of
  // +23:59:59 once printed as "+24:00", which nothing reads (fuzz finding).
  const std::string footer = "ICTM3YYzT-5:30,J1,0";
  const std::string odd[] = {
      BuildTzif('\0', {0}, {1}, {{0, false}, {86399, false}}, ""),
      BuildTzif('\0', {0}, {1}, {{0, false}, {-86399, false}}, ""),
      BuildTzif('\0', {0}, {1}, {{0, false}, {86370, false}}, ""),
      BuildTzif('2', {0}, {1}, {{0, false}, {19800, false}}, footer),
      BuildTzif('2', {0}, {1}, {{0, false}, {3600, false}}, footer),
      BuildTzif('2', {int64_t{1} << 62}, {1}, {{0, false}, {-10800, false}}, footer),
      BuildTzif('2', {-(int64_t{1} << 59), 0}, {1, 1}, {{0, false}, {-10800, false}}, footer),
  };
  for (const std::string& data : odd) {
    Result<TimeZone> tz = TimeZone::FromTzif("x", data);
    if (!tz.ok()) {
      EXPECT_EQ(tz.status().code(), Code::kCorruption);
      continue;
    }
    for (int64_t t : {int64_t{-100000}, int64_t{-1}, int64_t{0}, int64_t{18000},
                      int64_t{1'790'000'000}}) {
      const std::vector<int64_t> back = tz->FromLocal(tz->ToLocal(t).civil());
      EXPECT_NE(std::find(back.begin(), back.end(), t), back.end()) << t;
      const std::string iso = FormatIso8601(t, *tz);
      Result<int64_t> parsed = ParseIso8601(iso, *tz);
      ASSERT_TRUE(parsed.ok()) << iso << ": " << parsed.status().ToString();
      EXPECT_EQ(*parsed, t) << iso;
    }
  }
  EXPECT_EQ(TimeZone::Load("Test/Short").status().code(), Code::kCorruption);
  // The real database is not consulted while TZDIR points elsewhere.
  EXPECT_FALSE(TimeZone::Load("Europe/Berlin").ok());
}

TEST(TimeZoneTest, HeaderDeclaringMoreThanTheFileHoldsIsRefusedCheaply) {
  // 2^31 transitions declared, none there: cctz alone would allocate ~20 GB.
  std::string data = BuildTzif('\0', {}, {}, {{0, false}}, "");
  for (int i = 0; i < 4; ++i) data[32 + i] = i == 0 ? '\x7f' : '\xff';
  Result<TimeZone> tz = TimeZone::FromTzif("x", data);
  EXPECT_EQ(tz.status().code(), Code::kCorruption);
  EXPECT_NE(tz.status().message().find("declare more data"), std::string::npos)
      << tz.status().message();
}

TEST(TimeZoneTest, MutatedTzifNeverCrashes) {
  std::string good = test::ReadText("/usr/share/zoneinfo/Australia/Lord_Howe");
  ASSERT_TRUE(TimeZone::FromTzif("x", good).ok());
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    std::string bad = good;
    for (int n = 1 + rng() % 4; n > 0; --n) bad[rng() % bad.size()] = char(rng());
    if (i % 4 == 0) bad.resize(rng() % bad.size());
    Result<TimeZone> tz = TimeZone::FromTzif("x", bad);
    if (!tz.ok()) continue;
    for (int64_t t : {int64_t{-5'000'000'000}, int64_t{0}, int64_t{1'790'000'000},
                      int64_t{5'000'000'000}}) {
      (void)tz->ToLocal(t);
      (void)tz->FromLocal({2026, 4, 5, 1, 45, 0});
      (void)tz->NextTransition(t);
      (void)tz->PrevTransition(t);
    }
  }
}

// Refusing zones whose footer cctz cannot apply must not refuse real ones.
TEST(TimeZoneTest, EverySystemZoneLoads) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::recursive_directory_iterator("/usr/share/zoneinfo")) {
    if (!e.is_regular_file() || e.is_symlink()) continue;
    std::string rel = e.path().lexically_relative("/usr/share/zoneinfo").string();
    if (rel.starts_with("right/") || test::ReadText(e.path().string()).compare(0, 4, "TZif") != 0)
      continue;
    names.push_back(rel);
  }
  ASSERT_GT(names.size(), 300u);
  for (const std::string& name : names) {
    Result<TimeZone> tz = TimeZone::Load(name);
    EXPECT_TRUE(tz.ok()) << name << ": " << tz.status().ToString();
  }
}

TEST(TimeZoneTest, ConcurrentLoadsShareOneZone) {
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([i, &bad] {
      for (int k = 0; k < 200; ++k) {
        Result<TimeZone> tz = TimeZone::Load(k % 2 ? "Europe/Berlin" : "Asia/Tokyo");
        if (!tz.ok() || tz->UtcOffsetAt(Utc(2026, 1, 1)) != (k % 2 ? 3600 : 32400)) {
          ++bad[i];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

TEST(Iso8601Test, Format) {
  EXPECT_EQ(FormatIso8601(Utc(2026, 3, 8, 7), Zone("America/New_York")),
            "2026-03-08T03:00:00-04:00");
  EXPECT_EQ(FormatIso8601(Utc(2026, 3, 8, 6, 59, 59), Zone("America/New_York")),
            "2026-03-08T01:59:59-05:00");
  EXPECT_EQ(FormatIso8601(Utc(2026, 1, 2, 3, 4, 5), TimeZone()),
            "2026-01-02T03:04:05+00:00");
  EXPECT_EQ(FormatIso8601(Utc(2026, 10, 3, 16, 30), Zone("Australia/Adelaide")),
            "2026-10-04T03:00:00+10:30");
  EXPECT_EQ(FormatIso8601(Utc(2026, 1, 1), Zone("Asia/Kathmandu")),
            "2026-01-01T05:45:00+05:45");
  EXPECT_EQ(FormatIso8601(-1, TimeZone()), "1969-12-31T23:59:59+00:00");
  // LMT -4:56:02 prints as -04:56 with the wall time to match, so the text
  // still denotes the same instant.
  int64_t lmt = Utc(1800, 1, 1);
  std::string s = FormatIso8601(lmt, Zone("America/New_York"));
  EXPECT_EQ(s, "1799-12-31T19:04:00-04:56");
  EXPECT_EQ(*ParseIso8601(s), lmt);
}

TEST(Iso8601Test, Parse) {
  struct Case {
    const char* text;
    int64_t want;
  };
  const Case cases[] = {
      {"2026-03-08T01:59:00Z", Utc(2026, 3, 8, 1, 59)},
      {"2026-03-08t01:59:00z", Utc(2026, 3, 8, 1, 59)},
      {"2026-03-08 01:59Z", Utc(2026, 3, 8, 1, 59)},
      {"2026-03-08T03:00:00-04:00", Utc(2026, 3, 8, 7)},
      {"2026-03-08T03:00:00-0400", Utc(2026, 3, 8, 7)},
      {"2026-03-08T03:00:00-04", Utc(2026, 3, 8, 7)},
      {"2026-10-04T03:00:00+10:30", Utc(2026, 10, 3, 16, 30)},
      {"2026-01-01T00:00:00.999+00:00", Utc(2026, 1, 1)},
      {"2028-02-29T12:00:00", Utc(2028, 2, 29, 12)},  // no offset: UTC
      {"1969-12-31T23:59:59Z", -1},
  };
  for (const Case& c : cases) {
    Result<int64_t> t = ParseIso8601(c.text);
    ASSERT_TRUE(t.ok()) << c.text << ": " << t.status().ToString();
    EXPECT_EQ(*t, c.want) << c.text;
  }
  for (const char* bad :
       {"", "2026", "2026-03-08", "2026-03-08T", "2026-3-8T01:00Z",
        "2026-13-01T00:00Z", "2026-02-29T00:00Z", "2026-03-08T24:00Z",
        "2026-03-08T01:60Z", "2026-03-08T01:00:60Z", "2026-03-08T01:00+24:00",
        "2026-03-08T01:00+05:60", "2026-03-08T01:00Zjunk", "2026-03-08T01:00+5",
        "2026-03-08T01:00:00.Z", "2026-03-08X01:00Z", " 2026-03-08T01:00Z",
        "2026-03-08T01:00 +01:00"}) {
    Result<int64_t> t = ParseIso8601(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
      EXPECT_NE(t.status().message().find(bad), std::string::npos);
    }
  }
}

TEST(Iso8601Test, LocalTimesUseTheGivenZone) {
  TimeZone ny = Zone("America/New_York");
  EXPECT_EQ(*ParseIso8601("2026-03-08T01:59:00", ny), Utc(2026, 3, 8, 6, 59));
  EXPECT_EQ(*ParseIso8601("2026-03-08T03:00:00", ny), Utc(2026, 3, 8, 7));
  // Repeated hour: the first (EDT) reading.
  EXPECT_EQ(*ParseIso8601("2026-11-01T01:30:00", ny), Utc(2026, 11, 1, 5, 30));
  // An explicit offset wins over the zone.
  EXPECT_EQ(*ParseIso8601("2026-11-01T01:30:00-05:00", ny), Utc(2026, 11, 1, 6, 30));
  Result<int64_t> gap = ParseIso8601("2026-03-08T02:30:00", ny);
  ASSERT_FALSE(gap.ok());
  EXPECT_NE(gap.status().message().find("does not exist in America/New_York"),
            std::string::npos)
      << gap.status().message();
  EXPECT_EQ(*ParseIso8601("2026-10-04T02:30", Zone("Australia/Lord_Howe")),
            Utc(2026, 10, 3, 15, 30));
}

TEST(Iso8601Test, RoundTripsInManyZones) {
  std::mt19937_64 rng(7);
  for (const char* name : {"UTC", "America/New_York", "Australia/Lord_Howe",
                           "Asia/Kathmandu", "Europe/Dublin", "Pacific/Apia"}) {
    TimeZone tz = Zone(name);
    for (int i = 0; i < 2000; ++i) {
      int64_t t = Utc(1900, 1, 1) + int64_t(rng() % 6'300'000'000ULL);
      std::string s = FormatIso8601(t, tz);
      Result<int64_t> back = ParseIso8601(s);
      ASSERT_TRUE(back.ok()) << s;
      ASSERT_EQ(*back, t) << name << " " << s;
    }
  }
}

}  // namespace
}  // namespace frb
