// Fuzz target: faiss-searchd's streaming request parser and validation
// (SearchRequestParser in daemon/searchd/request.cc), the path every POST
// .../search body takes as it arrives: JSON grammar, field checks,
// dimension, NaN/Inf/float range, k, batch limits, nprobe/efSearch
// overrides. Each input is also fed in pieces (split points taken from the
// input) and must give the same answer as fed whole. Each input is parsed against
// three real loaded indexes of dimension 4 -- Flat (no overrides), IVF4,Flat
// (nprobe) and HNSW8 (efSearch) -- built once in a temporary data dir and
// loaded through LoadedIndex::Load like the server does. Accepted requests
// are searched and formatted, as the server would answer them.
//
// Properties: never crashes; rejections are kInvalidArgument; an accepted
// request has 1 <= n <= max_batch, 1 <= k <= max_k, n * dim finite floats,
// overrides in [1, max] and only on indexes that take them; the response
// body is valid JSON with one result per query; ErrorBody() of any bytes is
// valid JSON.
#include <faiss/Index.h>
#include <faiss/index_factory.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "frb/config.h"
#include "frb/env.h"
#include "frb/index_file.h"
#include "frb/json.h"
#include "frb/manifest.h"
#include "frb/store.h"
#include "fuzz_common.h"
#include "loaded_index.h"
#include "request.h"

namespace {

using frb::searchd::LoadedIndex;

constexpr int kDim = 4;

std::shared_ptr<const LoadedIndex> Build(frb::Env* env, const std::string& data_dir,
                                         const std::string& name, const char* factory) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  const int n = 256;
  std::vector<float> x(static_cast<size_t>(n) * kDim);
  for (float& v : x) v = g(rng);
  std::unique_ptr<faiss::Index> index(faiss::index_factory(kDim, factory));
  index->train(n, x.data());
  index->add(n, x.data());

  frb::VersionStore store(env, data_dir, name);
  const std::string id = "v000001-20261121T000000Z";
  auto fail = [&](const frb::Status& s) {
    std::fprintf(stderr, "fuzz setup (%s): %s\n", factory, s.ToString().c_str());
    std::abort();
  };
  if (auto s = store.Init(); !s.ok()) fail(s);
  if (auto s = env->CreateDirs(store.VersionDir(id)); !s.ok()) fail(s);
  auto digest = frb::WriteIndexFile(env, *index, store.VersionIndexPath(id));
  if (!digest.ok()) fail(digest.status());
  frb::Manifest m;
  m.index_name = name;
  m.version_id = id;
  m.created_unix_ms = 1'700'000'000'000;
  m.source.path = "/fuzz/none.npy";
  m.source.count = n;
  m.source.dim = kDim;
  m.factory = factory;
  m.metric = "L2";
  m.dim = kDim;
  m.ntotal = n;
  m.file_size = digest->size;
  m.file_sha256 = digest->sha256;
  m.validation.passed = true;
  if (auto s = frb::WriteFileAtomic(env, frb::JoinPath(store.VersionDir(id), "manifest.json"),
                                    m.Serialize());
      !s.ok())
    fail(s);
  frb::IndexConfig cfg;
  cfg.name = name;
  cfg.dimension = kDim;
  cfg.factory = factory;
  auto li = LoadedIndex::Load(env, store, cfg, id, 4);
  if (!li.ok()) fail(li.status());
  return *li;
}

struct Indexes {
  std::vector<std::shared_ptr<const LoadedIndex>> all;
};

const Indexes& GetIndexes() {
  static const Indexes* indexes = [] {
    frb::Env* env = frb::Env::Default();
    const char* tmp = getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/frb-fuzz-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) std::abort();
    auto* out = new Indexes;
    out->all.push_back(Build(env, dir, "flat", "Flat"));
    out->all.push_back(Build(env, dir, "ivf", "IVF4,Flat"));
    out->all.push_back(Build(env, dir, "hnsw", "HNSW8"));
    (void)env->RemoveAll(dir);  // loaded: the files are no longer needed
    return out;
  }();
  return *indexes;
}

void Check(std::string_view body, const LoadedIndex& li) {
  frb::searchd::RequestLimits limits;
  limits.max_k = 100;
  limits.max_batch = 16;
  auto r = frb::searchd::ParseSearchRequest(body, li, limits);
  // The same bytes in pieces, as a chunked body arrives.
  frb::searchd::SearchRequestParser pieces(li, limits);
  const size_t step = body.empty() ? 1 : 1 + static_cast<unsigned char>(body[0]) % 7;
  for (size_t at = 0; at < body.size(); at += step)
    if (!pieces.Feed(body.substr(at, step)).ok()) break;
  auto p = pieces.Finish();
  FRB_FUZZ_CHECK(p.ok() == r.ok(), std::string(body.substr(0, 200)));
  if (p.ok()) FRB_FUZZ_CHECK(p->x == r->x && p->k == r->k && p->n == r->n, li.name);
  else FRB_FUZZ_CHECK(p.status().message() == r.status().message(), p.status().message());
  if (!r.ok()) {
    FRB_FUZZ_CHECK(r.status().code() == frb::Code::kInvalidArgument, r.status().ToString());
    FRB_FUZZ_CHECK(!r.status().message().empty(), li.name);
    return;
  }
  const auto& req = *r;
  FRB_FUZZ_CHECK(req.n >= 1 && req.n <= limits.max_batch, std::to_string(req.n));
  FRB_FUZZ_CHECK(req.batch || req.n == 1, std::to_string(req.n));
  FRB_FUZZ_CHECK(req.k >= 1 && req.k <= limits.max_k, std::to_string(req.k));
  FRB_FUZZ_CHECK(req.x.size() == static_cast<size_t>(req.n) * li.dim, li.name);
  for (float v : req.x) FRB_FUZZ_CHECK(std::isfinite(v), li.name);
  if (req.params.nprobe)
    FRB_FUZZ_CHECK(li.max_nprobe > 0 && *req.params.nprobe >= 1 &&
                       *req.params.nprobe <= li.max_nprobe,
                   li.name);
  if (req.params.ef_search)
    FRB_FUZZ_CHECK(li.max_ef_search > 0 && *req.params.ef_search >= 1 &&
                       *req.params.ef_search <= li.max_ef_search,
                   li.name);

  std::vector<float> d(static_cast<size_t>(req.n) * req.k);
  std::vector<int64_t> l(d.size());
  frb::Status s = li.Search(req.n, req.x.data(), req.k, req.params, d.data(), l.data());
  FRB_FUZZ_CHECK(s.ok(), s.ToString());
  for (int64_t id : l) FRB_FUZZ_CHECK(id >= -1 && id < li.ntotal, std::to_string(id));
  const std::string out = frb::searchd::FormatSearchResponse(li, req, d.data(), l.data());
  auto j = frb::Json::Parse(out);
  FRB_FUZZ_CHECK(j.ok() && j->is_object(), out);
  if (req.batch) {
    const frb::Json* results = j->Find("results");
    FRB_FUZZ_CHECK(results && results->is_array() &&
                       static_cast<int64_t>(results->size()) == req.n,
                   out);
  } else {
    FRB_FUZZ_CHECK(j->Find("ids") && j->Find("distances"), out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const Indexes& indexes = GetIndexes();
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (const auto& li : indexes.all) Check(body, *li);
  // Error bodies may quote client bytes: they must stay valid JSON.
  const std::string err = frb::searchd::ErrorBody(body);
  auto e = frb::Json::Parse(err);
  FRB_FUZZ_CHECK(e.ok() && e->Find("error") && e->Find("error")->is_string(), err);
  return 0;
}
