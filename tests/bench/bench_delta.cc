// bench_delta: a delta version against a full rebuild of the same data,
// measured side by side in one run (in-process, the core's jobs):
//
//   1. full build of N x D clustered vectors with ids (untimed warm-up: the
//      live version the delta applies to);
//   2. a delta of 1 % upserts (half replacing existing ids with new vectors,
//      half new ids) and 0.1 % deletes: DeltaLog::Append + DeltaJob::Run,
//      timed (log write, load live with checksum, remove, add, write,
//      validation against the updated data, publish);
//   3. a full rebuild of the same data (the source plus the replayed delta),
//      timed; reported with and without its backing_up stage (zstd of the
//      outgoing version), which a delta job does not have.
//
// Targets: apply / full rebuild <= 0.1; |recall@10 delta - recall@10 full|
// <= 0.01 (both measured by validation on the same sampled queries).
//
//   bench_delta [--rows 1000000] [--d 128] [--factory IVF4096,Flat]
//               [--nprobe 16] [--train-sample 100000] [--dir /tmp/frb-bench-delta]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <unordered_set>

#include "frb/delta_job.h"
#include "frb/delta_log.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "synth.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

void WriteIds(const std::string& path, const std::vector<int64_t>& ids) {
  std::ofstream f(path, std::ios::binary);
  std::string header = frb::synth::NpyHeader(static_cast<int64_t>(ids.size()), 1, "<i8");
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(ids.data()),
          static_cast<std::streamsize>(ids.size() * sizeof(int64_t)));
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1000000;
  int d = 128;
  std::string factory = "IVF4096,Flat";
  int nprobe = 16;
  int64_t train_sample = 100000;
  std::string dir = "/tmp/frb-bench-delta";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--rows") rows = std::atoll(v.c_str());
    else if (k == "--d") d = std::atoi(v.c_str());
    else if (k == "--factory") factory = v;
    else if (k == "--nprobe") nprobe = std::atoi(v.c_str());
    else if (k == "--train-sample") train_sample = std::atoll(v.c_str());
    else if (k == "--dir") dir = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  using namespace frb;
  Env* env = Env::Default();
  (void)env->RemoveAll(dir);
  if (!env->CreateDirs(dir).ok()) return 1;
  const std::string src = JoinPath(dir, "vecs.npy"), ids_path = JoinPath(dir, "ids.npy");
  if (Status s = synth::WriteNpy(env, src, rows, d, 1, 1024); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<int64_t> ids(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) ids[r] = 10 * r + 1;
  WriteIds(ids_path, ids);

  Config config;
  config.data_dir = JoinPath(dir, "data");
  config.backup_dir = JoinPath(dir, "backups");
  IndexConfig ic;
  ic.name = "bench";
  ic.source_path = src;
  ic.source_ids_path = ids_path;
  ic.dimension = d;
  ic.factory = factory;
  ic.train_sample = std::min(train_sample, rows);
  ic.search = {{"nprobe", nprobe}};
  ic.validation.queries = 1000;
  ic.validation.min_recall = 0.5;
  ic.validation.max_p99_ms = 10000;
  ic.timeout = std::chrono::hours(10);
  config.indexes.push_back(ic);

  RebuildOptions forced;
  forced.force = true;
  {
    JobControl c;
    auto t = Clock::now();
    JobOutcome o = RebuildJob(env, config, config.indexes[0], forced).Run(c);
    if (!o.status.ok()) {
      std::fprintf(stderr, "warm-up build: %s\n", o.status.ToString().c_str());
      return 1;
    }
    std::printf("warm-up full build: %.1f s\n", Seconds(t));
  }

  // The delta: 1 % upserts (half replace, half new), 0.1 % deletes.
  DeltaData delta;
  delta.record.dim = d;
  const int64_t nup = rows / 100, ndel = rows / 1000;
  delta.vectors.resize(static_cast<size_t>(nup) * d);
  synth::GenerateRows(2, d, 1024, 0, nup, delta.vectors.data());
  std::mt19937_64 rng(7);
  std::unordered_set<int64_t> used;
  for (int64_t i = 0; i < nup; ++i) {
    if (i % 2 == 0) {
      int64_t r;
      do r = static_cast<int64_t>(rng() % rows); while (!used.insert(r).second);
      delta.upsert_ids.push_back(ids[r]);
    } else {
      delta.upsert_ids.push_back(10 * rows + 10 * i + 3);
    }
  }
  for (int64_t i = 0; i < ndel; ++i) {
    int64_t r;
    do r = static_cast<int64_t>(rng() % rows); while (!used.insert(r).second);
    delta.delete_ids.push_back(ids[r]);
  }

  VersionStore store(env, config.data_dir, "bench");
  auto t_apply = Clock::now();
  auto rec = DeltaLog(env, store.IndexDir()).Append(std::move(delta));
  if (!rec.ok()) {
    std::fprintf(stderr, "log: %s\n", rec.status().ToString().c_str());
    return 1;
  }
  JobControl dc;
  JobOutcome applied = DeltaJob(env, config, config.indexes[0], RebuildOptions{}).Run(dc);
  double apply_s = Seconds(t_apply);
  if (!applied.status.ok()) {
    std::fprintf(stderr, "delta: %s\n", applied.status.ToString().c_str());
    return 1;
  }

  JobControl fc;
  auto t_full = Clock::now();
  JobOutcome full = RebuildJob(env, config, config.indexes[0], forced).Run(fc);
  double full_s = Seconds(t_full);
  if (!full.status.ok()) {
    std::fprintf(stderr, "full: %s\n", full.status.ToString().c_str());
    return 1;
  }
  double backup_s = full.stage_seconds.count("backing_up") ? full.stage_seconds["backing_up"] : 0;

  std::printf("data: %lld x %d, %s, nprobe %d; delta: %lld upserts (half replacing), %lld "
              "deletes\n",
              static_cast<long long>(rows), d, factory.c_str(), nprobe,
              static_cast<long long>(nup), static_cast<long long>(ndel));
  std::printf("delta apply (log + job): %.2f s  stages:", apply_s);
  for (const auto& [k, v] : applied.stage_seconds) std::printf(" %s=%.2f", k.c_str(), v);
  std::printf("\nfull rebuild: %.2f s (%.2f s without backing_up)  stages:", full_s,
              full_s - backup_s);
  for (const auto& [k, v] : full.stage_seconds) std::printf(" %s=%.2f", k.c_str(), v);
  std::printf("\nratio apply / full rebuild: %.3f (without backing_up: %.3f; target <= 0.1)\n",
              apply_s / full_s, apply_s / (full_s - backup_s));
  double rd = applied.validation->recall, rf = full.validation->recall;
  std::printf("recall@%d: delta %.4f, full %.4f, difference %+.4f (target within 0.01)\n",
              applied.validation->k, rd, rf, rd - rf);
  (void)env->RemoveAll(dir);
  return 0;
}
