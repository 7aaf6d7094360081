// frb-gen-vectors: writes synthetic clustered embeddings for the demo,
// tests and benchmarks.
//   frb-gen-vectors OUT COUNT DIM [--format npy|fvecs|bvecs|raw-f32] [--seed N]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "synth.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: frb-gen-vectors OUT COUNT DIM [--format F] [--seed N]\n");
    return 2;
  }
  std::string out = argv[1];
  long long count = std::atoll(argv[2]);
  int dim = std::atoi(argv[3]);
  std::string format = "npy";
  unsigned long long seed = 1;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--format") == 0) format = argv[i + 1];
    else if (std::strcmp(argv[i], "--seed") == 0) seed = std::strtoull(argv[i + 1], nullptr, 10);
  }
  if (count <= 0 || dim <= 0) {
    std::fprintf(stderr, "frb-gen-vectors: COUNT and DIM must be positive\n");
    return 2;
  }
  frb::Env* env = frb::Env::Default();
  frb::Status s;
  if (format == "npy") s = frb::synth::WriteNpy(env, out, count, dim, seed);
  else if (format == "fvecs") s = frb::synth::WriteFvecs(env, out, count, dim, seed);
  else if (format == "bvecs") s = frb::synth::WriteBvecs(env, out, count, dim, seed);
  else if (format == "raw-f32") s = frb::synth::WriteRawF32(env, out, count, dim, seed);
  else {
    std::fprintf(stderr, "frb-gen-vectors: unknown format %s\n", format.c_str());
    return 2;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "frb-gen-vectors: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
