#include "frb/timezone.h"

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>
#include <cctz/zone_info_source.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>

#include "frb/env.h"
#include "frb/sha256.h"

// cctz (libcctz) does the zone work: TZif parsing, the POSIX footer rule for
// times past the table, and civil-time lookups that say unique, skipped or
// repeated. This file maps its answers onto frb::TimeZone's contract and
// keeps all file I/O in Env: cctz gets the TZif bytes through its
// zone_info_source_factory hook, never a path.

namespace frb {
namespace {

const cctz::civil_day kEpochDay(1970, 1, 1);
const cctz::civil_second kEpoch(1970, 1, 1, 0, 0, 0);

cctz::civil_day DayOf(int64_t days) { return kEpochDay + days; }

// 0 = Sunday; cctz counts from Monday.
int SundayBased(cctz::weekday wd) { return (static_cast<int>(wd) + 1) % 7; }

cctz::time_point<cctz::seconds> Instant(int64_t unix_seconds) {
  return cctz::time_point<cctz::seconds>(cctz::seconds(unix_seconds));
}
int64_t Unix(const cctz::time_point<cctz::seconds>& tp) {
  return tp.time_since_epoch().count();
}

// TZif bytes handed to cctz: load_time_zone() calls the factory on the
// calling thread, so a thread-local names the bytes of the load in progress.
struct PendingTzif {
  const std::string* key;
  std::string_view data;
};
thread_local const PendingTzif* t_pending = nullptr;

class BytesSource final : public cctz::ZoneInfoSource {
 public:
  explicit BytesSource(std::string_view data) : data_(data) {}
  size_t Read(void* ptr, size_t size) override {
    size_t n = std::min(size, data_.size() - pos_);
    if (n > 0) std::memcpy(ptr, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  int Skip(size_t offset) override {
    if (offset > data_.size() - pos_) return -1;
    pos_ += offset;
    return 0;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

std::unique_ptr<cctz::ZoneInfoSource> TzifFromMemory(
    const std::string& name,
    const std::function<std::unique_ptr<cctz::ZoneInfoSource>(const std::string&)>&) {
  if (t_pending == nullptr || name != *t_pending->key) return nullptr;
  return std::make_unique<BytesSource>(t_pending->data);
}

// cctz sizes its buffer from a TZif header's counts before it reads the
// data, so a corrupt header declaring gigabytes costs gigabytes (a mutation
// test found it). Only the sizes are checked here; cctz checks the content.
bool DeclaredSizesFit(std::string_view d) {
  auto be32 = [&](size_t at) {
    uint64_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(d[at + i]);
    return v;
  };
  size_t pos = 0;
  for (uint64_t tsize : {4, 8}) {
    if (d.size() - pos < 44) return false;
    const uint64_t isut = be32(pos + 20), isstd = be32(pos + 24), leap = be32(pos + 28),
                   time = be32(pos + 32), type = be32(pos + 36), chars = be32(pos + 40);
    const uint64_t len =
        time * (tsize + 1) + type * 6 + chars + leap * (tsize + 4) + isstd + isut;
    if (len > d.size() - pos - 44) return false;
    if (d[pos + 4] == '\0') return true;  // version 1: one block only
    pos += 44 + len;
  }
  return true;
}

}  // namespace
}  // namespace frb

// Replaces libcctz's (weak) default, which reads $TZDIR itself.
namespace cctz_extension {
ZoneInfoSourceFactory zone_info_source_factory = frb::TzifFromMemory;
}  // namespace cctz_extension

namespace frb {

bool IsLeapYear(int64_t y) { return cctz::civil_day(y, 2, 29).month() == 2; }

int DaysInMonth(int64_t year, int month) {
  if (month < 1 || month > 12) return 0;
  return (cctz::civil_day(cctz::civil_month(year, month) + 1) - 1).day();
}

int64_t DaysFromCivil(int64_t y, int m, int d) {
  return cctz::civil_day(y, m, d) - kEpochDay;
}

void CivilFromDays(int64_t days, int64_t* year, int* month, int* day) {
  const cctz::civil_day c = DayOf(days);
  *year = c.year();
  *month = c.month();
  *day = c.day();
}

int WeekdayFromDays(int64_t days) { return SundayBased(cctz::get_weekday(DayOf(days))); }

struct TimeZone::Impl {
  std::string name;
  cctz::time_zone zone;  // a handle; cctz keeps zones for the process's life

  // The transition cctz reports as civil readings (from -> to) at its
  // instant: the instant whose reading is `to` while a second earlier read
  // `from` - 1s. Among the instants cctz gives for either reading, in
  // (lo, hi]; none only for data cctz itself cannot order.
  std::optional<ZoneTransition> Resolve(const cctz::time_zone::civil_transition& tr,
                                        int64_t lo, int64_t hi) const {
    std::vector<int64_t> candidates;
    for (const cctz::civil_second& cs : {tr.to, tr.from - 1}) {
      const int64_t shift = cs == tr.to ? 0 : 1;
      const cctz::time_zone::civil_lookup cl = zone.lookup(cs);
      for (const auto& tp : {cl.pre, cl.trans, cl.post}) candidates.push_back(Unix(tp) + shift);
    }
    std::sort(candidates.begin(), candidates.end());
    for (int64_t at : candidates) {
      if (at <= lo || at > hi) continue;
      if (zone.lookup(Instant(at)).cs != tr.to || zone.lookup(Instant(at - 1)).cs != tr.from - 1)
        continue;
      return ZoneTransition{at, static_cast<int>(tr.from - kEpoch - at),
                            static_cast<int>(tr.to - kEpoch - at)};
    }
    return std::nullopt;
  }
};

namespace {

std::shared_ptr<const TimeZone::Impl> MakeUtc(std::string name) {
  return std::make_shared<const TimeZone::Impl>(
      TimeZone::Impl{std::move(name), cctz::utc_time_zone()});
}

const std::shared_ptr<const TimeZone::Impl>& UtcImpl() {
  static const auto* utc = new std::shared_ptr<const TimeZone::Impl>(MakeUtc("UTC"));
  return *utc;
}

// Calendar fields of a count of local seconds since 1970-01-01T00:00.
LocalTime SplitLocal(int64_t local) {
  const cctz::civil_second cs = kEpoch + local;
  LocalTime lt;
  lt.year = static_cast<int>(cs.year());
  lt.month = cs.month();
  lt.day = cs.day();
  lt.hour = cs.hour();
  lt.minute = cs.minute();
  lt.second = cs.second();
  lt.weekday = SundayBased(cctz::get_weekday(cctz::civil_day(cs)));
  return lt;
}

// Zone names become paths under TZDIR: no absolute paths, "." or "..".
bool ValidZoneName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-' ||
              c == '/';
    if (!ok) return false;
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = std::min(name.find('/', start), name.size());
    std::string_view part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

Result<TimeZone> TimeZone::FromTzif(std::string name, std::string_view data) {
  // cctz caches zones by name for the process's life: naming them by
  // content shares one copy between files with the same bytes (UTC, Etc/UTC)
  // and keeps different bytes apart.
  const std::string key = "frb-tzif:" + Sha256::Hex(data);
  // cctz 2.3 loads a zone whose footer rule it cannot apply (unparsable, at
  // odds with the table, or too few transitions to extend, as in "slim"
  // files) and only says so on std::clog; times past the table would then
  // be silently wrong. Its note is captured and refuses the zone. Loads are
  // serialised for that, and refusals remembered: cctz loads a name once.
  static std::mutex mu;
  static auto* refused = new std::map<std::string, std::string>;
  std::lock_guard<std::mutex> lock(mu);
  auto bad = [&](const std::string& why) {
    return Corruption("timezone '" + name + "': bad TZif data (" + why + ")");
  };
  if (auto it = refused->find(key); it != refused->end()) return bad(it->second);
  if (!DeclaredSizesFit(data)) return bad("truncated: its headers declare more data than it holds");
  const PendingTzif pending{&key, data};
  std::ostringstream note;
  std::streambuf* clog = std::clog.rdbuf(note.rdbuf());
  t_pending = &pending;
  cctz::time_zone zone;
  const bool loaded = cctz::load_time_zone(key, &zone);
  t_pending = nullptr;
  std::clog.rdbuf(clog);
  std::string why = note.str();
  if (loaded && why.empty()) {
    return TimeZone(std::make_shared<const Impl>(Impl{std::move(name), zone}));
  }
  if (why.empty()) why = "truncated or inconsistent, or a leap-second 'right/' zone";
  // cctz's note names the zone by our key; say what it found, one line.
  if (why.starts_with(key + ": ")) why = why.substr(key.size() + 2);
  while (!why.empty() && why.back() == '\n') why.pop_back();
  std::replace(why.begin(), why.end(), '\n', ';');
  refused->emplace(key, why);
  return bad(why);
}

Result<TimeZone> TimeZone::Load(std::string_view name) {
  const std::string quoted = "unknown timezone '" + std::string(name) + "'";
  if (!ValidZoneName(name)) return InvalidArgument(quoted);
  if (name == "UTC") return TimeZone(UtcImpl());
  if (name == "Etc/UTC" || name == "GMT" || name == "Etc/GMT") {
    return TimeZone(MakeUtc(std::string(name)));
  }
  const char* dir = std::getenv("TZDIR");
  std::string path = JoinPath(dir && *dir ? dir : "/usr/share/zoneinfo", name);

  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::shared_ptr<const Impl>>;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache->find(path);
    if (it != cache->end()) return TimeZone(it->second);
  }
  Result<std::string> data = ReadFileToString(Env::Default(), path);
  if (!data.ok()) return InvalidArgument(quoted + " (" + data.status().message() + ")");
  if (data->compare(0, 4, "TZif") != 0) {
    return InvalidArgument(quoted + " (" + path + " is not a TZif file)");
  }
  FRB_ASSIGN_OR_RETURN(TimeZone tz, FromTzif(std::string(name), *data));
  std::lock_guard<std::mutex> lock(mu);
  cache->emplace(path, tz.impl_);
  return tz;
}

TimeZone::TimeZone() : impl_(UtcImpl()) {}
TimeZone TimeZone::Utc() { return TimeZone(); }
const std::string& TimeZone::name() const { return impl_->name; }

int TimeZone::UtcOffsetAt(int64_t t) const { return impl_->zone.lookup(Instant(t)).offset; }

LocalTime TimeZone::ToLocal(int64_t t) const {
  const cctz::time_zone::absolute_lookup al = impl_->zone.lookup(Instant(t));
  LocalTime lt = SplitLocal(al.cs - kEpoch);
  lt.utc_offset = al.offset;
  lt.is_dst = al.is_dst;
  return lt;
}

std::vector<int64_t> TimeZone::FromLocal(const CivilTime& c) const {
  if (c.month < 1 || c.month > 12 || c.day < 1 ||
      c.day > DaysInMonth(c.year, c.month) || c.hour < 0 || c.hour > 23 ||
      c.minute < 0 || c.minute > 59 || c.second < 0 || c.second > 59) {
    return {};
  }
  const cctz::time_zone::civil_lookup cl = impl_->zone.lookup(
      cctz::civil_second(c.year, c.month, c.day, c.hour, c.minute, c.second));
  switch (cl.kind) {
    case cctz::time_zone::civil_lookup::UNIQUE:
      return {Unix(cl.pre)};
    case cctz::time_zone::civil_lookup::SKIPPED:
      return {};
    case cctz::time_zone::civil_lookup::REPEATED:
      return {Unix(cl.pre), Unix(cl.post)};
  }
  return {};
}

std::optional<ZoneTransition> TimeZone::NextTransition(int64_t after) const {
  // cctz also reports changes of only the DST flag or abbreviation.
  cctz::time_zone::civil_transition tr;
  for (int64_t from = after; impl_->zone.next_transition(Instant(from), &tr);) {
    std::optional<ZoneTransition> z =
        impl_->Resolve(tr, from, std::numeric_limits<int64_t>::max());
    if (!z) return std::nullopt;
    if (z->offset_before != z->offset_after) return z;
    from = z->at;
  }
  return std::nullopt;
}

std::optional<ZoneTransition> TimeZone::PrevTransition(int64_t at_or_before) const {
  cctz::time_zone::civil_transition tr;
  // cctz's prev_transition is strictly before its argument.
  int64_t before = at_or_before == std::numeric_limits<int64_t>::max() ? at_or_before
                                                                       : at_or_before + 1;
  while (impl_->zone.prev_transition(Instant(before), &tr)) {
    std::optional<ZoneTransition> z =
        impl_->Resolve(tr, std::numeric_limits<int64_t>::min(), before - 1);
    if (!z) return std::nullopt;
    if (z->offset_before != z->offset_after) return z;
    before = z->at;
  }
  return std::nullopt;
}

std::string FormatIso8601(int64_t unix_seconds, const TimeZone& tz) {
  // ISO-8601 offsets stop at +-23:59: an offset that rounds beyond (no real
  // zone has one) prints as +-23:59 with the wall time to match, so the
  // string still names the same instant.
  constexpr int kMaxPrintable = 23 * 3600 + 59 * 60;
  int off = tz.UtcOffsetAt(unix_seconds);
  int rounded = (off >= 0 ? (off + 30) / 60 : -((-off + 30) / 60)) * 60;
  rounded = std::clamp(rounded, -kMaxPrintable, kMaxPrintable);
  LocalTime lt = SplitLocal(unix_seconds + rounded);
  int abs_min = std::abs(rounded) / 60;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
                lt.year, lt.month, lt.day, lt.hour, lt.minute, lt.second,
                rounded < 0 ? '-' : '+', abs_min / 60, abs_min % 60);
  return buf;
}

Result<int64_t> ParseIso8601(std::string_view text, const TimeZone& local_zone) {
  auto bad = [&](const char* why) {
    return InvalidArgument("invalid ISO-8601 time '" + std::string(text) +
                           "': " + why +
                           " (expected YYYY-MM-DDTHH:MM[:SS][Z|+hh:mm])");
  };
  size_t i = 0;
  auto num = [&](size_t digits, int* out) {
    if (text.size() - i < digits) return false;
    int v = 0;
    for (size_t k = 0; k < digits; ++k, ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
  };
  auto eat = [&](char c) {
    if (i < text.size() && text[i] == c) return ++i, true;
    return false;
  };
  CivilTime c;
  if (!num(4, &c.year) || !eat('-') || !num(2, &c.month) || !eat('-') ||
      !num(2, &c.day)) {
    return bad("bad date");
  }
  if (!eat('T') && !eat('t') && !eat(' ')) return bad("missing 'T'");
  if (!num(2, &c.hour) || !eat(':') || !num(2, &c.minute)) return bad("bad time");
  if (eat(':')) {
    if (!num(2, &c.second)) return bad("bad seconds");
    if (eat('.') || eat(',')) {
      size_t start = i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
      if (i == start) return bad("bad fraction");
    }
  }
  if (c.month < 1 || c.month > 12 || c.day < 1 ||
      c.day > DaysInMonth(c.year, c.month) || c.hour > 23 || c.minute > 59 ||
      c.second > 59) {
    return bad("field out of range");
  }
  const int64_t local = DaysFromCivil(c.year, c.month, c.day) * 86400 +
                        c.hour * 3600 + c.minute * 60 + c.second;
  if (i == text.size()) {
    std::vector<int64_t> ts = local_zone.FromLocal(c);
    if (ts.empty()) {
      return InvalidArgument("local time '" + std::string(text) +
                             "' does not exist in " + local_zone.name() +
                             " (skipped by a daylight-saving change)");
    }
    return ts.front();
  }
  if (eat('Z') || eat('z')) {
    if (i != text.size()) return bad("trailing characters");
    return local;
  }
  int sign = eat('+') ? 1 : eat('-') ? -1 : 0;
  int oh = 0, om = 0;
  if (sign == 0 || !num(2, &oh)) return bad("bad UTC offset");
  if (i < text.size()) {
    eat(':');  // "+hh:mm" and "+hhmm" are both common
    if (!num(2, &om)) return bad("bad UTC offset");
  }
  if (i != text.size()) return bad("trailing characters");
  if (oh > 23 || om > 59) return bad("UTC offset out of range");
  return local - sign * (oh * 3600 + om * 60);
}

}  // namespace frb
