// DeltaApplier: the apply stage of a delta job (frb/delta_job.h).
#include <faiss/IVFlib.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/invlists/DirectMap.h>

#include <unordered_set>

#include "faiss_util.h"
#include "frb/builder.h"
#include "frb/delta_job.h"

namespace frb {
namespace {

using idx_t = faiss::Index::idx_t;

// Why `index` cannot take `deltas`, or "" when it can.
std::string Unsupported(const IndexConfig& cfg, faiss::Index& index,
                        const std::vector<DeltaData>& deltas) {
  if (faiss::ivflib::try_extract_index_ivf(&index) != nullptr &&
      dynamic_cast<faiss::IndexIDMap*>(&index) == nullptr)
    return "";
  auto* idmap = dynamic_cast<faiss::IndexIDMap*>(&index);
  if (idmap == nullptr)
    return "index '" + cfg.name + "': the live version's index (factory " + cfg.factory +
           ") numbers its vectors itself and has no id map, so ids cannot be removed or "
           "replaced; name an ids file (source: { ids: PATH }) and rebuild";
  if (dynamic_cast<faiss::IndexHNSW*>(idmap->index) == nullptr) return "";
  // HNSW graphs cannot drop nodes in FAISS 1.7.3: only new ids can be added.
  std::unordered_set<idx_t> present(idmap->id_map.begin(), idmap->id_map.end());
  for (const DeltaData& d : deltas) {
    if (!d.delete_ids.empty())
      return "index '" + cfg.name + "': HNSW indexes cannot remove vectors (FAISS 1.7.3); delta " +
             std::to_string(d.record.seq) + " deletes " + std::to_string(d.delete_ids.size()) +
             " ids. It stays in the delta log: a full rebuild applies it (`faiss-rebuild "
             "rebuild " + cfg.name + " --force`, or deltas: { on_unsupported: rebuild })";
    for (int64_t id : d.upsert_ids)
      if (present.count(id) != 0)
        return "index '" + cfg.name + "': HNSW indexes cannot replace vectors (FAISS 1.7.3); "
               "delta " + std::to_string(d.record.seq) + " upserts id " + std::to_string(id) +
               ", which the index holds. It stays in the delta log: a full rebuild applies it "
               "(`faiss-rebuild rebuild " + cfg.name + " --force`, or deltas: "
               "{ on_unsupported: rebuild })";
  }
  return "";
}

}  // namespace

Result<ApplyResult> DeltaApplier::Apply(const IndexConfig& cfg, const std::string& live_path,
                                        const FileDigest& live_file,
                                        const std::vector<DeltaData>& deltas,
                                        const std::string& out_path, JobControl& control) {
  ScopedFaissInterrupt interrupt(&control);
  ScopedOmpThreads threads(cfg.threads);
  FRB_ASSIGN_OR_RETURN(std::unique_ptr<faiss::Index> index,
                       LoadVerifiedIndex(env_, live_path, live_file));
  FRB_RETURN_IF_ERROR(control.Check());
  if (std::string why = Unsupported(cfg, *index, deltas); !why.empty())
    return FailedPrecondition(why);
  for (const DeltaData& d : deltas)
    if (d.record.upserts > 0 && d.record.dim != index->d)
      return InvalidArgument("delta " + std::to_string(d.record.seq) + " has dimension " +
                             std::to_string(d.record.dim) + ", the index " +
                             std::to_string(index->d));

  ApplyResult result;
  faiss::IndexIVF* ivf = dynamic_cast<faiss::IndexIDMap*>(index.get()) == nullptr
                             ? faiss::ivflib::try_extract_index_ivf(index.get())
                             : nullptr;
  // Without a direct map, each remove_ids scans every inverted list.
  if (ivf != nullptr)
    FRB_RETURN_IF_ERROR(CallFaiss("direct map", [&] {
      ivf->set_direct_map_type(faiss::DirectMap::Hashtable);
    }, &control));
  int64_t done = 0, total = 0;
  for (const DeltaData& d : deltas) total += d.record.upserts + d.record.deletes;
  for (const DeltaData& d : deltas) {
    FRB_RETURN_IF_ERROR(control.Check());
    // A replaced id goes out first, so it is never in the index twice.
    std::vector<idx_t> gone(d.delete_ids.begin(), d.delete_ids.end());
    gone.insert(gone.end(), d.upsert_ids.begin(), d.upsert_ids.end());
    if (!gone.empty()) {
      size_t removed = 0;
      FRB_RETURN_IF_ERROR(CallFaiss("remove_ids", [&] {
        if (ivf != nullptr) {
          faiss::IDSelectorArray sel(gone.size(), gone.data());
          removed = ivf->remove_ids(sel);
        } else {
          faiss::IDSelectorBatch sel(gone.size(), gone.data());
          removed = index->remove_ids(sel);
        }
      }, &control));
      result.removed += static_cast<int64_t>(removed);
    }
    if (d.record.upserts > 0) {
      FRB_RETURN_IF_ERROR(CallFaiss("add_with_ids", [&] {
        index->add_with_ids(static_cast<idx_t>(d.record.upserts), d.vectors.data(),
                            reinterpret_cast<const idx_t*>(d.upsert_ids.data()));
      }, &control));
      result.added += d.record.upserts;
    }
    done += d.record.upserts + d.record.deletes;
    control.SetWork(static_cast<double>(done), static_cast<double>(total), "rows");
  }
  // The map is for the removals; searchd does not need it in memory.
  if (ivf != nullptr)
    FRB_RETURN_IF_ERROR(CallFaiss("direct map", [&] {
      ivf->set_direct_map_type(faiss::DirectMap::NoMap);
    }));
  result.ntotal = index->ntotal;

  control.EnterStage(Stage::kWritingStaging);
  FRB_RETURN_IF_ERROR(control.Check());
  FRB_ASSIGN_OR_RETURN(result.file, WriteIndexFile(env_, *index, out_path));
  control.SetProgress(1);
  return result;
}

}  // namespace frb
