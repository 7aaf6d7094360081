// Parsing and validation of search requests, and the response body. Pure
// functions: no I/O, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frb/status.h"
#include "loaded_index.h"

namespace frb::searchd {

struct RequestLimits {
  int max_k = 1000;
  int max_batch = 1024;  // vectors per request
};

struct SearchRequest {
  bool batch = false;       // "vectors" (array of arrays) vs "vector"
  int64_t n = 0;            // number of query vectors
  int k = 10;
  std::vector<float> x;     // n * dim, row-major
  SearchOverride params;
};

// kInvalidArgument with a message fit for the client on: malformed JSON,
// unknown keys, wrong dimension, NaN/Inf or out-of-float-range values, k
// out of [1, max_k], empty or oversized batch, overrides out of range or
// not applicable to the index type.
Result<SearchRequest> ParseSearchRequest(std::string_view body, const LoadedIndex& li,
                                         const RequestLimits& limits);

// {"index", "version", "k", "ids", "distances"} for a single query, or
// {"index", "version", "k", "results": [{"ids", "distances"}, ...]}.
// Padding entries (id -1, fewer than k neighbours exist) are dropped.
std::string FormatSearchResponse(const LoadedIndex& li, const SearchRequest& req,
                                 const float* distances, const int64_t* labels);

// {"error": message}.
std::string ErrorBody(std::string_view message);

}  // namespace frb::searchd
