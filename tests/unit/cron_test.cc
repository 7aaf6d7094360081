#include "frb/cron.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace frb {
namespace {

TimeZone Zone(const std::string& name) {
  Result<TimeZone> tz = TimeZone::Load(name);
  EXPECT_TRUE(tz.ok()) << tz.status().ToString();
  return tz.ok() ? *tz : TimeZone();
}

CronExpr MustParse(const std::string& expr) {
  Result<CronExpr> c = CronExpr::Parse(expr);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : *CronExpr::Parse("* * * * *");
}

struct NextCase {
  const char* expr;
  const char* zone;
  const char* after;  // ISO 8601 with offset
  std::vector<const char*> want;  // successive fire times, in `zone`
};

// Expectations worked out by hand against `cal` and `zdump -v -c 2026,2027`.
// Transitions in 2026 (local wall clock):
//   New York  Mar  8 02:00 EST -> 03:00 EDT   Nov  1 02:00 EDT -> 01:00 EST
//   Berlin    Mar 29 02:00 CET -> 03:00 CEST  Oct 25 03:00 CEST -> 02:00 CET
//   Adelaide  Apr  5 03:00 ACDT -> 02:00 ACST Oct  4 02:00 ACST -> 03:00 ACDT
//   Lord Howe Apr  5 02:00 +11 -> 01:30 +1030 Oct  4 02:00 +1030 -> 02:30 +11
// 2026-01-01 is a Thursday.
const NextCase kCases[] = {
    // --- plain calendar, UTC ---
    {"* * * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T00:01:00+00:00", "2026-01-01T00:02:00+00:00"}},
    {"* * * * *", "UTC", "2026-01-01T00:00:59Z", {"2026-01-01T00:01:00+00:00"}},
    {"*/15 * * * *", "UTC", "2026-01-01T00:07:30Z",
     {"2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00",
      "2026-01-01T00:45:00+00:00", "2026-01-01T01:00:00+00:00"}},
    {"5-30/5 * * * *", "UTC", "2026-01-01T00:31:00Z",
     {"2026-01-01T01:05:00+00:00", "2026-01-01T01:10:00+00:00"}},
    {"7/10 * * * *", "UTC", "2026-01-01T00:50:00Z",
     {"2026-01-01T00:57:00+00:00", "2026-01-01T01:07:00+00:00"}},
    {"0 9,17 * * *", "UTC", "2026-01-01T10:00:00Z",
     {"2026-01-01T17:00:00+00:00", "2026-01-02T09:00:00+00:00"}},
    {"0 0 * JAN,jul *", "UTC", "2026-01-31T12:00:00Z",
     {"2026-07-01T00:00:00+00:00", "2026-07-02T00:00:00+00:00"}},
    {"0 9 * * MON-FRI", "UTC", "2026-01-02T09:00:00Z",
     {"2026-01-05T09:00:00+00:00", "2026-01-06T09:00:00+00:00"}},
    {"0 9 * * fri-sun", "UTC", "2026-01-01T10:00:00Z",
     {"2026-01-02T09:00:00+00:00", "2026-01-03T09:00:00+00:00",
      "2026-01-04T09:00:00+00:00", "2026-01-09T09:00:00+00:00"}},
    {"0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00+00:00"}},
    {"0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z",
     {"2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"}},
    {"0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", {"2104-02-29T00:00:00+00:00"}},
    // Feb 29 that is also a Sunday (day-of-week starts with '*': AND).
    {"0 0 29 2 */7", "UTC", "2060-03-01T00:00:00Z",
     {"2088-02-29T00:00:00+00:00", "2128-02-29T00:00:00+00:00"}},
    {"0 0 31 * *", "UTC", "2026-01-31T00:00:00Z",
     {"2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00",
      "2026-07-31T00:00:00+00:00", "2026-08-31T00:00:00+00:00"}},
    // Both day fields restricted: the 1st OR any Monday.
    {"0 0 1 * MON", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-05T00:00:00+00:00", "2026-01-12T00:00:00+00:00",
      "2026-01-19T00:00:00+00:00", "2026-01-26T00:00:00+00:00",
      "2026-02-01T00:00:00+00:00", "2026-02-02T00:00:00+00:00"}},
    // Day-of-month starts with '*': odd days that are also Mondays.
    {"0 0 */2 * MON", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-05T00:00:00+00:00", "2026-01-19T00:00:00+00:00",
      "2026-02-09T00:00:00+00:00"}},
    {"59 23 31 12 *", "UTC", "2026-01-01T00:00:00Z", {"2026-12-31T23:59:00+00:00"}},
    {"0 0 1 1 *", "UTC", "2026-12-31T23:59:59Z", {"2027-01-01T00:00:00+00:00"}},
    // 6 fields: seconds first.
    {"30 15 10 * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T10:15:30+00:00", "2026-01-02T10:15:30+00:00"}},
    {"*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z",
     {"2026-01-01T00:00:20+00:00", "2026-01-01T00:00:40+00:00",
      "2026-01-01T00:01:00+00:00"}},
    {"0 0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", {"2028-02-29T00:00:00+00:00"}},
    // Macros.
    {"@hourly", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T01:00:00+00:00"}},
    {"@daily", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00+00:00"}},
    {"@midnight", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00+00:00"}},
    {"@weekly", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00+00:00"}},
    {"@monthly", "UTC", "2026-01-01T00:00:00Z", {"2026-02-01T00:00:00+00:00"}},
    {"@yearly", "UTC", "2026-01-01T00:00:00Z", {"2027-01-01T00:00:00+00:00"}},
    {"@ANNUALLY", "UTC", "2026-01-01T00:00:00Z", {"2027-01-01T00:00:00+00:00"}},

    // --- New York, spring forward ---
    {"30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00",
     {"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
    {"0 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00",
     {"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"}},
    // Many matches inside the gap still give one run.
    {"*/10 2 * * *", "America/New_York", "2026-03-08T00:00:00-05:00",
     {"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"}},
    {"30 2,3 * * *", "America/New_York", "2026-03-08T00:00:00-05:00",
     {"2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00",
      "2026-03-09T02:30:00-04:00"}},
    // A gap run and a regular 03:00 run are the same instant.
    {"0 2,3 * * *", "America/New_York", "2026-03-08T00:00:00-05:00",
     {"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"}},
    {"0 30 2 * * *", "America/New_York", "2026-03-08T01:59:59-05:00",
     {"2026-03-08T03:00:00-04:00"}},
    // After the jump the gap run is in the past.
    {"30 2 * * *", "America/New_York", "2026-03-08T03:00:00-04:00",
     {"2026-03-09T02:30:00-04:00"}},
    // Wall-clock jobs skip local times that do not exist.
    {"30 * * * *", "America/New_York", "2026-03-08T00:45:00-05:00",
     {"2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00",
      "2026-03-08T04:30:00-04:00"}},
    {"0 */2 * * *", "America/New_York", "2026-03-08T00:00:00-05:00",
     {"2026-03-08T04:00:00-04:00"}},
    {"* * * * *", "America/New_York", "2026-03-08T01:59:00-05:00",
     {"2026-03-08T03:00:00-04:00", "2026-03-08T03:01:00-04:00"}},

    // --- New York, fall back ---
    {"30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00",
     {"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
    {"*/20 1 * * *", "America/New_York", "2026-11-01T00:00:00-04:00",
     {"2026-11-01T01:00:00-04:00", "2026-11-01T01:20:00-04:00",
      "2026-11-01T01:40:00-04:00", "2026-11-02T01:00:00-05:00"}},
    {"45 1 * * *", "America/New_York", "2026-11-01T01:50:00-04:00",
     {"2026-11-02T01:45:00-05:00"}},
    {"45 1 * * *", "America/New_York", "2026-11-01T01:10:00-05:00",
     {"2026-11-02T01:45:00-05:00"}},
    {"0 2 * * *", "America/New_York", "2026-11-01T00:00:00-04:00",
     {"2026-11-01T02:00:00-05:00"}},
    // Wall-clock jobs run in both passes of the repeated hour.
    {"30 * * * *", "America/New_York", "2026-11-01T00:45:00-04:00",
     {"2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00",
      "2026-11-01T02:30:00-05:00"}},
    {"15 * * * *", "America/New_York", "2026-11-01T01:20:00-05:00",
     {"2026-11-01T02:15:00-05:00"}},
    {"0 0-23 * * *", "America/New_York", "2026-11-01T00:30:00-04:00",
     {"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00",
      "2026-11-01T02:00:00-05:00"}},

    // --- Berlin ---
    {"30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
     {"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"}},
    {"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00",
     {"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"}},
    {"0,30 * * * *", "Europe/Berlin", "2026-10-25T01:50:00+02:00",
     {"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
      "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00",
      "2026-10-25T03:00:00+01:00"}},
    {"0 9 * * SUN", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
     {"2026-03-29T09:00:00+02:00", "2026-04-05T09:00:00+02:00"}},
    {"0 0 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
     {"2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}},

    // --- Adelaide (+9:30 / +10:30) ---
    {"30 2 * * *", "Australia/Adelaide", "2026-04-04T12:00:00+10:30",
     {"2026-04-05T02:30:00+10:30", "2026-04-06T02:30:00+09:30"}},
    {"30 2 * * *", "Australia/Adelaide", "2026-10-03T12:00:00+09:30",
     {"2026-10-04T03:00:00+10:30", "2026-10-05T02:30:00+10:30"}},
    {"0 * * * *", "Australia/Adelaide", "2026-04-05T01:30:00+10:30",
     {"2026-04-05T02:00:00+10:30", "2026-04-05T02:00:00+09:30",
      "2026-04-05T03:00:00+09:30"}},
    {"15 * * * *", "Australia/Adelaide", "2026-10-04T01:00:00+09:30",
     {"2026-10-04T01:15:00+09:30", "2026-10-04T03:15:00+10:30"}},

    // --- Lord Howe (+10:30 / +11: a 30-minute change) ---
    {"45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00+11:00",
     {"2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"}},
    {"15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30",
     {"2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"}},
    {"0 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30",
     {"2026-10-04T02:30:00+11:00", "2026-10-05T02:00:00+11:00"}},
    {"*/15 * * * *", "Australia/Lord_Howe", "2026-04-05T01:20:00+11:00",
     {"2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00",
      "2026-04-05T01:30:00+10:30", "2026-04-05T01:45:00+10:30",
      "2026-04-05T02:00:00+10:30"}},
    {"*/15 * * * *", "Australia/Lord_Howe", "2026-10-04T01:50:00+10:30",
     {"2026-10-04T02:30:00+11:00", "2026-10-04T02:45:00+11:00"}},

    // --- Santiago changes at midnight: Sep 6 00:00 -04 -> 01:00 -03 and
    // Apr 4 24:00 -03 -> 23:00 -04 (a repeated 23:00 hour on Saturday) ---
    {"@daily", "America/Santiago", "2026-09-05T12:00:00-04:00",
     {"2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00"}},
    {"0 0 * * SUN", "America/Santiago", "2026-09-05T12:00:00-04:00",
     {"2026-09-06T01:00:00-03:00", "2026-09-13T00:00:00-03:00"}},
    {"30 23 * * *", "America/Santiago", "2026-04-04T12:00:00-03:00",
     {"2026-04-04T23:30:00-03:00", "2026-04-05T23:30:00-04:00"}},

    // --- Samoa skipped 2011-12-30 entirely (-10 -> +14) ---
    {"0 12 30 12 *", "Pacific/Apia", "2011-12-29T00:00:00-10:00",
     {"2011-12-31T00:00:00+14:00", "2012-12-30T12:00:00+14:00"}},
    {"0 12 * * *", "Pacific/Apia", "2011-12-29T13:00:00-10:00",
     {"2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"}},
    {"0 * 30 12 *", "Pacific/Apia", "2011-12-29T00:00:00-10:00",
     {"2012-12-30T00:00:00+14:00"}},
};

TEST(CronTest, NextTable) {
  for (const NextCase& c : kCases) {
    Result<CronExpr> cron = CronExpr::Parse(c.expr);
    ASSERT_TRUE(cron.ok()) << c.expr << ": " << cron.status().ToString();
    TimeZone tz = Zone(c.zone);
    Result<int64_t> after = ParseIso8601(c.after);
    ASSERT_TRUE(after.ok()) << c.after;
    std::vector<std::string> got;
    for (int64_t t : cron->NextN(*after, tz, c.want.size())) {
      got.push_back(FormatIso8601(t, tz));
    }
    std::vector<std::string> want(c.want.begin(), c.want.end());
    EXPECT_EQ(got, want) << "'" << c.expr << "' in " << c.zone << " after "
                         << c.after;
  }
}

TEST(CronTest, NextIsStrictlyAfterAndRawSecondsMatchDate) {
  // `TZ=America/New_York date -d @1772953200` = Sun Mar 8 03:00:00 EDT 2026.
  CronExpr c = MustParse("30 2 * * *");
  TimeZone ny = Zone("America/New_York");
  EXPECT_EQ(*c.Next(1772953199, ny), 1772953200);
  EXPECT_EQ(*c.Next(1772953200, ny), 1773037800);  // Mar 9 02:30 EDT
  CronExpr every = MustParse("* * * * *");
  EXPECT_EQ(*every.Next(59, TimeZone()), 60);
  EXPECT_EQ(*every.Next(60, TimeZone()), 120);
  EXPECT_EQ(*every.Next(-61, TimeZone()), -60);
}

TEST(CronTest, OutOfRangeStartIsAnError) {
  CronExpr c = MustParse("* * * * *");
  EXPECT_FALSE(c.Next(253402300800, TimeZone()).ok());
  EXPECT_FALSE(c.Next(-62135596801, TimeZone()).ok());
  EXPECT_TRUE(c.Next(253402300799, TimeZone()).ok());  // into year 10000
  EXPECT_EQ(c.NextN(253402300800, TimeZone(), 3).size(), 0u);
}

struct ErrorCase {
  const char* expr;
  const char* message;  // substring; exact where the format is promised
};

TEST(CronTest, MalformedExpressionsAreErrors) {
  const ErrorCase cases[] = {
      {"0 25 * * *", "cron '0 25 * * *': hour field: 25 is out of range 0-23"},
      {"", "cron '': empty expression"},
      {"   ", "empty expression"},
      {"* * * *", "expected 5 fields"},
      {"* * * * * * *", "got 7"},
      {"60 * * * *", "minute field: 60 is out of range 0-59"},
      {"0 0 0 * *", "day-of-month field: 0 is out of range 1-31"},
      {"0 0 32 * *", "day-of-month field: 32 is out of range 1-31"},
      {"0 0 * 13 *", "month field: 13 is out of range 1-12"},
      {"0 0 * 0 *", "month field: 0 is out of range 1-12"},
      {"0 0 * * 8", "day-of-week field: 8 is out of range 0-7"},
      {"60 * * * * *", "second field: 60 is out of range 0-59"},
      {"99999999999 * * * *", "minute field: 99999999999 is out of range"},
      {"*/0 * * * *", "minute field: bad step '0' in '*/0'"},
      {"*/ * * * *", "bad step ''"},
      {"*/60 * * * *", "bad step '60'"},
      {"1/2/3 * * * *", "bad step '2/3'"},
      {"*/x * * * *", "bad step 'x'"},
      {"5-1 * * * *", "minute field: range 5-1 is reversed"},
      {"0 0 * DEC-JAN *", "month field: range DEC-JAN is reversed"},
      {"0 0 * * FRI-MON", "day-of-week field: range FRI-MON is reversed"},
      {"a b c d e", "minute field: invalid value 'a'"},
      {"1,,2 * * * *", "empty list element in '1,,2'"},
      {",1 * * * *", "empty list element"},
      {"1, * * * *", "empty list element"},
      {"-1 * * * *", "invalid value '-1'"},
      {"1- * * * *", "invalid range '1-'"},
      {"*-5 * * * *", "invalid value '*'"},
      {"1.5 * * * *", "invalid value '1.5'"},
      {"0 0 * * MONDAY", "invalid value 'MONDAY'"},
      {"0 0 * FOO *", "month field: invalid value 'FOO'"},
      {"0 0 JAN * *", "day-of-month field: invalid value 'JAN'"},
      {"0 0 * * JAN", "day-of-week field: invalid value 'JAN'"},
      {"0 0 L * *", "invalid value 'L'"},
      {"0 0 ? * *", "invalid value '?'"},
      {"0 0 1W * *", "invalid value '1W'"},
      {"0 0 * * 1#2", "invalid value '1#2'"},
      {"@every 5m", "unknown macro '@every'"},
      {"@daily 0", "unexpected text after @daily"},
      {"@", "unknown macro"},
      {"0 0 30 2 *", "cron '0 0 30 2 *': never fires"},
      {"0 0 31 2,4,6,9,11 *", "never fires"},
      {"0 0 30,31 2 */2", "never fires"},
  };
  for (const ErrorCase& c : cases) {
    Result<CronExpr> r = CronExpr::Parse(c.expr);
    ASSERT_FALSE(r.ok()) << "'" << c.expr << "' parsed";
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << "'" << c.expr << "' gave: " << r.status().message();
  }
  // Possible once either day field may match (OR rule).
  EXPECT_TRUE(CronExpr::Parse("0 0 30 2 MON").ok());
  EXPECT_TRUE(CronExpr::Parse("0 0 29 2 *").ok());
}

TEST(CronTest, AcceptedSpellings) {
  for (const char* ok :
       {"  0   0  *  *  *  ", "0\t0\t*\t*\t*", "0 0 * * 0-7", "0 0 * * 7",
        "0 0 * * sun-sat", "0 0 * * FRI-SUN", "0 0 * jan-DEC/3 *",
        "0-59/1 * * * *", "0 0 1,15 * *",
        "*/1 */1 */1 */1 */1", "0 0 * * */7"}) {
    EXPECT_TRUE(CronExpr::Parse(ok).ok()) << "'" << ok << "'";
  }
}

TEST(CronTest, ToStringNormalizes) {
  const std::pair<const char*, const char*> cases[] = {
      {"@daily", "0 0 * * *"},
      {"@weekly", "0 0 * * 0"},
      {"@hourly", "0 * * * *"},
      {"0 9 * * fri,mon-thu", "0 9 * * 1-5"},
      {"0 9 * * FRI-SUN", "0 9 * * 0,5,6"},
      {"*/15 * * * *", "*/15 * * * *"},
      {"0-59/15 * * * *", "*/15 * * * *"},
      {"5-30/5 * * * *", "5-30/5 * * * *"},
      {"7/10 * * * *", "7-57/10 * * * *"},
      {"0-59 0-23 * 1-12 *", "* * * * *"},
      {"0 0 1-31 * *", "0 0 1-31 * *"},  // not '*': keeps the OR rule
      {"0 0 * * 0-7", "0 0 * * 0-6"},
      {"0 0 * * 7", "0 0 * * 0"},
      {"0 0 * jan-mar,dec *", "0 0 * 1-3,12 *"},
      {"0 0-23 * * *", "0 * * * *"},
      {"0 */2 * * *", "0 */2 * * *"},
      {"0 0-22/2 * * *", "0 0-22/2 * * *"},  // fixed-hour stays fixed-hour
      {"0 0 */2 * *", "0 0 */2 * *"},
      {"0 0 */15,7 * *", "0 0 */15,7 * *"},
      {"3,1,2,5 * * * *", "1-3,5 * * * *"},
      {"1,2 * * * *", "1,2 * * * *"},
      {"0 30 2 * * *", "0 30 2 * * *"},
      {"*/20 * * * * *", "*/20 * * * * *"},
      {"0 0 1 * MON", "0 0 1 * 1"},
  };
  for (const auto& [in, want] : cases) {
    CronExpr c = MustParse(in);
    EXPECT_EQ(c.ToString(), want) << in;
    EXPECT_EQ(c.source(), in);
    // The normal form means the same thing.
    CronExpr again = MustParse(c.ToString());
    EXPECT_EQ(again.ToString(), want) << in;
    EXPECT_EQ(again.wall_clock(), c.wall_clock()) << in;
    EXPECT_EQ(again.NextN(1772900000, Zone("America/New_York"), 20),
              c.NextN(1772900000, Zone("America/New_York"), 20))
        << in;
  }
}

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
}  // namespace frb
