// bench_kernels_debian: bench_kernels' other side, linked with Debian's static
// libfaiss alone (no frb_core, which would bring the project's build). Run by
// bench_kernels, not by hand:
//   bench_kernels_debian TRAIN.f32 NTRAIN D FACTORY INDEX QUERIES.f32 NQ K NPROBE PASSES LABELS.out
// prints "train_s=S train_cpu_s=S search_ms=MS search_cpu_ms=MS compile=OPTIONS" and writes the labels.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "kernels_side.h"

int main(int argc, char** argv) {
  if (argc != 12) {
    std::fprintf(stderr, "bench_kernels_debian: run by bench_kernels (11 arguments)\n");
    return 2;
  }
  const int64_t ntrain = std::atoll(argv[2]), nq = std::atoll(argv[7]);
  const int d = std::atoi(argv[3]), k = std::atoi(argv[8]), nprobe = std::atoi(argv[9]),
            passes = std::atoi(argv[10]);
  auto train = frb::bench::ReadRawF32(argv[1], ntrain, d);
  auto queries = frb::bench::ReadRawF32(argv[6], nq, d);
  if (train.empty() || queries.empty()) {
    std::fprintf(stderr, "bench_kernels_debian: cannot read %s or %s\n", argv[1], argv[6]);
    return 1;
  }
  try {
    auto r = frb::bench::RunSide(train, ntrain, d, argv[4], argv[5], queries, nq, k, nprobe,
                                 passes);
    FILE* f = std::fopen(argv[11], "wb");
    if (f == nullptr ||
        std::fwrite(r.labels.data(), sizeof(r.labels[0]), r.labels.size(), f) != r.labels.size()) {
      std::fprintf(stderr, "bench_kernels_debian: cannot write %s\n", argv[11]);
      return 1;
    }
    std::fclose(f);
    std::printf("train_s=%.4f train_cpu_s=%.4f search_ms=%.5f search_cpu_ms=%.5f compile=%s\n",
                r.train_s, r.train_cpu_s, r.search_ms, r.search_cpu_ms, r.compile.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels_debian: %s\n", e.what());
    return 1;
  }
  return 0;
}
