#include "frb/sha256.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <random>
#include <string>

#include "testutil.h"

namespace frb {
namespace {

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(Sha256Test, NistVectors) {
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

TEST(Sha256Test, MillionAInSmallUpdates) {
  // Exercises the partial-buffer path: 7 does not divide 64.
  Sha256 h;
  const std::string chunk(7, 'a');
  size_t left = 1000000;
  for (; left >= chunk.size(); left -= chunk.size()) h.Update(chunk.data(), 7);
  h.Update(chunk.data(), left);
  EXPECT_EQ(h.FinishHex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, FinishReturnsRawDigest) {
  Sha256 a;
  a.Update("abc", 3);
  std::array<uint8_t, 32> d = a.Finish();
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[31], 0xad);
}

TEST(Sha256Test, RandomSplitsEqualOneShot) {
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

TEST(Sha256Test, MovedHasherKeepsItsState) {
  Sha256 a;
  a.Update("ab", 2);
  Sha256 b = std::move(a);
  b.Update("c", 1);
  EXPECT_EQ(b.FinishHex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
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
