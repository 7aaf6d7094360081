#include "request.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "frb/json.h"

namespace frb::searchd {
namespace {

Result<int> IntField(const Json& v, std::string_view key, int lo, int hi) {
  const double d = v.is_number() ? v.as_double() : std::nan("");
  if (!v.is_number() || d != std::floor(d))
    return InvalidArgument(std::string(key) + " must be an integer");
  if (d < lo || d > hi)
    return InvalidArgument(std::string(key) + " must be in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "], got " + v.Dump());
  return static_cast<int>(d);
}

// Appends "ids":[...],"distances":[...] of one query, padding (-1) dropped.
// Numbers are written as Json::Dump writes them (shortest round-trip form,
// distances always with a '.' or exponent), so clients see the same bytes.
void AppendResults(std::string* out, int k, const float* d, const int64_t* l) {
  char buf[32];
  out->append("\"ids\":[");
  bool first = true;
  for (int j = 0; j < k; ++j) {
    if (l[j] < 0) continue;
    if (!first) out->push_back(',');
    first = false;
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), l[j]);
    out->append(buf, end);
  }
  out->append("],\"distances\":[");
  first = true;
  for (int j = 0; j < k; ++j) {
    if (l[j] < 0) continue;
    if (!first) out->push_back(',');
    first = false;
    const double v = d[j];
    if (!std::isfinite(v)) {
      out->append("null");
      continue;
    }
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    const std::string_view text(buf, static_cast<size_t>(end - buf));
    out->append(text);
    if (text.find_first_of(".e") == std::string_view::npos) out->append(".0");
  }
  out->push_back(']');
}

}  // namespace

// ---- SearchRequestParser: a state machine over the request grammar
//   {"vector": [num, ...] | "vectors": [[num, ...], ...], "k": int,
//    "nprobe": int, "efSearch": int}  (any order, each at most once)

namespace {

bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool StartsNumber(char c) { return c == '-' || (c >= '0' && c <= '9'); }
bool InNumber(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}
// A JSON value that is not a number: string, array, object, literal.
bool StartsOtherValue(char c) {
  return c == '"' || c == '[' || c == '{' || c == 't' || c == 'f' || c == 'n';
}

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool ValidNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

constexpr size_t kMaxToken = 512;

}  // namespace

SearchRequestParser::SearchRequestParser(const LoadedIndex& li, const RequestLimits& limits)
    : li_(li), limits_(limits) {}

std::string SearchRequestParser::What() const {
  return req_.batch ? "vectors[" + std::to_string(req_.n) + "]" : "vector";
}

Status SearchRequestParser::Feed(std::string_view bytes) {
  if (!error_.ok()) return error_;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (st_ == St::kNumber) {
      // The digits of a number in one append: a vector is mostly numbers,
      // and a state step per digit showed in profiles.
      size_t end = i;
      while (end < bytes.size() && InNumber(bytes[end])) ++end;
      if (end > i && token_.size() + (end - i) <= kMaxToken) {
        token_.append(bytes.data() + i, end - i);
        fed_ += end - i;
        i = end - 1;
        continue;
      }
    }
    const char c = bytes[i];
    ++fed_;
    Status s = Step(c);
    if (!s.ok()) {
      error_ = s;
      return error_;
    }
  }
  return Status::Ok();
}

Status SearchRequestParser::Step(char c) {
  auto malformed = [&](std::string_view what) {
    return InvalidArgument("malformed JSON: " + std::string(what) + " at byte " +
                           std::to_string(fed_));
  };
  switch (st_) {
    case St::kStart:
      if (IsWs(c)) return Status::Ok();
      if (c != '{') return InvalidArgument("the body must be a JSON object");
      st_ = St::kKeyOrEnd;
      return Status::Ok();
    case St::kKeyOrEnd:
    case St::kKey:
      if (IsWs(c)) return Status::Ok();
      if (c == '}' && st_ == St::kKeyOrEnd) {
        st_ = St::kDone;
        return Status::Ok();
      }
      if (c != '"') return malformed("expected a key");
      token_.clear();
      st_ = St::kKeyChars;
      return Status::Ok();
    case St::kKeyChars:
      if (c == '"') {
        st_ = St::kColon;
        return Status::Ok();
      }
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || token_.size() >= 64)
        return InvalidArgument("unknown field (expected vector or vectors, k, nprobe, efSearch)");
      token_.push_back(c);
      return Status::Ok();
    case St::kColon: {
      if (IsWs(c)) return Status::Ok();
      if (c != ':') return malformed("expected ':'");
      if (token_ == "vector") field_ = Field::kVector;
      else if (token_ == "vectors") field_ = Field::kVectors;
      else if (token_ == "k") field_ = Field::kK;
      else if (token_ == "nprobe") field_ = Field::kNprobe;
      else if (token_ == "efSearch") field_ = Field::kEfSearch;
      else
        return InvalidArgument("unknown field '" + token_ +
                               "' (expected vector or vectors, k, nprobe, efSearch)");
      if (field_ == Field::kNprobe && li_.max_nprobe == 0)
        return InvalidArgument("nprobe does not apply to this index (" + li_.factory + ")");
      if (field_ == Field::kEfSearch && li_.max_ef_search == 0)
        return InvalidArgument("efSearch does not apply to this index (" + li_.factory + ")");
      bool& seen = seen_[static_cast<int>(field_)];
      if (seen) return InvalidArgument("field '" + token_ + "' given twice");
      seen = true;
      if (seen_[static_cast<int>(Field::kVector)] && seen_[static_cast<int>(Field::kVectors)])
        return InvalidArgument("give exactly one of 'vector' and 'vectors'");
      st_ = St::kValue;
      return Status::Ok();
    }
    case St::kValue:
      if (IsWs(c)) return Status::Ok();
      return StartValue(c);
    case St::kAfterValue:
      if (IsWs(c)) return Status::Ok();
      if (c == ',') st_ = St::kKey;
      else if (c == '}') st_ = St::kDone;
      else return malformed("expected ',' or '}'");
      return Status::Ok();
    case St::kDone:
      if (IsWs(c)) return Status::Ok();
      return malformed("trailing bytes after the object");
    case St::kOuterOrEnd:
    case St::kOuter:
      if (IsWs(c)) return Status::Ok();
      if (c == ']' && st_ == St::kOuterOrEnd) {
        if (req_.n == 0) return InvalidArgument("vectors must be a non-empty array of vectors");
        st_ = St::kAfterValue;
        return Status::Ok();
      }
      if (c == '[') {
        if (req_.n >= limits_.max_batch)
          return InvalidArgument("batch exceeds the limit of " +
                                 std::to_string(limits_.max_batch) + " vectors");
        elems_ = 0;
        st_ = St::kElemOrEnd;
        return Status::Ok();
      }
      if (StartsNumber(c) || StartsOtherValue(c))
        return InvalidArgument(What() + " must be an array of numbers");
      return malformed("expected a vector");
    case St::kAfterOuter:
      if (IsWs(c)) return Status::Ok();
      if (c == ',') st_ = St::kOuter;
      else if (c == ']') st_ = St::kAfterValue;
      else return malformed("expected ',' or ']'");
      return Status::Ok();
    case St::kElemOrEnd:
    case St::kElem:
      if (IsWs(c)) return Status::Ok();
      if (c == ']' && st_ == St::kElemOrEnd) return EndVector();
      return StartElement(c);
    case St::kAfterElem:
      if (IsWs(c)) return Status::Ok();
      if (c == ',') {
        st_ = St::kElem;
        return Status::Ok();
      }
      if (c == ']') return EndVector();
      return malformed("expected ',' or ']'");
    case St::kNumber:
      if (InNumber(c)) {
        if (token_.size() >= kMaxToken) return malformed("number too long");
        token_.push_back(c);
        return Status::Ok();
      }
      FRB_RETURN_IF_ERROR(EndNumber());
      return Step(c);
  }
  return malformed("internal parser state");
}

Status SearchRequestParser::StartValue(char c) {
  switch (field_) {
    case Field::kVector:
      if (c != '[') {
        if (StartsNumber(c) || StartsOtherValue(c))
          return InvalidArgument("vector must be an array of numbers");
        return InvalidArgument("malformed JSON: expected a value at byte " + std::to_string(fed_));
      }
      req_.batch = false;
      req_.x.reserve(li_.dim);
      elems_ = 0;
      st_ = St::kElemOrEnd;
      return Status::Ok();
    case Field::kVectors:
      if (c != '[') {
        if (StartsNumber(c) || StartsOtherValue(c))
          return InvalidArgument("vectors must be a non-empty array of vectors");
        return InvalidArgument("malformed JSON: expected a value at byte " + std::to_string(fed_));
      }
      req_.batch = true;
      st_ = St::kOuterOrEnd;
      return Status::Ok();
    default:
      if (StartsNumber(c)) {
        token_.assign(1, c);
        after_number_ = St::kAfterValue;
        st_ = St::kNumber;
        return Status::Ok();
      }
      if (StartsOtherValue(c)) {
        const char* key = field_ == Field::kK ? "k" : field_ == Field::kNprobe ? "nprobe"
                                                                               : "efSearch";
        return InvalidArgument(std::string(key) + " must be an integer");
      }
      return InvalidArgument("malformed JSON: expected a value at byte " + std::to_string(fed_));
  }
}

Status SearchRequestParser::StartElement(char c) {
  if (elems_ >= li_.dim)
    return InvalidArgument(What() + " has more than " + std::to_string(li_.dim) +
                           " values; the index dimension is " + std::to_string(li_.dim));
  if (StartsNumber(c)) {
    token_.assign(1, c);
    after_number_ = St::kAfterElem;
    st_ = St::kNumber;
    return Status::Ok();
  }
  if (StartsOtherValue(c))
    return InvalidArgument(What() + "[" + std::to_string(elems_) + "] is not a number");
  return InvalidArgument("malformed JSON: expected a number at byte " + std::to_string(fed_));
}

Status SearchRequestParser::EndNumber() {
  if (!ValidNumber(token_))
    return InvalidArgument("malformed JSON: bad number '" + token_ + "'");
  // from_chars: locale-free and several times faster than strtod, which
  // showed in profiles (a vector is dim numbers). Out of double range it
  // leaves `d` unset; strtod then gives what JSON means (inf, or 0 on underflow).
  double d = 0;
  if (std::from_chars(token_.data(), token_.data() + token_.size(), d).ec != std::errc())
    d = std::strtod(token_.c_str(), nullptr);
  st_ = after_number_;
  if (after_number_ == St::kAfterElem) {
    if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max())
      return InvalidArgument(What() + "[" + std::to_string(elems_) +
                             "] is not a finite 32-bit float");
    req_.x.push_back(static_cast<float>(d));
    ++elems_;
    return Status::Ok();
  }
  Json v(d);
  if (field_ == Field::kK) {
    FRB_ASSIGN_OR_RETURN(req_.k, IntField(v, "k", 1, limits_.max_k));
  } else if (field_ == Field::kNprobe) {
    FRB_ASSIGN_OR_RETURN(int p, IntField(v, "nprobe", 1, li_.max_nprobe));
    req_.params.nprobe = p;
  } else {
    FRB_ASSIGN_OR_RETURN(int e, IntField(v, "efSearch", 1, li_.max_ef_search));
    req_.params.ef_search = e;
  }
  return Status::Ok();
}

Status SearchRequestParser::EndVector() {
  if (elems_ != li_.dim)
    return InvalidArgument(What() + " has " + std::to_string(elems_) +
                           " values; the index dimension is " + std::to_string(li_.dim));
  ++req_.n;
  st_ = req_.batch ? St::kAfterOuter : St::kAfterValue;
  return Status::Ok();
}

Result<SearchRequest> SearchRequestParser::Finish() {
  if (!error_.ok()) return error_;
  if (st_ == St::kStart) return InvalidArgument("malformed JSON: empty body");
  if (st_ != St::kDone) return InvalidArgument("malformed JSON: the body ends early");
  if (seen_[static_cast<int>(Field::kVector)] == seen_[static_cast<int>(Field::kVectors)])
    return InvalidArgument("give exactly one of 'vector' and 'vectors'");
  return std::move(req_);
}

Result<SearchRequest> ParseSearchRequest(std::string_view body, const LoadedIndex& li,
                                         const RequestLimits& limits) {
  SearchRequestParser parser(li, limits);
  FRB_RETURN_IF_ERROR(parser.Feed(body));
  return parser.Finish();
}

std::string FormatSearchResponse(const LoadedIndex& li, const SearchRequest& req,
                                 const float* distances, const int64_t* labels) {
  // One allocation: at most ~20 bytes per id and ~25 per distance.
  std::string out;
  out.reserve(64 + li.name.size() + li.version.size() +
              static_cast<size_t>(req.n) * (32 + static_cast<size_t>(req.k) * 48));
  out.append("{\"index\":");
  out.append(Json(li.name).Dump());
  out.append(",\"version\":");
  out.append(Json(li.version).Dump());
  out.append(",\"k\":");
  out.append(std::to_string(req.k));
  if (!req.batch) {
    out.push_back(',');
    AppendResults(&out, req.k, distances, labels);
  } else {
    out.append(",\"results\":[");
    for (int64_t i = 0; i < req.n; ++i) {
      if (i > 0) out.push_back(',');
      out.push_back('{');
      AppendResults(&out, req.k, distances + i * req.k, labels + i * req.k);
      out.push_back('}');
    }
    out.push_back(']');
  }
  out.push_back('}');
  return out;
}

std::string ErrorBody(std::string_view message) {
  Json e = Json::MakeObject();
  e["error"] = std::string(message);
  return e.Dump();
}

}  // namespace frb::searchd
