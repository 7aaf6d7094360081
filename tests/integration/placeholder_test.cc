#include <gtest/gtest.h>

#include "testutil.h"

TEST(ToolsTest, GenVectorsRejectsBadArgs) {
  auto r = frb::test::RunProcess({frb::test::BinPath("tests/tools/frb-gen-vectors")});
  EXPECT_EQ(r.exit_code, 2);
}
