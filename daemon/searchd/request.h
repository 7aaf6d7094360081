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

// A push parser of search request bodies: bytes go in as they arrive
// (chunked or not) and vectors are parsed straight into the float array,
// with no JSON tree. It fails at the first byte that makes the request
// invalid, so an oversized batch or a vector longer than the dimension
// stops the read there: memory stays within max_batch x dim floats.
// Thread safety: one request, one thread.
class SearchRequestParser {
 public:
  SearchRequestParser(const LoadedIndex& li, const RequestLimits& limits);
  // Consumes more body bytes; an error (kept) once the body is invalid.
  Status Feed(std::string_view bytes);
  // The request, once the whole body has been fed.
  Result<SearchRequest> Finish();

 private:
  enum class St {
    kStart, kKeyOrEnd, kKey, kKeyChars, kColon, kValue, kAfterValue, kDone,
    kOuterOrEnd, kOuter, kAfterOuter, kElemOrEnd, kElem, kAfterElem, kNumber
  };
  enum class Field { kNone, kVector, kVectors, kK, kNprobe, kEfSearch };
  Status Step(char c);
  Status StartValue(char c);
  Status StartElement(char c);
  Status EndNumber();
  Status EndVector();
  std::string What() const;  // "vector" or "vectors[i]"

  const LoadedIndex& li_;
  const RequestLimits limits_;
  SearchRequest req_;
  Status error_;
  St st_ = St::kStart;
  St after_number_ = St::kDone;
  Field field_ = Field::kNone;
  std::string token_;  // the key or number being read
  bool seen_[6] = {};
  int64_t elems_ = 0;  // values in the vector being read
  uint64_t fed_ = 0;
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
