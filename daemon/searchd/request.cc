#include "request.h"

#include <cmath>
#include <limits>

#include "frb/json.h"

namespace frb::searchd {
namespace {

// Appends one query vector, checking length and that every value is a
// finite float (JSON has no NaN, but 1e39 overflows a float to Inf).
Status AppendVector(const Json& v, int dim, std::string_view what,
                    std::vector<float>* out) {
  if (!v.is_array())
    return InvalidArgument(std::string(what) + " must be an array of numbers");
  if (static_cast<int64_t>(v.size()) != dim)
    return InvalidArgument(std::string(what) + " has " + std::to_string(v.size()) +
                           " values; the index dimension is " + std::to_string(dim));
  for (size_t i = 0; i < v.as_array().size(); ++i) {
    const Json& e = v.as_array()[i];
    if (!e.is_number())
      return InvalidArgument(std::string(what) + "[" + std::to_string(i) +
                             "] is not a number");
    const double d = e.as_double();
    if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max())
      return InvalidArgument(std::string(what) + "[" + std::to_string(i) +
                             "] is not a finite 32-bit float");
    out->push_back(static_cast<float>(d));
  }
  return Status::Ok();
}

Result<int> IntField(const Json& v, std::string_view key, int lo, int hi) {
  const double d = v.is_number() ? v.as_double() : std::nan("");
  if (!v.is_number() || d != std::floor(d))
    return InvalidArgument(std::string(key) + " must be an integer");
  if (d < lo || d > hi)
    return InvalidArgument(std::string(key) + " must be in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "], got " + v.Dump());
  return static_cast<int>(d);
}

void AppendResults(Json& obj, int k, const float* d, const int64_t* l) {
  Json ids = Json::MakeArray(), dist = Json::MakeArray();
  for (int j = 0; j < k; ++j) {
    if (l[j] < 0) continue;
    ids.Push(Json(l[j]));
    dist.Push(Json(static_cast<double>(d[j])));
  }
  obj["ids"] = std::move(ids);
  obj["distances"] = std::move(dist);
}

}  // namespace

Result<SearchRequest> ParseSearchRequest(std::string_view body, const LoadedIndex& li,
                                         const RequestLimits& limits) {
  auto parsed = Json::Parse(body, 8);
  if (!parsed.ok()) return InvalidArgument("malformed JSON: " + parsed.status().message());
  const Json& j = *parsed;
  if (!j.is_object()) return InvalidArgument("the body must be a JSON object");
  SearchRequest req;
  const Json* vector = nullptr;
  const Json* vectors = nullptr;
  for (const auto& [key, v] : j.as_object()) {
    if (key == "vector") {
      vector = &v;
    } else if (key == "vectors") {
      vectors = &v;
    } else if (key == "k") {
      FRB_ASSIGN_OR_RETURN(req.k, IntField(v, "k", 1, limits.max_k));
    } else if (key == "nprobe") {
      if (li.max_nprobe == 0)
        return InvalidArgument("nprobe does not apply to this index (" + li.factory + ")");
      FRB_ASSIGN_OR_RETURN(int p, IntField(v, "nprobe", 1, li.max_nprobe));
      req.params.nprobe = p;
    } else if (key == "efSearch") {
      if (li.max_ef_search == 0)
        return InvalidArgument("efSearch does not apply to this index (" + li.factory + ")");
      FRB_ASSIGN_OR_RETURN(int e, IntField(v, "efSearch", 1, li.max_ef_search));
      req.params.ef_search = e;
    } else {
      return InvalidArgument("unknown field '" + key +
                             "' (expected vector or vectors, k, nprobe, efSearch)");
    }
  }
  if ((vector == nullptr) == (vectors == nullptr))
    return InvalidArgument("give exactly one of 'vector' and 'vectors'");
  if (vector != nullptr) {
    req.x.reserve(li.dim);
    FRB_RETURN_IF_ERROR(AppendVector(*vector, li.dim, "vector", &req.x));
    req.n = 1;
    return req;
  }
  req.batch = true;
  if (!vectors->is_array() || vectors->size() == 0)
    return InvalidArgument("vectors must be a non-empty array of vectors");
  if (static_cast<int64_t>(vectors->size()) > limits.max_batch)
    return InvalidArgument("batch of " + std::to_string(vectors->size()) +
                           " vectors exceeds the limit of " +
                           std::to_string(limits.max_batch));
  req.n = static_cast<int64_t>(vectors->size());
  req.x.reserve(req.n * li.dim);
  for (size_t i = 0; i < vectors->as_array().size(); ++i)
    FRB_RETURN_IF_ERROR(AppendVector(vectors->as_array()[i], li.dim,
                                     "vectors[" + std::to_string(i) + "]", &req.x));
  return req;
}

std::string FormatSearchResponse(const LoadedIndex& li, const SearchRequest& req,
                                 const float* distances, const int64_t* labels) {
  Json out = Json::MakeObject();
  out["index"] = li.name;
  out["version"] = li.version;
  out["k"] = req.k;
  if (!req.batch) {
    AppendResults(out, req.k, distances, labels);
  } else {
    Json results = Json::MakeArray();
    for (int64_t i = 0; i < req.n; ++i) {
      Json r = Json::MakeObject();
      AppendResults(r, req.k, distances + i * req.k, labels + i * req.k);
      results.Push(std::move(r));
    }
    out["results"] = std::move(results);
  }
  return out.Dump();
}

std::string ErrorBody(std::string_view message) {
  Json e = Json::MakeObject();
  e["error"] = std::string(message);
  return e.Dump();
}

}  // namespace frb::searchd
