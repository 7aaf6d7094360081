// AvailableMemoryBytes over injected /proc and cgroup files (real files in a
// temporary directory, read through the real Env).
#include "frb/memory.h"

#include <gtest/gtest.h>

#include "testutil.h"

namespace frb {
namespace {

class MemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_.meminfo = dir_.Sub("meminfo");
    src_.self_cgroup = dir_.Sub("cgroup");
    src_.cgroup_root = dir_.Sub("fs");
    ASSERT_TRUE(Env::Default()->CreateDirs(dir_.Sub("fs/system.slice/searchd.service")).ok());
    test::WriteText(src_.meminfo,
                    "MemTotal:       16000000 kB\nMemFree:         1000000 kB\n"
                    "MemAvailable:    8000000 kB\nBuffers:          100 kB\n");
  }
  void Cgroup(const std::string& rel, const std::string& max, const std::string& current,
              const std::string& stat = "") {
    const std::string d = dir_.Sub("fs/" + rel);
    test::WriteText(d + "/memory.max", max + "\n");
    test::WriteText(d + "/memory.current", current + "\n");
    if (!stat.empty()) test::WriteText(d + "/memory.stat", stat);
  }
  test::TempDir dir_;
  MemorySources src_;
};

TEST_F(MemoryTest, MemAvailableAloneWithoutCgroupV2) {
  test::WriteText(src_.self_cgroup, "12:memory:/system.slice\n1:name=systemd:/\n");
  auto m = ReadAvailableMemory(Env::Default(), src_);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->bytes, 8000000ull * 1024);
  EXPECT_EQ(m->mem_available, 8000000ull * 1024);
  EXPECT_FALSE(m->cgroup_headroom.has_value());
}

TEST_F(MemoryTest, CgroupLimitBelowMemAvailableWinsAndCountsOnlyTheWorkingSet) {
  test::WriteText(src_.self_cgroup, "0::/system.slice/searchd.service\n");
  // 1 GiB limit, 700 MiB charged of which 200 MiB is inactive page cache.
  Cgroup("system.slice/searchd.service", std::to_string(1 << 30),
         std::to_string(700 << 20), "anon 500\nfile 300\ninactive_file " +
                                        std::to_string(200 << 20) + "\nactive_file 5\n");
  auto bytes = AvailableMemoryBytes(Env::Default(), src_);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, (1ull << 30) - (500ull << 20));
}

TEST_F(MemoryTest, AnAncestorsLimitBoundsTheProcessToo) {
  test::WriteText(src_.self_cgroup, "0::/system.slice/searchd.service\n");
  Cgroup("system.slice/searchd.service", "max", "100");
  Cgroup("system.slice", std::to_string(300 << 20), std::to_string(100 << 20));
  auto m = ReadAvailableMemory(Env::Default(), src_);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->cgroup_headroom, 200ull << 20);
  EXPECT_EQ(m->bytes, 200ull << 20);
}

TEST_F(MemoryTest, UnlimitedCgroupAndOverLimitCgroup) {
  test::WriteText(src_.self_cgroup, "0::/system.slice/searchd.service\n");
  Cgroup("system.slice/searchd.service", "max", "100");
  auto m = ReadAvailableMemory(Env::Default(), src_);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->cgroup_headroom.has_value());
  EXPECT_EQ(m->bytes, 8000000ull * 1024);
  // Charged beyond the limit (it was lowered): nothing available, not a wrap.
  Cgroup("system.slice/searchd.service", "1000", "5000");
  EXPECT_EQ(*AvailableMemoryBytes(Env::Default(), src_), 0u);
}

TEST_F(MemoryTest, ExplicitCgroupDirAndMissingMeminfo) {
  src_.cgroup_dir = dir_.Sub("fs/system.slice");
  src_.meminfo = dir_.Sub("absent");
  Cgroup("system.slice", "4096", "1024");
  EXPECT_EQ(*AvailableMemoryBytes(Env::Default(), src_), 3072u);
}

TEST_F(MemoryTest, NeitherSourceIsAnErrorNamingTheFile) {
  src_.meminfo = dir_.Sub("absent");
  src_.self_cgroup = dir_.Sub("absent-too");
  auto m = AvailableMemoryBytes(Env::Default(), src_);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("absent"), std::string::npos) << m.status().ToString();
  // A garbled MemAvailable line is an error too, not a zero.
  src_.meminfo = dir_.Sub("meminfo");
  test::WriteText(src_.meminfo, "MemAvailable: lots kB\n");
  EXPECT_FALSE(AvailableMemoryBytes(Env::Default(), src_).ok());
}

TEST_F(MemoryTest, ThisMachineHasAReading) {
  auto bytes = AvailableMemoryBytes(Env::Default());
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_GT(*bytes, 0u);
}

}  // namespace
}  // namespace frb
