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
namespace {

constexpr uint64_t kSeed = 7;

std::vector<float> Rows(int64_t count, int dim) {
  std::vector<float> v(static_cast<size_t>(count) * dim);
  synth::GenerateRows(kSeed, dim, 64, 0, count, v.data());
  return v;
}

std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// A .npy file with a hand-written header dict, for header variants synth
// does not produce.
std::string NpyFile(const std::string& dict, int major, const std::string& data) {
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  uint32_t len = static_cast<uint32_t>(dict.size());
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out.push_back(static_cast<char>(len >> (8 * i)));
  return out + dict + data;
}

std::string Dict(int64_t count, int dim) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(count) +
         ", " + std::to_string(dim) + "), }\n";
}

Result<std::unique_ptr<VectorSource>> Open(const std::string& path, SourceFormat f,
                                           int dim = 0) {
  return VectorSource::Open(Env::Default(), path, f, dim);
}

// Reads everything in batches of `batch` rows (uneven on purpose).
std::vector<float> ReadAll(const VectorSource& src, int64_t batch) {
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
void ExpectError(const Status& s, Code code, const std::string& path,
                 const std::string& needle) {
  ASSERT_FALSE(s.ok()) << "expected an error containing: " << needle;
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
}

void ExpectOpenError(const std::string& path, SourceFormat f, int dim, Code code,
                     const std::string& needle) {
  auto src = Open(path, f, dim);
  ExpectError(src.status(), code, path, needle);
}

TEST(SourceFormatTest, NamesRoundTrip) {
  for (auto f : {SourceFormat::kNpy, SourceFormat::kFvecs, SourceFormat::kBvecs,
                 SourceFormat::kRawF32}) {
    auto parsed = ParseSourceFormat(SourceFormatName(f));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, f);
  }
  auto bad = ParseSourceFormat("hdf5");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("npy, fvecs, bvecs, raw-f32"), std::string::npos);
}

struct FormatCase {
  SourceFormat format;
  int dim;
};

class SourceRoundTrip : public ::testing::TestWithParam<FormatCase> {};

TEST_P(SourceRoundTrip, ReadsBackGeneratedRows) {
  const auto [format, dim] = GetParam();
  const int64_t count = 1000;
  test::TempDir dir;
  std::string p = dir.Sub("data");
  Env* env = Env::Default();
  Status w;
  switch (format) {
    case SourceFormat::kNpy: w = synth::WriteNpy(env, p, count, dim, kSeed); break;
    case SourceFormat::kFvecs: w = synth::WriteFvecs(env, p, count, dim, kSeed); break;
    case SourceFormat::kBvecs: w = synth::WriteBvecs(env, p, count, dim, kSeed); break;
    case SourceFormat::kRawF32: w = synth::WriteRawF32(env, p, count, dim, kSeed); break;
  }
  ASSERT_TRUE(w.ok()) << w.ToString();
  auto src = Open(p, format, format == SourceFormat::kRawF32 ? dim : 0);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  EXPECT_EQ((*src)->count(), count);
  EXPECT_EQ((*src)->dim(), dim);
  EXPECT_EQ((*src)->format(), format);
  std::vector<float> want = Rows(count, dim);
  if (format == SourceFormat::kBvecs) {
    for (float& x : want) x = static_cast<uint8_t>(std::clamp(x * 12 + 128, 0.f, 255.f));
  }
  EXPECT_EQ(ReadAll(**src, 333), want);
  // Released rows read back the same.
  EXPECT_EQ(ReadAll(**src, count), want);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, SourceRoundTrip,
    ::testing::Values(FormatCase{SourceFormat::kNpy, 1}, FormatCase{SourceFormat::kNpy, 17},
                      FormatCase{SourceFormat::kNpy, 128},
                      FormatCase{SourceFormat::kFvecs, 17},
                      FormatCase{SourceFormat::kFvecs, 128},
                      FormatCase{SourceFormat::kBvecs, 17},
                      FormatCase{SourceFormat::kBvecs, 128},
                      FormatCase{SourceFormat::kRawF32, 17},
                      FormatCase{SourceFormat::kRawF32, 128}),
    [](const auto& tp) {
      return std::string(SourceFormatName(tp.param.format) == "raw-f32"
                             ? "raw"
                             : SourceFormatName(tp.param.format)) +
             std::to_string(tp.param.dim);
    });

TEST(NpySourceTest, HeaderVersionsAndSpellings) {
  test::TempDir dir;
  std::vector<float> rows = Rows(10, 4);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"v1", NpyFile(Dict(10, 4), 1, Bytes(rows))},
      {"v2", NpyFile(Dict(10, 4), 2, Bytes(rows))},
      {"v3", NpyFile(Dict(10, 4), 3, Bytes(rows))},
      {"reordered", NpyFile("{ 'shape' :(10,4),'fortran_order':False ,\"descr\":'<f4'}  \n",
                            1, Bytes(rows))},
      {"py2_longs", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (10L, 4L)}\n",
                            1, Bytes(rows))},
  };
  for (const auto& [name, bytes] : cases) {
    SCOPED_TRACE(name);
    std::string p = dir.Sub(name + ".npy");
    test::WriteText(p, bytes);
    auto src = Open(p, SourceFormat::kNpy);
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    EXPECT_EQ((*src)->count(), 10);
    EXPECT_EQ((*src)->dim(), 4);
    EXPECT_EQ(ReadAll(**src, 3), rows);
  }
}

TEST(NpySourceTest, RejectsBadHeadersAndSizes) {
  test::TempDir dir;
  const std::string data = Bytes(Rows(10, 4));
  const std::string header = synth::NpyHeader(10, 4);
  struct Case {
    std::string name, bytes;
    Code code;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"f8", synth::NpyHeader(10, 4, "<f8") + data + data, Code::kInvalidArgument,
       "dtype '<f8' is not supported (need float32 '<f4'); convert with "
       "arr.astype('float32')"},
      {"bigendian", synth::NpyHeader(10, 4, ">f4") + data, Code::kInvalidArgument,
       "dtype '>f4'"},
      {"structured",
       NpyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (10, 4)}\n", 1,
               data),
       Code::kInvalidArgument, "structured dtype"},
      {"fortran", synth::NpyHeader(10, 4, "<f4", true) + data, Code::kInvalidArgument,
       "np.ascontiguousarray"},
      {"1d", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (40,)}\n", 1, data),
       Code::kInvalidArgument, "shape (40,) is 1-D"},
      {"3d", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (10, 2, 2)}\n", 1,
                     data),
       Code::kInvalidArgument, "3-D"},
      {"no_shape", NpyFile("{'descr': '<f4', 'fortran_order': False}\n", 1, data),
       Code::kInvalidArgument, "no 'shape' key"},
      {"garbage", NpyFile("{'descr': '<f4', 'fortran_order': Nope}\n", 1, data),
       Code::kInvalidArgument, "malformed .npy header"},
      {"bad_magic", "\x93NUMPX" + header.substr(6) + data, Code::kInvalidArgument,
       "not a .npy file"},
      {"version4", NpyFile(Dict(10, 4), 4, data), Code::kInvalidArgument,
       "version 4.0 is not supported"},
      {"no_rows", NpyFile(Dict(0, 4), 1, ""), Code::kInvalidArgument, "no rows"},
      {"empty", "", Code::kInvalidArgument, "empty"},
      {"truncated", header + data.substr(0, data.size() - 10), Code::kCorruption,
       "truncated: expected 160 bytes of data for shape (10, 4), found 150"},
      {"trailing", header + data + "xyz", Code::kCorruption, "3 unexpected trailing bytes"},
      {"short_header", header.substr(0, 30), Code::kCorruption, "truncated"},
      {"short_preamble", header.substr(0, 7), Code::kCorruption, "truncated"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string p = dir.Sub(c.name + ".npy");
    test::WriteText(p, c.bytes);
    ExpectOpenError(p, SourceFormat::kNpy, 0, c.code, c.needle);
  }
}

TEST(SourceTest, OtherFormatsRejectBadFiles) {
  test::TempDir dir;
  Env* env = Env::Default();
  std::string fvecs = dir.Sub("a.fvecs"), bvecs = dir.Sub("a.bvecs"), raw = dir.Sub("a.f32");
  ASSERT_TRUE(synth::WriteFvecs(env, fvecs, 10, 8, kSeed).ok());
  ASSERT_TRUE(synth::WriteBvecs(env, bvecs, 10, 8, kSeed).ok());
  ASSERT_TRUE(synth::WriteRawF32(env, raw, 10, 8, kSeed).ok());
  std::string whole_f = test::ReadText(fvecs), whole_b = test::ReadText(bvecs);

  // A truncated tail names the partial row and where it starts.
  std::string p = dir.Sub("tail.fvecs");
  test::WriteText(p, whole_f.substr(0, whole_f.size() - 5));
  ExpectOpenError(p, SourceFormat::kFvecs, 0, Code::kCorruption,
                  "partial row 9 at byte offset 324 (31 of 36 bytes)");
  p = dir.Sub("tail.bvecs");
  test::WriteText(p, whole_b.substr(0, whole_b.size() - 1));
  ExpectOpenError(p, SourceFormat::kBvecs, 0, Code::kCorruption,
                  "partial row 9 at byte offset 108");
  p = dir.Sub("neg.fvecs");
  test::WriteText(p, std::string("\xff\xff\xff\xff", 4) + whole_f.substr(4));
  ExpectOpenError(p, SourceFormat::kFvecs, 0, Code::kInvalidArgument, "dim -1");
  p = dir.Sub("npy.fvecs");
  test::WriteText(p, synth::NpyHeader(10, 8) + std::string(320, '\0'));
  ExpectOpenError(p, SourceFormat::kFvecs, 0, Code::kInvalidArgument, "use format npy");

  ExpectOpenError(raw, SourceFormat::kRawF32, 0, Code::kInvalidArgument, "dim > 0");
  ExpectOpenError(raw, SourceFormat::kRawF32, 7, Code::kCorruption,
                  "partial row 11 at byte offset 308");
  ExpectOpenError(fvecs, SourceFormat::kFvecs, 16, Code::kInvalidArgument,
                  "file has dim 8 but dim 16 was expected");
  ExpectOpenError(bvecs, SourceFormat::kBvecs, 9, Code::kInvalidArgument, "dim 9");
  ExpectOpenError(fvecs, SourceFormat::kFvecs, -1, Code::kInvalidArgument, "dim must be");

  for (auto f : {SourceFormat::kFvecs, SourceFormat::kBvecs, SourceFormat::kRawF32}) {
    p = dir.Sub("empty");
    test::WriteText(p, "");
    ExpectOpenError(p, f, 4, Code::kInvalidArgument, "empty");
  }
  ExpectOpenError(dir.Sub("missing.npy"), SourceFormat::kNpy, 0, Code::kNotFound,
                  "missing.npy");
  ExpectOpenError(dir.path(), SourceFormat::kNpy, 0, Code::kInvalidArgument,
                  "not a regular file");
}

TEST(SourceTest, InconsistentRowHeaderReportedOnRead) {
  test::TempDir dir;
  std::string p = dir.Sub("a.fvecs");
  ASSERT_TRUE(synth::WriteFvecs(Env::Default(), p, 10, 8, kSeed).ok());
  std::string bytes = test::ReadText(p);
  bytes[6 * 36] = 9;  // row 6 claims dim 9
  test::WriteText(p, bytes);
  auto src = Open(p, SourceFormat::kFvecs);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  std::vector<float> out(10 * 8);
  EXPECT_TRUE((*src)->Read(0, 6, out.data()).ok());
  ExpectError((*src)->Read(4, 4, out.data()), Code::kInvalidArgument, p,
              "row 6 (byte offset 216) has dim header 9");
  ExpectError((*src)->Fingerprint().status(), Code::kInvalidArgument, p, "row 6");
}

TEST(SourceTest, ReadIsBoundsChecked) {
  test::TempDir dir;
  std::string p = dir.Sub("a.npy");
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), p, 10, 4, kSeed).ok());
  auto src = Open(p, SourceFormat::kNpy, 4);
  ASSERT_TRUE(src.ok());
  std::vector<float> out(11 * 4);
  EXPECT_EQ((*src)->Read(5, 6, out.data()).code(), Code::kInvalidArgument);
  EXPECT_EQ((*src)->Read(-1, 2, out.data()).code(), Code::kInvalidArgument);
  EXPECT_EQ((*src)->Read(0, -1, out.data()).code(), Code::kInvalidArgument);
  EXPECT_EQ((*src)->Read(2, std::numeric_limits<int64_t>::max(), out.data()).code(),
            Code::kInvalidArgument);
  EXPECT_EQ((*src)->Read(0, 1, nullptr).code(), Code::kInvalidArgument);
  EXPECT_TRUE((*src)->Read(10, 0, nullptr).ok());
  EXPECT_TRUE((*src)->Read(9, 1, out.data()).ok());
  (*src)->Release(5, 100);  // clamped, not a crash
}

TEST(SourceTest, NanAndInfReportRowAndOffset) {
  test::TempDir dir;
  const int dim = 100;
  std::vector<float> rows = Rows(200, dim);
  rows[37 * dim + 5] = std::numeric_limits<float>::quiet_NaN();
  std::string header = synth::NpyHeader(200, dim);
  std::string npy = dir.Sub("nan.npy");
  test::WriteText(npy, header + Bytes(rows));
  auto src = Open(npy, SourceFormat::kNpy);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  std::vector<float> out(200 * dim);
  const std::string offset = std::to_string(header.size() + 37 * dim * 4);
  ExpectError((*src)->Read(0, 200, out.data()), Code::kInvalidArgument, npy,
              "row 37 (byte offset " + offset + ") contains NaN in column 5");
  ExpectError((*src)->Read(30, 10, out.data()), Code::kInvalidArgument, npy, "row 37");
  EXPECT_TRUE((*src)->Read(38, 162, out.data()).ok());
  ExpectError((*src)->Fingerprint().status(), Code::kInvalidArgument, npy,
              "row 37 (byte offset " + offset + ") contains NaN");

  rows[37 * dim + 5] = 1;
  rows[150 * dim + 99] = -std::numeric_limits<float>::infinity();
  std::string raw = dir.Sub("inf.f32");
  test::WriteText(raw, Bytes(rows));
  src = Open(raw, SourceFormat::kRawF32, dim);
  ASSERT_TRUE(src.ok());
  ExpectError((*src)->Read(0, 200, out.data()), Code::kInvalidArgument, raw,
              "row 150 (byte offset " + std::to_string(150 * dim * 4) +
                  ") contains Inf in column 99");

  std::string fvecs = dir.Sub("inf.fvecs");
  ASSERT_TRUE(synth::WriteFvecs(Env::Default(), fvecs, 50, 8, kSeed).ok());
  std::string bytes = test::ReadText(fvecs);
  float inf = std::numeric_limits<float>::infinity();
  std::memcpy(&bytes[20 * 36 + 4 + 3 * 4], &inf, 4);
  test::WriteText(fvecs, bytes);
  src = Open(fvecs, SourceFormat::kFvecs);
  ASSERT_TRUE(src.ok());
  ExpectError((*src)->Read(0, 50, out.data()), Code::kInvalidArgument, fvecs,
              "row 20 (byte offset 720) contains Inf in column 3");
  ExpectError((*src)->Fingerprint().status(), Code::kInvalidArgument, fvecs, "row 20");
}

TEST(SourceTest, FingerprintMatchesFileHashAndStat) {
  test::TempDir dir;
  Env* env = Env::Default();
  std::string p = dir.Sub("a.npy");
  // Over 8 MiB so the pass takes several chunks.
  ASSERT_TRUE(synth::WriteNpy(env, p, 20000, 128, kSeed).ok());
  std::string link = dir.Sub("link.npy");
  ASSERT_TRUE(env->Symlink("a.npy", link).ok());
  auto src = Open(link, SourceFormat::kNpy);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  std::vector<double> fractions;
  auto fp = (*src)->Fingerprint([&](double f) { fractions.push_back(f); });
  ASSERT_TRUE(fp.ok()) << fp.status().ToString();
  auto hash = Sha256File(env, p);
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(fp->sha256, *hash);
  FileInfo info = *env->Stat(p);
  EXPECT_EQ(fp->path, link);
  EXPECT_EQ(fp->size, info.size);
  EXPECT_EQ(fp->mtime_ns, info.mtime_ns);
  EXPECT_EQ(fp->count, 20000);
  EXPECT_EQ(fp->dim, 128);
  ASSERT_GE(fractions.size(), 2u);
  EXPECT_TRUE(std::is_sorted(fractions.begin(), fractions.end()));
  EXPECT_DOUBLE_EQ(fractions.back(), 1.0);

  // One flipped mantissa bit (still finite) changes the hash.
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(12345 * 4 + 128);
    char c = 0;
    f.read(&c, 1);
    f.seekp(12345 * 4 + 128);
    c ^= 1;
    f.write(&c, 1);
  }
  auto src2 = Open(p, SourceFormat::kNpy);
  ASSERT_TRUE(src2.ok());
  auto fp2 = (*src2)->Fingerprint();
  ASSERT_TRUE(fp2.ok()) << fp2.status().ToString();
  EXPECT_NE(fp2->sha256, fp->sha256);
  EXPECT_EQ(fp2->sha256, *Sha256File(env, p));
}

TEST(SourceTest, FingerprintOfEveryFormatMatchesFileHash) {
  test::TempDir dir;
  Env* env = Env::Default();
  std::string fvecs = dir.Sub("a.fvecs"), bvecs = dir.Sub("a.bvecs");
  ASSERT_TRUE(synth::WriteFvecs(env, fvecs, 300, 16, kSeed).ok());
  ASSERT_TRUE(synth::WriteBvecs(env, bvecs, 300, 16, kSeed).ok());
  for (auto [p, f] : {std::pair{fvecs, SourceFormat::kFvecs},
                      std::pair{bvecs, SourceFormat::kBvecs}}) {
    auto src = Open(p, f);
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    auto fp = (*src)->Fingerprint();
    ASSERT_TRUE(fp.ok()) << fp.status().ToString();
    EXPECT_EQ(fp->sha256, *Sha256File(env, p));
    EXPECT_EQ(fp->count, 300);
  }
}

// A source rewritten in place (cp or np.save over it truncates first)
// shrinks under the reader. Through a memory map, touching a page past the
// new end of file is SIGBUS and this test dies; through pread it is a
// short read and a clear error for this job only.
TEST(SourceTest, FileShrunkDuringReadFailsTheReadNotTheProcess) {
  test::TempDir dir;
  Env* env = Env::Default();
  for (auto [name, format] : {std::pair{"a.npy", SourceFormat::kNpy},
                              std::pair{"a.fvecs", SourceFormat::kFvecs},
                              std::pair{"a.bvecs", SourceFormat::kBvecs}}) {
    std::string p = dir.Sub(name);
    Status w = format == SourceFormat::kNpy     ? synth::WriteNpy(env, p, 20000, 64, kSeed)
               : format == SourceFormat::kFvecs ? synth::WriteFvecs(env, p, 20000, 64, kSeed)
                                                : synth::WriteBvecs(env, p, 20000, 64, kSeed);
    ASSERT_TRUE(w.ok()) << w.ToString();
    auto src = Open(p, format);
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    uint64_t size = env->Stat(p)->size;
    std::vector<float> buf(static_cast<size_t>(1000) * 64);
    ASSERT_TRUE((*src)->Read(0, 1000, buf.data()).ok());
    ASSERT_EQ(::truncate(p.c_str(), static_cast<off_t>(size / 2)), 0);
    // The first rows are still there; the tail is gone.
    EXPECT_TRUE((*src)->Read(0, 1000, buf.data()).ok());
    Status s = (*src)->Read(19000, 1000, buf.data());
    ExpectError(s, Code::kFailedPrecondition, p,
                "changed during the build (" + std::to_string(size / 2) + " bytes, expected " +
                    std::to_string(size) + ")");
    // A single row (the training sample reads those) fails the same way.
    ExpectError((*src)->Read(19999, 1, buf.data()), Code::kFailedPrecondition, p,
                "changed during the build");
    ExpectError((*src)->Fingerprint().status(), Code::kFailedPrecondition, p,
                "changed during the build");
    ExpectError((*src)->CheckUnchanged(), Code::kFailedPrecondition, p,
                "changed during the build");
  }
}

// Same size, new content (a rewrite in place): rows read before and after
// would mix two datasets, so the job must notice at its next check.
TEST(SourceTest, FileRewrittenInPlaceIsCaughtByCheckUnchanged) {
  test::TempDir dir;
  Env* env = Env::Default();
  std::string p = dir.Sub("a.npy");
  ASSERT_TRUE(synth::WriteNpy(env, p, 1000, 16, kSeed).ok());
  auto src = Open(p, SourceFormat::kNpy);
  ASSERT_TRUE(src.ok());
  EXPECT_TRUE((*src)->CheckUnchanged().ok());
  struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
  ExpectError((*src)->CheckUnchanged(), Code::kFailedPrecondition, p, "modified in place");
  ExpectError((*src)->Fingerprint().status(), Code::kFailedPrecondition, p,
              "changed during the build");
}

// An I/O error on a read (EIO from a failing disk) names the file too.
TEST(SourceTest, ReadErrorsFromTheEnvNameTheFile) {
  test::TempDir dir;
  std::string p = dir.Sub("a.npy");
  ASSERT_TRUE(synth::WriteNpy(Env::Default(), p, 1000, 16, kSeed).ok());
  std::atomic<bool> fail{false};
  FaultEnv env(Env::Default(), [&](FsOp op, const std::string&) {
    return op == FsOp::kRead && fail.load() ? EIO : 0;
  });
  auto src = VectorSource::Open(&env, p, SourceFormat::kNpy, 0);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  fail = true;
  std::vector<float> buf(16 * 10);
  Status s = (*src)->Read(0, 10, buf.data());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kIOError) << s.ToString();
  EXPECT_NE(s.message().find(p), std::string::npos) << s.message();
  EXPECT_FALSE((*src)->Fingerprint().ok());
}

TEST(SourceFingerprintTest, JsonRoundTripAndErrors) {
  SourceFingerprint fp;
  fp.path = "/data/a.npy";
  fp.size = 5000000000ULL;
  fp.mtime_ns = 1700000000123456789LL;
  fp.sha256 = std::string(64, 'a');
  fp.count = 1000000;
  fp.dim = 768;
  Json j = fp.ToJson();
  auto back = SourceFingerprint::FromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), j);
  EXPECT_EQ(back->size, fp.size);
  EXPECT_EQ(back->mtime_ns, fp.mtime_ns);
  EXPECT_EQ(back->dim, 768);

  for (const char* key : {"path", "size", "mtime_ns", "sha256", "count", "dim"}) {
    SCOPED_TRACE(key);
    Json missing = Json::MakeObject();
    for (const auto& [k, v] : j.as_object()) {
      if (k != key) missing[k] = v;
    }
    auto r = SourceFingerprint::FromJson(missing);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(key), std::string::npos);
    Json wrong = j;
    wrong[key] = Json(true);
    EXPECT_EQ(SourceFingerprint::FromJson(wrong).status().code(), Code::kInvalidArgument);
  }
  Json bad_hash = j;
  bad_hash["sha256"] = "xyz";
  EXPECT_EQ(SourceFingerprint::FromJson(bad_hash).status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(SourceFingerprint::FromJson(Json(3)).ok());
  // A default-constructed fingerprint (e.g. in a fresh manifest) round-trips.
  auto empty = SourceFingerprint::FromJson(SourceFingerprint().ToJson());
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->ToJson(), SourceFingerprint().ToJson());
}

}  // namespace
}  // namespace frb
