// Fuzz target: the cron parser. Text -> CronExpr::Parse; on success the
// fire-time search in UTC and in a zone with DST.
//
// Properties: never crashes; errors are kInvalidArgument; a parsed
// expression's normalized ToString() parses again to the same normalized
// form; Next() is strictly after its argument and NextN() strictly
// increasing, in both zones.
#include <cstdint>
#include <string>
#include <string_view>

#include "frb/cron.h"
#include "frb/timezone.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 512) return 0;
  static const frb::TimeZone utc = frb::TimeZone::Utc();
  // US Eastern from the system zoneinfo: DST changes at 02:00.
  static const frb::TimeZone dst = frb::TimeZone::Load("America/New_York").value();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = frb::CronExpr::Parse(text);
  if (!r.ok()) {
    FRB_FUZZ_CHECK(r.status().code() == frb::Code::kInvalidArgument, r.status().ToString());
    return 0;
  }
  const std::string norm = r->ToString();
  auto again = frb::CronExpr::Parse(norm);
  FRB_FUZZ_CHECK(again.ok(), norm + ": " + again.status().ToString());
  FRB_FUZZ_CHECK(again->ToString() == norm, norm + " -> " + again->ToString());

  // 2026-03-08T06:59:00Z is a minute before a US spring-forward change.
  constexpr int64_t kStart = 1'772'953'140;
  for (const frb::TimeZone* tz : {&utc, &dst}) {
    auto next = r->Next(kStart, *tz);
    if (next.ok()) FRB_FUZZ_CHECK(*next > kStart, norm);
    auto times = r->NextN(kStart, *tz, 4);
    int64_t prev = kStart;
    for (int64_t t : times) {
      FRB_FUZZ_CHECK(t > prev, norm + " at " + frb::FormatIso8601(t, *tz));
      prev = t;
    }
  }
  return 0;
}
