// faiss-searchd's search request parser (ParseSearchRequest and the push
// parser under it) against small real indexes: Flat (no overrides), IVF
// (nprobe) and HNSW (efSearch).
#include "request.h"

#include <gtest/gtest.h>

#include "frb/json.h"
#include "small_loaded_index.h"
#include "testutil.h"

namespace frb::searchd {
namespace {

class SearchRequestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    keep_.push_back(testing::LoadSmallIndex(dir_->path(), "flat", "Flat", 4));
    keep_.push_back(testing::LoadSmallIndex(dir_->path(), "ivf", "IVF4,Flat", 4));
    keep_.push_back(testing::LoadSmallIndex(dir_->path(), "hnsw", "HNSW8", 4));
    flat_ = keep_[0].get();
    ivf_ = keep_[1].get();
    hnsw_ = keep_[2].get();
  }
  static void TearDownTestSuite() {
    keep_.clear();
    delete dir_;
  }

  static Result<SearchRequest> Parse(std::string_view body, const LoadedIndex* li) {
    RequestLimits limits;
    limits.max_k = 100;
    limits.max_batch = 3;
    return ParseSearchRequest(body, *li, limits);
  }
  // The error message, or "" when the body was accepted.
  static std::string Error(std::string_view body, const LoadedIndex* li) {
    auto r = Parse(body, li);
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << body;
    return r.status().message();
  }

  static inline test::TempDir* dir_ = nullptr;
  static inline std::vector<std::shared_ptr<const LoadedIndex>> keep_;
  static inline const LoadedIndex* flat_ = nullptr;
  static inline const LoadedIndex* ivf_ = nullptr;
  static inline const LoadedIndex* hnsw_ = nullptr;
};

TEST_F(SearchRequestTest, SingleVectorWithDefaults) {
  auto r = Parse(R"({"vector": [1, -2.5, 3e-1, 0]})", flat_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->batch);
  EXPECT_EQ(r->n, 1);
  EXPECT_EQ(r->k, 10);
  EXPECT_EQ(r->x, (std::vector<float>{1, -2.5f, 0.3f, 0}));
  EXPECT_FALSE(r->params.nprobe);
  EXPECT_FALSE(r->params.ef_search);
}

TEST_F(SearchRequestTest, BatchKeepsRowOrder) {
  auto r = Parse(R"({"k": 3, "vectors": [[1,2,3,4],[5,6,7,8]]})", flat_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->batch);
  EXPECT_EQ(r->n, 2);
  EXPECT_EQ(r->k, 3);
  EXPECT_EQ(r->x, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST_F(SearchRequestTest, RejectsWhatTheServerCannotAnswer) {
  EXPECT_NE(Error(R"({"vector": [1,2,3]})", flat_).find("4"), std::string::npos);
  EXPECT_NE(Error(R"({"vector": [1,2,3,4,5]})", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,1e39]})", flat_), "");  // beyond float
  EXPECT_NE(Error(R"({"vector": [1,2,3,"4"]})", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "k": 0})", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "k": 101})", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "k": 2.5})", flat_), "");
  EXPECT_NE(Error(R"({"vectors": []})", flat_), "");
  EXPECT_NE(Error(R"({"vectors": [[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]})", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "vectors": [[1,2,3,4]]})", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "kk": 1})", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "k": 1, "k": 2})", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4]} x)", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4])", flat_), "");
  EXPECT_NE(Error(R"([1,2,3,4])", flat_), "");
  EXPECT_NE(Error("", flat_), "");
  EXPECT_NE(Error(R"({})", flat_), "");
}

TEST_F(SearchRequestTest, OverridesOnlyWhereTheIndexTakesThem) {
  auto ivf = Parse(R"({"vector": [1,2,3,4], "nprobe": 3})", ivf_);
  ASSERT_TRUE(ivf.ok()) << ivf.status().ToString();
  EXPECT_EQ(ivf->params.nprobe, 3);
  auto hnsw = Parse(R"({"vector": [1,2,3,4], "efSearch": 20})", hnsw_);
  ASSERT_TRUE(hnsw.ok()) << hnsw.status().ToString();
  EXPECT_EQ(hnsw->params.ef_search, 20);
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "nprobe": 2})", flat_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "efSearch": 20})", ivf_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "nprobe": 0})", ivf_), "");
  EXPECT_NE(Error(R"({"vector": [1,2,3,4], "nprobe": )" + std::to_string(ivf_->max_nprobe + 1) +
                      "}",
                  ivf_),
            "");
}

// A chunked body arrives in pieces: any split gives the same answer.
TEST_F(SearchRequestTest, PiecesParseLikeTheWholeBody) {
  const std::string good = R"({"k": 2, "vectors": [[1,2,3,4],[-1e-3,2E2,3,4]], "nprobe": 2})";
  const std::string bad = R"({"k": 2, "vectors": [[1,2,3,4],[1,2,3]]})";
  for (const std::string& body : {good, bad}) {
    auto whole = Parse(body, ivf_);
    for (size_t step = 1; step <= 7; ++step) {
      RequestLimits limits;
      limits.max_k = 100;
      limits.max_batch = 3;
      SearchRequestParser parser(*ivf_, limits);
      for (size_t at = 0; at < body.size(); at += step)
        if (!parser.Feed(std::string_view(body).substr(at, step)).ok()) break;
      auto pieces = parser.Finish();
      ASSERT_EQ(pieces.ok(), whole.ok()) << body << " step " << step;
      if (whole.ok()) {
        EXPECT_EQ(pieces->x, whole->x);
        EXPECT_EQ(pieces->params.nprobe, whole->params.nprobe);
      } else {
        EXPECT_EQ(pieces.status().message(), whole.status().message());
      }
    }
  }
}

TEST_F(SearchRequestTest, ResponseIsJsonWithoutPadding) {
  auto r = Parse(R"({"vector": [0,0,0,0], "k": 2})", flat_);
  ASSERT_TRUE(r.ok());
  const float d[] = {0.5f, 1.5f};
  const int64_t l[] = {7, -1};  // fewer neighbours than k
  auto j = Json::Parse(FormatSearchResponse(*flat_, *r, d, l));
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->GetString("index"), "flat");
  ASSERT_NE(j->Find("ids"), nullptr);
  EXPECT_EQ(j->Find("ids")->size(), 1u);
  EXPECT_EQ(j->Find("ids")->as_array()[0].as_int(), 7);
  auto e = Json::Parse(ErrorBody("bad \"quote\"\n"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->GetString("error"), "bad \"quote\"\n");
}

}  // namespace
}  // namespace frb::searchd
