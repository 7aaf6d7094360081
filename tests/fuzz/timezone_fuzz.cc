// Fuzz target: time zone data and times given by users -- TZif files
// (TimeZone::FromTzif, what TimeZone::Load reads from zoneinfo), POSIX TZ
// rules (TZif footers) and ISO-8601 instants (`schedule next --from`).
//
// Properties: never crashes; a zone that loads answers UtcOffsetAt, ToLocal,
// FromLocal and transitions without crashing, and every instant FromLocal
// returns reads back as the same local time; FormatIso8601 output parses
// back to the same instant.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "frb/timezone.h"
#include "fuzz_common.h"

namespace {

void Exercise(const frb::TimeZone& tz) {
  for (int64_t t : {int64_t{-2'000'000'000}, int64_t{0}, int64_t{1'772'953'140},
                    int64_t{4'000'000'000}}) {
    (void)tz.UtcOffsetAt(t);
    frb::LocalTime lt = tz.ToLocal(t);
    frb::CivilTime c{static_cast<int>(lt.year), lt.month, lt.day, lt.hour, lt.minute, lt.second};
    bool found = false;
    for (int64_t u : tz.FromLocal(c)) found = found || u == t;
    FRB_FUZZ_CHECK(found, tz.name() + " at " + std::to_string(t));
    if (auto n = tz.NextTransition(t)) FRB_FUZZ_CHECK(n->at > t, tz.name());
    if (auto p = tz.PrevTransition(t)) FRB_FUZZ_CHECK(p->at <= t, tz.name());
    const std::string iso = frb::FormatIso8601(t, tz);
    auto back = frb::ParseIso8601(iso, tz);
    FRB_FUZZ_CHECK(back.ok() && *back == t, tz.name() + " " + iso);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto tz = frb::TimeZone::FromTzif("fuzz", bytes); tz.ok()) Exercise(*tz);
  if (size <= 256) {
    if (auto tz = frb::TimeZone::FromPosixRule(bytes); tz.ok()) Exercise(*tz);
    (void)frb::ParseIso8601(bytes);
  }
  return 0;
}
