#include "synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace frb::synth {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [0,1) from a counter-based hash: rows are independent of batching.
double U01(uint64_t key) { return (SplitMix(key) >> 11) * (1.0 / 9007199254740992.0); }

float Gauss(uint64_t key) {
  double u1 = std::max(U01(key), 1e-12), u2 = U01(key ^ 0x5555555555555555ULL);
  return static_cast<float>(std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

constexpr int64_t kBatch = 16384;

template <typename Emit>
Status Stream(Env* env, const std::string& path, int64_t count, int dim,
              uint64_t seed, int clusters, const std::string& header, Emit emit) {
  FRB_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(path));
  FRB_RETURN_IF_ERROR(file->Append(header.data(), header.size()));
  std::vector<float> rows;
  for (int64_t b = 0; b < count; b += kBatch) {
    int64_t n = std::min(kBatch, count - b);
    rows.resize(static_cast<size_t>(n) * dim);
    GenerateRows(seed, dim, clusters, b, n, rows.data());
    FRB_RETURN_IF_ERROR(emit(file.get(), rows.data(), n));
  }
  FRB_RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

}  // namespace

void GenerateRows(uint64_t seed, int dim, int clusters, int64_t begin,
                  int64_t n, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    uint64_t row = static_cast<uint64_t>(begin + r);
    uint64_t c = SplitMix(seed ^ (row * 0x100000001b3ULL)) % static_cast<uint64_t>(clusters);
    for (int j = 0; j < dim; ++j) {
      // Cluster centre in [-5, 5), plus unit noise.
      float centre = static_cast<float>(10 * U01(seed * 31 + c * 1000003 + j) - 5);
      out[r * dim + j] = centre + Gauss((seed << 40) ^ (row * 4099 + j) ^ 0xabcdef);
    }
  }
}

std::string NpyHeader(int64_t count, int dim, const std::string& descr, bool fortran) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " +
                     (fortran ? "True" : "False") + ", 'shape': (" +
                     std::to_string(count) + ", " + std::to_string(dim) + "), }";
  size_t total = 10 + dict.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict.push_back('\n');
  std::string h = "\x93NUMPY";
  h.push_back(1);
  h.push_back(0);
  uint16_t len = static_cast<uint16_t>(dict.size());
  h.push_back(static_cast<char>(len & 0xff));
  h.push_back(static_cast<char>(len >> 8));
  return h + dict;
}

Status WriteNpy(Env* env, const std::string& path, int64_t count, int dim,
                uint64_t seed, int clusters) {
  return Stream(env, path, count, dim, seed, clusters, NpyHeader(count, dim),
                [&](WritableFile* f, const float* rows, int64_t n) {
                  return f->Append(rows, sizeof(float) * n * dim);
                });
}

Status WriteRawF32(Env* env, const std::string& path, int64_t count, int dim,
                   uint64_t seed, int clusters) {
  return Stream(env, path, count, dim, seed, clusters, "",
                [&](WritableFile* f, const float* rows, int64_t n) {
                  return f->Append(rows, sizeof(float) * n * dim);
                });
}

Status WriteFvecs(Env* env, const std::string& path, int64_t count, int dim,
                  uint64_t seed, int clusters) {
  return Stream(env, path, count, dim, seed, clusters, "",
                [&](WritableFile* f, const float* rows, int64_t n) {
                  int32_t d = dim;
                  for (int64_t r = 0; r < n; ++r) {
                    FRB_RETURN_IF_ERROR(f->Append(&d, 4));
                    FRB_RETURN_IF_ERROR(f->Append(rows + r * dim, 4 * dim));
                  }
                  return Status::Ok();
                });
}

Status WriteBvecs(Env* env, const std::string& path, int64_t count, int dim,
                  uint64_t seed, int clusters) {
  return Stream(env, path, count, dim, seed, clusters, "",
                [&](WritableFile* f, const float* rows, int64_t n) {
                  int32_t d = dim;
                  std::vector<uint8_t> b(dim);
                  for (int64_t r = 0; r < n; ++r) {
                    for (int j = 0; j < dim; ++j)
                      b[j] = static_cast<uint8_t>(std::clamp(rows[r * dim + j] * 12 + 128, 0.f, 255.f));
                    FRB_RETURN_IF_ERROR(f->Append(&d, 4));
                    FRB_RETURN_IF_ERROR(f->Append(b.data(), dim));
                  }
                  return Status::Ok();
                });
}

}  // namespace frb::synth
