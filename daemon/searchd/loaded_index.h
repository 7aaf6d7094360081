// One loaded, verified, immutable version of an index, and how to load it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/status.h"
#include "frb/store.h"

namespace faiss {
struct Index;
}

namespace frb::searchd {

// Per-request search parameter overrides (already range-checked).
struct SearchOverride {
  std::optional<int> nprobe;
  std::optional<int> ef_search;
};

// How per-request overrides reach FAISS for this index type.
enum class ParamKind {
  kNone,    // no nprobe/efSearch (e.g. Flat): overrides are rejected
  kIVF,     // faiss::SearchParametersIVF per call: no shared state touched
  kLocked,  // overrides set the index field under an exclusive lock while
            // plain searches share it. FAISS 1.7.3 rejects SearchParameters
            // for IVF fast-scan and Refine, and for HNSW accepts
            // SearchParametersHNSW but ignores its efSearch (searches run at
            // the index's own efSearch; see the searchd HNSW test)
};

// Thread-safe: every field is fixed at load; Search may run concurrently
// from any number of threads.
class LoadedIndex {
 public:
  ~LoadedIndex();

  // Loads `version` of `cfg` from `store`: SHA-256 and size checked against
  // the manifest before FAISS parses a byte, then dimension, metric and
  // ntotal against config and manifest, configured search parameters and
  // the version's tuned one (manifest) applied (before any reader can see
  // the index, so no race), and a warm-up query run. Any failure is a Status naming the file.
  // `verified_as`: see frb::LoadVerifiedIndex (a Stat recorded when this
  // process hashed the index file itself; skips the second SHA-256 pass).
  static Result<std::shared_ptr<const LoadedIndex>> Load(
      Env* env, const VersionStore& store, const IndexConfig& cfg,
      const std::string& version, int param_factor, const FileInfo* verified_as = nullptr);

  // Searches n queries (row-major, dim floats each). FAISS exceptions are
  // caught and returned as kInternal.
  Status Search(int64_t n, const float* x, int k, const SearchOverride& o,
                float* distances, int64_t* labels) const;

  std::string name;
  std::string version;
  std::string factory;
  std::string metric;
  int dim = 0;
  int64_t ntotal = 0;
  uint64_t file_size = 0;      // used as the memory estimate of the index
  int64_t loaded_unix_ms = 0;
  double load_seconds = 0;
  // Where load_seconds went: the SHA-256 pass (skipped when !hashed),
  // FAISS deserializing, the warm-up queries.
  bool hashed = true;
  double verify_seconds = 0, read_seconds = 0, warmup_seconds = 0;
  ParamKind kind = ParamKind::kNone;
  // Served defaults and the largest accepted override (0 = not applicable).
  // A version whose manifest carries a tuned nprobe/efSearch serves that
  // value by default (`tuned`), and accepts overrides up to tune.max.
  int nprobe = 0, max_nprobe = 0;
  int ef_search = 0, max_ef_search = 0;
  bool tuned = false;

 private:
  LoadedIndex() = default;
  Status SearchLocked(int64_t n, const float* x, int k, const SearchOverride& o,
                      float* distances, int64_t* labels) const;
  std::unique_ptr<faiss::Index> index_;
  mutable std::shared_mutex param_mu_;  // only used for ParamKind::kLocked
};

const char* ParamKindName(ParamKind kind);

// From `n` queries per FAISS call on, flat distances (Flat indexes, IVF
// coarse quantizers) are computed with BLAS instead of one vector at a time.
// Process-wide FAISS setting; call before serving.
void SetBlasFromBatchesOf(int n);

}  // namespace frb::searchd
