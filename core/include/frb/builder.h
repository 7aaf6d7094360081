// Builder: source vectors -> trained, filled FAISS index -> staged file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/index_file.h"
#include "frb/job_control.h"
#include "frb/source.h"
#include "frb/status.h"

namespace frb {

struct BuildResult {
  FileDigest file;
  int64_t ntotal = 0;
  int64_t train_vectors = 0;
  int threads = 0;
};

// Stateless; Build may run concurrently for different jobs.
class Builder {
 public:
  explicit Builder(Env* env) : env_(env) {}

  // Creates the index from `cfg.factory`, trains it on a uniform sample of
  // `cfg.train_sample` rows, adds every row in batches, and writes it to
  // `out_path` (fsynced). Stages training/adding/writing_staging are reported
  // to `control`, which is polled for cancellation and the deadline. The
  // in-memory index is freed before returning. With `ids` (one per row),
  // rows are added under those ids: natively for IVF indexes, else inside
  // an IndexIDMap2 (unless the factory already starts with IDMap).
  Result<BuildResult> Build(const IndexConfig& cfg, const VectorSource& source,
                            const std::string& out_path, JobControl& control,
                            const std::vector<int64_t>* ids = nullptr);

 private:
  Env* env_;
};

// Installs (once per process) FAISS's global interrupt callback, routed to
// the JobControl of the calling thread while a ScopedFaissInterrupt lives,
// so long FAISS loops (k-means) stop on cancel or timeout.
class ScopedFaissInterrupt {
 public:
  explicit ScopedFaissInterrupt(const JobControl* control);
  ~ScopedFaissInterrupt();
  ScopedFaissInterrupt(const ScopedFaissInterrupt&) = delete;
  ScopedFaissInterrupt& operator=(const ScopedFaissInterrupt&) = delete;

 private:
  const JobControl* previous_;
};

}  // namespace frb
