// What the time zone tests share: UTC instants, zone loading, a scoped
// environment variable and a TZif file writer.
#pragma once

#include "frb/timezone.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "testutil.h"

namespace frb {
namespace timezone_test {

using namespace std::string_literals;

// timegm is glibc's, so expectations do not depend on the code under test.
inline int64_t Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return timegm(&tm);
}

inline TimeZone Zone(const std::string& name) {
  Result<TimeZone> tz = TimeZone::Load(name);
  EXPECT_TRUE(tz.ok()) << tz.status().ToString();
  return tz.ok() ? *tz : TimeZone();
}

// Sets an environment variable for one scope; tzset() keeps glibc in sync.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) old_ = old;
    had_ = old != nullptr;
    setenv(name, value.c_str(), 1);
    tzset();
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
    tzset();
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

inline void Put32(std::string* s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s->push_back(char(v >> shift));
}
inline void Put64(std::string* s, int64_t v) {
  Put32(s, static_cast<uint32_t>(static_cast<uint64_t>(v) >> 32));
  Put32(s, static_cast<uint32_t>(v));
}

struct TestType {
  int32_t offset;
  bool dst;
  uint8_t abbr_index = 0;  // byte offset into the abbreviation string
};

// A TZif file as zic writes it: version '\0' is v1 only; for '2'+ the v1
// block is a stub ("slim") and the real data is in the 64-bit block.
inline std::string BuildTzif(char version, const std::vector<int64_t>& times,
                      const std::vector<uint8_t>& idx,
                      const std::vector<TestType>& types,
                      const std::string& footer, const std::string& abbr = "ABC") {
  // `abbr` may hold several NUL-separated abbreviations.
  const uint32_t charcnt = static_cast<uint32_t>(abbr.size() + 1);
  auto header = [&](std::string* s, uint32_t timecnt, uint32_t typecnt) {
    *s += "TZif";
    s->push_back(version);
    s->append(15, '\0');
    for (uint32_t c : {0u, 0u, 0u, timecnt, typecnt, charcnt}) Put32(s, c);
  };
  auto body = [&](std::string* s, bool wide) {
    for (int64_t t : times) wide ? Put64(s, t) : Put32(s, uint32_t(t));
    for (uint8_t i : idx) s->push_back(char(i));
    for (const TestType& t : types) {
      Put32(s, uint32_t(t.offset));
      s->push_back(t.dst ? 1 : 0);
      s->push_back(static_cast<char>(t.abbr_index));
    }
    s->append(abbr.data(), abbr.size());
    s->push_back('\0');
  };
  std::string out;
  if (version == '\0') {
    header(&out, times.size(), types.size());
    body(&out, false);
    return out;
  }
  header(&out, 0, 1);
  Put32(&out, 0);
  out.append(2, '\0');
  out.append(abbr.data(), abbr.size());
  out.push_back('\0');
  header(&out, times.size(), types.size());
  body(&out, true);
  return out + "\n" + footer + "\n";
}

// A TZif file whose table ends around 2020 with a change to DST and one back
// to standard time (`times`, default: any two in 2020), and whose POSIX TZ
// footer rule covers the rest.
inline Result<TimeZone> FooterZone(const std::string& rule, TestType std_type,
                            const std::string& std_abbr, int32_t dst_offset = 0,
                            const std::string& dst_abbr = "",
                            std::vector<int64_t> times = {Utc(2020, 6, 1), Utc(2020, 12, 1)}) {
  if (dst_abbr.empty())
    return TimeZone::FromTzif(rule, BuildTzif('2', {Utc(2020, 1, 1)}, {0}, {std_type}, rule,
                                              std_abbr));
  const TestType dst{dst_offset, true, static_cast<uint8_t>(std_abbr.size() + 1)};
  return TimeZone::FromTzif(rule, BuildTzif('2', times, {1, 0}, {std_type, dst}, rule,
                                            std_abbr + '\0' + dst_abbr));
}

}  // namespace timezone_test
}  // namespace frb
