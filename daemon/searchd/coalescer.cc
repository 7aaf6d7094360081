#include "coalescer.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <vector>

namespace frb::searchd {

// One waiting query; lives on the stack of the request thread that asked.
struct SearchCoalescer::Pending {
  Pending(const LoadedIndex* index, const float* query, int count, const SearchOverride& params,
          float* out_distances, int64_t* out_labels)
      : li(index), x(query), k(count), o(params), distances(out_distances), labels(out_labels) {}

  const LoadedIndex* li;
  const float* x;
  int k;
  SearchOverride o;
  float* distances;
  int64_t* labels;
  // Written by the thread that ran the batch: status before it takes mu_
  // again, batch_size and done under mu_; read by the owner once done.
  Status status;
  int batch_size = 0;
  bool done = false;
  CondVar cv;  // signalled when done, or when a lane may be free

  bool SameCall(const Pending& other) const {
    return li == other.li && k == other.k && o.nprobe == other.o.nprobe &&
           o.ef_search == other.o.ef_search;
  }
};

SearchCoalescer::SearchCoalescer(int lanes, int max_batch)
    : lanes_(std::max(1, lanes)), max_batch_(std::max(1, max_batch)) {}

Status SearchCoalescer::Search(const LoadedIndex& li, const float* x, int k,
                               const SearchOverride& o, float* distances, int64_t* labels,
                               int* batch_size) {
  Pending me(&li, x, k, o, distances, labels);
  MutexLock lock(&mu_);
  queue_.push_back(&me);
  while (!me.done) {
    if (running_ >= lanes_ || queue_.empty()) {
      me.cv.Wait(&mu_);
      continue;
    }
    // A lane is free: run the oldest queued queries on this thread. They
    // need not include this one (it may be younger); then loop.
    ++running_;
    std::vector<Pending*> batch = TakeBatch();
    // Wake the next runner when queries remain for another free lane.
    if (running_ < lanes_ && !queue_.empty()) queue_.front()->cv.NotifyOne();
    lock.Unlock();
    RunBatch(batch);
    lock.Lock();
    --running_;
    for (Pending* p : batch) {
      p->done = true;
      p->batch_size = static_cast<int>(batch.size());
      if (p != &me) p->cv.NotifyOne();
    }
    // The lane is free again; if this thread is done, the oldest waiter
    // takes it (when this thread is not, it takes the lane itself above).
    if (me.done && !queue_.empty()) queue_.front()->cv.NotifyOne();
  }
  if (batch_size != nullptr) *batch_size = me.batch_size;
  return me.status;
}

std::vector<SearchCoalescer::Pending*> SearchCoalescer::TakeBatch() {
  assert(!queue_.empty());
  Pending* first = queue_.front();
  std::vector<Pending*> batch;
  auto keep = queue_.begin();
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (static_cast<int>(batch.size()) < max_batch_ && (*it)->SameCall(*first)) {
      batch.push_back(*it);
    } else {
      *keep++ = *it;
    }
  }
  queue_.erase(keep, queue_.end());
  return batch;
}

void SearchCoalescer::RunBatch(const std::vector<Pending*>& batch) {
  const Pending& first = *batch.front();
  if (batch.size() == 1) {
    batch[0]->status = first.li->Search(1, first.x, first.k, first.o, first.distances,
                                        first.labels);
    return;
  }
  const size_t n = batch.size(), dim = static_cast<size_t>(first.li->dim);
  const size_t k = static_cast<size_t>(first.k);
  std::vector<float> x(n * dim), d(n * k);
  std::vector<int64_t> l(n * k);
  for (size_t i = 0; i < n; ++i)
    std::memcpy(&x[i * dim], batch[i]->x, dim * sizeof(float));
  Status st = first.li->Search(static_cast<int64_t>(n), x.data(), first.k, first.o, d.data(),
                               l.data());
  for (size_t i = 0; i < n; ++i) {
    batch[i]->status = st;
    if (!st.ok()) continue;
    std::memcpy(batch[i]->distances, &d[i * k], k * sizeof(float));
    std::memcpy(batch[i]->labels, &l[i * k], k * sizeof(int64_t));
  }
}

}  // namespace frb::searchd
