// Internal: the logical data set of an index -- its source file (with its
// ids) overlaid with the logged deltas the source does not contain. Full
// builds build from it and delta jobs validate against it, so both agree
// on what "the data" is.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "frb/config.h"
#include "frb/delta_log.h"
#include "frb/source.h"
#include "frb/status.h"

namespace frb {

// The source's rows minus every id a delta deletes or upserts, then the
// deltas' surviving upserts (the last upsert of an id wins; a later delete
// removes it). Thread safety: const methods may run concurrently.
class OverlaySource final : public VectorSource {
 public:
  // `base_ids` empty = row numbers. `deltas` in sequence order.
  OverlaySource(const VectorSource& base, std::vector<int64_t> base_ids,
                const std::vector<DeltaData>& deltas);

  int64_t count() const override { return static_cast<int64_t>(ids_.size()); }
  int dim() const override { return base_.dim(); }
  const std::string& path() const override { return base_.path(); }
  SourceFormat format() const override { return base_.format(); }
  Status Read(int64_t begin, int64_t n, float* out) const override;
  void Release(int64_t begin, int64_t n) const override;
  Result<SourceFingerprint> Fingerprint(const ProgressFn& progress) const override {
    return base_.Fingerprint(progress);
  }
  Status CheckUnchanged() const override { return base_.CheckUnchanged(); }
  uint64_t RowOffset(int64_t row) const override;

  // The id of each logical row.
  const std::vector<int64_t>& ids() const { return ids_; }

 private:
  const VectorSource& base_;
  std::vector<int64_t> rows_;    // surviving base rows, ascending
  std::vector<float> upserts_;   // surviving upserts, row-major
  std::vector<int64_t> ids_;     // rows_ ids, then the upserts' ids
};

// What a job reads: the source, its ids and the deltas it does not contain.
struct Dataset {
  std::unique_ptr<VectorSource> source;   // the file
  std::unique_ptr<OverlaySource> overlay; // null: no ids file and no deltas
  std::vector<int64_t> replayed;          // sequence numbers overlaid
  int64_t source_contains = 0;            // deltas the source file already holds
  int64_t delta_through = 0;              // highest sequence number contained
  std::string ids_sha256;                 // "" without an ids file
  std::vector<std::string> warnings;      // quarantined records

  const VectorSource& view() const {
    return overlay ? static_cast<const VectorSource&>(*overlay) : *source;
  }
  const std::vector<int64_t>* ids() const { return overlay ? &overlay->ids() : nullptr; }
};

// Opens the source of `index` and its ids file (checked: one per row, no
// duplicates), and overlays the records of `log` with seq in
// (max(contained, index.source_deltas_through), upto] (upto < 0: all).
// `contained` is the highest sequence number the source is known to hold.
Result<Dataset> OpenDataset(Env* env, const IndexConfig& index, DeltaLog& log, int64_t upto);

// The highest delta sequence number the source of `index` contains: the
// config's source.deltas_through or the `<source path>.deltas_through`
// sidecar (a number), whichever is larger.
Result<int64_t> SourceDeltasThrough(Env* env, const IndexConfig& index);

}  // namespace frb
