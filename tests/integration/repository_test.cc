// The object-storage repository against a real S3-protocol server on
// loopback: publish (objects, manifest, pointer) and pull round trip, two
// publishers racing on the pointer, damaged objects refused by Pull and
// Verify, resumed pulls, the conditional-PUT probe and its fallback, and
// retention with a grace period.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "fault_proxy.h"
#include "frb/env.h"
#include "frb/repository.h"
#include "frb/sha256.h"
#include "s3_server.h"
#include "testutil.h"

namespace frb {
namespace {

std::string Bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = test::S3TestServer::Start(&why);
    if (!server_) GTEST_SKIP() << why;
    client_ = std::move(S3Client::Create(server_->ClientOptions(), Env::Default())).value();
    repo_ = std::make_unique<Repository>(client_.get(), S3Location{server_->bucket(), "fleet"},
                                         Env::Default());
  }
  // A local version dir with an index file of `size` bytes and a manifest.
  std::string MakeVersion(const std::string& id, size_t size, uint64_t seed) {
    std::string d = dir_.Sub("local-" + id);
    EXPECT_TRUE(Env::Default()->CreateDirs(d).ok());
    test::WriteText(d + "/index.faiss", Bytes(size, seed));
    test::WriteText(d + "/manifest.json", "{\"version\":\"" + id + "\"}\n");
    return d;
  }
  Status Publish(Repository& r, const std::string& id, const std::string& local) {
    FRB_ASSIGN_OR_RETURN(auto before, r.ReadPointer("idx"));
    FRB_ASSIGN_OR_RETURN(auto v, r.UploadVersion("idx", id, local,
                                                 before ? std::optional(before->live) : std::nullopt));
    (void)v;
    FRB_ASSIGN_OR_RETURN(auto p, r.MovePointer("idx", id, before, "host-a"));
    (void)p;
    return Status::Ok();
  }
  test::TempDir dir_;
  std::unique_ptr<test::S3TestServer> server_;
  std::unique_ptr<S3Client> client_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(RepositoryTest, PublishThenPullRebuildsTheLocalVersion) {
  auto probe = repo_->ProbeConditionalPut();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  EXPECT_TRUE(*probe);
  EXPECT_FALSE(repo_->ReadPointer("idx")->has_value());
  std::string local = MakeVersion("v000001-20261206T000000Z", (7u << 20) + 3, 1);
  ASSERT_TRUE(Publish(*repo_, "v000001-20261206T000000Z", local).ok());
  auto p = repo_->ReadPointer("idx");
  ASSERT_TRUE(p.ok() && p->has_value());
  EXPECT_EQ((*p)->live, "v000001-20261206T000000Z");
  EXPECT_FALSE((*p)->previous.has_value());
  auto v = repo_->ReadVersion("idx", (*p)->live);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->files.size(), 2u);
  EXPECT_EQ(v->files[0].name, "index.faiss");
  EXPECT_EQ(v->files[0].size, (7u << 20) + 3);
  // Objects are named by content.
  EXPECT_TRUE(client_->Head(server_->bucket(), "fleet/idx/objects/sha256/" + v->files[0].sha256).ok());
  std::string out = dir_.Sub("pulled");
  ASSERT_TRUE(repo_->Pull("idx", (*p)->live, out).ok());
  EXPECT_EQ(test::ReadText(out + "/index.faiss"), test::ReadText(local + "/index.faiss"));
  EXPECT_EQ(test::ReadText(out + "/manifest.json"), test::ReadText(local + "/manifest.json"));
  EXPECT_FALSE(Env::Default()->Exists(out + "/index.faiss.partial"));
  EXPECT_TRUE(repo_->Verify("idx", (*p)->live).ok());
  // Second version: previous moves along; an unchanged conditional read is 304.
  std::string local2 = MakeVersion("v000002-20261206T000100Z", 1000, 2);
  ASSERT_TRUE(Publish(*repo_, "v000002-20261206T000100Z", local2).ok());
  auto p2 = repo_->ReadPointer("idx");
  EXPECT_EQ((*p2)->live, "v000002-20261206T000100Z");
  EXPECT_EQ((*p2)->previous.value_or(""), "v000001-20261206T000000Z");
  auto same = repo_->ReadPointerIfChanged("idx", (*p2)->etag);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->not_modified);
  auto changed = repo_->ReadPointerIfChanged("idx", (*p)->etag);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(changed->not_modified);
  EXPECT_EQ(changed->pointer->live, "v000002-20261206T000100Z");
  EXPECT_EQ(*repo_->ListVersions("idx"),
            (std::vector<std::string>{"v000001-20261206T000000Z", "v000002-20261206T000100Z"}));
}

TEST_F(RepositoryTest, TwoPublishersRaceOnThePointerAndOneWins) {
  std::string base = MakeVersion("v000001-20261206T000000Z", 5000, 1);
  ASSERT_TRUE(Publish(*repo_, "v000001-20261206T000000Z", base).ok());
  auto c2 = std::move(S3Client::Create(server_->ClientOptions(), Env::Default())).value();
  Repository other(c2.get(), repo_->location(), Env::Default());
  for (int round = 0; round < 5; ++round) {
    std::string a = "v00001" + std::to_string(round) + "-20261206T00000" + std::to_string(round) + "A";
    std::string b = "v00002" + std::to_string(round) + "-20261206T00000" + std::to_string(round) + "B";
    std::string la = MakeVersion(a, 200000, 10 + round), lb = MakeVersion(b, 200000, 20 + round);
    auto before_a = repo_->ReadPointer("idx");
    auto before_b = other.ReadPointer("idx");
    ASSERT_EQ((*before_a)->etag, (*before_b)->etag);
    ASSERT_TRUE(repo_->UploadVersion("idx", a, la, (*before_a)->live).ok());
    ASSERT_TRUE(other.UploadVersion("idx", b, lb, (*before_b)->live).ok());
    Result<RepoPointer> ra = Status(Code::kInternal, "unset"), rb = Status(Code::kInternal, "unset");
    std::thread ta([&] { ra = repo_->MovePointer("idx", a, *before_a, "host-a"); });
    std::thread tb([&] { rb = other.MovePointer("idx", b, *before_b, "host-b"); });
    ta.join();
    tb.join();
    ASSERT_NE(ra.ok(), rb.ok()) << ra.status().ToString() << " / " << rb.status().ToString();
    const Result<RepoPointer>& loser = ra.ok() ? rb : ra;
    EXPECT_EQ(loser.status().code(), Code::kFailedPrecondition) << loser.status().ToString();
    std::string winner = ra.ok() ? a : b;
    auto now = repo_->ReadPointer("idx");
    EXPECT_EQ((*now)->live, winner);
    EXPECT_EQ((*now)->previous.value_or(""), (*before_a)->live);
    // The winner is whole: every byte verifies.
    EXPECT_TRUE(repo_->Verify("idx", winner).ok());
  }
}

TEST_F(RepositoryTest, DamagedObjectsAreRefusedByPullAndVerify) {
  std::string local = MakeVersion("v000001-20261206T000000Z", (6u << 20) + 77, 3);
  ASSERT_TRUE(Publish(*repo_, "v000001-20261206T000000Z", local).ok());
  auto v = *repo_->ReadVersion("idx", "v000001-20261206T000000Z");
  std::string key = repo_->ObjectKey("idx", v.files[0].sha256);
  std::string good = test::ReadText(local + "/index.faiss");
  // Bit flip in the store.
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x01;
  ASSERT_TRUE(client_->Put(server_->bucket(), key, flipped).ok());
  std::string out = dir_.Sub("out");
  Status s = repo_->Pull("idx", v.version, out);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_FALSE(Env::Default()->Exists(out + "/index.faiss"));
  EXPECT_FALSE(Env::Default()->Exists(out + "/index.faiss.partial"));
  EXPECT_EQ(repo_->Verify("idx", v.version).code(), Code::kCorruption);
  // Truncated.
  ASSERT_TRUE(client_->Put(server_->bucket(), key, good.substr(0, good.size() - 100)).ok());
  s = repo_->Pull("idx", v.version, out);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_FALSE(Env::Default()->Exists(out + "/index.faiss"));
  Status vs = repo_->Verify("idx", v.version);
  EXPECT_EQ(vs.code(), Code::kCorruption) << vs.ToString();
  // Restored: the next pull succeeds.
  ASSERT_TRUE(client_->Put(server_->bucket(), key, good).ok());
  ASSERT_TRUE(repo_->Pull("idx", v.version, out).ok());
  EXPECT_EQ(test::ReadText(out + "/index.faiss"), good);
}

TEST_F(RepositoryTest, PullResumesAPartialDownload) {
  std::string local = MakeVersion("v000001-20261206T000000Z", 8u << 20, 4);
  ASSERT_TRUE(Publish(*repo_, "v000001-20261206T000000Z", local).ok());
  std::string good = test::ReadText(local + "/index.faiss");
  std::string out = dir_.Sub("out");
  ASSERT_TRUE(Env::Default()->CreateDirs(out).ok());
  test::WriteText(out + "/index.faiss.partial", good.substr(0, 6u << 20));
  uint64_t before = client_->stats().bytes_downloaded;
  ASSERT_TRUE(repo_->Pull("idx", "v000001-20261206T000000Z", out).ok());
  EXPECT_EQ(test::ReadText(out + "/index.faiss"), good);
  EXPECT_LT(client_->stats().bytes_downloaded - before, 3u << 20);
  // A partial with wrong bytes is caught by the digest and discarded.
  ASSERT_TRUE(Env::Default()->RemoveFile(out + "/index.faiss").ok());
  test::WriteText(out + "/index.faiss.partial", std::string(1000, 'x'));
  EXPECT_EQ(repo_->Pull("idx", "v000001-20261206T000000Z", out).code(), Code::kCorruption);
  EXPECT_FALSE(Env::Default()->Exists(out + "/index.faiss.partial"));
  ASSERT_TRUE(repo_->Pull("idx", "v000001-20261206T000000Z", out).ok());
  EXPECT_EQ(test::ReadText(out + "/index.faiss"), good);
}

TEST_F(RepositoryTest, StoreWithoutConditionalPutsFallsBackToReadBack) {
  test::FaultProxy proxy(server_->port());
  proxy.StripConditions(true);
  auto c = std::move(S3Client::Create(server_->ClientOptions(proxy.port()), Env::Default())).value();
  Repository r(c.get(), repo_->location(), Env::Default());
  auto probe = r.ProbeConditionalPut();
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  EXPECT_FALSE(*probe);
  EXPECT_FALSE(r.conditional_put());
  ASSERT_TRUE(Publish(r, "v000001-20261206T000000Z", MakeVersion("v000001-20261206T000000Z", 100, 1)).ok());
  auto stale = r.ReadPointer("idx");
  ASSERT_TRUE(Publish(r, "v000002-20261206T000000Z", MakeVersion("v000002-20261206T000000Z", 100, 2)).ok());
  // A writer holding the pointer as it was before the last move is refused.
  ASSERT_TRUE(r.UploadVersion("idx", "v000003-20261206T000000Z",
                              MakeVersion("v000003-20261206T000000Z", 100, 3), std::nullopt).ok());
  auto moved = r.MovePointer("idx", "v000003-20261206T000000Z", *stale, "host-b");
  EXPECT_EQ(moved.status().code(), Code::kFailedPrecondition) << moved.status().ToString();
  EXPECT_EQ((*r.ReadPointer("idx"))->live, "v000002-20261206T000000Z");
}

TEST_F(RepositoryTest, APointerNeverNamesAVersionWithoutItsManifest) {
  auto r = repo_->MovePointer("idx", "v000009-20261206T000000Z", std::nullopt, "h");
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  EXPECT_FALSE(repo_->ReadPointer("idx")->has_value());
}

TEST_F(RepositoryTest, PruneKeepsLiveRollbackAndYoungVersions) {
  std::vector<std::string> ids;
  for (int i = 1; i <= 5; ++i) {
    std::string id = "v00000" + std::to_string(i) + "-20261206T000000Z";
    ids.push_back(id);
    ASSERT_TRUE(Publish(*repo_, id, MakeVersion(id, 1000, static_cast<uint64_t>(i))).ok());
  }
  // Everything is younger than an hour: nothing goes.
  auto none = repo_->Prune("idx", 1, std::chrono::hours(1));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  auto removed = repo_->Prune("idx", 1, std::chrono::seconds(0));
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, (std::vector<std::string>{ids[0], ids[1], ids[2]}));
  EXPECT_EQ(*repo_->ListVersions("idx"), (std::vector<std::string>{ids[3], ids[4]}));
  EXPECT_TRUE(repo_->Verify("idx", ids[3]).ok());  // the rollback target
  EXPECT_TRUE(repo_->Verify("idx", ids[4]).ok());
  auto objects = client_->List(server_->bucket(), "fleet/idx/objects/");
  // index.faiss of each kept version; the identical-size manifests differ.
  EXPECT_EQ(objects->size(), 4u);
}

}  // namespace
}  // namespace frb
