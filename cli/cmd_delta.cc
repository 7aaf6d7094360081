// `apply NAME --upserts V.npy --ids I.npy [--deletes D.npy]`: records the
// delta in the index's delta log, then applies it as a delta job.
#include <cstdio>

#include "cli.h"
#include "progress.h"
#include "frb/delta_job.h"
#include "frb/delta_log.h"
#include "frb/env.h"
#include "frb/ids.h"
#include "frb/store.h"

namespace frb::cli {

int CmdApplyLocal(const GlobalOptions& g, const std::string& name, const DeltaFiles& files) {
  auto cfg = LoadCliConfig(g);
  if (!cfg.ok()) return Fail(cfg.status());
  const IndexConfig* index = cfg->FindIndex(name);
  if (index == nullptr) return Fail(kExitError, "no index named '" + name + "' in " + cfg->path);
  Env* env = Env::Default();
  auto data = ReadDeltaInput(env, *index, files.upserts, files.ids, files.deletes);
  if (!data.ok()) return Fail(data.status());
  VersionStore store(env, cfg->data_dir, name);
  DeltaLog log(env, store.IndexDir());
  // Logged first: from here on a crash or a failed job loses nothing; the
  // next apply or full rebuild takes it.
  auto rec = log.Append(std::move(*data));
  if (!rec.ok()) return Fail(rec.status());
  if (!g.json)
    std::fprintf(stderr, "recorded delta %lld: %lld upserts, %lld deletes\n",
                 static_cast<long long>(rec->seq), static_cast<long long>(rec->upserts),
                 static_cast<long long>(rec->deletes));

  RebuildOptions opts;
  opts.trigger = "cli";
  opts.job_id = NewJobId();
  LocalJob local(g, "applying deltas to '" + name + "' (job " + opts.job_id + ")");
  DeltaJob job(env, *cfg, *index, opts);
  JobOutcome out = job.Run(local.control());
  local.Finish();
  if (g.json) {
    Json j = out.ToJson();
    j["delta"] = rec->ToJson();
    PrintJson(j);
  }
  return ReportOutcome(g, out);
}

}  // namespace frb::cli
