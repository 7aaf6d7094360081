// SearchCoalescer on a small real IVF index: concurrent single-vector
// searches share FAISS calls, yet every query gets exactly the answer it
// would get alone, for its own k and nprobe -- a batch never mixes
// parameters, versions or rows.
#include "coalescer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "small_loaded_index.h"
#include "testutil.h"

namespace frb::searchd {
namespace {

constexpr int kDim = 16;
constexpr int kQueries = 64;

struct Query {
  int row;
  int k;
  SearchOverride o;
};

class CoalescerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Big enough that a FAISS call lasts long enough for others to queue.
    a_ = testing::LoadSmallIndex(dir_.path(), "a", "IVF16,Flat", kDim, 20000);
    b_ = testing::LoadSmallIndex(dir_.path(), "b", "Flat", kDim, 50000);
    ASSERT_TRUE(a_ && b_);
    x_ = testing::RandomVectors(kQueries, kDim, 99);
  }

  // The answer of `q` searched alone, straight on the index.
  void Alone(const LoadedIndex& li, const Query& q, std::vector<float>* d,
             std::vector<int64_t>* l) const {
    d->assign(q.k, 0);
    l->assign(q.k, 0);
    ASSERT_TRUE(li.Search(1, &x_[q.row * kDim], q.k, q.o, d->data(), l->data()).ok());
  }

  test::TempDir dir_;
  std::shared_ptr<const LoadedIndex> a_, b_;
  std::vector<float> x_;
};

TEST_F(CoalescerTest, ConcurrentQueriesGetTheirOwnAnswersInSharedCalls) {
  // One lane: while one call runs, the others queue and leave together.
  SearchCoalescer coalescer(/*lanes=*/1, /*max_batch=*/16);
  // Four kinds of call, four threads each. nprobe 1 and 16 answer
  // differently on IVF16, k differs, and the two indexes hold different
  // rows: a batch that mixed kinds would give some query a wrong answer.
  struct Kind {
    const LoadedIndex* li;
    int k;
    SearchOverride o;
  };
  SearchOverride narrow, wide;
  narrow.nprobe = 1;
  wide.nprobe = 16;
  const Kind kinds[] = {{a_.get(), 3, narrow}, {a_.get(), 3, wide}, {a_.get(), 5, {}},
                        {b_.get(), 3, {}}};
  std::atomic<int> mismatches{0}, shared{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      const Kind& kind = kinds[t % 4];
      for (int i = 0; i < 30; ++i) {
        const Query q{(t * 30 + i) % kQueries, kind.k, kind.o};
        std::vector<float> d(q.k), want_d;
        std::vector<int64_t> l(q.k), want_l;
        int batch = 0;
        if (!coalescer.Search(*kind.li, &x_[q.row * kDim], q.k, q.o, d.data(), l.data(), &batch)
                 .ok()) {
          ++failures;
          continue;
        }
        if (batch > 1) ++shared;
        Alone(*kind.li, q, &want_d, &want_l);
        if (d != want_d || l != want_l) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(mismatches, 0);
  // Sixteen threads on one lane: queries did share calls.
  EXPECT_GT(shared, 0);
}

TEST_F(CoalescerTest, AloneWhenALaneIsFree) {
  SearchCoalescer coalescer(/*lanes=*/2, /*max_batch=*/16);
  const Query q{3, 4, {}};
  std::vector<float> d(q.k), want_d;
  std::vector<int64_t> l(q.k), want_l;
  int batch = 0;
  ASSERT_TRUE(coalescer.Search(*a_, &x_[q.row * kDim], q.k, q.o, d.data(), l.data(), &batch).ok());
  EXPECT_EQ(batch, 1);
  Alone(*a_, q, &want_d, &want_l);
  EXPECT_EQ(d, want_d);
  EXPECT_EQ(l, want_l);
}

TEST_F(CoalescerTest, BatchesStayWithinMaxBatch) {
  SearchCoalescer coalescer(/*lanes=*/1, /*max_batch=*/3);
  std::atomic<int> largest{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        std::vector<float> d(5);
        std::vector<int64_t> l(5);
        int batch = 0;
        ASSERT_TRUE(
            coalescer.Search(*b_, &x_[((t * 30 + i) % kQueries) * kDim], 5, {}, d.data(),
                             l.data(), &batch)
                .ok());
        int seen = largest.load();
        while (batch > seen && !largest.compare_exchange_weak(seen, batch)) {
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(largest, 3);
  EXPECT_GE(largest, 2);
}

}  // namespace
}  // namespace frb::searchd
