#include "dataset.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "frb/ids.h"
#include "frb/sha256.h"

namespace frb {

OverlaySource::OverlaySource(const VectorSource& base, std::vector<int64_t> base_ids,
                             const std::vector<DeltaData>& deltas)
    : base_(base) {
  const int d = base.dim();
  // Final state of every id a delta touches: the row of its last upsert,
  // or gone (-1) when its last mention is a delete.
  struct Last {
    const DeltaData* delta;
    int64_t row;
  };
  std::unordered_map<int64_t, Last> touched;
  std::vector<int64_t> order;  // first-touch order, for a stable layout
  for (const DeltaData& dd : deltas) {
    for (int64_t id : dd.delete_ids) {
      auto [it, inserted] = touched.try_emplace(id, Last{nullptr, -1});
      if (inserted) order.push_back(id);
      it->second = Last{nullptr, -1};
    }
    for (size_t i = 0; i < dd.upsert_ids.size(); ++i) {
      auto [it, inserted] = touched.try_emplace(dd.upsert_ids[i], Last{nullptr, -1});
      if (inserted) order.push_back(dd.upsert_ids[i]);
      it->second = Last{&dd, static_cast<int64_t>(i)};
    }
  }
  const int64_t n = base.count();
  rows_.reserve(static_cast<size_t>(n));
  ids_.reserve(static_cast<size_t>(n));
  for (int64_t row = 0; row < n; ++row) {
    int64_t id = base_ids.empty() ? row : base_ids[static_cast<size_t>(row)];
    if (!touched.empty() && touched.count(id) != 0) continue;
    rows_.push_back(row);
    ids_.push_back(id);
  }
  for (int64_t id : order) {
    const Last& last = touched[id];
    if (last.delta == nullptr) continue;
    const float* v = last.delta->vectors.data() + static_cast<size_t>(last.row) * d;
    upserts_.insert(upserts_.end(), v, v + d);
    ids_.push_back(id);
  }
}

Status OverlaySource::Read(int64_t begin, int64_t n, float* out) const {
  const int d = dim();
  const int64_t nbase = static_cast<int64_t>(rows_.size());
  if (begin < 0 || n < 0 || begin + n > count())
    return InvalidArgument(path() + ": read of rows [" + std::to_string(begin) + ", " +
                           std::to_string(begin + n) + ") past the data set's " +
                           std::to_string(count()) + " rows");
  int64_t i = begin;
  const int64_t end = begin + n;
  // Runs of consecutive source rows are one read each.
  while (i < end && i < nbase) {
    int64_t j = i + 1;
    while (j < end && j < nbase && rows_[j] == rows_[j - 1] + 1) ++j;
    FRB_RETURN_IF_ERROR(base_.Read(rows_[i], j - i, out + (i - begin) * d));
    i = j;
  }
  if (i < end)
    std::memcpy(out + (i - begin) * d, upserts_.data() + (i - nbase) * d,
                static_cast<size_t>(end - i) * d * sizeof(float));
  return Status::Ok();
}

void OverlaySource::Release(int64_t begin, int64_t n) const {
  const int64_t nbase = static_cast<int64_t>(rows_.size());
  if (begin >= nbase || n <= 0) return;
  const int64_t last = std::min(begin + n, nbase) - 1;
  base_.Release(rows_[begin], rows_[last] - rows_[begin] + 1);
}

uint64_t OverlaySource::RowOffset(int64_t row) const {
  if (row >= 0 && row < static_cast<int64_t>(rows_.size())) return base_.RowOffset(rows_[row]);
  return 0;
}

Result<int64_t> SourceDeltasThrough(Env* env, const IndexConfig& index) {
  int64_t through = index.source_deltas_through;
  const std::string sidecar = index.source_path + ".deltas_through";
  auto text = ReadFileToString(env, sidecar);
  if (text.ok()) {
    std::string t = *text;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ' || t.back() == '\r')) t.pop_back();
    if (t.empty() || t.size() > 18 || t.find_first_not_of("0123456789") != std::string::npos)
      return InvalidArgument(sidecar + ": expected the number of the last delta the source "
                             "contains, got '" + t.substr(0, 40) + "'");
    through = std::max<int64_t>(through, std::stoll(t));
  } else if (text.status().code() != Code::kNotFound) {
    return text.status();
  }
  return through;
}

Result<Dataset> OpenDataset(Env* env, const IndexConfig& index, DeltaLog& log, int64_t upto) {
  Dataset ds;
  FRB_ASSIGN_OR_RETURN(ds.source, VectorSource::Open(env, index.source_path, index.source_format,
                                                     index.dimension));
  std::vector<int64_t> base_ids;
  if (!index.source_ids_path.empty()) {
    FRB_ASSIGN_OR_RETURN(base_ids, ReadCheckedIds(env, index.source_ids_path,
                                                  ds.source->count(), index.source_path));
    FRB_ASSIGN_OR_RETURN(ds.ids_sha256, Sha256File(env, index.source_ids_path));
  }
  FRB_ASSIGN_OR_RETURN(ds.source_contains, SourceDeltasThrough(env, index));
  ds.delta_through = ds.source_contains;
  FRB_ASSIGN_OR_RETURN(auto records, log.List(ds.delta_through, &ds.warnings));
  std::vector<DeltaData> deltas;
  for (const DeltaRecord& r : records) {
    if (upto >= 0 && r.seq > upto) break;
    if (r.upserts > 0 && r.dim != ds.source->dim())
      return InvalidArgument("delta " + std::to_string(r.seq) + " has dimension " +
                             std::to_string(r.dim) + ", the source " + index.source_path + " " +
                             std::to_string(ds.source->dim()));
    FRB_ASSIGN_OR_RETURN(DeltaData d, log.Load(r));
    ds.replayed.push_back(r.seq);
    ds.delta_through = std::max(ds.delta_through, r.seq);
    deltas.push_back(std::move(d));
  }
  if (!base_ids.empty() || !deltas.empty())
    ds.overlay = std::make_unique<OverlaySource>(*ds.source, std::move(base_ids), deltas);
  return ds;
}

}  // namespace frb
