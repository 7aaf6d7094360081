#include "frb/cron.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <utility>
#include <vector>

namespace frb {
namespace {

constexpr int64_t kMinUnix = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxUnix = 253402300799;  // 9999-12-31T23:59:59Z

enum FieldIndex { kSec, kMin, kHour, kDom, kMon, kDow };

struct FieldSpec {
  const char* name;
  int lo, hi;
  const char* const* names;  // names[i] means lo + i; nullptr if none
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr",
                                       "may", "jun", "jul", "aug",
                                       "sep", "oct", "nov", "dec", nullptr};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed",
                                     "thu", "fri", "sat", nullptr};

constexpr FieldSpec kFields[] = {
    {"second", 0, 59, nullptr},      {"minute", 0, 59, nullptr},
    {"hour", 0, 23, nullptr},        {"day-of-month", 1, 31, nullptr},
    {"month", 1, 12, kMonthNames},   {"day-of-week", 0, 7, kDayNames},
};

// Lowest set bit of `mask` at or above `from`, or -1.
int NextBit(uint64_t mask, int from) {
  if (from >= 64) return -1;
  uint64_t m = mask & (~uint64_t{0} << from);
  return m ? std::countr_zero(m) : -1;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct Value {
  int v = 0;
  bool named = false;
};

// Parses one number or name; on failure returns an error message.
std::optional<std::string> ParseValue(std::string_view tok, const FieldSpec& f,
                                      Value* out) {
  if (tok.empty()) return "missing value";
  if (std::isdigit(static_cast<unsigned char>(tok[0]))) {
    int64_t v = 0;
    for (char c : tok) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        return "invalid value '" + std::string(tok) + "'";
      }
      v = std::min<int64_t>(v * 10 + (c - '0'), 1'000'000);  // no overflow
    }
    if (v < f.lo || v > f.hi) {
      return std::string(tok) + " is out of range " + std::to_string(f.lo) +
             "-" + std::to_string(f.hi);
    }
    *out = {static_cast<int>(v), false};
    return std::nullopt;
  }
  if (f.names != nullptr) {
    std::string lower = Lower(tok);
    for (int i = 0; f.names[i] != nullptr; ++i) {
      if (lower == f.names[i]) {
        *out = {f.lo + i, true};
        return std::nullopt;
      }
    }
  }
  return "invalid value '" + std::string(tok) + "'";
}

// Parses a comma list into a bit set (bit i = value i).
std::optional<std::string> ParseField(std::string_view text, const FieldSpec& f,
                                      uint64_t* bits) {
  *bits = 0;
  size_t start = 0;
  while (true) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = text.substr(start, comma - start);
    if (item.empty()) return "empty list element in '" + std::string(text) + "'";
    std::string_view base = item, step_text;
    int step = 1;
    size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      base = item.substr(0, slash);
      step_text = item.substr(slash + 1);
      bool digits = !step_text.empty() && step_text.size() <= 6 &&
                    std::all_of(step_text.begin(), step_text.end(), [](char c) {
                      return std::isdigit(static_cast<unsigned char>(c));
                    });
      step = -1;
      if (digits) {
        step = 0;
        for (char c : step_text) step = step * 10 + (c - '0');
      }
      if (step < 1 || step > f.hi) {
        return "bad step '" + std::string(step_text) + "' in '" +
               std::string(item) + "' (must be 1-" + std::to_string(f.hi) + ")";
      }
    }
    int lo, hi;
    if (base == "*") {
      lo = f.lo, hi = f.hi;
    } else {
      size_t dash = base.find('-', 1);
      Value a, b;
      std::string_view first = base.substr(0, dash);
      if (auto err = ParseValue(first, f, &a)) return err;
      if (dash == std::string_view::npos) {
        b = slash == std::string_view::npos ? a : Value{f.hi, false};
      } else if (dash + 1 == base.size()) {
        return "invalid range '" + std::string(base) + "'";
      } else if (auto err = ParseValue(base.substr(dash + 1), f, &b)) {
        return err;
      }
      // "FRI-SUN" reads naturally; SUN is 0, so treat it as 7 here.
      if (f.names == kDayNames && b.named && b.v == 0 && a.v > 0) b.v = 7;
      if (a.v > b.v) {
        return "range " + std::string(base) + " is reversed";
      }
      lo = a.v, hi = b.v;
    }
    for (int v = lo; v <= hi; v += step) *bits |= uint64_t{1} << v;
    if (comma == text.size()) return std::nullopt;
    start = comma + 1;
  }
}

std::string Join(const std::vector<int>& vals, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) {
    if (!out.empty()) out += ',';
    out += std::to_string(vals[i]);
  }
  return out;
}

// Canonical text for a set. For hour, dom and dow a leading '*' changes the
// meaning (DST policy, day rule), so those get a '*' form exactly when
// `star_flag` says the original had one; odd '*' forms ("*/15,7") are kept
// verbatim rather than rewritten into something that means less.
std::string RenderField(uint64_t bits, int lo, int hi, bool star_semantic,
                        bool star_flag, const std::string& original) {
  const bool star_ok = star_flag || !star_semantic;
  std::vector<int> vals;
  for (int v = NextBit(bits, lo); v >= 0 && v <= hi; v = NextBit(bits, v + 1)) {
    vals.push_back(v);
  }
  const size_t n = vals.size();
  if (star_ok && n == static_cast<size_t>(hi - lo + 1)) return "*";
  int d = n >= 2 ? vals[1] - vals[0] : 0;
  bool progression = d > 1;
  for (size_t i = 2; i < n && progression; ++i) {
    progression = vals[i] - vals[i - 1] == d;
  }
  if (star_ok && progression && vals[0] == lo && vals[n - 1] + d > hi) {
    return "*/" + std::to_string(d);
  }
  if (star_flag && star_semantic) return original;
  if (progression && n >= 3) {
    return std::to_string(vals[0]) + "-" + std::to_string(vals[n - 1]) + "/" +
           std::to_string(d);
  }
  std::string out;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && vals[j + 1] == vals[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j - i >= 2 ? std::to_string(vals[i]) + "-" + std::to_string(vals[j])
                      : Join(vals, i, j + 1);
    i = j + 1;
  }
  return out;
}

}  // namespace

class CronParser {
 public:
  static Result<CronExpr> Parse(std::string_view expr) {
    CronExpr c;
    c.source_ = std::string(expr);
    const std::string prefix = "cron '" + c.source_ + "': ";
    std::vector<std::string_view> fields;
    for (size_t i = 0; i < expr.size();) {
      if (std::isspace(static_cast<unsigned char>(expr[i]))) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < expr.size() && !std::isspace(static_cast<unsigned char>(expr[j]))) ++j;
      fields.push_back(expr.substr(i, j - i));
      i = j;
    }
    if (fields.empty()) return InvalidArgument(prefix + "empty expression");
    std::string expanded;
    if (fields[0][0] == '@') {
      static constexpr std::pair<const char*, const char*> kMacros[] = {
          {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
          {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
          {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
          {"@hourly", "0 * * * *"},
      };
      const std::string name = Lower(fields[0]);
      for (const auto& [macro, text] : kMacros) {
        if (name == macro) expanded = text;
      }
      if (expanded.empty()) {
        return InvalidArgument(prefix + "unknown macro '" + std::string(fields[0]) +
                               "' (known: @yearly @annually @monthly @weekly "
                               "@daily @midnight @hourly)");
      }
      if (fields.size() != 1) {
        return InvalidArgument(prefix + "unexpected text after " + name);
      }
      Result<CronExpr> r = Parse(expanded);
      if (r.ok()) r->source_ = c.source_;
      return r;
    }
    if (fields.size() != 5 && fields.size() != 6) {
      return InvalidArgument(prefix + "expected 5 fields (minute hour "
                             "day-of-month month day-of-week) or 6 (with "
                             "seconds first), got " +
                             std::to_string(fields.size()));
    }
    c.has_seconds_ = fields.size() == 6;
    uint64_t bits[6] = {1, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < fields.size(); ++i) {
      const int index = static_cast<int>(i) + (c.has_seconds_ ? 0 : 1);
      const FieldSpec& f = kFields[index];
      if (auto err = ParseField(fields[i], f, &bits[index])) {
        return InvalidArgument(prefix + f.name + " field: " + *err);
      }
    }
    c.hour_text_ = std::string(fields[fields.size() - 4]);
    c.dom_text_ = std::string(fields[fields.size() - 3]);
    c.dow_text_ = std::string(fields[fields.size() - 1]);
    c.seconds_ = bits[kSec];
    c.minutes_ = bits[kMin];
    c.hours_ = static_cast<uint32_t>(bits[kHour]);
    c.days_ = static_cast<uint32_t>(bits[kDom]);
    c.months_ = static_cast<uint16_t>(bits[kMon]);
    c.weekdays_ = static_cast<uint8_t>((bits[kDow] | bits[kDow] >> 7) & 0x7f);
    c.dom_star_ = c.dom_text_[0] == '*';
    c.dow_star_ = c.dow_text_[0] == '*';
    c.wall_clock_ =
        c.hour_text_[0] == '*' || c.hours_ == (uint32_t{1} << 24) - 1;

    // With AND semantics a (month, day) pair must exist; every such pair
    // falls on every weekday within a 400-year cycle, so that suffices.
    if (c.dom_star_ || c.dow_star_) {
      static constexpr int kMaxDays[] = {0, 31, 29, 31, 30, 31, 30,
                                         31, 31, 30, 31, 30, 31};
      bool possible = false;
      for (int m = 1; m <= 12; ++m) {
        uint64_t in_month = (uint64_t{2} << kMaxDays[m]) - 2;  // bits 1..max
        if ((c.months_ >> m & 1) && (c.days_ & in_month)) possible = true;
      }
      if (!possible) {
        return InvalidArgument(prefix + "never fires: no selected month has "
                               "day " + c.dom_text_);
      }
    }
    return c;
  }
};

Result<CronExpr> CronExpr::Parse(std::string_view expr) {
  return CronParser::Parse(expr);
}

bool CronExpr::DayMatches(int64_t days, int dom) const {
  bool dom_ok = days_ >> dom & 1;
  bool dow_ok = weekdays_ >> WeekdayFromDays(days) & 1;
  return dom_star_ || dow_star_ ? dom_ok && dow_ok : dom_ok || dow_ok;
}

std::optional<int> CronExpr::NextSecondOfDay(int from) const {
  const int h0 = from / 3600, m0 = from / 60 % 60, s0 = from % 60;
  for (int h = NextBit(hours_, h0); h >= 0; h = NextBit(hours_, h + 1)) {
    for (int m = NextBit(minutes_, h == h0 ? m0 : 0); m >= 0;
         m = NextBit(minutes_, m + 1)) {
      int s = NextBit(seconds_, h == h0 && m == m0 ? s0 : 0);
      if (s >= 0) return h * 3600 + m * 60 + s;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> CronExpr::NextLocalMatch(int64_t from,
                                                int64_t limit) const {
  int64_t day = from >= 0 ? from / 86400 : -((-from + 86399) / 86400);
  int sod = static_cast<int>(from - day * 86400);
  while (day * 86400 <= limit) {
    int64_t y;
    int m, d;
    CivilFromDays(day, &y, &m, &d);
    if (!(months_ >> m & 1)) {  // skip to the 1st of the next month that fits
      int next = NextBit(months_, m + 1);
      day = next > 0 ? DaysFromCivil(y, next, 1)
                     : DaysFromCivil(y + 1, NextBit(months_, 1), 1);
      sod = 0;
      continue;
    }
    if (DayMatches(day, d)) {
      if (std::optional<int> s = NextSecondOfDay(sod)) {
        int64_t t = day * 86400 + *s;
        return t <= limit ? std::optional<int64_t>(t) : std::nullopt;
      }
    }
    ++day;
    sod = 0;
  }
  return std::nullopt;
}

Result<int64_t> CronExpr::Next(int64_t after, const TimeZone& tz) const {
  if (after < kMinUnix || after > kMaxUnix) {
    return InvalidArgument("cron '" + source_ + "': time " +
                           std::to_string(after) + " is outside years 1-9999");
  }
  const int64_t limit = after + int64_t{kSearchYears} * 366 * 86400;
  int64_t t = after + 1;
  // Walk the spans of constant UTC offset; within one, local time is
  // t + offset and matching is pure calendar arithmetic.
  std::optional<ZoneTransition> prev = tz.PrevTransition(t);
  for (;;) {
    const std::optional<ZoneTransition> next = tz.NextTransition(t);
    const int off = tz.UtcOffsetAt(t);
    const int64_t end = next ? std::min(next->at - 1, limit) : limit;
    int64_t from = t + off;
    if (!wall_clock_ && prev) {
      // Local times [lo, hi) were skipped (hi > lo) or repeat (hi < lo).
      const int64_t lo = prev->at + prev->offset_before;
      const int64_t hi = prev->at + prev->offset_after;
      if (hi > lo) {
        if (prev->at == t && NextLocalMatch(lo, hi - 1)) return t;
      } else {
        from = std::max(from, lo);  // already fired before the change
      }
    }
    if (from <= end + off) {
      if (std::optional<int64_t> m = NextLocalMatch(from, end + off)) {
        return *m - off;
      }
    }
    if (!next || next->at > limit) break;
    prev = next;
    t = next->at;
  }
  return InvalidArgument("cron '" + source_ + "': never fires within " +
                         std::to_string(kSearchYears) + " years");
}

std::vector<int64_t> CronExpr::NextN(int64_t after, const TimeZone& tz,
                                     size_t n) const {
  std::vector<int64_t> out;
  while (out.size() < n) {
    Result<int64_t> t = Next(after, tz);
    if (!t.ok()) break;
    out.push_back(*t);
    after = *t;
  }
  return out;
}

std::string CronExpr::ToString() const {
  std::string out;
  if (has_seconds_) out = RenderField(seconds_, 0, 59, false, false, "") + " ";
  out += RenderField(minutes_, 0, 59, false, false, "") + " ";
  // A full hour set is wall-clock with or without '*', so "*" is exact.
  out += RenderField(hours_, 0, 23, true, wall_clock_, hour_text_) + " ";
  out += RenderField(days_, 1, 31, true, dom_star_, dom_text_) + " ";
  out += RenderField(months_, 1, 12, false, false, "") + " ";
  out += RenderField(weekdays_, 0, 6, true, dow_star_, dow_text_);
  return out;
}

}  // namespace frb
