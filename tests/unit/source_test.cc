// VectorSource: formats, headers, bounds and bad files.
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

}  // namespace
}  // namespace source_test
}  // namespace frb
