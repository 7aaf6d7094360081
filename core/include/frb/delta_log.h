// The delta log of one index: upserts and deletes recorded durably before
// any job applies them (docs/architecture.md, "Deltas"):
//
//   <index dir>/deltas/
//     .lock                   flock held while a record is written or listed
//     RETIRED                 highest sequence number ever retired
//     000000000007/           one record, complete once renamed into place:
//       record.json           self-checksummed: seq, counts, dim, SHA-256s
//       upsert_vectors.f32    upserts x dim float32, row-major
//       upsert_ids.i64        upserts int64
//       delete_ids.i64        deletes int64
//     .tmp-*/                 a record being written (removed when found)
//     quarantine/             records that failed their checks
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/status.h"

namespace frb {

struct DeltaRecord {
  int64_t seq = 0;
  int64_t created_unix_ms = 0;
  int dim = 0;
  int64_t upserts = 0;
  int64_t deletes = 0;
  std::string origin;  // what it was made from (input file names)
  std::map<std::string, std::string> sha256;  // file name -> hex digest
  std::string record_sha256;  // checksum of record.json's content

  Json ToJson() const;
};

struct DeltaData {
  DeltaRecord record;
  std::vector<float> vectors;       // record.upserts x record.dim
  std::vector<int64_t> upsert_ids;  // record.upserts
  std::vector<int64_t> delete_ids;  // record.deletes
};

// Reads the input files of a delta for `index`: `upserts` (float32 .npy of
// its dimension) with `ids` (int64 .npy, one per upsert), and/or `deletes`
// (int64 .npy); "" = absent. Errors name the file and the problem.
Result<DeltaData> ReadDeltaInput(Env* env, const IndexConfig& index, const std::string& upserts,
                                 const std::string& ids, const std::string& deletes);

// Thread-safe and process-safe: writers and listers take deltas/.lock.
class DeltaLog {
 public:
  DeltaLog(Env* env, const std::string& index_dir);

  // Checks `data` (sizes, ids unique and >= 0, no id both upserted and
  // deleted), assigns the next sequence number and writes the record:
  // files fsynced in a temp dir, renamed into place, the log dir fsynced.
  // Returns the record as stored.
  Result<DeltaRecord> Append(DeltaData data);

  // Complete records with seq > `after`, in sequence order. Leftover temp
  // dirs are removed; a record whose record.json fails its checksum or whose
  // files have the wrong sizes is moved to quarantine/ and named in
  // `warnings` (never returned, never applied).
  Result<std::vector<DeltaRecord>> List(int64_t after, std::vector<std::string>* warnings);

  // Reads a record's files and checks each SHA-256; a mismatch quarantines
  // the record and is kCorruption naming the file.
  Result<DeltaData> Load(const DeltaRecord& record);

  // Deletes records with seq <= `through` (a full build contains them now)
  // and remembers `through` so sequence numbers are never reused. Returns
  // how many were removed.
  Result<int> Retire(int64_t through);

  // Highest sequence number issued so far (0 = none).
  Result<int64_t> LastSeq();

  const std::string& dir() const { return dir_; }

 private:
  Result<int64_t> LastSeqLocked();
  Status Quarantine(const std::string& name, const std::string& why,
                    std::vector<std::string>* warnings);
  Env* env_;
  std::string dir_;
};

}  // namespace frb
