// A small real FAISS index, published as a version and loaded through
// LoadedIndex::Load as faiss-searchd does, for the searchd unit tests.
#pragma once

#include <faiss/Index.h>
#include <faiss/index_factory.h>
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "frb/env.h"
#include "frb/index_file.h"
#include "frb/manifest.h"
#include "frb/store.h"
#include "loaded_index.h"

namespace frb::searchd::testing {

// `n` normal random vectors of `dim` floats (seeded).
inline std::vector<float> RandomVectors(int n, int dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> x(static_cast<size_t>(n) * dim);
  for (float& v : x) v = g(rng);
  return x;
}

// Builds `factory` over `n` random vectors in `data_dir` and loads it;
// nullptr (with a test failure) when any step fails.
inline std::shared_ptr<const LoadedIndex> LoadSmallIndex(const std::string& data_dir,
                                                         const std::string& name,
                                                         const char* factory, int dim,
                                                         int n = 256, int nprobe = 1) {
  Env* env = Env::Default();
  const std::vector<float> x = RandomVectors(n, dim, 7);
  std::unique_ptr<faiss::Index> index(faiss::index_factory(dim, factory));
  index->train(n, x.data());
  index->add(n, x.data());
  VersionStore store(env, data_dir, name);
  const std::string id = "v000001-20261121T000000Z";
  EXPECT_TRUE(store.Init().ok());
  EXPECT_TRUE(env->CreateDirs(store.VersionDir(id)).ok());
  auto digest = WriteIndexFile(env, *index, store.VersionIndexPath(id));
  EXPECT_TRUE(digest.ok()) << digest.status().ToString();
  if (!digest.ok()) return nullptr;
  Manifest m;
  m.index_name = name;
  m.version_id = id;
  m.created_unix_ms = 1'700'000'000'000;
  m.source.path = "/test/none.npy";
  m.source.count = n;
  m.source.dim = dim;
  m.factory = factory;
  m.metric = "L2";
  m.dim = dim;
  m.ntotal = n;
  m.file_size = digest->size;
  m.file_sha256 = digest->sha256;
  m.validation.passed = true;
  EXPECT_TRUE(
      WriteFileAtomic(env, JoinPath(store.VersionDir(id), "manifest.json"), m.Serialize()).ok());
  IndexConfig cfg;
  cfg.name = name;
  cfg.dimension = dim;
  cfg.factory = factory;
  if (nprobe > 1) cfg.search["nprobe"] = nprobe;
  auto li = LoadedIndex::Load(env, store, cfg, id, /*param_factor=*/16);
  EXPECT_TRUE(li.ok()) << li.status().ToString();
  return li.ok() ? *li : nullptr;
}

}  // namespace frb::searchd::testing
