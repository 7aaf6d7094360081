// frb::TimeZone on its files: footer rules, slim and v1 TZif files through
// TZDIR, hostile files, every system zone, concurrent loads; ISO 8601.
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
}  // namespace timezone_test
}  // namespace frb
