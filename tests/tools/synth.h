// Synthetic embeddings for tests, the demo and benchmarks: Gaussian clusters
// so that IVF recall behaves like real data rather than uniform noise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frb/env.h"
#include "frb/status.h"

namespace frb::synth {

// Rows [begin, begin + n) of a deterministic clustered dataset (row-major).
// The same (seed, dim, clusters) gives the same row for any batching.
void GenerateRows(uint64_t seed, int dim, int clusters, int64_t begin,
                  int64_t n, float* out);

// Writes `count` rows to `path` as .npy float32 (C order), streaming in
// batches through `env`, then fsyncs and closes.
Status WriteNpy(Env* env, const std::string& path, int64_t count, int dim,
                uint64_t seed, int clusters = 64);
// Same layout for raw float32, fvecs and bvecs (bvecs clamps to 0..255).
Status WriteRawF32(Env* env, const std::string& path, int64_t count, int dim,
                   uint64_t seed, int clusters = 64);
Status WriteFvecs(Env* env, const std::string& path, int64_t count, int dim,
                  uint64_t seed, int clusters = 64);
Status WriteBvecs(Env* env, const std::string& path, int64_t count, int dim,
                  uint64_t seed, int clusters = 64);

// The .npy header for a float32 C-order array of shape (count, dim).
std::string NpyHeader(int64_t count, int dim, const std::string& descr = "<f4",
                      bool fortran = false);

}  // namespace frb::synth
