// Publisher: makes a validated staged version live, atomically.
#pragma once

#include <string>
#include <vector>

#include "frb/env.h"
#include "frb/manifest.h"
#include "frb/status.h"
#include "frb/store.h"

namespace frb {

// Stateless; callers hold the store's lock.
class Publisher {
 public:
  explicit Publisher(Env* env) : env_(env) {}

  // Verifies the staged index against `manifest` once more, writes the
  // manifest, marks both files read-only, moves the staging directory into
  // versions/ and swaps `live` (old live becomes the rollback target). Then
  // prunes versions beyond `keep_versions`, appending removed ids to
  // `pruned`. On error before the swap the live version is untouched.
  //
  // `verified_as`, if given, is a Stat of the read-only staged index taken
  // before its bytes were last hashed against the manifest under this lock:
  // when size, mtime, ctime, device and inode are all unchanged the file is
  // trusted without a further hashing pass; any difference means a full one.
  Status Publish(VersionStore& store, const std::string& staging_dir,
                 const Manifest& manifest, int keep_versions,
                 std::vector<std::string>* pruned,
                 const FileInfo* verified_as = nullptr);

  // Makes the rollback target live (the live one becomes the new rollback
  // target) after verifying its checksum. Returns the new live version id.
  Result<std::string> Rollback(VersionStore& store);

 private:
  Status VerifyFile(const std::string& path, const Manifest& m,
                    const FileInfo* verified_as = nullptr);
  Env* env_;
};

}  // namespace frb
