// One signed S3 HTTP exchange on libcurl, with the retry policy. Internal
// to the S3 client.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "frb/s3.h"

namespace frb {

struct S3HttpRequest {
  std::string method = "GET";
  std::string bucket;
  std::string key;  // "" = the bucket itself
  // name -> value, unencoded; sent sorted and encoded (SigV4 canonical
  // order, which curl 7.88 does not establish itself).
  std::map<std::string, std::string> query;
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // PUT/POST payload (kept by the caller)
  // GET: receives the body of a 2xx answer instead of S3HttpResponse::body
  // (bytes delivered are counted so a retry can resume after them).
  S3Sink sink;
  // Ranged GET: first byte and length (0 = none).
  uint64_t range_offset = 0;
  uint64_t range_length = 0;
  bool ranged = false;
  // Statuses returned as-is instead of mapped to an error (e.g. 304, 404).
  std::vector<long> accept;
};

struct S3HttpResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lowercase names
  uint64_t delivered = 0;  // bytes handed to the sink
  std::string Header(const std::string& lower) const;
};

// Thread-safe (one curl easy handle per call).
class S3Request {
 public:
  // Runs `req` with retries (connection errors, 5xx, SlowDown, throttling)
  // and jittered exponential backoff. A 2xx or an `accept`ed status is a
  // response; anything else a Status naming method, bucket/key, HTTP status
  // and the store's error code -- never a credential.
  static Result<S3HttpResponse> Run(S3Client& client, const S3HttpRequest& req);
  // URI-encodes per SigV4 (unreserved kept; '/' kept when keep_slash).
  static std::string Encode(std::string_view s, bool keep_slash);
};

// "<Code>: <Message>" from an S3 XML error body, or "" when none.
std::string S3ErrorSummary(const std::string& xml);
// Text of the first element `name` under the document's root, or "".
std::string XmlChildText(const std::string& xml, const char* name);

}  // namespace frb
