// A small JSON value with a strict parser and a serializer. Used for
// manifests, state files, the HTTP API and `--json` output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "frb/status.h"

namespace frb {

// Thread safety: a value type; const access is safe from several threads.
class Json {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
  using Array = std::vector<Json>;
  // Objects keep insertion order so output is stable and readable.
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;  // null
  Json(std::nullptr_t) {}  // NOLINT
  Json(bool b) : v_(b) {}  // NOLINT
  Json(int i) : v_(static_cast<int64_t>(i)) {}  // NOLINT
  Json(int64_t i) : v_(i) {}  // NOLINT
  Json(uint64_t u) : v_(static_cast<int64_t>(u)) {}  // NOLINT
  Json(double d) : v_(d) {}  // NOLINT
  Json(const char* s) : v_(std::string(s)) {}  // NOLINT
  Json(std::string s) : v_(std::move(s)) {}  // NOLINT
  Json(std::string_view s) : v_(std::string(s)) {}  // NOLINT
  Json(Array a) : v_(std::move(a)) {}  // NOLINT
  Json(Object o) : v_(std::move(o)) {}  // NOLINT
  static Json MakeArray() { return Json(Array{}); }
  static Json MakeObject() { return Json(Object{}); }

  Type type() const;
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  // True for kInt and kDouble.
  bool is_number() const;
  bool is_int() const { return type() == Type::kInt; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }

  // Accessors assert the type; check it first on untrusted input.
  bool as_bool() const;
  int64_t as_int() const;     // a kDouble with an integral value converts
  double as_double() const;   // a kInt converts
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object access: inserts a null member when missing (turns null into {}).
  Json& operator[](std::string_view key);
  // Object lookup; nullptr when missing or when this is not an object.
  const Json* Find(std::string_view key) const;
  // Appends to an array (turns null into []).
  void Push(Json v);
  size_t size() const;  // elements of an array or members of an object

  // Lenient typed getters for reading our own files: default when missing
  // or of another type.
  std::string GetString(std::string_view key, std::string def = "") const;
  int64_t GetInt(std::string_view key, int64_t def = 0) const;
  double GetDouble(std::string_view key, double def = 0) const;
  bool GetBool(std::string_view key, bool def = false) const;

  // Serializes; indent < 0 gives one compact line. Non-finite doubles
  // become null (JSON has no NaN).
  std::string Dump(int indent = -1) const;

  // Strict RFC 8259 parse of a whole document (no trailing garbage,
  // no comments), depth-limited. Errors name the byte offset.
  static Result<Json> Parse(std::string_view text, int max_depth = 64);

  bool operator==(const Json& other) const = default;

 private:
  std::variant<std::nullptr_t, bool, int64_t, double, std::string, Array,
               Object>
      v_ = nullptr;
};

}  // namespace frb
