#include "ivf_health.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexRefine.h>

#include <vector>

namespace frb {

std::optional<IvfHealth> MeasureIvfHealth(const faiss::Index& index) {
  // FAISS 1.7.3's try_extract_index_ivf sees through pre-transforms and id
  // maps but not a refine stage ("IVF4096,PQ32,RFlat").
  const faiss::Index* inner = &index;
  if (const auto* refine = dynamic_cast<const faiss::IndexRefine*>(inner))
    inner = refine->base_index;
  const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(inner);
  if (ivf == nullptr || ivf->invlists == nullptr) return std::nullopt;
  std::vector<int64_t> sizes(ivf->nlist);
  for (size_t i = 0; i < ivf->nlist; ++i)
    sizes[i] = static_cast<int64_t>(ivf->invlists->list_size(i));
  return IvfHealthOf(sizes);
}

}  // namespace frb
