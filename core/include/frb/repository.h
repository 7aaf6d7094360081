// The object-storage repository of published versions:
//
//   <prefix>/<index>/objects/sha256/<hex>     every file, named by content,
//                                             written once, never overwritten
//   <prefix>/<index>/versions/<version>.json  a version's manifest (files
//                                             with size and SHA-256), written
//                                             after its objects
//   <prefix>/<index>/pointer.json             {"live","previous",...}, written
//                                             last, moved by conditional PUT
//
// A version the pointer never named is invisible to readers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frb/env.h"
#include "frb/s3.h"
#include "frb/status.h"

namespace frb {

struct RepoFile {
  std::string name;  // file name in a local version dir, e.g. "index.faiss"
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
};

struct RepoVersion {
  std::string index;
  std::string version;
  std::string created_at;  // RFC 3339 UTC
  std::optional<std::string> parent;
  std::string kind = "full";
  std::vector<RepoFile> files;
};

struct RepoPointer {
  std::string live;
  std::optional<std::string> previous;
  std::string updated_at;  // RFC 3339 UTC
  std::string publisher;   // host name
  std::string etag;        // of pointer.json as read (for If-Match)
};

// Result of a conditional pointer read.
struct RepoPointerRead {
  bool not_modified = false;          // ETag unchanged (304)
  std::optional<RepoPointer> pointer; // nullopt: no pointer yet / unchanged
};

struct RepoPullOptions {
  // Called with bytes of the current file received so far (progress).
  std::function<void(uint64_t)> on_bytes;
};

// Thread-compatible for writers (one publisher per index, under the local
// index lock); readers are thread-safe. The S3Client must outlive this.
class Repository {
 public:
  Repository(S3Client* client, S3Location location, Env* env);

  const S3Location& location() const { return loc_; }
  std::string ObjectKey(const std::string& index, const std::string& sha256) const;
  std::string VersionKey(const std::string& index, const std::string& version) const;
  std::string PointerKey(const std::string& index) const;

  // Checks whether the store enforces conditional PUTs: a PUT with
  // If-None-Match:* on an existing scratch key must fail. Caches the answer.
  Result<bool> ProbeConditionalPut();
  // The answer of the last probe (true before any probe).
  bool conditional_put() const { return conditional_put_; }

  // The pointer, or nullopt when the index was never published.
  Result<std::optional<RepoPointer>> ReadPointer(const std::string& index);
  // Conditional GET on `etag` (empty = unconditional).
  Result<RepoPointerRead> ReadPointerIfChanged(const std::string& index,
                                               const std::string& etag);
  // A version's manifest; kCorruption when malformed or naming another
  // index/version, kNotFound when missing.
  Result<RepoVersion> ReadVersion(const std::string& index,
                                  const std::string& version);
  // Versions with a manifest in the repository, oldest first (name order).
  Result<std::vector<std::string>> ListVersions(const std::string& index);

  // Uploads every regular file of `local_dir` as an object (skipped when a
  // HEAD shows it with the right size), then the version manifest.
  // Idempotent; the pointer is not touched. `bytes_uploaded` (optional)
  // receives the bytes actually sent.
  Result<RepoVersion> UploadVersion(const std::string& index,
                                    const std::string& version,
                                    const std::string& local_dir,
                                    const std::optional<std::string>& parent,
                                    const std::string& kind = "full",
                                    uint64_t* bytes_uploaded = nullptr);
  // Moves the pointer to `live` (previous = expected's live). `expected` is
  // the pointer as read (nullopt = none yet): another writer in between is
  // kFailedPrecondition and nothing changes. Without conditional PUT
  // support, writes unconditionally and reads back (callers hold the index
  // lock). The version's manifest must exist.
  Result<RepoPointer> MovePointer(const std::string& index, const std::string& live,
                                  const std::optional<RepoPointer>& expected,
                                  const std::string& publisher);

  // Downloads `version` into `dest_dir` (created): each file via ranged
  // GETs into "<name>.partial" (an existing partial resumes), SHA-256 and
  // size checked (kCorruption, the partial removed), fsynced, renamed.
  Status Pull(const std::string& index, const std::string& version,
              const std::string& dest_dir, const RepoPullOptions& opts = {});
  // Reads every byte of every object of `version`: kCorruption naming the
  // first object whose size or SHA-256 differs.
  Status Verify(const std::string& index, const std::string& version);

  // Deletes version manifests and then objects no kept version references:
  // keeps the newest `keep` versions, the pointer's live and previous, and
  // any version whose manifest is younger than `grace`. Returns the
  // versions removed.
  Result<std::vector<std::string>> Prune(const std::string& index, int keep,
                                         std::chrono::seconds grace);

 private:
  S3Client* client_;
  S3Location loc_;
  Env* env_;
  bool conditional_put_ = true;
};

// RFC 3339 UTC of a unix time in seconds, e.g. "2026-12-06T05:55:00Z".
std::string Rfc3339Utc(int64_t unix_s);

}  // namespace frb
