// CronExpr: next runs, errors, accepted spellings and normalization.
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

}  // namespace
}  // namespace cron_test
}  // namespace frb
