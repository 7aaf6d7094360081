#include <cstdio>
#include <ctime>

#include "cli.h"
#include "frb/cron.h"
#include "frb/timezone.h"

namespace frb::cli {

int CmdScheduleNext(const GlobalOptions& g, const std::string& expr, const std::string& zone,
                    const std::string& from, int count) {
  auto cron = CronExpr::Parse(expr);
  if (!cron.ok()) return Fail(kExitUsage, cron.status().message());
  auto tz = TimeZone::Load(zone.empty() ? "UTC" : zone);
  if (!tz.ok()) return Fail(kExitUsage, tz.status().message());
  int64_t start = static_cast<int64_t>(std::time(nullptr));
  if (!from.empty()) {
    auto parsed = ParseIso8601(from, *tz);
    if (!parsed.ok()) return Fail(kExitUsage, "--from: " + parsed.status().message());
    // "Next after" is strict; start one second earlier so --from itself counts.
    start = *parsed - 1;
  }
  if (count < 1 || count > 10000) return Fail(kExitUsage, "--count must be in 1..10000");
  Json list = Json::MakeArray();
  int64_t t = start;
  for (int i = 0; i < count; ++i) {
    auto next = cron->Next(t, *tz);
    if (!next.ok()) return Fail(next.status());
    t = *next;
    if (g.json) {
      list.Push(FormatIso8601(t, *tz));
    } else {
      std::printf("%s\n", FormatIso8601(t, *tz).c_str());
    }
  }
  if (g.json) PrintJson(list);
  return kExitOk;
}

}  // namespace frb::cli
