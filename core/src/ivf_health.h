// Private to the core: IVF health of a loaded FAISS index.
#pragma once

#include <faiss/Index.h>

#include <optional>

#include "frb/manifest.h"

namespace frb {

// The list-size health of `index`'s inverted lists, looking through the
// wrappers FAISS puts around an IVF index (pre-transforms, id maps, refine);
// nullopt when it has none (Flat, HNSW, PQ...). Reads list sizes only: no
// codes are touched, so it costs microseconds even on on-disk lists.
std::optional<IvfHealth> MeasureIvfHealth(const faiss::Index& index);

}  // namespace frb
