// The .npy header is a Python dict literal, so this is a tiny parser for the
// subset numpy writes (strings, ints, booleans, None, tuples and lists),
// tolerant of key order, spacing and trailing commas as Python is.
#include "source_npy.h"

#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace frb::internal {
namespace {

struct PyValue {
  enum class Kind { kNone, kBool, kInt, kStr, kTuple, kList };
  Kind kind = Kind::kNone;
  int64_t num = 0;  // kInt, and kBool as 0/1
  std::string str;
  std::vector<PyValue> items;
};

using PyDict = std::vector<std::pair<std::string, PyValue>>;

std::string Repr(const PyValue& v) {
  switch (v.kind) {
    case PyValue::Kind::kNone: return "None";
    case PyValue::Kind::kBool: return v.num ? "True" : "False";
    case PyValue::Kind::kInt: return std::to_string(v.num);
    case PyValue::Kind::kStr: return "'" + v.str + "'";
    case PyValue::Kind::kTuple:
    case PyValue::Kind::kList: break;
  }
  bool tuple = v.kind == PyValue::Kind::kTuple;
  std::string out = tuple ? "(" : "[";
  for (size_t i = 0; i < v.items.size(); ++i) {
    if (i > 0) out += ", ";
    out += Repr(v.items[i]);
  }
  if (tuple && v.items.size() == 1) out += ",";
  out += tuple ? ")" : "]";
  return out;
}

// Keeps an error message on one line and short even for a garbage header.
std::string Excerpt(std::string_view text) {
  constexpr size_t kMax = 120;
  std::string out;
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) out += "...";
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : t_(text) {}

  // The whole header: one dict, then only padding.
  Status Dict(PyDict* out) {
    SkipSpace();
    if (!Eat('{')) return Error("expected '{'");
    for (;;) {
      SkipSpace();
      if (Eat('}')) break;  // empty dict or trailing comma
      std::string key;
      FRB_RETURN_IF_ERROR(String(&key));
      SkipSpace();
      if (!Eat(':')) return Error("expected ':' after key '" + key + "'");
      PyValue value;
      FRB_RETURN_IF_ERROR(Value(&value, 0));
      for (const auto& kv : *out) {
        if (kv.first == key) return Error("duplicate key '" + key + "'");
      }
      out->emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Eat(',')) continue;
      if (Eat('}')) break;
      return Error("expected ',' or '}'");
    }
    SkipSpace();
    if (pos_ != t_.size()) return Error("unexpected text after the dict");
    return Status::Ok();
  }

 private:
  Status Value(PyValue* v, int depth) {
    // Deep nesting only comes from hostile input; bound the recursion.
    if (depth > 16) return Error("values nested too deeply");
    SkipSpace();
    if (pos_ >= t_.size()) return Error("unexpected end of header");
    char c = t_[pos_];
    if (c == '\'' || c == '"') {
      v->kind = PyValue::Kind::kStr;
      return String(&v->str);
    }
    if (c == '(' || c == '[') {
      v->kind = c == '(' ? PyValue::Kind::kTuple : PyValue::Kind::kList;
      char close = c == '(' ? ')' : ']';
      ++pos_;
      for (;;) {
        SkipSpace();
        if (Eat(close)) return Status::Ok();
        PyValue item;
        FRB_RETURN_IF_ERROR(Value(&item, depth + 1));
        v->items.push_back(std::move(item));
        SkipSpace();
        if (Eat(',')) continue;
        if (Eat(close)) return Status::Ok();
        return Error(std::string("expected ',' or '") + close + "'");
      }
    }
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return Int(v);
    for (std::string_view word : {"True", "False", "None"}) {
      if (t_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        v->kind = word == "None" ? PyValue::Kind::kNone : PyValue::Kind::kBool;
        v->num = word == "True";
        return Status::Ok();
      }
    }
    return Error("unexpected character '" + Excerpt(t_.substr(pos_, 1)) + "'");
  }

  Status Int(PyValue* v) {
    if (t_[pos_] == '+') ++pos_;
    const char* begin = t_.data() + pos_;
    const char* end = t_.data() + t_.size();
    auto [ptr, ec] = std::from_chars(begin, end, v->num);
    if (ec == std::errc::result_out_of_range) return Error("integer out of range");
    if (ec != std::errc()) return Error("expected an integer");
    pos_ += static_cast<size_t>(ptr - begin);
    if (pos_ < t_.size() && (t_[pos_] == 'L' || t_[pos_] == 'l')) ++pos_;  // Python 2
    v->kind = PyValue::Kind::kInt;
    return Status::Ok();
  }

  Status String(std::string* out) {
    if (pos_ >= t_.size() || (t_[pos_] != '\'' && t_[pos_] != '"'))
      return Error("expected a quoted string");
    char quote = t_[pos_++];
    while (pos_ < t_.size() && t_[pos_] != quote) {
      if (t_[pos_] == '\\' && pos_ + 1 < t_.size()) ++pos_;
      out->push_back(t_[pos_++]);
    }
    if (!Eat(quote)) return Error("unterminated string");
    return Status::Ok();
  }

  void SkipSpace() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t' ||
                                t_[pos_] == '\n' || t_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Eat(char c) {
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  Status Error(const std::string& what) const {
    return InvalidArgument("malformed .npy header: " + what + " at offset " +
                           std::to_string(pos_) + " of \"" + Excerpt(t_) + "\"");
  }

  std::string_view t_;
  size_t pos_ = 0;
};

const PyValue* Find(const PyDict& dict, std::string_view key) {
  for (const auto& kv : dict) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

Status MissingKey(std::string_view key) {
  return InvalidArgument("malformed .npy header: no '" + std::string(key) + "' key");
}

}  // namespace

namespace {

Result<NpyLayout> ParseNpyOf(const uint8_t* data, size_t head_size, uint64_t file_size,
                             bool ids) {
  static constexpr char kMagic[] = "\x93NUMPY";
  constexpr size_t kMagicLen = sizeof(kMagic) - 1;
  const size_t size = head_size;
  if (size < kMagicLen || std::memcmp(data, kMagic, kMagicLen) != 0) {
    if (size < kMagicLen && std::memcmp(data, kMagic, size) == 0)
      return Corruption("truncated: file ends inside the .npy magic");
    return InvalidArgument("not a .npy file (no \\x93NUMPY magic at the start)");
  }
  if (size < 8) return Corruption("truncated: file ends inside the .npy preamble");
  int major = data[6], minor = data[7];
  size_t preamble = major == 1 ? 10 : 12;
  if (major < 1 || major > 3 || minor != 0) {
    return InvalidArgument(".npy format version " + std::to_string(major) + "." +
                           std::to_string(minor) +
                           " is not supported (need 1.0, 2.0 or 3.0)");
  }
  if (size < preamble) {
    return Corruption("truncated: file ends inside the .npy preamble (" +
                      std::to_string(size) + " bytes)");
  }
  uint64_t header_len = data[8] | (static_cast<uint64_t>(data[9]) << 8);
  if (major > 1) {
    header_len |= (static_cast<uint64_t>(data[10]) << 16) |
                  (static_cast<uint64_t>(data[11]) << 24);
  }
  if (header_len > file_size - preamble) {
    return Corruption("truncated: the header is " + std::to_string(header_len) +
                      " bytes but only " + std::to_string(file_size - preamble) +
                      " bytes follow the preamble");
  }
  if (header_len > size - preamble) {
    return InvalidArgument("the .npy header is " + std::to_string(header_len) +
                           " bytes, more than the " + std::to_string(size - preamble) +
                           " supported");
  }
  std::string_view text(reinterpret_cast<const char*>(data + preamble), header_len);
  PyDict dict;
  FRB_RETURN_IF_ERROR(Parser(text).Dict(&dict));

  const PyValue* descr = Find(dict, "descr");
  const PyValue* fortran = Find(dict, "fortran_order");
  const PyValue* shape = Find(dict, "shape");
  if (descr == nullptr) return MissingKey("descr");
  if (fortran == nullptr) return MissingKey("fortran_order");
  if (shape == nullptr) return MissingKey("shape");

  if (ids) {
    if (descr->kind != PyValue::Kind::kStr || descr->str != "<i8")
      return InvalidArgument("dtype " + Repr(*descr) +
                             " is not supported for ids (need int64 '<i8'); convert with "
                             "arr.astype('int64')");
  } else if (descr->kind != PyValue::Kind::kStr) {
    return InvalidArgument("structured dtype " + Repr(*descr) +
                           " is not supported (need float32 '<f4')");
  } else if (descr->str != "<f4") {
    return InvalidArgument("dtype '" + descr->str +
                           "' is not supported (need float32 '<f4'); convert "
                           "with arr.astype('float32')");
  }
  if (fortran->kind != PyValue::Kind::kBool) {
    return InvalidArgument("malformed .npy header: fortran_order is " +
                           Repr(*fortran) + ", not True or False");
  }
  if (fortran->num != 0) {
    return InvalidArgument(
        "array is in Fortran (column-major) order; save a C-order copy with "
        "np.save(path, np.ascontiguousarray(arr))");
  }
  bool shape_ok = shape->kind == PyValue::Kind::kTuple ||
                  shape->kind == PyValue::Kind::kList;
  for (const PyValue& d : shape->items) {
    shape_ok = shape_ok && d.kind == PyValue::Kind::kInt && d.num >= 0;
  }
  if (!shape_ok) {
    return InvalidArgument("malformed .npy header: shape " + Repr(*shape) +
                           " is not a tuple of non-negative integers");
  }
  if (ids) {
    if (shape->items.size() != 1 && !(shape->items.size() == 2 && shape->items[1].num == 1))
      return InvalidArgument("shape " + Repr(*shape) + " is not a list of ids (need (count,))");
  } else if (shape->items.size() != 2) {
    std::string hint = shape->items.size() == 1
                           ? "; reshape with arr.reshape(count, dim)"
                           : "";
    return InvalidArgument("shape " + Repr(*shape) + " is " +
                           std::to_string(shape->items.size()) +
                           "-D; need a 2-D array (count, dim)" + hint);
  }
  NpyLayout layout;
  layout.count = shape->items[0].num;
  layout.dim = ids ? 1 : shape->items[1].num;
  layout.data_offset = preamble + header_len;
  uint64_t want = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(layout.count),
                             static_cast<uint64_t>(layout.dim), &want) ||
      __builtin_mul_overflow(want, uint64_t{ids ? 8u : 4u}, &want)) {
    return InvalidArgument("shape " + Repr(*shape) + " is too large");
  }
  uint64_t have = file_size - layout.data_offset;
  if (have < want) {
    return Corruption("truncated: expected " + std::to_string(want) +
                      " bytes of data for shape " + Repr(*shape) + ", found " +
                      std::to_string(have));
  }
  if (have > want) {
    return Corruption(std::to_string(have - want) +
                      " unexpected trailing bytes after the " +
                      std::to_string(want) + " bytes of data for shape " +
                      Repr(*shape));
  }
  return layout;
}

}  // namespace

Result<NpyLayout> ParseNpy(const uint8_t* data, size_t head_size, uint64_t file_size) {
  return ParseNpyOf(data, head_size, file_size, false);
}

Result<NpyLayout> ParseNpyIds(const uint8_t* data, size_t head_size, uint64_t file_size) {
  return ParseNpyOf(data, head_size, file_size, true);
}

}  // namespace frb::internal
