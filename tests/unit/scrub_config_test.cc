// The scrub configuration: top-level defaults, per-index overrides, rates
// with units, and clear errors.
#include <gtest/gtest.h>

#include "frb/config.h"

namespace frb {
namespace {

constexpr char kIndex[] =
    "  - name: a\n"
    "    source: { path: /x.npy }\n"
    "    dimension: 8\n"
    "    factory: Flat\n";

Result<Config> Parse(const std::string& yaml, std::vector<ConfigProblem>* problems = nullptr) {
  ConfigOptions o;
  o.check_sources = false;
  return ParseConfig(yaml, "c.yaml", Env::Default(), o, problems);
}

TEST(ScrubConfigTest, DefaultsAreWeeklyFiftyMegabytesWithRepair) {
  auto c = Parse(std::string("indexes:\n") + kIndex);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->indexes[0].scrub.schedule, "@weekly");
  EXPECT_EQ(c->indexes[0].scrub.max_bytes_per_second, 50'000'000u);
  EXPECT_TRUE(c->indexes[0].scrub.repair);
}

TEST(ScrubConfigTest, TopLevelAndPerIndexOverride) {
  auto c = Parse(std::string("scrub: { schedule: \"0 4 * * 0\", max_bytes_per_second: 20MiB }\n"
                             "indexes:\n") +
                 kIndex +
                 "  - name: b\n"
                 "    source: { path: /y.npy }\n"
                 "    dimension: 8\n"
                 "    factory: Flat\n"
                 "    scrub: { max_bytes_per_second: 0, repair: false }\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->indexes[0].scrub.schedule, "0 4 * * 0");
  EXPECT_EQ(c->indexes[0].scrub.max_bytes_per_second, 20u << 20);
  EXPECT_EQ(c->indexes[1].scrub.schedule, "0 4 * * 0");
  EXPECT_EQ(c->indexes[1].scrub.max_bytes_per_second, 0u);
  EXPECT_FALSE(c->indexes[1].scrub.repair);
}

TEST(ScrubConfigTest, BadValuesAreReportedWithTheirKey) {
  std::vector<ConfigProblem> problems;
  auto c = Parse(std::string("scrub: { schedule: \"61 * * * *\", max_bytes_per_second: 5 parsecs, "
                             "speed: 1 }\nindexes:\n") +
                     kIndex,
                 &problems);
  ASSERT_FALSE(c.ok());
  std::string all = c.status().message();
  EXPECT_NE(all.find("scrub.schedule"), std::string::npos) << all;
  EXPECT_NE(all.find("scrub.max_bytes_per_second"), std::string::npos) << all;
  EXPECT_NE(all.find("speed"), std::string::npos) << all;
}

TEST(ScrubConfigTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("1048576"), 1048576u);
  EXPECT_EQ(*ParseByteSize("50MB"), 50'000'000u);
  EXPECT_EQ(*ParseByteSize("2GiB"), 2ull << 30);
  EXPECT_EQ(*ParseByteSize("512kb"), 512'000u);
  EXPECT_FALSE(ParseByteSize("MB").ok());
  EXPECT_FALSE(ParseByteSize("1.5GB").ok());
  EXPECT_FALSE(ParseByteSize("99999999999999TB").ok());
}

}  // namespace
}  // namespace frb
