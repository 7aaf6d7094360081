// Naming of source formats and the JSON form of a source fingerprint.
#include <climits>
#include <string>
#include <string_view>
#include <utility>

#include "frb/source.h"

namespace frb {
namespace {

constexpr std::pair<SourceFormat, std::string_view> kFormats[] = {
    {SourceFormat::kNpy, "npy"},
    {SourceFormat::kFvecs, "fvecs"},
    {SourceFormat::kBvecs, "bvecs"},
    {SourceFormat::kRawF32, "raw-f32"},
};

const char* JsonTypeName(Json::Type t) {
  switch (t) {
    case Json::Type::kNull: return "null";
    case Json::Type::kBool: return "a boolean";
    case Json::Type::kInt: return "an integer";
    case Json::Type::kDouble: return "a non-integer number";
    case Json::Type::kString: return "a string";
    case Json::Type::kArray: return "an array";
    case Json::Type::kObject: return "an object";
  }
  return "unknown";
}

Result<const Json*> Member(const Json& j, std::string_view key, Json::Type type) {
  const Json* v = j.Find(key);
  if (v == nullptr)
    return InvalidArgument("source fingerprint: missing key '" + std::string(key) + "'");
  if (v->type() != type) {
    return InvalidArgument("source fingerprint: '" + std::string(key) + "' must be " +
                           JsonTypeName(type) + ", not " + JsonTypeName(v->type()));
  }
  return v;
}

}  // namespace

Result<SourceFormat> ParseSourceFormat(std::string_view name) {
  for (const auto& [format, format_name] : kFormats) {
    if (name == format_name) return format;
  }
  return InvalidArgument("unknown source format '" + std::string(name) +
                         "'; expected one of: npy, fvecs, bvecs, raw-f32");
}

std::string_view SourceFormatName(SourceFormat f) {
  for (const auto& [format, format_name] : kFormats) {
    if (f == format) return format_name;
  }
  return "unknown";
}

Json SourceFingerprint::ToJson() const {
  Json j = Json::MakeObject();
  j["path"] = path;
  j["size"] = size;
  j["mtime_ns"] = mtime_ns;
  j["sha256"] = sha256;
  j["count"] = count;
  j["dim"] = dim;
  if (!ids_path.empty()) {
    j["ids_path"] = ids_path;
    j["ids_sha256"] = ids_sha256;
  }
  return j;
}

Result<SourceFingerprint> SourceFingerprint::FromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgument("source fingerprint: not a JSON object");
  using T = Json::Type;
  FRB_ASSIGN_OR_RETURN(const Json* path, Member(j, "path", T::kString));
  FRB_ASSIGN_OR_RETURN(const Json* size, Member(j, "size", T::kInt));
  FRB_ASSIGN_OR_RETURN(const Json* mtime, Member(j, "mtime_ns", T::kInt));
  FRB_ASSIGN_OR_RETURN(const Json* sha, Member(j, "sha256", T::kString));
  FRB_ASSIGN_OR_RETURN(const Json* count, Member(j, "count", T::kInt));
  FRB_ASSIGN_OR_RETURN(const Json* dim, Member(j, "dim", T::kInt));
  const std::string& hex = sha->as_string();
  // Empty is what a default-constructed fingerprint serializes to.
  if (!hex.empty() && (hex.size() != 64 ||
                       hex.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return InvalidArgument(
        "source fingerprint: 'sha256' must be 64 lowercase hex digits or empty");
  }
  if (size->as_int() < 0 || count->as_int() < 0 || dim->as_int() < 0 ||
      dim->as_int() > INT_MAX) {
    return InvalidArgument("source fingerprint: 'size', 'count' and 'dim' must be "
                           "non-negative ('dim' at most " + std::to_string(INT_MAX) + ")");
  }
  SourceFingerprint fp;
  fp.path = path->as_string();
  fp.size = static_cast<uint64_t>(size->as_int());
  fp.mtime_ns = mtime->as_int();
  fp.sha256 = hex;
  fp.count = count->as_int();
  fp.dim = static_cast<int>(dim->as_int());
  fp.ids_path = j.GetString("ids_path");
  fp.ids_sha256 = j.GetString("ids_sha256");
  return fp;
}

}  // namespace frb
