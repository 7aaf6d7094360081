// What the source tests share: writing small files in every format.
#pragma once

#include "frb/source.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "frb/sha256.h"
#include "testutil.h"

namespace frb {
namespace source_test {

inline constexpr uint64_t kSeed = 7;

inline std::vector<float> Rows(int64_t count, int dim) {
  std::vector<float> v(static_cast<size_t>(count) * dim);
  synth::GenerateRows(kSeed, dim, 64, 0, count, v.data());
  return v;
}

inline std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// A .npy file with a hand-written header dict, for header variants synth
// does not produce.
inline std::string NpyFile(const std::string& dict, int major, const std::string& data) {
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  uint32_t len = static_cast<uint32_t>(dict.size());
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out.push_back(static_cast<char>(len >> (8 * i)));
  return out + dict + data;
}

inline std::string Dict(int64_t count, int dim) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(count) +
         ", " + std::to_string(dim) + "), }\n";
}

inline Result<std::unique_ptr<VectorSource>> Open(const std::string& path, SourceFormat f,
                                           int dim = 0) {
  return VectorSource::Open(Env::Default(), path, f, dim);
}

// Reads everything in batches of `batch` rows (uneven on purpose).
inline std::vector<float> ReadAll(const VectorSource& src, int64_t batch) {
  std::vector<float> out(static_cast<size_t>(src.count()) * src.dim());
  for (int64_t b = 0; b < src.count(); b += batch) {
    int64_t n = std::min(batch, src.count() - b);
    Status s = src.Read(b, n, out.data() + b * src.dim());
    EXPECT_TRUE(s.ok()) << s.ToString();
    src.Release(b, n);
  }
  return out;
}

// Checks the code, that the message names the file, contains `needle` and
// is one line.
inline void ExpectError(const Status& s, Code code, const std::string& path,
                 const std::string& needle) {
  ASSERT_FALSE(s.ok()) << "expected an error containing: " << needle;
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
}

inline void ExpectOpenError(const std::string& path, SourceFormat f, int dim, Code code,
                     const std::string& needle) {
  auto src = Open(path, f, dim);
  ExpectError(src.status(), code, path, needle);
}

}  // namespace source_test
}  // namespace frb
