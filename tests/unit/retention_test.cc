// Retention decisions: worked examples, zones, and a property test over
// random histories, policies and time zones.
#include "frb/retention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace frb {
namespace {

std::map<std::string, RetentionDecision> ById(const std::vector<RetentionDecision>& ds) {
  std::map<std::string, RetentionDecision> m;
  for (const auto& d : ds) m[d.id] = d;
  return m;
}

constexpr int64_t kDay = 86400;
// 2026-11-16T00:00:00Z, a Monday.
constexpr int64_t kMonday = 1794787200;

TEST(RetentionTest, RefusesEmptyOrNegativePolicy) {
  std::vector<RetentionItem> items = {{"v1", kMonday}};
  auto r = DecideRetention(items, {0, 0, 0}, TimeZone::Utc());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("keeps nothing"), std::string::npos);
  EXPECT_FALSE(DecideRetention(items, {-1, 3, 0}, TimeZone::Utc()).ok());
}

TEST(RetentionTest, KeepLastDailyWeeklyWithReasons) {
  // Two backups a day for 20 days.
  std::vector<RetentionItem> items;
  for (int d = 0; d < 20; ++d)
    for (int h : {3, 15}) {
      char id[32];
      std::snprintf(id, sizeof(id), "v%03d", d * 2 + (h == 15));
      items.push_back({id, kMonday + d * kDay + h * 3600});
    }
  auto r = DecideRetention(items, {3, 4, 3}, TimeZone::Utc());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 40u);
  EXPECT_EQ(r->front().id, "v039");  // newest first
  auto by = ById(*r);
  // last 3: v039 v038 v037; daily: newest of the last 4 days: v039 v037 v035 v033;
  // weekly: newest of the last 3 weeks: v039 (week 3), v027 (Sun of week 2), v013 (Sun of week 1).
  std::set<std::string> want = {"v039", "v038", "v037", "v035", "v033", "v027", "v013"};
  for (const auto& [id, d] : by) EXPECT_EQ(d.keep, want.count(id) == 1) << id;
  EXPECT_EQ(by["v038"].reasons, (std::vector<std::string>{"last 2/3"}));
  EXPECT_EQ(by["v035"].reasons, (std::vector<std::string>{"daily 2026-12-03"}));
  EXPECT_EQ(by["v027"].reasons, (std::vector<std::string>{"weekly (week of 2026-11-23)"}));
  EXPECT_NE(by["v000"].reasons.front().find("not among keep_last=3"), std::string::npos);
}

TEST(RetentionTest, DaysFollowTheConfiguredZone) {
  // 13:00Z and 14:00Z on the same UTC day straddle midnight in Adelaide
  // (UTC+10:30 in November): two local days there, one in UTC.
  std::vector<RetentionItem> items = {{"a", kMonday + 13 * 3600}, {"b", kMonday + 14 * 3600}};
  auto utc = DecideRetention(items, {0, 2, 0}, TimeZone::Utc());
  ASSERT_TRUE(utc.ok());
  EXPECT_FALSE(ById(*utc)["a"].keep);
  auto tz = TimeZone::Load("Australia/Adelaide");
  ASSERT_TRUE(tz.ok()) << tz.status().ToString();
  auto adl = DecideRetention(items, {0, 2, 0}, *tz);
  ASSERT_TRUE(adl.ok());
  EXPECT_TRUE(ById(*adl)["a"].keep);
  EXPECT_EQ(ById(*adl)["b"].reasons.front(), "daily 2026-11-17");
}

TEST(RetentionTest, PinsAreKeptWhateverThePolicy) {
  std::vector<RetentionItem> items;
  for (int i = 0; i < 10; ++i) items.push_back({"v" + std::to_string(i), kMonday + i * 60});
  items[1].live = true;
  items[2].rollback = true;
  items[3].verified = true;
  items[0].verified = true;  // older verified: not pinned
  auto by = ById(*DecideRetention(items, {1, 0, 0}, TimeZone::Utc()));
  EXPECT_TRUE(by["v9"].keep);
  EXPECT_EQ(by["v1"].reasons, (std::vector<std::string>{"live version"}));
  EXPECT_EQ(by["v2"].reasons, (std::vector<std::string>{"rollback target"}));
  EXPECT_EQ(by["v3"].reasons, (std::vector<std::string>{"newest verified backup"}));
  EXPECT_FALSE(by["v0"].keep);
  int kept = 0;
  for (const auto& [id, d] : by) kept += d.keep;
  EXPECT_EQ(kept, 4);
}

// Random histories, policies and zones: the invariants hold for every case,
// and applying the policy again to what it kept removes nothing.
TEST(RetentionTest, PropertyInvariantsOverRandomHistories) {
  std::vector<TimeZone> zones = {TimeZone::Utc()};
  for (const char* z : {"Australia/Adelaide", "America/New_York", "Asia/Kathmandu",
                        "Pacific/Chatham", "Europe/Berlin", "Pacific/Kiritimati"}) {
    auto tz = TimeZone::Load(z);
    ASSERT_TRUE(tz.ok()) << z;
    zones.push_back(*tz);
  }
  std::mt19937_64 rng(20261121);
  for (int c = 0; c < 400; ++c) {
    const TimeZone& tz = zones[rng() % zones.size()];
    RetentionPolicy p{static_cast<int>(rng() % 6), static_cast<int>(rng() % 8),
                      static_cast<int>(rng() % 5)};
    if (p.keep_last + p.keep_daily + p.keep_weekly == 0) p.keep_daily = 1;
    int n = static_cast<int>(rng() % 60);
    // Across a DST change (2026-03 to 2026-05) with bursts, gaps and ties.
    int64_t t = 1772323200 + static_cast<int64_t>(rng() % (30 * kDay));
    std::vector<RetentionItem> items;
    for (int i = 0; i < n; ++i) {
      int64_t step = rng() % 4 == 0 ? 0 : static_cast<int64_t>(rng() % (2 * kDay));
      t += step;
      RetentionItem it{"v" + std::to_string(100000 + i), t};
      it.verified = rng() % 5 == 0;
      items.push_back(it);
    }
    if (n > 0 && rng() % 2) items[rng() % n].live = true;
    if (n > 0 && rng() % 2) items[rng() % n].rollback = true;
    std::shuffle(items.begin(), items.end(), rng);
    SCOPED_TRACE("case " + std::to_string(c) + " zone " + tz.name() + " n=" + std::to_string(n));

    auto r = DecideRetention(items, p, tz);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), items.size());
    auto by = ById(*r);
    std::vector<RetentionItem> sorted = items;
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.created_unix_s != b.created_unix_s ? a.created_unix_s > b.created_unix_s : a.id > b.id;
    });
    // Pins: live, rollback, newest verified.
    for (const auto& it : items) {
      if (it.live || it.rollback) {
        EXPECT_TRUE(by[it.id].keep) << it.id;
      }
    }
    for (const auto& it : sorted) {
      if (it.verified) {
        EXPECT_TRUE(by[it.id].keep) << "newest verified " << it.id;
        break;
      }
    }
    // keep_last: the newest N.
    for (int i = 0; i < std::min<int>(p.keep_last, n); ++i) {
      EXPECT_TRUE(by[sorted[i].id].keep);
    }
    // keep_daily / keep_weekly: the newest of each of the newest N periods,
    // computed independently from local wall-clock readings.
    auto check_periods = [&](int count, auto period_of) {
      std::vector<int64_t> periods;
      for (const auto& it : sorted) {
        int64_t per = period_of(it.created_unix_s);
        if (std::find(periods.begin(), periods.end(), per) != periods.end()) continue;
        periods.push_back(per);
        if (static_cast<int>(periods.size()) > count) break;
        EXPECT_TRUE(by[it.id].keep) << it.id;
      }
    };
    check_periods(p.keep_daily, [&](int64_t s) {
      LocalTime lt = tz.ToLocal(s);
      return static_cast<int64_t>(lt.year) * 10000 + lt.month * 100 + lt.day;
    });
    check_periods(p.keep_weekly, [&](int64_t s) {
      LocalTime lt = tz.ToLocal(s);  // the Monday that starts its week
      return DaysFromCivil(lt.year, lt.month, lt.day) - (lt.weekday + 6) % 7;
    });
    // Nothing kept without a rule: at most one per rule slot plus the pins.
    int kept = 0;
    for (const auto& d : *r) {
      kept += d.keep;
      EXPECT_FALSE(d.reasons.empty());
    }
    EXPECT_LE(kept, p.keep_last + p.keep_daily + p.keep_weekly + 3);
    // Idempotent: pruning what was kept keeps all of it.
    std::vector<RetentionItem> survivors;
    for (const auto& it : items)
      if (by[it.id].keep) survivors.push_back(it);
    auto again = DecideRetention(survivors, p, tz);
    ASSERT_TRUE(again.ok());
    for (const auto& d : *again) EXPECT_TRUE(d.keep) << "second pass removes " << d.id;
  }
}

}  // namespace
}  // namespace frb
