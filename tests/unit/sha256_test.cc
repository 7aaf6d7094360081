#include "frb/sha256.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>

#include "sha256_internal.h"
#include "testutil.h"

namespace frb {
namespace {

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Runs each test once per block function; the NI run is skipped on CPUs
// without SHA extensions.
class Sha256Test : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam() && !internal::Sha256NiSupported()) {
      GTEST_SKIP() << "CPU has no SHA extensions";
    }
    internal::Sha256ForcePortable(!GetParam());
    ASSERT_EQ(internal::Sha256UsingNi(), GetParam());
  }
  void TearDown() override { internal::Sha256ForcePortable(false); }
};

TEST_P(Sha256Test, NistVectors) {
  EXPECT_EQ(Sha256::Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(
      Sha256::Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256::Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijkl"
                        "mnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopq"
                        "rstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(Sha256::Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_P(Sha256Test, MillionAInSmallUpdates) {
  // Exercises the partial-buffer path: 7 does not divide 64.
  Sha256 h;
  const std::string chunk(7, 'a');
  size_t left = 1000000;
  for (; left >= chunk.size(); left -= chunk.size()) h.Update(chunk.data(), 7);
  h.Update(chunk.data(), left);
  EXPECT_EQ(h.FinishHex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_P(Sha256Test, FinishReturnsRawDigest) {
  Sha256 a;
  a.Update("abc", 3);
  std::array<uint8_t, 32> d = a.Finish();
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[31], 0xad);
}

TEST_P(Sha256Test, RandomSplitsEqualOneShot) {
  std::mt19937_64 rng(42);
  for (int iter = 0; iter < 300; ++iter) {
    const std::string data = RandomBytes(rng, rng() % 5000);
    const std::string want = Sha256::Hex(data);
    Sha256 h;
    size_t pos = 0;
    while (pos < data.size()) {
      // Mostly short pieces, sometimes several blocks, sometimes empty.
      size_t n = std::min<size_t>(data.size() - pos,
                                  rng() % 4 == 0 ? rng() % 700 : rng() % 70);
      h.Update(data.data() + pos, n);
      pos += n;
    }
    ASSERT_EQ(h.FinishHex(), want) << "length " << data.size();
  }
}

INSTANTIATE_TEST_SUITE_P(Sha256, Sha256Test, ::testing::Values(false, true),
                         [](const auto& info) {
                           return info.param ? "ShaNi" : "Portable";
                         });

TEST(Sha256PathsTest, PortableAndNiAgreeAroundPaddingBoundaries) {
  if (!internal::Sha256NiSupported()) GTEST_SKIP() << "no SHA extensions";
  std::mt19937_64 rng(7);
  const std::string data = RandomBytes(rng, 300);
  for (size_t n = 0; n <= data.size(); ++n) {
    internal::Sha256ForcePortable(true);
    std::string portable = Sha256::Hex(std::string_view(data).substr(0, n));
    internal::Sha256ForcePortable(false);
    ASSERT_EQ(Sha256::Hex(std::string_view(data).substr(0, n)), portable)
        << "length " << n;
  }
}

TEST(Sha256PathsTest, BlockFunctionsAgreeOnArbitraryState) {
  if (!internal::Sha256NiSupported()) GTEST_SKIP() << "no SHA extensions";
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 50; ++iter) {
    uint32_t a[8], b[8];
    for (int i = 0; i < 8; ++i) a[i] = b[i] = static_cast<uint32_t>(rng());
    const size_t nblocks = 1 + rng() % 5;
    const std::string blocks = RandomBytes(rng, 64 * nblocks);
    const auto* p = reinterpret_cast<const uint8_t*>(blocks.data());
    internal::Sha256CompressPortable(a, p, nblocks);
    internal::Sha256CompressNi(b, p, nblocks);
    ASSERT_EQ(std::memcmp(a, b, sizeof(a)), 0) << "iteration " << iter;
  }
}

TEST(Sha256FileTest, MatchesInMemoryAcrossChunks) {
  test::TempDir dir;
  std::mt19937_64 rng(3);
  // Larger than the 1 MiB read chunk and not a multiple of 64.
  const std::string data = RandomBytes(rng, (3 << 20) + 12345);
  const std::string path = dir.Sub("blob");
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, data).ok());
  auto got = Sha256File(Env::Default(), path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, Sha256::Hex(data));
}

TEST(Sha256FileTest, EmptyFile) {
  test::TempDir dir;
  const std::string path = dir.Sub("empty");
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, "").ok());
  auto got = Sha256File(Env::Default(), path);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256FileTest, MissingFileIsNotFound) {
  test::TempDir dir;
  auto got = Sha256File(Env::Default(), dir.Sub("nope"));
  EXPECT_EQ(got.status().code(), Code::kNotFound) << got.status().ToString();
}

TEST(Sha256FileTest, ReadErrorPropagates) {
  test::TempDir dir;
  const std::string path = dir.Sub("blob");
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, "data").ok());
  FaultEnv env(Env::Default(), [](FsOp op, const std::string&) {
    return op == FsOp::kRead ? EIO : 0;
  });
  auto got = Sha256File(&env, path);
  EXPECT_EQ(got.status().code(), Code::kIOError) << got.status().ToString();
}

}  // namespace
}  // namespace frb
