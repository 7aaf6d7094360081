// VectorSource: NaN/Inf scanning, fingerprints, files changing under the
// reader, read errors.
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
#include "source_test_util.h"

namespace frb {
namespace source_test {
namespace {

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
}  // namespace source_test
}  // namespace frb
