// A small S3 client on libcurl: requests are signed by curl itself
// (CURLOPT_AWS_SIGV4), list/multipart/error bodies parsed with pugixml.
// Works with AWS and S3-compatible stores (MinIO, Ceph RGW, moto, s3rver)
// through an endpoint override and path-style addressing.
//
// Secrets: the secret key and session token are never put into a Status,
// a log line or stats(); error messages name the bucket, key, HTTP status
// and the store's error code/message only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frb/env.h"
#include "frb/status.h"

namespace frb {

// "s3://BUCKET/PREFIX" split; prefix has no leading or trailing '/'
// (may be empty).
struct S3Location {
  std::string bucket;
  std::string prefix;
  // prefix + "/" + rest, or rest alone when the prefix is empty.
  std::string Key(std::string_view rest) const;
  std::string ToUrl() const;  // s3://bucket[/prefix]
};

// True when `url` starts with "s3://".
bool IsS3Url(std::string_view url);
// kInvalidArgument unless `url` is s3://BUCKET[/PREFIX] with a valid bucket
// name and no "..", "//" or NUL in the prefix.
Result<S3Location> ParseS3Url(std::string_view url);

// "2026-12-06T05:55:00[.000]Z" -> unix seconds; 0 when malformed.
int64_t ParseRfc3339Utc(std::string_view text);

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty when none
};

// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN] when both are
// set, else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
// ~/.aws/credentials), profile AWS_PROFILE or "default". kNotFound when
// neither has credentials; errors never contain a secret.
Result<S3Credentials> LoadS3Credentials(Env* env);

struct S3Options {
  // "" = https://s3.<region>.amazonaws.com; else e.g. "http://127.0.0.1:9000".
  std::string endpoint;
  // "" = AWS_REGION, else AWS_DEFAULT_REGION, else "us-east-1".
  std::string region;
  // Path-style (endpoint/bucket/key) instead of virtual-host addressing.
  bool path_style = false;
  // nullopt = LoadS3Credentials() at Create().
  std::optional<S3Credentials> credentials;
  // Files larger than this are uploaded in parts of this size (>= 5 MiB
  // except in tests against servers that allow less).
  uint64_t part_size = 16ull << 20;
  // Parallel part uploads / ranged downloads of one object.
  int parallelism = 4;
  // Attempts per request (connection errors, 500, 502, 503, 504, SlowDown
  // are retried with jittered exponential backoff).
  int max_attempts = 6;
  std::chrono::milliseconds base_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::seconds connect_timeout{10};
  // A transfer slower than 1 KiB/s for this long is aborted (and retried).
  std::chrono::seconds low_speed_time{30};
  // Directory for multipart upload state files (resume after a restart);
  // "" = resume by ListMultipartUploads + ListParts only.
  std::string state_dir;
};

struct S3ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // without quotes
  int64_t last_modified_unix = 0;  // from List only (0 when unknown)
};

struct S3PutConditions {
  std::optional<std::string> if_match;  // ETag the object must have
  bool if_none_match_any = false;       // object must not exist
};

struct S3GetResult {
  bool not_modified = false;  // 304 on a conditional GET; body empty
  std::string body;
  std::string etag;
};

// Counters since Create(); monotonic.
struct S3Stats {
  uint64_t bytes_uploaded = 0;
  uint64_t bytes_downloaded = 0;
  uint64_t requests = 0;
  uint64_t retries = 0;
  uint64_t failures = 0;  // requests that failed after all attempts
};

// Receives downloaded bytes in order; a non-ok Status aborts the transfer.
using S3Sink = std::function<Status(const char* data, size_t n)>;

// Thread-safe: every call uses its own curl handle; stats are atomic.
// Error codes: kNotFound (404/NoSuchKey/NoSuchBucket), kPermissionDenied
// (403, bad credentials or signature), kFailedPrecondition (412 on a
// conditional PUT, or 409 ConditionalRequestConflict), kIOError (network,
// 5xx after the retries), kCorruption (SHA-256 or size mismatch).
class S3Client {
 public:
  static Result<std::unique_ptr<S3Client>> Create(S3Options options, Env* env);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  Status CreateBucket(const std::string& bucket);
  Result<S3ObjectInfo> Head(const std::string& bucket, const std::string& key);
  // PUT of a small body; returns the new ETag.
  Result<std::string> Put(const std::string& bucket, const std::string& key,
                          std::string_view body,
                          const S3PutConditions& cond = {});
  // Uploads a local file (multipart above part_size, per-part retries,
  // resumes an upload of the same key+sha256 left by an earlier process).
  // When `sha256` is non-empty the file is hashed while read and a
  // mismatch is kCorruption before the upload completes.
  Result<std::string> PutFile(const std::string& bucket, const std::string& key,
                              const std::string& path,
                              const std::string& sha256 = "");
  // GET; with `if_none_match` a 304 gives not_modified.
  Result<S3GetResult> Get(const std::string& bucket, const std::string& key,
                          const std::string& if_none_match = "");
  // Ranged GET of [offset, offset+length) (length 0 = to the end) into
  // `sink`; retried from the last byte delivered. Returns bytes delivered.
  Result<uint64_t> GetRange(const std::string& bucket, const std::string& key,
                            uint64_t offset, uint64_t length, const S3Sink& sink);
  // Every object under `prefix` (ListObjectsV2, all pages), key order.
  Result<std::vector<S3ObjectInfo>> List(const std::string& bucket,
                                         const std::string& prefix);
  // DELETE; a missing key is ok.
  Status Delete(const std::string& bucket, const std::string& key);

  S3Stats stats() const;
  const S3Options& options() const { return opts_; }

 private:
  S3Client(S3Options options, Env* env);
  friend class S3Request;
  friend class S3Multipart;
  S3Options opts_;
  Env* env_;
  std::atomic<uint64_t> up_{0}, down_{0}, requests_{0}, retries_{0}, failures_{0};
};

}  // namespace frb
