// The strict JSON parser behind Json::Parse: RFC 8259 only (no comments,
// no trailing commas, no NaN), UTF-8 checked, depth bounded.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>

#include "frb/json.h"
#include "json_internal.h"

namespace frb {
namespace json_internal {

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 when it is
// malformed (overlong, surrogate, above U+10FFFF, truncated).
size_t Utf8SeqLen(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t c = b(0);
  if (c < 0x80) return 1;
  size_t len;
  uint32_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

}  // namespace json_internal

namespace {

using json_internal::Utf8SeqLen;

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
    return;
  }
  const int extra = cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
  static constexpr uint8_t kLead[] = {0, 0xC0, 0xE0, 0xF0};
  out->push_back(static_cast<char>(kLead[extra] | (cp >> (6 * extra))));
  for (int k = extra - 1; k >= 0; --k) {
    out->push_back(static_cast<char>(0x80 | ((cp >> (6 * k)) & 0x3F)));
  }
}

// ---------------------------------------------------------------- parser

class Parser {
 public:
  Parser(std::string_view text, int max_depth)
      : s_(text), max_depth_(max_depth) {}

  Result<Json> Run() {
    Json root;
    SkipWs();
    if (!ParseValue(&root, 0)) return std::move(error_);
    SkipWs();
    if (pos_ != s_.size()) {
      Fail(pos_, "unexpected " + Describe(pos_) + " after the document");
      return std::move(error_);
    }
    return root;
  }

 private:
  // Records the first error; always returns false so callers can
  // `return Fail(...)`.
  bool Fail(size_t at, std::string_view what) {
    error_ = InvalidArgument("JSON parse error at byte " + std::to_string(at) +
                             ": " + std::string(what));
    return false;
  }

  // Names the byte at `at` without echoing raw binary into the message.
  std::string Describe(size_t at) const {
    if (at >= s_.size()) return "end of input";
    const auto c = static_cast<unsigned char>(s_[at]);
    char buf[16];
    if (c >= 0x20 && c < 0x7F) {
      std::snprintf(buf, sizeof(buf), "'%c'", c);
    } else {
      std::snprintf(buf, sizeof(buf), "byte 0x%02X", c);
    }
    return buf;
  }

  bool At(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool Eat(char c) { return At(c) ? (++pos_, true) : false; }
  bool AtDigit() const {
    return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9';
  }

  void SkipWs() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' ||
                                s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Expect(char c) {
    return Eat(c) || Fail(pos_, std::string("expected '") + c + "', got " +
                                    Describe(pos_));
  }

  bool ParseValue(Json* out, int depth) {
    if (pos_ >= s_.size()) return Fail(pos_, "unexpected end of input");
    switch (s_[pos_]) {
      case '{': return ParseObject(out, depth + 1);
      case '[': return ParseArray(out, depth + 1);
      case '"': {
        std::string str;
        if (!ParseString(&str)) return false;
        *out = Json(std::move(str));
        return true;
      }
      case 't': return ParseLiteral("true", Json(true), out);
      case 'f': return ParseLiteral("false", Json(false), out);
      case 'n': return ParseLiteral("null", Json(), out);
      default:
        if (At('-') || AtDigit()) return ParseNumber(out);
        return Fail(pos_, "expected a value, got " + Describe(pos_));
    }
  }

  bool ParseLiteral(std::string_view word, Json value, Json* out) {
    if (s_.substr(pos_, word.size()) != word) {
      return Fail(pos_,
                  "invalid literal, expected '" + std::string(word) + "'");
    }
    pos_ += word.size();
    *out = std::move(value);
    return true;
  }

  bool CheckDepth(int depth) {
    if (depth <= max_depth_) return true;
    return Fail(pos_, "nesting deeper than " + std::to_string(max_depth_));
  }

  bool ParseArray(Json* out, int depth) {
    if (!CheckDepth(depth)) return false;
    ++pos_;  // '['
    Json::Array arr;
    SkipWs();
    while (!Eat(']')) {
      if (!arr.empty() && !Eat(',')) {
        return Fail(pos_, "expected ',' or ']', got " + Describe(pos_));
      }
      SkipWs();
      if (!ParseValue(&arr.emplace_back(), depth)) return false;
      SkipWs();
    }
    *out = Json(std::move(arr));
    return true;
  }

  bool ParseObject(Json* out, int depth) {
    if (!CheckDepth(depth)) return false;
    ++pos_;  // '{'
    Json::Object obj;
    std::vector<size_t> key_pos;  // for naming a duplicate's offset
    SkipWs();
    while (!Eat('}')) {
      if (!obj.empty() && !Eat(',')) {
        return Fail(pos_, "expected ',' or '}', got " + Describe(pos_));
      }
      SkipWs();
      if (!At('"')) {
        return Fail(pos_, "expected a string key, got " + Describe(pos_));
      }
      key_pos.push_back(pos_);
      auto& member = obj.emplace_back(std::piecewise_construct, std::tuple<>(), std::tuple<>());
      if (!ParseString(&member.first)) return false;
      SkipWs();
      if (!Expect(':')) return false;
      SkipWs();
      if (!ParseValue(&member.second, depth)) return false;
      SkipWs();
    }
    if (!CheckDuplicates(obj, key_pos)) return false;
    *out = Json(std::move(obj));
    return true;
  }

  // Once per object, sorted, so a hostile object with many keys costs
  // O(n log n) rather than O(n^2).
  bool CheckDuplicates(const Json::Object& obj,
                       const std::vector<size_t>& key_pos) {
    if (obj.size() < 2) return true;
    std::vector<size_t> idx(obj.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      return obj[a].first < obj[b].first;
    });
    size_t dup = obj.size();
    for (size_t i = 1; i < idx.size(); ++i) {
      if (obj[idx[i]].first == obj[idx[i - 1]].first) {
        dup = std::min(dup, idx[i]);  // the earliest repeated occurrence
      }
    }
    if (dup == obj.size()) return true;
    return Fail(key_pos[dup], "duplicate key " + Json(obj[dup].first).Dump());
  }

  bool ParseHex4(size_t at, uint32_t* out) {
    if (s_.size() - at < 4) return Fail(at, "truncated \\u escape");
    uint32_t v = 0;
    for (size_t i = at; i < at + 4; ++i) {
      const char c = s_[i];
      const char lower = static_cast<char>(c | 0x20);
      int d = -1;
      if (c >= '0' && c <= '9') d = c - '0';
      if (lower >= 'a' && lower <= 'f') d = lower - 'a' + 10;
      if (d < 0) return Fail(i, "invalid hex digit in \\u escape");
      v = (v << 4) | static_cast<uint32_t>(d);
    }
    *out = v;
    return true;
  }

  // At the 'u' of "\uXXXX"; leaves pos_ after the escape (or the pair).
  bool ParseUnicodeEscape(std::string* out) {
    const size_t start = pos_ - 1;  // the backslash
    uint32_t cp = 0;
    if (!ParseHex4(pos_ + 1, &cp)) return false;
    pos_ += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return Fail(start, "unpaired low surrogate in \\u escape");
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (s_.substr(pos_, 2) != "\\u") {
        return Fail(start, "unpaired high surrogate in \\u escape");
      }
      uint32_t lo = 0;
      if (!ParseHex4(pos_ + 2, &lo)) return false;
      if (lo < 0xDC00 || lo > 0xDFFF) {
        return Fail(start, "unpaired high surrogate in \\u escape");
      }
      pos_ += 6;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    AppendUtf8(out, cp);
    return true;
  }

  bool ParseString(std::string* out) {
    ++pos_;  // opening quote
    for (;;) {
      // Copy runs of plain bytes at once; most strings have no escapes.
      size_t run = pos_;
      while (run < s_.size()) {
        const auto c = static_cast<unsigned char>(s_[run]);
        if (c == '"' || c == '\\' || c < 0x20) break;
        if (c < 0x80) {
          ++run;
          continue;
        }
        const size_t len = Utf8SeqLen(s_, run);
        if (len == 0) {
          out->append(s_.substr(pos_, run - pos_));
          return Fail(run, "invalid UTF-8 in string");
        }
        run += len;
      }
      out->append(s_.substr(pos_, run - pos_));
      pos_ = run;
      if (pos_ >= s_.size()) return Fail(pos_, "unterminated string");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c != '\\') return Fail(pos_, "unescaped control character in string");
      if (++pos_ >= s_.size()) return Fail(pos_, "unterminated string");
      switch (s_[pos_]) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u':
          if (!ParseUnicodeEscape(out)) return false;
          continue;
        default:
          return Fail(pos_ - 1, "invalid escape \\" + Describe(pos_));
      }
      ++pos_;
    }
  }

  bool ParseNumber(Json* out) {
    const size_t start = pos_;
    Eat('-');
    if (!AtDigit()) return Fail(pos_, "expected a digit");
    if (Eat('0')) {
      if (AtDigit()) return Fail(start, "leading zero in number");
    } else {
      while (AtDigit()) ++pos_;
    }
    bool integral = true;
    if (Eat('.')) {
      integral = false;
      if (!AtDigit()) return Fail(pos_, "expected a digit after '.'");
      while (AtDigit()) ++pos_;
    }
    if (Eat('e') || Eat('E')) {
      integral = false;
      if (!Eat('+')) Eat('-');
      if (!AtDigit()) return Fail(pos_, "expected a digit in exponent");
      while (AtDigit()) ++pos_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    if (integral) {
      int64_t i;
      auto [p, ec] = std::from_chars(first, last, i);
      if (ec == std::errc() && p == last) {
        *out = Json(i);
        return true;
      }
      // Too big for int64: fall through to double, like most parsers.
    }
    double d;
    auto [p, ec] = std::from_chars(first, last, d);
    // Infinity could not be written back, so magnitude limits are errors
    // (RFC 8259 section 9 allows setting them).
    if (ec != std::errc() || p != last || !std::isfinite(d)) {
      return Fail(start, "number out of range");
    }
    *out = Json(d);
    return true;
  }

  std::string_view s_;
  int max_depth_;
  size_t pos_ = 0;
  Status error_;
};

// ------------------------------------------------------------ serializer

}  // namespace

Result<Json> Json::Parse(std::string_view text, int max_depth) {
  return Parser(text, max_depth).Run();
}

}  // namespace frb
