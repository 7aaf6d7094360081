// backup / restore / versions / disk through the real faiss-rebuild binary,
// on the data dir (--local); the daemon path is in cli_remote_test.cc.
#include <gtest/gtest.h>

#include <algorithm>

#include "frb/env.h"
#include "frb/json.h"
#include "frb/store.h"
#include "testutil.h"

namespace frb {
namespace {

class BackupCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = dir_.Sub("vecs.npy");
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, 20000, 32, 5).ok());
    config_ = dir_.Sub("config.yaml");
    test::WriteText(config_, "data_dir: " + dir_.Sub("data") +
                                 "\nbackup_dir: " + dir_.Sub("bk") +
                                 "\n"
                                 "indexes:\n"
                                 "  - name: small\n"
                                 "    source: { path: " + source_ + ", format: npy }\n"
                                 "    dimension: 32\n"
                                 "    metric: L2\n"
                                 "    factory: \"IVF64,Flat\"\n"
                                 "    train_sample: 5000\n"
                                 "    keep_versions: 2\n"
                                 "    timezone: Australia/Adelaide\n"
                                 "    search: { nprobe: 8 }\n"
                                 "    backups: { keep_last: 2, keep_daily: 0, keep_weekly: 0 }\n"
                                 "    validation: { queries: 100, min_recall: 0.5, max_p99_ms: 1000 }\n");
  }
  test::ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(),
                {test::BinPath("cli/faiss-rebuild"), "--config", config_, "--local"});
    return test::RunProcess(args);
  }
  Json CliJson(std::vector<std::string> args) {
    args.push_back("--json");
    auto r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = Json::Parse(r.out);
    EXPECT_TRUE(j.ok()) << r.out << r.err;
    return j.ok() ? *j : Json();
  }
  std::string Rebuild() { return CliJson({"rebuild", "small", "--force"}).GetString("version"); }

  test::TempDir dir_;
  std::string source_, config_;
};

TEST_F(BackupCliTest, BackupVerifyCorruptPruneRestoreVersionsDisk) {
  std::string v1 = Rebuild(), v2 = Rebuild(), v3 = Rebuild();
  ASSERT_FALSE(v3.empty());
  // Rebuilds backed up v1 and v2; `backup create` adds the live one.
  Json list = CliJson({"backup", "list", "small"});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list.as_array()[0].GetString("version"), v1);
  EXPECT_TRUE(list.as_array()[1].GetBool("rollback"));
  EXPECT_FALSE(list.as_array()[0].Find("verified_at")->is_null());  // verified when created
  Json created = CliJson({"backup", "create", "small"});
  EXPECT_TRUE(created.GetBool("created"));
  EXPECT_TRUE(created.GetBool("live"));
  EXPECT_EQ(created.Find("pruned")->as_array(), Json::Array{Json(v1)});  // keep_last 2
  EXPECT_FALSE(CliJson({"backup", "create", "small"}).GetBool("created"));  // identical exists

  auto ok = Cli({"backup", "verify", "small"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find(v2 + ": ok"), std::string::npos) << ok.out;
  EXPECT_FALSE(CliJson({"backup", "list", "small"}).as_array()[0].Find("verified_at")->is_null());

  // Flip one byte of v2's backup: verify names the file and the check, exit 7.
  std::string zst = dir_.Sub("bk/small/" + v2 + ".faiss.zst");
  std::string bytes = test::ReadText(zst);
  bytes[bytes.size() / 2] ^= 1;
  test::WriteText(zst, bytes);
  auto bad = Cli({"backup", "verify", "small", v2});
  EXPECT_EQ(bad.exit_code, 7) << bad.out << bad.err;
  EXPECT_NE(bad.out.find(zst), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("compressed_sha256"), std::string::npos) << bad.out;
  EXPECT_NE(bad.err.find("verification failed"), std::string::npos) << bad.err;
  // `versions` shows that the last verify of v2's backup failed.
  Json after_bad = CliJson({"versions", "small"});
  for (const auto& j : after_bad.as_array())
    if (j.GetString("version") == v2) {
      EXPECT_NE(j.GetString("verify_error"), "") << j.Dump();
      EXPECT_NE(j.GetString("last_verify_failed_at"), "") << j.Dump();
    }
  auto table = Cli({"versions", "small"});
  size_t row = table.out.find(v2);
  ASSERT_NE(row, std::string::npos) << table.out;
  EXPECT_NE(table.out.substr(row, table.out.find('\n', row) - row).find("FAILED"), std::string::npos)
      << table.out;
  test::WriteText(zst, std::string(bytes).replace(bytes.size() / 2, 1, 1, bytes[bytes.size() / 2] ^ 1));
  EXPECT_EQ(Cli({"backup", "verify", "small", v2}).exit_code, 0);

  // Dry run: every backup with the reasons, nothing removed.
  auto dry = Cli({"backup", "prune", "small", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("last 1/2"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("rollback target"), std::string::npos) << dry.out;

  // v1 is gone from disk and from backups now; v2 is the rollback target on disk.
  auto gone = Cli({"restore", "small", v1});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("neither"), std::string::npos) << gone.err;
  EXPECT_EQ(Cli({"restore", "small", "../small"}).exit_code, 1);
  Json restored = CliJson({"restore", "small", v2});
  EXPECT_EQ(restored.GetString("location"), "disk");  // still on disk: no decompression
  EXPECT_EQ(restored.GetString("validation"), "full");
  std::string v4 = restored.GetString("version");

  Json versions = CliJson({"versions", "small"});
  std::map<std::string, Json> by;
  for (const auto& j : versions.as_array()) by[j.GetString("version")] = j;
  EXPECT_EQ(by[v2].GetString("location"), "backup");
  EXPECT_EQ(by[v3].GetString("location"), "disk+backup");
  EXPECT_TRUE(by[v3].GetBool("rollback"));
  EXPECT_EQ(by[v4].GetString("location"), "disk");
  EXPECT_TRUE(by[v4].GetBool("live"));
  EXPECT_EQ(by[v4].GetString("restored_from"), v2);
  EXPECT_EQ(by.count(v1), 0u);

  Json disk = CliJson({"disk"});
  const Json& idx = disk.Find("indexes")->as_array()[0];
  EXPECT_EQ(idx.GetString("index"), "small");
  EXPECT_GT(idx.GetInt("live"), 0);
  EXPECT_GE(idx.GetInt("versions"), 2 * idx.GetInt("live"));
  EXPECT_GT(idx.GetInt("backups"), 0);
  EXPECT_EQ(idx.GetInt("staging"), 0);
  EXPECT_GT(disk.Find("filesystems")->Find("backup_dir")->GetInt("free_bytes"), 0);
  auto human = Cli({"disk"});
  EXPECT_NE(human.out.find("small"), std::string::npos);
}

TEST_F(BackupCliTest, PruneRefusesEmptyPolicyAndBusyIndex) {
  std::string cfg = test::ReadText(config_);
  size_t at = cfg.find("keep_last: 2");
  test::WriteText(config_, cfg.replace(at, 12, "keep_last: 0"));
  auto r = Cli({"backup", "prune", "small"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("keeps nothing"), std::string::npos) << r.err;
  VersionStore store(Env::Default(), dir_.Sub("data"), "small");
  ASSERT_TRUE(store.Init().ok());
  auto lock = store.Lock(false);
  ASSERT_TRUE(lock.ok());
  auto busy = Cli({"backup", "create", "small"});
  EXPECT_EQ(busy.exit_code, 4) << busy.err;
  EXPECT_NE(busy.err.find("busy"), std::string::npos);
}

}  // namespace
}  // namespace frb
