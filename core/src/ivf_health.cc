#include "ivf_health.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexIVF.h>

#include <vector>

namespace frb {

std::optional<IvfHealth> MeasureIvfHealth(const faiss::Index& index) {
  const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(&index);
  if (ivf == nullptr || ivf->invlists == nullptr) return std::nullopt;
  std::vector<int64_t> sizes(ivf->nlist);
  for (size_t i = 0; i < ivf->nlist; ++i)
    sizes[i] = static_cast<int64_t>(ivf->invlists->list_size(i));
  return IvfHealthOf(sizes);
}

}  // namespace frb
