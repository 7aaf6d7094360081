// Verify, repair, quarantine and rollback when a version is corrupt: one
// flipped byte in an index file, an edited manifest, a damaged backup. Each
// must be found (naming the file and the check), and the intact copy beside
// it must be what serves afterwards.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>

#include "cycle_harness.h"
#include "frb/repair.h"
#include "frb/verify.h"

namespace frb::test {
namespace {

// Flips one byte in the middle of `path` (a published, read-only file).
// Starting state of CycleHarness(kPublish): v1 (backup only), v2 (rollback,
// on disk and in backups), v3 (live, on disk).
class VerifyRepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.Prepare();
    ASSERT_FALSE(HasFatalFailure());
    v1_ = h_.BackupIds().front();
    v2_ = **h_.Store().RollbackVersion();
    v3_ = **h_.Store().LiveVersion();
  }
  std::string IndexFile(const std::string& v) { return h_.Store().VersionIndexPath(v); }
  std::string ManifestFile(const std::string& v) {
    return JoinPath(h_.Store().VersionDir(v), "manifest.json");
  }
  void EditManifest(const std::string& v) {
    std::string p = ManifestFile(v);
    ::chmod(p.c_str(), 0644);
    std::string text = ReadText(p);
    size_t at = text.find("\"ntotal\": ");
    ASSERT_NE(at, std::string::npos);
    text.insert(at + 10, "1");
    WriteText(p, text);
  }
  IndexVerifyReport Verify(uint64_t rate = 0) {
    JobControl control;
    VerifyOptions o;
    o.max_bytes_per_second = rate;
    auto r = VerifyIndex(Env::Default(), h_.config(), h_.index(), o, &control);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : IndexVerifyReport{};
  }
  RepairOutcome Repair(const IndexVerifyReport& r) {
    JobControl control;
    auto out = RepairIndex(Env::Default(), h_.config(), h_.index(), r, "", control);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : RepairOutcome{};
  }
  bool InQuarantine(const std::string& v) {
    return Env::Default()->Exists(JoinPath(QuarantineDir(h_.Store()), v)) &&
           !Env::Default()->Exists(h_.Store().VersionDir(v));
  }
  CycleHarness h_{Cycle::kPublish};
  std::string v1_, v2_, v3_;
};

TEST_F(VerifyRepairTest, AllIntactIsOk) {
  IndexVerifyReport r = Verify();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.versions.size(), 2u);
  EXPECT_EQ(r.backups.size(), 2u);
  EXPECT_GT(r.bytes_read, 0u);
  auto st = ReadVerifyState(Env::Default(), h_.Store());
  ASSERT_TRUE(st.ok() && *st);
  EXPECT_EQ(QuickIntegrity(Env::Default(), h_.Store(), v3_, *st).state, "ok");
}

TEST_F(VerifyRepairTest, FlippedByteInLiveNamesFileAndCheck) {
  // Before any verify, the cheap check already sees the write.
  test::FlipByte(IndexFile(v3_));
  EXPECT_EQ(QuickIntegrity(Env::Default(), h_.Store(), v3_, std::nullopt).state, "modified");
  IndexVerifyReport r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.live_corrupt());
  const VersionCheck* c = r.Find(v3_);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->problems.size(), 1u);
  EXPECT_EQ(c->problems[0].file, IndexFile(v3_));
  EXPECT_EQ(c->problems[0].check, "sha256");
  EXPECT_TRUE(r.Find(v2_)->ok);
  auto st = ReadVerifyState(Env::Default(), h_.Store());
  ASSERT_TRUE(st.ok() && *st);
  EXPECT_EQ(QuickIntegrity(Env::Default(), h_.Store(), v3_, *st).state, "corrupt");
  bool bad = false;
  Json summary = IntegritySummary(Env::Default(), h_.Store(), &bad);
  EXPECT_TRUE(bad) << summary.Dump();
}

TEST_F(VerifyRepairTest, EditedManifestAndDamagedBackupAreFound) {
  EditManifest(v2_);
  std::string data = h_.Backups().DataPath(v1_);
  test::FlipByte(data);
  IndexVerifyReport r = Verify();
  EXPECT_EQ(r.corrupt_count(), 2);
  const VersionCheck* c = r.Find(v2_);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->problems.at(0).file, ManifestFile(v2_));
  EXPECT_EQ(c->problems.at(0).check, "manifest");
  bool found = false;
  for (const auto& b : r.backups)
    if (b.version_id == v1_) {
      found = !b.ok && b.problems.at(0).file == data;
    }
  EXPECT_TRUE(found) << r.ToJson().Dump(2);
}

TEST_F(VerifyRepairTest, RepairRepublishesRollbackAndQuarantinesCorruptLive) {
  test::FlipByte(IndexFile(v3_));
  RepairOutcome out = Repair(Verify());
  ASSERT_TRUE(out.repaired) << out.error;
  EXPECT_EQ(out.repaired_from, v2_);
  EXPECT_EQ(out.source, "disk");
  std::string live = **h_.Store().LiveVersion();
  EXPECT_EQ(live, out.new_version);
  EXPECT_NE(live, v2_);  // a NEW live version
  auto m = h_.Store().ReadManifest(live);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->repaired_from, v2_);
  EXPECT_NE(m->repair_reason.find("sha256"), std::string::npos) << m->repair_reason;
  EXPECT_EQ(m->parent_version, v3_);
  EXPECT_TRUE(InQuarantine(v3_));
  auto rb = h_.Store().RollbackVersion();
  ASSERT_TRUE(rb.ok() && *rb);
  EXPECT_EQ(**rb, v2_);
  EXPECT_TRUE(Env::Default()->Exists(JoinPath(JoinPath(QuarantineDir(h_.Store()), v3_), "quarantine.json")));
  // Never backed up: retention and backups do not know it.
  EXPECT_FALSE(h_.Backups().Get(v3_).ok());
  EXPECT_TRUE(Verify().ok());
}

TEST_F(VerifyRepairTest, RepairFromBackupWhenNothingIntactOnDisk) {
  test::FlipByte(IndexFile(v3_));
  EditManifest(v2_);
  RepairOutcome out = Repair(Verify());
  ASSERT_TRUE(out.repaired) << out.error;
  EXPECT_EQ(out.source, "backup");
  EXPECT_EQ(out.repaired_from, v2_);  // the newest backup that verified
  EXPECT_TRUE(InQuarantine(v3_));
  EXPECT_TRUE(InQuarantine(v2_));
  EXPECT_FALSE(*h_.Store().RollbackVersion());
  EXPECT_TRUE(Verify().ok());
}

TEST_F(VerifyRepairTest, RebuildOverCorruptLiveSkipsItsBackupWithWarning) {
  test::FlipByte(IndexFile(v3_));
  JobControl control;
  JobOutcome out = RebuildJob(Env::Default(), h_.config(), h_.index(), test::Forced()).Run(control);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_FALSE(out.warnings.empty());
  EXPECT_NE(out.warnings[0].find(v3_), std::string::npos) << out.warnings[0];
  EXPECT_TRUE(InQuarantine(v3_));
  EXPECT_FALSE(h_.Backups().Get(v3_).ok());
  // The intact v2 was not pruned in favour of the pinned corrupt v3.
  auto rb = h_.Store().RollbackVersion();
  ASSERT_TRUE(rb.ok() && *rb);
  EXPECT_EQ(**rb, v2_);
}

TEST_F(VerifyRepairTest, RebuildOverEditedLiveManifest) {
  EditManifest(v3_);
  JobControl control;
  JobOutcome out = RebuildJob(Env::Default(), h_.config(), h_.index(), test::Forced()).Run(control);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_TRUE(InQuarantine(v3_));
}

TEST_F(VerifyRepairTest, RestoreOfCorruptDiskCopyFallsBackToBackup) {
  test::FlipByte(IndexFile(v2_));
  JobControl control;
  auto out = RestoreVersion(Env::Default(), h_.config(), h_.index(), v2_, control);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->location, "backup");
  EXPECT_NE(out->fallback.find("disk"), std::string::npos) << out->fallback;
  EXPECT_TRUE(InQuarantine(v2_));
  EXPECT_EQ(**h_.Store().LiveVersion(), out->new_version);
}

TEST_F(VerifyRepairTest, RestoreOfRollbackWhileLiveIsCorrupt) {
  test::FlipByte(IndexFile(v3_));
  JobControl control;
  auto out = RestoreVersion(Env::Default(), h_.config(), h_.index(), v2_, control);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->location, "disk");
  ASSERT_FALSE(out->warnings.empty());
  EXPECT_TRUE(InQuarantine(v3_));
}

TEST_F(VerifyRepairTest, RollbackVerifiesTarget) {
  JobControl control;
  auto live = RollbackIndex(Env::Default(), h_.config(), h_.index(), control);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_EQ(*live, v2_);
  EXPECT_EQ(**h_.Store().LiveVersion(), v2_);
  EXPECT_EQ(**h_.Store().RollbackVersion(), v3_);
  // Now v3 is the target: damage it and the rollback is refused.
  test::FlipByte(IndexFile(v3_));
  JobControl c2;
  auto again = RollbackIndex(Env::Default(), h_.config(), h_.index(), c2);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kCorruption);
  EXPECT_NE(again.status().message().find(IndexFile(v3_)), std::string::npos);
  EXPECT_NE(again.status().message().find("sha256"), std::string::npos);
  EXPECT_EQ(**h_.Store().LiveVersion(), v2_);
}

TEST(RateLimiterTest, HoldsTheRate) {
  constexpr uint64_t kRate = 8 << 20;  // 8 MiB/s
  RateLimiter limiter(kRate);
  auto t0 = std::chrono::steady_clock::now();
  uint64_t total = 0;
  for (int i = 0; i < 32; ++i) {  // 16 MiB: 2 s at the rate
    ASSERT_TRUE(limiter.Acquire(512 << 10, nullptr).ok());
    total += 512 << 10;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double rate = static_cast<double>(total) / s;
  EXPECT_LE(rate, kRate * 1.05) << s;
  EXPECT_GE(rate, kRate * 0.85) << s;
}

TEST_F(VerifyRepairTest, ScrubRateLimitHolds) {
  constexpr uint64_t kRate = 1 << 20;  // 1 MiB/s over roughly 0.7 MiB
  IndexVerifyReport r = Verify(kRate);
  ASSERT_TRUE(r.ok());
  double rate = static_cast<double>(r.bytes_read) / r.seconds;
  EXPECT_LE(rate, kRate * 1.1) << r.bytes_read << " bytes in " << r.seconds << " s";
  EXPECT_GE(rate, kRate * 0.6) << r.bytes_read << " bytes in " << r.seconds << " s";
}

}  // namespace
}  // namespace frb::test
