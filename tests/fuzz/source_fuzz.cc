// Fuzz target: the source readers. The input is the content of a source
// file, served from an in-memory Env (the same VectorSource::Open path as a
// real file: Stat, MapFile, header/layout parsing) and opened as npy, fvecs
// and bvecs (dim from the file), and as raw-f32 with dim 4.
//
// Properties: never crashes or reads outside the file; an opened source has
// 1 <= dim and count >= 1 with count * row bytes inside the file; reading
// the first and last rows either succeeds or fails with a message naming
// the file; Fingerprint() agrees with count/dim and the file size.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frb/source.h"
#include "fuzz_common.h"

namespace {

void Exercise(frb::fuzz::MemEnv* env, const std::string& path, frb::SourceFormat format,
              int dim, size_t size) {
  auto src = frb::VectorSource::Open(env, path, format, dim);
  if (!src.ok()) {
    FRB_FUZZ_CHECK(src.status().message().find(path) != std::string::npos,
                   src.status().ToString());
    return;
  }
  const frb::VectorSource& s = **src;
  FRB_FUZZ_CHECK(s.dim() >= 1 && s.count() >= 1, path);
  FRB_FUZZ_CHECK(s.RowOffset(s.count() - 1) < size, path);
  // Bound the work per input: a 4-byte header can claim a dim of 2^20.
  const int64_t rows = std::min<int64_t>(s.count(), std::max<int64_t>(1, 4096 / s.dim()));
  std::vector<float> out(static_cast<size_t>(rows) * s.dim());
  for (int64_t begin : {int64_t{0}, s.count() - rows}) {
    frb::Status st = s.Read(begin, rows, out.data());
    if (!st.ok()) FRB_FUZZ_CHECK(st.message().find(path) != std::string::npos, st.ToString());
    s.Release(begin, rows);
  }
  auto fp = s.Fingerprint();
  if (fp.ok()) {
    FRB_FUZZ_CHECK(fp->count == s.count() && fp->dim == s.dim(), path);
    FRB_FUZZ_CHECK(fp->size == size, path);
    FRB_FUZZ_CHECK(fp->sha256.size() == 64, path);
    auto back = frb::SourceFingerprint::FromJson(fp->ToJson());
    FRB_FUZZ_CHECK(back.ok() && back->count == fp->count && back->sha256 == fp->sha256, path);
  } else {
    FRB_FUZZ_CHECK(fp.status().message().find(path) != std::string::npos,
                   fp.status().ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 20) return 0;
  frb::fuzz::MemEnv env;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  env.Put("/fuzz/in.npy", bytes);
  env.Put("/fuzz/in.fvecs", bytes);
  env.Put("/fuzz/in.bvecs", bytes);
  env.Put("/fuzz/in.f32", bytes);
  Exercise(&env, "/fuzz/in.npy", frb::SourceFormat::kNpy, 0, size);
  Exercise(&env, "/fuzz/in.fvecs", frb::SourceFormat::kFvecs, 0, size);
  Exercise(&env, "/fuzz/in.bvecs", frb::SourceFormat::kBvecs, 0, size);
  Exercise(&env, "/fuzz/in.f32", frb::SourceFormat::kRawF32, 4, size);
  return 0;
}
