// Coalescing of concurrent single-vector searches into batched FAISS calls.
//
// Why: Debian's FAISS is built for baseline x86-64, so its distance kernels
// are scalar, and a single query pays for the IVF coarse quantizer one
// centroid at a time. A call with several queries computes those
// distances with BLAS instead (FAISS's default is from 20 queries on;
// faiss-searchd lowers it to 2). Measured in C++ on 1M x 128 IVF4096, one
// thread: coarse quantizer 0.50 ms per query alone, 0.05 ms in a batch of
// 32; a whole query 1.05 ms alone, 0.62 ms in a batch of 32.
//
// Nothing ever waits for a batch to fill. At most `lanes` FAISS calls run at
// once; a query that finds a lane free is searched at once (alone, when it is
// the only one queued), and queries arriving while every lane is busy queue
// and leave together in the next batch. So at or below `lanes` concurrent
// queries a search runs exactly as without coalescing, and under load the
// batches grow with the queue. The batch runs on the thread of one of its
// queries (no extra threads), with that thread's OpenMP setting.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "frb/status.h"
#include "frb/thread_annotations.h"
#include "loaded_index.h"

namespace frb::searchd {

// Thread-safe: Search may be called from any number of threads at once.
class SearchCoalescer {
 public:
  // lanes >= 1: FAISS calls at once; max_batch >= 1: queries per call.
  SearchCoalescer(int lanes, int max_batch);

  // Searches one query (li.dim floats) for its k nearest neighbours, alone
  // or in one FAISS call with queued queries of the same version, k and
  // overrides; blocks until its results are in `distances`/`labels` (k
  // each). Returns the Status of that FAISS call. `batch_size`, when not
  // null, receives the number of queries of that call.
  Status Search(const LoadedIndex& li, const float* x, int k, const SearchOverride& o,
                float* distances, int64_t* labels, int* batch_size = nullptr);

 private:
  struct Pending;
  // Removes the oldest queued query and up to max_batch_ - 1 later ones that
  // can share its FAISS call. Requires mu_.
  std::vector<Pending*> TakeBatch() REQUIRES(mu_);
  static void RunBatch(const std::vector<Pending*>& batch);

  const int lanes_;
  const int max_batch_;
  Mutex mu_;
  std::deque<Pending*> queue_ GUARDED_BY(mu_);  // oldest first
  int running_ GUARDED_BY(mu_) = 0;             // FAISS calls in progress
};

}  // namespace frb::searchd
