// Commands that act on the data dir directly (--local, and `versions`).
#include <cstdio>

#include "cli.h"
#include "progress.h"
#include "frb/env.h"
#include "frb/rebuild.h"
#include "frb/store.h"
#include "frb/verify.h"

namespace frb::cli {
namespace {

std::string Age(int64_t created_ms) {
  return HumanDuration(static_cast<double>(NowUnixMillis() - created_ms) / 1000) + " ago";
}

}  // namespace

int CmdRebuildLocal(const GlobalOptions& g, const std::string& name, bool force) {
  auto cfg = LoadCliConfig(g);
  if (!cfg.ok()) return Fail(cfg.status());
  const IndexConfig* index = cfg->FindIndex(name);
  if (index == nullptr) return Fail(kExitError, "no index named '" + name + "' in " + cfg->path);

  RebuildOptions opts;
  opts.trigger = "cli";
  opts.force = force;
  opts.job_id = NewJobId();
  LocalJob local(g, "rebuilding '" + name + "' (job " + opts.job_id + ")");
  RebuildJob job(Env::Default(), *cfg, *index, opts);
  JobOutcome out = job.Run(local.control());
  local.Finish();

  if (g.json) PrintJson(out.ToJson());
  return ReportOutcome(g, out);
}

int ReportOutcome(const GlobalOptions& g, const JobOutcome& out) {
  if (!g.json)
    for (const auto& w : out.warnings) std::fprintf(stderr, "faiss-rebuild: warning: %s\n", w.c_str());
  if (!g.json && out.stage == Stage::kSkipped) {
    std::printf("skipped: %s\n", out.skip_reason.c_str());
  } else if (!g.json && out.status.ok()) {
    if (out.validation) {
      const auto& v = *out.validation;
      std::printf("published %s: %lld vectors, recall@%d %.4f (95%% CI %.4f-%.4f), p99 %.3f ms\n",
                  out.version_id.c_str(), static_cast<long long>(v.ntotal), v.k, v.recall,
                  v.recall_ci_low, v.recall_ci_high, v.p99_ms);
      if (v.tune && v.tune->chosen)
        std::printf("tuned %s %lld: the smallest value whose recall@%d meets %.4f (%s)\n",
                    v.tune->param.c_str(), static_cast<long long>(*v.tune->chosen), v.tune->k,
                    v.tune->target_recall,
                    v.tune->use_lower_bound ? "95% CI lower bound" : "estimate");
    } else {
      std::printf("published %s\n", out.version_id.c_str());
    }
  } else if (!g.json && out.validation && !out.validation->failures.empty()) {
    for (const auto& f : out.validation->failures) std::fprintf(stderr, "  gate failed: %s\n", f.c_str());
  }
  if (!out.status.ok()) {
    std::string live = out.parent_version.empty()
                           ? "there is no live version yet; nothing was published"
                           : "live version " + out.parent_version + " unchanged";
    // A job refused before its first stage (unknown version, lock wait ran
    // out) names no stage: none ran.
    std::string where = out.failed_stage == Stage::kQueued
                            ? ""
                            : " in " + std::string(StageName(out.failed_stage));
    return Fail(ExitCodeFor(out.status), std::string(ResultName(out)) + where + ": " +
                                             out.status.message() + " (" + live + ")");
  }
  return kExitOk;
}

int CmdStatusLocal(const GlobalOptions& g, const std::string& name) {
  auto cfg = LoadCliConfig(g);
  if (!cfg.ok()) return Fail(cfg.status());
  if (!name.empty() && cfg->FindIndex(name) == nullptr)
    return Fail(kExitError, "no index named '" + name + "' in " + cfg->path);
  Env* env = Env::Default();
  Json all = Json::MakeArray();
  for (const auto& ic : cfg->indexes) {
    if (!name.empty() && ic.name != name) continue;
    VersionStore store(env, cfg->data_dir, ic.name);
    Json j = Json::MakeObject();
    j["name"] = ic.name;
    j["schedule"] = ic.schedule;
    auto live = store.LiveVersion();
    if (!live.ok()) return Fail(live.status());
    if (*live) {
      auto m = store.ReadManifest(**live);
      // A damaged manifest is shown (integrity below), not a reason to fail.
      j["live"] = m.ok() ? m->LiveSummary(store.LivePath(), NowUnixMillis()) : Json();
      if (!m.ok()) j["live_error"] = m.status().message();
    } else {
      j["live"] = nullptr;
    }
    j["integrity"] = IntegritySummary(env, store);
    auto last = ReadLastJob(env, *cfg, ic.name);
    if (last.ok() && *last) j["last_job"] = (*last)->ToJson();
    all.Push(std::move(j));
  }
  if (g.json) {
    PrintJson(all);
    return kExitOk;
  }
  PrintStatusText(all);
  return kExitOk;
}

void PrintStatusText(const Json& all) {
  for (const auto& j : all.as_array()) {
    std::printf("%s\n", j.GetString("name").c_str());
    const Json* live = j.Find("live");
    if (live != nullptr && live->is_object()) {
      std::printf("  live:      %s  (%s, %lld vectors, %s, recall %.4f)\n",
                  live->GetString("version").c_str(),
                  Age(NowUnixMillis() - static_cast<int64_t>(live->GetDouble("age_seconds") * 1000)).c_str(),
                  static_cast<long long>(live->GetInt("ntotal")),
                  HumanBytes(static_cast<uint64_t>(live->GetInt("file_size"))).c_str(),
                  live->GetDouble("recall"));
      if (const Json* t = live->Find("tuned"); t && t->is_object()) {
        const Json* curve = t->Find("curve");
        size_t rungs = curve && curve->is_array() ? curve->as_array().size() : 0;
        std::printf("  tuned:     %s %lld (recall@%lld %.4f, 95%% CI low %.4f, target %.4f by %s; "
                    "p50 %.3f ms; %zu value(s) tried)\n",
                    t->GetString("param").c_str(), static_cast<long long>(t->GetDouble("value")),
                    static_cast<long long>(t->GetInt("k")), t->GetDouble("recall"),
                    t->GetDouble("recall_ci_low"), t->GetDouble("target_recall"),
                    t->GetString("use").c_str(), t->GetDouble("p50_ms"), rungs);
      }
      if (const Json* h = live->Find("ivf"); h && h->is_object())
        std::printf("  ivf:       imbalance factor %.3f, %lld of %lld lists empty (%.2f%%), "
                    "largest list %lld\n",
                    h->GetDouble("imbalance_factor"), static_cast<long long>(h->GetInt("empty_lists")),
                    static_cast<long long>(h->GetInt("nlist")), 100 * h->GetDouble("empty_lists_ratio"),
                    static_cast<long long>(h->GetInt("largest_list")));
    } else if (!j.GetString("live_error").empty()) {
      std::printf("  live:      UNREADABLE: %s\n", j.GetString("live_error").c_str());
    } else {
      std::printf("  live:      none\n");
    }
    if (const Json* in = j.Find("integrity"); in && in->is_object()) {
      for (const char* which : {"live", "rollback"}) {
        const Json* v = in->Find(which);
        if (v == nullptr || !v->is_object()) continue;
        std::string state = v->GetString("state");
        std::string text = state == "ok" ? "verified " + v->GetString("verified")
                           : state == "unverified" ? "not verified yet"
                                                   : (state == "corrupt" ? "CORRUPT: " : "MODIFIED: ") +
                                                         v->GetString("detail");
        std::printf("  %-10s %s %s\n", (std::string(which) + " data:").c_str(),
                    v->GetString("version").c_str(), text.c_str());
      }
      if (int64_t q = in->GetInt("quarantined"); q > 0)
        std::printf("  quarantine: %lld corrupt version(s) set aside\n", static_cast<long long>(q));
    }
    if (const Json* lj = j.Find("last_job")) {
      std::string state = lj->GetString("state");
      std::printf("  last job:  %s %s at %s", lj->GetString("job_id").c_str(), state.c_str(),
                  lj->GetString("finished").c_str());
      if (state != "done") std::printf(" (%s)", lj->GetString("error").c_str());
      std::printf("\n");
    } else {
      std::printf("  last job:  none\n");
    }
    std::string sched = j.GetString("schedule");
    std::printf("  schedule:  %s\n", sched.empty() ? "manual only" : sched.c_str());
    // The daemon knows the next run; the data dir alone does not.
    if (std::string next = j.GetString("next_run"); !next.empty())
      std::printf("  next run:  %s\n", next.c_str());
  }
}

}  // namespace frb::cli
