// Offsite backups (backup_dir: s3://BUCKET/PREFIX) through the real
// faiss-rebuild and faiss-rebuildd binaries against a real S3-protocol
// server on loopback: backup, list, verify, restore and retention act on
// objects; a damaged object is reported by verify and refused by restore;
// a connection cut mid-upload is retried, and an upload that cannot finish
// leaves no listed backup; wrong credentials fail with a clear error.
#include <gtest/gtest.h>

#include <map>

#include "daemon_process.h"
#include "fault_proxy.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/s3.h"
#include "http_client.h"
#include "s3_server.h"
#include "testutil.h"

namespace frb {
namespace {

class OffsiteBackupTest : public ::testing::Test {
 protected:
  void Start(const test::S3TestServer::Options& so = {}) {
    std::string why;
    server_ = test::S3TestServer::Start(so, &why);
    if (!server_) GTEST_SKIP() << why;
    proxy_ = std::make_unique<test::FaultProxy>(server_->port());
    client_ = std::move(S3Client::Create(server_->ClientOptions(), Env::Default())).value();
    source_ = dir_.Sub("vecs.npy");
    data_ = dir_.Sub("data");
    config_ = dir_.Sub("config.yaml");
  }
  // `rows` x 32 vectors, a Flat index (its file is rows * 128 bytes + header).
  void WriteConfig(int rows, const std::string& backups, int keep_versions = 2) {
    ASSERT_TRUE(synth::WriteNpy(Env::Default(), source_, rows, 32, ++seed_, 16).ok());
    test::WriteText(config_,
                    "data_dir: " + data_ + "\n"
                    "backup_dir: s3://" + server_->bucket() + "/offsite\n"
                    "repository:\n"
                    "  endpoint: http://127.0.0.1:" + std::to_string(proxy_->port()) + "\n"
                    "  path_style: true\n"
                    "  part_size: 5MiB\n"
                    "indexes:\n"
                    "  - name: small\n"
                    "    source: { path: " + source_ + ", format: npy }\n"
                    "    dimension: 32\n"
                    "    factory: \"Flat\"\n"
                    "    train_sample: 2000\n"
                    "    keep_versions: " + std::to_string(keep_versions) + "\n"
                    "    backups: " + backups + "\n"
                    "    validation: { queries: 20, min_recall: 0.3, max_p99_ms: 1000 }\n");
  }
  test::ProcessResult Cli(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), {test::BinPath("cli/faiss-rebuild"), "--config", config_});
    if (daemon_port_ == 0) args.insert(args.begin() + 3, "--local");
    else args.insert(args.begin() + 3, {"--daemon", "http://127.0.0.1:" + std::to_string(daemon_port_)});
    if (env.empty()) env = server_->ChildEnv();
    return test::RunProcess(args, env, 180);
  }
  Json CliJson(std::vector<std::string> args) {
    args.push_back("--json");
    auto r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto j = Json::Parse(r.out);
    EXPECT_TRUE(j.ok()) << r.out << r.err;
    return j.ok() ? *j : Json();
  }
  // The source stays: a restore is validated against it.
  std::string Rebuild() { return CliJson({"rebuild", "small", "--force"}).GetString("version"); }
  std::string Live() {
    auto t = Env::Default()->ReadLink(data_ + "/indexes/small/live");
    return t.ok() ? BaseName(*t) : "";
  }
  std::string Key(const std::string& name) { return "offsite/small/" + name; }
  bool Exists(const std::string& name) { return client_->Head(server_->bucket(), Key(name)).ok(); }
  std::string Object(const std::string& name) {
    auto g = client_->Get(server_->bucket(), Key(name));
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? g->body : "";
  }
  void PutObject(const std::string& name, const std::string& body) {
    ASSERT_TRUE(client_->Put(server_->bucket(), Key(name), body).ok());
  }
  std::vector<std::string> Objects() {
    std::vector<std::string> out;
    auto l = client_->List(server_->bucket(), "offsite/small/");
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    if (l.ok())
      for (const auto& o : *l) out.push_back(o.key.substr(std::string("offsite/small/").size()));
    return out;
  }
  std::string Url(const std::string& name) {
    return "s3://" + server_->bucket() + "/offsite/small/" + name;
  }

  test::TempDir dir_;
  std::unique_ptr<test::S3TestServer> server_;
  std::unique_ptr<test::FaultProxy> proxy_;
  std::unique_ptr<S3Client> client_;
  std::string source_, data_, config_;
  uint64_t seed_ = 0;
  int rows_ = 4000;
  int daemon_port_ = 0;
};

TEST_F(OffsiteBackupTest, CliBackupListRetentionVerifyRestoreOnObjects) {
  Start();
  WriteConfig(rows_, "{ keep_last: 1, keep_daily: 0, keep_weekly: 0 }");
  std::string v1 = Rebuild(), v2 = Rebuild(), v3 = Rebuild();
  ASSERT_FALSE(v3.empty());
  // Rebuilds backed up the outgoing v1 and v2, as objects only.
  Json list = CliJson({"backup", "list", "small"});
  ASSERT_EQ(list.size(), 2u) << list.Dump();
  EXPECT_EQ(list.as_array()[0].GetString("version"), v1);
  EXPECT_EQ(list.as_array()[1].GetString("version"), v2);
  EXPECT_FALSE(list.as_array()[0].Find("verified_at")->is_null());  // verified when created
  EXPECT_TRUE(Exists(v1 + ".faiss.zst") && Exists(v1 + ".backup.json") && Exists("OWNER"));
  EXPECT_FALSE(Env::Default()->Exists(data_ + "/backups"));

  // Retention (keep_last 1) after a backup of live v3: v1 goes, the rollback
  // target v2 and live v3 stay, data and manifest objects alike.
  Json created = CliJson({"backup", "create", "small"});
  EXPECT_TRUE(created.GetBool("created")) << created.Dump();
  EXPECT_TRUE(created.GetBool("live"));
  EXPECT_EQ(created.Find("pruned")->as_array(), Json::Array{Json(v1)}) << created.Dump();
  EXPECT_FALSE(Exists(v1 + ".faiss.zst") || Exists(v1 + ".backup.json") ||
               Exists(v1 + ".state.json"));
  for (const auto& v : {v2, v3}) EXPECT_TRUE(Exists(v + ".faiss.zst") && Exists(v + ".backup.json")) << v;
  EXPECT_FALSE(CliJson({"backup", "create", "small"}).GetBool("created"));  // identical exists

  auto ok = Cli({"backup", "verify", "small"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find(v2 + ": ok"), std::string::npos) << ok.out;

  // v4 moves v2 out of versions/ (keep_versions 2): its only copy is offsite.
  std::string v4 = Rebuild();
  ASSERT_FALSE(Env::Default()->Exists(data_ + "/indexes/small/versions/" + v2));
  std::string good = Object(v2 + ".faiss.zst");
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 1;
  PutObject(v2 + ".faiss.zst", flipped);
  auto bad = Cli({"backup", "verify", "small", v2});
  EXPECT_EQ(bad.exit_code, 7) << bad.out << bad.err;
  EXPECT_NE(bad.out.find(Url(v2 + ".faiss.zst")), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("compressed_sha256"), std::string::npos) << bad.out;
  auto refused = Cli({"restore", "small", v2});
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_NE(refused.err.find(Url(v2 + ".faiss.zst")), std::string::npos) << refused.err;
  EXPECT_EQ(Live(), v4);

  // Truncated: `verify` (versions and backups) names the object and the size.
  PutObject(v2 + ".faiss.zst", good.substr(0, good.size() / 2));
  auto truncated = Cli({"verify", "small"});
  EXPECT_EQ(truncated.exit_code, 7) << truncated.out << truncated.err;
  EXPECT_NE(truncated.out.find(Url(v2 + ".faiss.zst")), std::string::npos) << truncated.out;
  EXPECT_NE(truncated.out.find("compressed_size"), std::string::npos) << truncated.out;
  EXPECT_NE(Cli({"restore", "small", v2}).exit_code, 0);
  EXPECT_EQ(Live(), v4);

  // Intact again: restored from the bucket as a new live version.
  PutObject(v2 + ".faiss.zst", good);
  Json restored = CliJson({"restore", "small", v2});
  EXPECT_EQ(restored.GetString("location"), "backup") << restored.Dump();
  std::string v5 = restored.GetString("version");
  EXPECT_EQ(Live(), v5);
  EXPECT_EQ(test::ReadText(data_ + "/indexes/small/versions/" + v5 + "/index.faiss").size(),
            CliJson({"backup", "list", "small"}).as_array()[0].GetInt("size"));
  auto spool = Env::Default()->ListDir(data_ + "/backup-spool/small");
  EXPECT_TRUE(!spool.ok() || spool->empty());
  Json disk = CliJson({"disk"});
  const Json& idx = disk.Find("indexes")->as_array()[0];
  EXPECT_EQ(idx.GetInt("backup_count"), static_cast<int64_t>(CliJson({"backup", "list", "small"}).size()));
  EXPECT_GT(idx.GetInt("backups"), 0);
}

TEST_F(OffsiteBackupTest, UploadCutMidwayIsRetriedAndAFailedUploadLeavesNoBackup) {
  Start();
  rows_ = 60000;  // an index file of ~7.7 MB: two 5 MiB parts
  WriteConfig(rows_, "{ keep_last: 5 }");
  std::string v1 = Rebuild();
  ASSERT_FALSE(v1.empty());
  proxy_->CutAfter(3u << 20, 1, /*upstream=*/true);
  Json created = CliJson({"backup", "create", "small"});
  EXPECT_TRUE(created.GetBool("created")) << created.Dump();
  EXPECT_GE(proxy_->cuts(), 1);
  EXPECT_EQ(Cli({"backup", "verify", "small", v1}).exit_code, 0);

  std::string v2 = Rebuild();
  ASSERT_FALSE(v2.empty());
  // Every connection that carries 1 MiB is cut: the upload cannot finish.
  proxy_->CutAfter(1u << 20, 1000, true);
  auto failed = Cli({"backup", "create", "small"});
  EXPECT_NE(failed.exit_code, 0) << failed.out;
  EXPECT_NE(failed.err.find("backup of small/" + v2), std::string::npos) << failed.err;
  proxy_->CutAfter(1u << 20, 0, true);
  for (const auto& name : Objects()) EXPECT_NE(name, v2 + ".backup.json");
  Json list = CliJson({"backup", "list", "small"});
  ASSERT_EQ(list.size(), 1u) << list.Dump();
  EXPECT_EQ(list.as_array()[0].GetString("version"), v1);
  // The next backup sweeps whatever the failed one left and makes it whole.
  EXPECT_TRUE(CliJson({"backup", "create", "small"}).GetBool("created"));
  EXPECT_EQ(Cli({"backup", "verify", "small"}).exit_code, 0);
  std::map<std::string, int> kinds;
  for (const auto& name : Objects())
    if (name.find('.') != std::string::npos) ++kinds[name.substr(name.find('.'))];
  EXPECT_EQ(kinds[".faiss.zst"], 2);
  EXPECT_EQ(kinds[".backup.json"], 2);
}

TEST_F(OffsiteBackupTest, DaemonBacksUpAfterPublishAndServesListMetricsAndRestore) {
  Start();
  WriteConfig(rows_, "{ keep_last: 5 }");  // keep_versions 2
  test::RebuilddProcess daemon(config_, dir_.Sub("d.log"), server_->ChildEnv());
  daemon_port_ = daemon.WaitForPort();
  ASSERT_GT(daemon_port_, 0) << daemon.Log();
  auto rebuild = [&] {
    auto r = Cli({"rebuild", "small", "--wait", "--force"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << daemon.Log();
    return Live();
  };
  std::string v1 = rebuild(), v2 = rebuild(), v3 = rebuild();
  ASSERT_FALSE(v3.empty());
  ASSERT_FALSE(Env::Default()->Exists(data_ + "/indexes/small/versions/" + v1));
  // The daemon backed up each outgoing live version to the bucket.
  auto api = test::Http(daemon_port_, "GET", "/api/v1/indexes/small/backups");
  ASSERT_EQ(api.status, 200) << api.body;
  auto j = Json::Parse(api.body);
  ASSERT_TRUE(j.ok());
  ASSERT_EQ(j->Find("backups")->size(), 2u) << api.body;
  EXPECT_EQ(j->Find("backups")->as_array()[0].GetString("version"), v1);
  EXPECT_TRUE(j->Find("backups")->as_array()[1].GetBool("rollback")) << api.body;
  uint64_t bytes = 0;
  for (const auto& v : {v1, v2}) {
    auto head = client_->Head(server_->bucket(), Key(v + ".faiss.zst"));
    ASSERT_TRUE(head.ok() && Exists(v + ".backup.json")) << v;
    bytes += head->size;
  }
  std::string metrics = test::Http(daemon_port_, "GET", "/metrics").body;
  EXPECT_EQ(test::Sample(metrics, "faiss_rebuild_backups{index=\"small\"}"), 2) << metrics;
  EXPECT_EQ(test::Sample(metrics, "faiss_rebuild_backup_bytes{index=\"small\"}"),
            static_cast<double>(bytes));
  auto create = Cli({"backup", "create", "small"});
  ASSERT_EQ(create.exit_code, 0) << create.out << create.err << daemon.Log();
  EXPECT_TRUE(Exists(v3 + ".backup.json"));
  auto listed = Cli({"backup", "list", "small", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(Json::Parse(listed.out)->size(), 3u) << listed.out;
  // v1 is only in the bucket: the daemon restores it from there.
  auto restore = Cli({"restore", "small", v1});
  ASSERT_EQ(restore.exit_code, 0) << restore.out << restore.err << daemon.Log();
  std::string v4 = Live();
  EXPECT_NE(v4, v3);
  auto m = Json::Parse(test::ReadText(data_ + "/indexes/small/versions/" + v4 + "/manifest.json"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->GetString("restored_from"), v1);
  auto verify = Cli({"verify", "small"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST_F(OffsiteBackupTest, WrongCredentialsFailClearlyWithoutTheSecret) {
  test::S3TestServer::Options so;
  so.auth = true;
  Start(so);
  WriteConfig(rows_, "{ keep_last: 2 }");
  std::string v1 = Rebuild();
  ASSERT_FALSE(v1.empty());
  std::vector<std::string> env = {"AWS_ACCESS_KEY_ID=" + server_->credentials().access_key_id,
                                  "AWS_SECRET_ACCESS_KEY=wrong-secret-ABCDEFGHIJKLMNOP",
                                  "AWS_REGION=us-east-1"};
  for (auto args : std::vector<std::vector<std::string>>{{"backup", "list", "small"},
                                                         {"backup", "create", "small"}}) {
    auto r = Cli(args, env);
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_NE(r.err.find("403"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("s3://" + server_->bucket()), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("wrong-secret"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(Exists("OWNER"));
  EXPECT_FALSE(Exists(v1 + ".faiss.zst"));
}

}  // namespace
}  // namespace frb
