// Fuzz target: time zone data and times given by users -- TZif files
// (TimeZone::FromTzif, what TimeZone::Load hands cctz for a zoneinfo file),
// POSIX TZ footer rules (short inputs, wrapped as the footer of a slim TZif
// file, which is how cctz meets them) and ISO-8601 instants
// (`schedule next --from`).
//
// Properties: never crashes; a zone that loads answers UtcOffsetAt, ToLocal,
// FromLocal and transitions without crashing, and every instant reads back
// through FromLocal as one of its local time's instants; FormatIso8601
// output parses back to the same instant.
//
// cctz keeps every zone it loaded for the process's life (keyed by content
// here), so memory grows with the distinct inputs that load; long runs want
// -rss_limit_mb headroom.
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
    bool found = false;
    for (int64_t u : tz.FromLocal(lt.civil())) found = found || u == t;
    FRB_FUZZ_CHECK(found, tz.name() + " at " + std::to_string(t));
    if (auto n = tz.NextTransition(t)) {
      FRB_FUZZ_CHECK(n->at > t, tz.name());
      FRB_FUZZ_CHECK(tz.UtcOffsetAt(n->at) == n->offset_after, tz.name());
    }
    if (auto p = tz.PrevTransition(t)) FRB_FUZZ_CHECK(p->at <= t, tz.name());
    const std::string iso = frb::FormatIso8601(t, tz);
    auto back = frb::ParseIso8601(iso, tz);
    FRB_FUZZ_CHECK(back.ok() && *back == t, tz.name() + " " + iso);
  }
}

void Put32(std::string* s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>(v >> shift));
}

// A v2 TZif file with no transitions and one standard-time type of UTC+0
// ("LMT"): all of its time comes from `rule`.
std::string SlimTzif(std::string_view rule) {
  std::string out;
  for (int block = 0; block < 2; ++block) {
    out += "TZif2";
    out.append(15, '\0');
    for (uint32_t c : {0u, 0u, 0u, 0u, 1u, 4u}) Put32(&out, c);
    Put32(&out, 0);
    out.append(2, '\0');
    out.append("LMT", 4);
  }
  return out + "\n" + std::string(rule) + "\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto tz = frb::TimeZone::FromTzif("fuzz", bytes); tz.ok()) Exercise(*tz);
  if (size <= 256) {
    std::string_view rule = bytes.substr(0, bytes.find('\n'));
    if (auto tz = frb::TimeZone::FromTzif(std::string(rule), SlimTzif(rule)); tz.ok())
      Exercise(*tz);
    (void)frb::ParseIso8601(bytes);
  }
  return 0;
}
