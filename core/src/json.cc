// Json value, strict parser and serializer. Nothing here throws: bad input
// is a Status, and a wrong-type accessor aborts (a programmer error that
// must not turn into undefined behaviour in release builds).
#include "frb/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "json_internal.h"

namespace frb {
namespace {

[[noreturn]] void TypeMismatch(const char* want, Json::Type got) {
  static constexpr const char* kNames[] = {"null",   "bool",  "int",   "double",
                                           "string", "array", "object"};
  std::fprintf(stderr, "frb::Json: expected %s, value is %s\n", want,
               kNames[static_cast<int>(got)]);
  std::abort();
}

// Works for const and mutable variants; get_if keeps the constness.
template <typename T, typename V>
auto* Get(V& v, const char* want, Json::Type got) {
  auto* p = std::get_if<T>(&v);
  if (p == nullptr) TypeMismatch(want, got);
  return p;
}

using json_internal::Utf8SeqLen;

void DumpString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // Invalid UTF-8 becomes U+FFFD so that Dump's output always parses.
      const size_t len = Utf8SeqLen(s, i);
      if (len == 0) {
        out->append("\\ufffd");
        ++i;
      } else {
        out->append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

void DumpDouble(double d, std::string* out) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view text(buf, static_cast<size_t>(end - buf));
  out->append(text);
  // Keep the value a double when read back: "1" would parse as kInt.
  if (text.find_first_of(".e") == std::string_view::npos) out->append(".0");
}

void Newline(int indent, int level, std::string* out) {
  if (indent < 0) return;
  out->push_back('\n');
  out->append(static_cast<size_t>(indent) * static_cast<size_t>(level), ' ');
}

void DumpValue(const Json& v, int indent, int level, std::string* out) {
  switch (v.type()) {
    case Json::Type::kNull: out->append("null"); return;
    case Json::Type::kBool: out->append(v.as_bool() ? "true" : "false"); return;
    case Json::Type::kInt: out->append(std::to_string(v.as_int())); return;
    case Json::Type::kDouble: DumpDouble(v.as_double(), out); return;
    case Json::Type::kString: DumpString(v.as_string(), out); return;
    case Json::Type::kArray: {
      const Json::Array& arr = v.as_array();
      if (arr.empty()) {
        out->append("[]");
        return;
      }
      out->push_back('[');
      for (size_t i = 0; i < arr.size(); ++i) {
        if (i > 0) out->push_back(',');
        Newline(indent, level + 1, out);
        DumpValue(arr[i], indent, level + 1, out);
      }
      Newline(indent, level, out);
      out->push_back(']');
      return;
    }
    case Json::Type::kObject: {
      const Json::Object& obj = v.as_object();
      if (obj.empty()) {
        out->append("{}");
        return;
      }
      out->push_back('{');
      for (size_t i = 0; i < obj.size(); ++i) {
        if (i > 0) out->push_back(',');
        Newline(indent, level + 1, out);
        DumpString(obj[i].first, out);
        out->append(indent < 0 ? ":" : ": ");
        DumpValue(obj[i].second, indent, level + 1, out);
      }
      Newline(indent, level, out);
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

// -------------------------------------------------------------- Json

Json::Type Json::type() const { return static_cast<Type>(v_.index()); }

bool Json::is_number() const {
  return type() == Type::kInt || type() == Type::kDouble;
}

bool Json::as_bool() const { return *Get<bool>(v_, "bool", type()); }

int64_t Json::as_int() const {
  if (const auto* i = std::get_if<int64_t>(&v_)) return *i;
  const double d = *Get<double>(v_, "int", type());
  // 2^63 is exact as a double; the cast is only defined below it.
  if (d != std::trunc(d) || d < -0x1p63 || d >= 0x1p63) {
    TypeMismatch("integral number in int64 range", type());
  }
  return static_cast<int64_t>(d);
}

double Json::as_double() const {
  if (const auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  return *Get<double>(v_, "number", type());
}

const std::string& Json::as_string() const {
  return *Get<std::string>(v_, "string", type());
}
const Json::Array& Json::as_array() const {
  return *Get<Array>(v_, "array", type());
}
Json::Array& Json::as_array() { return *Get<Array>(v_, "array", type()); }
const Json::Object& Json::as_object() const {
  return *Get<Object>(v_, "object", type());
}
Json::Object& Json::as_object() { return *Get<Object>(v_, "object", type()); }

Json& Json::operator[](std::string_view key) {
  if (is_null()) v_ = Object{};
  Object& obj = as_object();
  for (auto& [k, v] : obj) {
    if (k == key) return v;
  }
  return obj.emplace_back(std::string(key), Json()).second;
}

const Json* Json::Find(std::string_view key) const {
  const auto* obj = std::get_if<Object>(&v_);
  if (obj == nullptr) return nullptr;
  for (const auto& [k, v] : *obj) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Json::Push(Json v) {
  if (is_null()) v_ = Array{};
  as_array().push_back(std::move(v));
}

size_t Json::size() const {
  if (const auto* a = std::get_if<Array>(&v_)) return a->size();
  if (const auto* o = std::get_if<Object>(&v_)) return o->size();
  return 0;
}

std::string Json::GetString(std::string_view key, std::string def) const {
  const Json* v = Find(key);
  return v != nullptr && v->is_string() ? v->as_string() : def;
}

int64_t Json::GetInt(std::string_view key, int64_t def) const {
  const Json* v = Find(key);
  if (v == nullptr) return def;
  if (v->is_int()) return v->as_int();
  if (v->type() == Type::kDouble) {
    const double d = v->as_double();
    if (d == std::trunc(d) && d >= -0x1p63 && d < 0x1p63) {
      return static_cast<int64_t>(d);
    }
  }
  return def;
}

double Json::GetDouble(std::string_view key, double def) const {
  const Json* v = Find(key);
  return v != nullptr && v->is_number() ? v->as_double() : def;
}

bool Json::GetBool(std::string_view key, bool def) const {
  const Json* v = Find(key);
  return v != nullptr && v->is_bool() ? v->as_bool() : def;
}

std::string Json::Dump(int indent) const {
  std::string out;
  DumpValue(*this, indent, 0, &out);
  return out;
}

}  // namespace frb
