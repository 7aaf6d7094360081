#include "frb/timezone.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

#include "frb/env.h"

namespace frb {

// --- civil calendar (Howard Hinnant's algorithms) ---

bool IsLeapYear(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 0;
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* year, int* month, int* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *month = m;
  *year = yoe + era * 400 + (m <= 2);
}

int WeekdayFromDays(int64_t days) {
  return static_cast<int>(days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6);
}

namespace {

// Every offset a zone may have prints, rounded to the minute, as an ISO-8601
// "+hh:mm" with hh <= 23 and parses back: so it is under 23:59:30 either way
// (23:59:30 itself would round to +24:00; fuzz finding, a TZif type of
// +23:59:59).
constexpr int kMaxUtcOffset = 24 * 3600 - 30;

// Transition instants a TZif file may hold: about +-36 billion years, far
// beyond zic's -2^59, and small enough that days * 86400 of any year within
// one of it stays in int64.
constexpr int64_t kMaxTransitionTime = int64_t{1} << 60;

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

int64_t YearOf(int64_t unix_seconds) {
  int64_t y;
  int m, d;
  CivilFromDays(FloorDiv(unix_seconds, 86400), &y, &m, &d);
  return y;
}

// --- POSIX TZ rules (TZif footers) ---

struct DateRule {
  enum class Kind { kJulian1, kJulian0, kMonthWeekDay } kind = Kind::kJulian0;
  int day = 0;  // Jn / n
  int month = 0, week = 0, wday = 0;
  int time = 7200;  // local seconds after midnight; may be <0 or >24h
};

struct PosixTz {
  int std_offset = 0;  // seconds east of UTC
  int dst_offset = 0;
  bool has_dst = false;
  DateRule start, end;
};

class RuleParser {
 public:
  explicit RuleParser(std::string_view s) : s_(s) {}
  bool Done() const { return i_ == s_.size(); }
  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  bool Name() {
    size_t start = i_;
    if (Eat('<')) {
      while (i_ < s_.size() && s_[i_] != '>') ++i_;
      return i_ - start >= 4 && Eat('>');
    }
    while (i_ < s_.size() && ((s_[i_] | 0x20) >= 'a' && (s_[i_] | 0x20) <= 'z')) {
      ++i_;
    }
    return i_ - start >= 3;
  }
  bool PeekOffsetStart() const {
    return i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-' ||
                              (s_[i_] >= '0' && s_[i_] <= '9'));
  }
  // [+-]hh[:mm[:ss]] -> signed seconds.
  bool HMS(int max_hours, int* out) {
    int sign = Eat('-') ? -1 : (Eat('+'), 1);
    int h, m = 0, sec = 0;
    if (!Num(0, max_hours, &h)) return false;
    if (Eat(':') && !Num(0, 59, &m)) return false;
    if (Eat(':') && !Num(0, 59, &sec)) return false;
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool Date(DateRule* r) {
    if (Eat('J')) {
      r->kind = DateRule::Kind::kJulian1;
      if (!Num(1, 365, &r->day)) return false;
    } else if (Eat('M')) {
      r->kind = DateRule::Kind::kMonthWeekDay;
      if (!Num(1, 12, &r->month) || !Eat('.') || !Num(1, 5, &r->week) ||
          !Eat('.') || !Num(0, 6, &r->wday)) {
        return false;
      }
    } else {
      r->kind = DateRule::Kind::kJulian0;
      if (!Num(0, 365, &r->day)) return false;
    }
    r->time = 7200;
    return !Eat('/') || HMS(167, &r->time);
  }

 private:
  bool Num(int lo, int hi, int* out) {
    size_t start = i_;
    int v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9' && i_ - start < 4) {
      v = v * 10 + (s_[i_++] - '0');
    }
    *out = v;
    return i_ > start && v >= lo && v <= hi;
  }
  std::string_view s_;
  size_t i_ = 0;
};

std::optional<PosixTz> ParsePosixTzSyntax(std::string_view s) {
  RuleParser p(s);
  PosixTz tz;
  int west;
  if (!p.Name() || !p.HMS(24, &west)) return std::nullopt;
  tz.std_offset = -west;
  // POSIX allows hh up to 24 (and the default DST offset adds an hour), but
  // no zone is a day or more off UTC, and no ISO-8601 offset can say so:
  // "UTC5X24" would print times as "-24:00" that nothing reads back.
  if (std::abs(tz.std_offset) >= kMaxUtcOffset) return std::nullopt;
  if (p.Done()) return tz;
  if (!p.Name()) return std::nullopt;
  tz.has_dst = true;
  tz.dst_offset = tz.std_offset + 3600;
  if (p.PeekOffsetStart()) {
    if (!p.HMS(24, &west)) return std::nullopt;
    tz.dst_offset = -west;
  }
  if (p.Done()) {
    // POSIX leaves the default rule to the implementation; tzcode uses the
    // US rules, so do the same.
    RuleParser def("M3.2.0,M11.1.0");
    def.Date(&tz.start), def.Eat(','), def.Date(&tz.end);
  } else if (!p.Eat(',') || !p.Date(&tz.start) || !p.Eat(',') ||
             !p.Date(&tz.end) || !p.Done()) {
    return std::nullopt;
  }
  if (tz.dst_offset == tz.std_offset) tz.has_dst = false;
  if (std::abs(tz.dst_offset) >= kMaxUtcOffset) return std::nullopt;
  return tz;
}

// Unix time at which `rule` fires in `year`, given the offset in effect
// just before it.
int64_t RuleInstant(const DateRule& r, int64_t year, int offset_before) {
  int64_t days = DaysFromCivil(year, 1, 1);
  switch (r.kind) {
    case DateRule::Kind::kJulian1:  // Feb 29 is never counted
      days += r.day - 1 + (IsLeapYear(year) && r.day >= 60);
      break;
    case DateRule::Kind::kJulian0:
      days += r.day;
      break;
    case DateRule::Kind::kMonthWeekDay: {
      int64_t first = DaysFromCivil(year, r.month, 1);
      int d = 1 + (r.wday - WeekdayFromDays(first) + 7) % 7 + 7 * (r.week - 1);
      while (d > DaysInMonth(year, r.month)) d -= 7;
      days = first + d - 1;
      break;
    }
  }
  return days * 86400 + r.time - offset_before;
}

// A rule with DST is only usable if DST starts before it ends in every year,
// or after it in every year (southern hemisphere). Rules like
// "CET-1CET,M3.5.5,M03.4.5/3" (last vs fourth Friday of March) make the two
// coincide in some years and swap in others, and no offset sequence follows
// (a fuzz finding). The years 1970-2069 cover every weekday/leap pattern.
bool ConsistentDstOrder(const PosixTz& tz) {
  if (!tz.has_dst) return true;
  int sign = 0;
  for (int64_t y = 1970; y < 2070; ++y) {
    int64_t d = RuleInstant(tz.start, y, tz.std_offset) - RuleInstant(tz.end, y, tz.dst_offset);
    int s = d < 0 ? -1 : d > 0 ? 1 : 0;
    if (s == 0 || (sign != 0 && s != sign)) return false;
    sign = s;
  }
  return true;
}

std::optional<PosixTz> ParsePosixTz(std::string_view s) {
  std::optional<PosixTz> tz = ParsePosixTzSyntax(s);
  if (tz && !ConsistentDstOrder(*tz)) return std::nullopt;
  return tz;
}

// The footer's offset changes in (at least) years [y0, y1], ascending. A
// change and its reversal at the same instant cancel out, which is how
// POSIX spells permanent DST; a padding year on each side, dropped after,
// keeps that cancelling from leaving spurious changes at the edges.
std::vector<ZoneTransition> RuleTransitions(const PosixTz& tz, int64_t y0,
                                            int64_t y1) {
  std::vector<ZoneTransition> out;
  for (int64_t y = y0 - 1; y <= y1 + 1; ++y) {
    out.push_back({RuleInstant(tz.start, y, tz.std_offset), tz.std_offset,
                   tz.dst_offset});
    out.push_back({RuleInstant(tz.end, y, tz.dst_offset), tz.dst_offset,
                   tz.std_offset});
  }
  std::sort(out.begin(), out.end(),
            [](const ZoneTransition& a, const ZoneTransition& b) {
              return a.at < b.at;
            });
  std::vector<ZoneTransition> kept;
  for (const ZoneTransition& t : out) {
    if (!kept.empty() && kept.back().at == t.at) {
      kept.pop_back();
    } else {
      kept.push_back(t);
    }
  }
  if (kept.size() >= 2) kept.pop_back(), kept.erase(kept.begin());
  return kept;
}

struct LocalType {
  int offset = 0;
  bool is_dst = false;
};

uint32_t Be32(const unsigned char* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

int64_t Be64(const unsigned char* p) {
  return static_cast<int64_t>(uint64_t{Be32(p)} << 32 | Be32(p + 4));
}

}  // namespace

struct TimeZone::Impl {
  std::string name;
  std::vector<int64_t> times;  // ascending transition instants
  std::vector<uint8_t> type_of;  // local type index after each transition
  std::vector<LocalType> types;
  std::optional<PosixTz> footer;  // rules after the last transition

  bool UseFooter(int64_t t) const {
    return footer && (times.empty() || t >= times.back());
  }

  LocalType TypeAt(int64_t t) const {
    if (UseFooter(t)) {
      if (!footer->has_dst) return {footer->std_offset, false};
      int64_t y = YearOf(t);
      std::vector<ZoneTransition> rt = RuleTransitions(*footer, y - 1, y + 1);
      LocalType lt{rt.empty() ? footer->dst_offset : footer->std_offset,
                   rt.empty()};
      for (const ZoneTransition& z : rt) {
        if (z.at > t) break;
        lt = {z.offset_after, z.offset_after == footer->dst_offset};
      }
      return lt;
    }
    if (times.empty() || t < times.front()) return types[0];
    size_t i = std::upper_bound(times.begin(), times.end(), t) - times.begin();
    return types[type_of[i - 1]];
  }

  int TableOffsetBefore(size_t i) const {
    return types[i == 0 ? 0 : type_of[i - 1]].offset;
  }

  std::optional<ZoneTransition> Next(int64_t after) const {
    size_t i = std::upper_bound(times.begin(), times.end(), after) - times.begin();
    for (; i < times.size(); ++i) {
      int before = TableOffsetBefore(i), now = types[type_of[i]].offset;
      if (before != now) return ZoneTransition{times[i], before, now};
    }
    if (!footer || !footer->has_dst) return std::nullopt;
    int64_t from = times.empty() ? after : std::max(after, times.back());
    int64_t y = YearOf(from);
    for (const ZoneTransition& z : RuleTransitions(*footer, y - 1, y + 1)) {
      if (z.at > from) return z;
    }
    return std::nullopt;
  }

  std::optional<ZoneTransition> Prev(int64_t at_or_before) const {
    if (UseFooter(at_or_before) && footer->has_dst) {
      int64_t y = YearOf(at_or_before);
      std::optional<ZoneTransition> best;
      for (const ZoneTransition& z : RuleTransitions(*footer, y - 1, y + 1)) {
        if (z.at > at_or_before) break;
        if (times.empty() || z.at > times.back()) best = z;
      }
      if (best) return best;
    }
    size_t i = std::upper_bound(times.begin(), times.end(), at_or_before) -
               times.begin();
    while (i-- > 0) {
      int before = TableOffsetBefore(i), now = types[type_of[i]].offset;
      if (before != now) return ZoneTransition{times[i], before, now};
    }
    return std::nullopt;
  }
};

namespace {

std::shared_ptr<const TimeZone::Impl> MakeFixed(std::string name, int offset) {
  auto impl = std::make_shared<TimeZone::Impl>();
  impl->name = std::move(name);
  impl->types.push_back({offset, false});
  return impl;
}

const std::shared_ptr<const TimeZone::Impl>& UtcImpl() {
  static const auto* utc =
      new std::shared_ptr<const TimeZone::Impl>(MakeFixed("UTC", 0));
  return *utc;
}

// Calendar fields of a count of local seconds since 1970-01-01T00:00.
LocalTime SplitLocal(int64_t local) {
  int64_t days = FloorDiv(local, 86400);
  int64_t sod = local - days * 86400;
  LocalTime lt;
  int64_t year;
  CivilFromDays(days, &year, &lt.month, &lt.day);
  lt.year = static_cast<int>(year);
  lt.hour = static_cast<int>(sod / 3600);
  lt.minute = static_cast<int>(sod / 60 % 60);
  lt.second = static_cast<int>(sod % 60);
  lt.weekday = WeekdayFromDays(days);
  return lt;
}

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
  auto corrupt = [&](const char* why) {
    return Corruption("timezone '" + name + "': bad TZif data: " + why);
  };
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t size = data.size();
  if (size < 44 || data.substr(0, 4) != "TZif") return corrupt("no TZif header");
  const bool v2 = p[4] >= '2';
  size_t pos = 0;
  uint32_t cnt[6];  // isut, isstd, leap, time, type, char
  auto read_header = [&]() {
    for (int k = 0; k < 6; ++k) cnt[k] = Be32(p + pos + 20 + 4 * k);
    pos += 44;
  };
  auto block_size = [&](size_t tsize) -> uint64_t {
    return uint64_t{cnt[3]} * tsize + cnt[3] + uint64_t{cnt[4]} * 6 + cnt[5] +
           uint64_t{cnt[2]} * (tsize + 4) + cnt[1] + cnt[0];
  };
  read_header();
  if (block_size(4) > size - pos) return corrupt("truncated v1 data");
  size_t tsize = 4;
  if (v2) {
    pos += block_size(4);
    if (size - pos < 44 || data.substr(pos, 4) != "TZif") {
      return corrupt("missing v2 header");
    }
    read_header();
    tsize = 8;
    if (block_size(8) > size - pos) return corrupt("truncated v2 data");
  }
  if (cnt[4] == 0 || cnt[4] > 256) return corrupt("bad type count");
  if (cnt[2] != 0) return corrupt("leap-second ('right/') zones are unsupported");
  auto impl = std::make_shared<Impl>();
  impl->name = std::move(name);
  const unsigned char* q = p + pos;
  for (uint32_t i = 0; i < cnt[3]; ++i, q += tsize) {
    int64_t t = tsize == 8 ? Be64(q) : static_cast<int32_t>(Be32(q));
    // zic writes nothing beyond -2^59 (its "big bang"); far beyond that,
    // civil-time arithmetic on the footer's years overflows (fuzz finding).
    if (t < -kMaxTransitionTime || t > kMaxTransitionTime) {
      return corrupt("transition time out of range");
    }
    if (!impl->times.empty() && t <= impl->times.back()) {
      return corrupt("transitions out of order");
    }
    impl->times.push_back(t);
  }
  for (uint32_t i = 0; i < cnt[3]; ++i, ++q) {
    if (*q >= cnt[4]) return corrupt("bad type index");
    impl->type_of.push_back(*q);
  }
  for (uint32_t i = 0; i < cnt[4]; ++i, q += 6) {
    int off = static_cast<int32_t>(Be32(q));
    if (std::abs(off) >= kMaxUtcOffset) return corrupt("bad UTC offset");
    impl->types.push_back({off, q[4] != 0});
  }
  pos = q - p + cnt[5] + cnt[1] + cnt[0];
  if (v2 && pos < size && p[pos] == '\n') {
    size_t nl = data.find('\n', pos + 1);
    if (nl == std::string_view::npos) return corrupt("unterminated footer");
    std::string_view rule = data.substr(pos + 1, nl - pos - 1);
    if (!rule.empty()) {
      impl->footer = ParsePosixTz(rule);
      if (!impl->footer) return corrupt("unparsable POSIX TZ footer");
      // RFC 8536 3.3: the footer must agree with the last local time type,
      // i.e. give that offset at the last transition (from where TypeAt
      // follows the footer); otherwise local times at the hand-over have no
      // consistent offset. Two fuzz findings: a footer lacking the offset,
      // and one having it but not in effect at that instant.
      if (!impl->times.empty() &&
          impl->TypeAt(impl->times.back()).offset !=
              impl->types[impl->type_of.back()].offset)
        return corrupt("POSIX TZ footer disagrees with the last transition");
    }
  }
  return TimeZone(std::move(impl));
}

Result<TimeZone> TimeZone::FromPosixRule(std::string_view rule) {
  std::optional<PosixTz> tz = ParsePosixTz(rule);
  if (!tz) {
    return InvalidArgument("invalid POSIX TZ rule '" + std::string(rule) + "'");
  }
  auto impl = std::make_shared<Impl>();
  impl->name = std::string(rule);
  impl->types.push_back({tz->std_offset, false});
  impl->footer = tz;
  return TimeZone(std::move(impl));
}

Result<TimeZone> TimeZone::Load(std::string_view name) {
  const std::string quoted = "unknown timezone '" + std::string(name) + "'";
  if (!ValidZoneName(name)) return InvalidArgument(quoted);
  if (name == "UTC") return TimeZone(UtcImpl());
  if (name == "Etc/UTC" || name == "GMT" || name == "Etc/GMT") {
    return TimeZone(MakeFixed(std::string(name), 0));
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

int TimeZone::UtcOffsetAt(int64_t t) const { return impl_->TypeAt(t).offset; }

LocalTime TimeZone::ToLocal(int64_t t) const {
  LocalType type = impl_->TypeAt(t);
  LocalTime lt = SplitLocal(t + type.offset);
  lt.utc_offset = type.offset;
  lt.is_dst = type.is_dst;
  return lt;
}

std::vector<int64_t> TimeZone::FromLocal(const CivilTime& c) const {
  std::vector<int64_t> out;
  if (c.month < 1 || c.month > 12 || c.day < 1 ||
      c.day > DaysInMonth(c.year, c.month) || c.hour < 0 || c.hour > 23 ||
      c.minute < 0 || c.minute > 59 || c.second < 0 || c.second > 59) {
    return out;
  }
  const int64_t local = DaysFromCivil(c.year, c.month, c.day) * 86400 +
                        c.hour * 3600 + c.minute * 60 + c.second;
  // Every offset in effect within a day of `local` is a candidate; the
  // instant local - offset counts if that offset really applies there.
  constexpr int64_t kWindow = 27 * 3600;
  std::vector<int> offsets{UtcOffsetAt(local - kWindow)};
  for (int64_t t = local - kWindow;;) {
    std::optional<ZoneTransition> z = NextTransition(t);
    if (!z || z->at > local + kWindow) break;
    offsets.push_back(z->offset_after);
    t = z->at;
  }
  for (int off : offsets) {
    int64_t t = local - off;
    if (UtcOffsetAt(t) == off) out.push_back(t);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<ZoneTransition> TimeZone::NextTransition(int64_t after) const {
  return impl_->Next(after);
}

std::optional<ZoneTransition> TimeZone::PrevTransition(int64_t t) const {
  return impl_->Prev(t);
}

std::string FormatIso8601(int64_t unix_seconds, const TimeZone& tz) {
  int off = tz.UtcOffsetAt(unix_seconds);
  int rounded = (off >= 0 ? (off + 30) / 60 : -((-off + 30) / 60)) * 60;
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
