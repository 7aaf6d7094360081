// verify and rollback on the data dir (--local); the daemon variants are in
// cmd_remote.cc. The work is core's VerifyIndex / RepairIndex / RollbackIndex.
#include <cstdio>

#include "cli.h"
#include "progress.h"
#include "frb/env.h"
#include "frb/rebuild.h"
#include "frb/repair.h"
#include "frb/verify.h"

namespace frb::cli {

int PrintVerifyReports(const GlobalOptions& g, const Json& reports) {
  bool all_ok = true;
  for (const auto& r : reports.as_array()) all_ok = all_ok && r.GetBool("ok");
  if (g.json) {
    PrintJson(reports);
  } else {
    for (const auto& r : reports.as_array()) {
      std::string name = r.GetString("index");
      for (const auto& v : r.Find("versions")->as_array()) {
        std::string mark = v.GetBool("live") ? " (live)" : v.GetBool("rollback") ? " (rollback)" : "";
        if (v.GetBool("ok")) {
          std::printf("%s: version %s%s: ok\n", name.c_str(), v.GetString("version").c_str(), mark.c_str());
          continue;
        }
        for (const auto& p : v.Find("problems")->as_array())
          std::printf("%s: version %s%s: CORRUPT %s: %s check failed: %s\n", name.c_str(),
                      v.GetString("version").c_str(), mark.c_str(), p.GetString("file").c_str(),
                      p.GetString("check").c_str(), p.GetString("detail").c_str());
      }
      for (const auto& b : r.Find("backups")->as_array()) {
        std::string id = b.GetString("version", "?");
        if (b.GetBool("ok")) {
          std::printf("%s: backup %s: ok\n", name.c_str(), id.c_str());
          continue;
        }
        for (const auto& p : b.Find("problems")->as_array())
          std::printf("%s: backup %s: CORRUPT %s: %s check failed: %s\n", name.c_str(), id.c_str(),
                      p.GetString("file").c_str(), p.GetString("check").c_str(),
                      p.GetString("detail").c_str());
      }
      if (const Json* rep = r.Find("repair"); rep && rep->is_object()) {
        for (const auto& q : rep->Find("quarantined")->as_array())
          std::printf("%s: quarantined %s\n", name.c_str(), q.as_string().c_str());
        if (rep->GetBool("repaired"))
          std::printf("%s: repaired: corrupt live %s replaced by new live version %s (copy of %s from %s)\n",
                      name.c_str(), rep->GetString("corrupt_live").c_str(),
                      rep->GetString("new_version").c_str(), rep->GetString("repaired_from").c_str(),
                      rep->GetString("source").c_str());
        else if (!rep->GetString("error").empty())
          std::printf("%s: NOT repaired: %s\n", name.c_str(), rep->GetString("error").c_str());
      }
    }
  }
  if (!all_ok) return Fail(kExitCorrupt, "verification found corrupt versions or backups");
  return kExitOk;
}

int CmdVerify(const GlobalOptions& g, const std::string& name, bool repair) {
  auto cfg = LoadCliConfig(g);
  if (!cfg.ok()) return Fail(cfg.status());
  if (!name.empty() && cfg->FindIndex(name) == nullptr)
    return Fail(kExitError, "no index named '" + name + "' in " + cfg->path);
  Env* env = Env::Default();
  Json reports = Json::MakeArray();
  for (const auto& ic : cfg->indexes) {
    if (!name.empty() && ic.name != name) continue;
    LocalJob local(g, "verifying '" + ic.name + "'");
    auto r = VerifyIndex(env, *cfg, ic, {}, &local.control());
    if (!r.ok()) {
      local.Finish();
      return Fail(r.status().WithContext("verify of '" + ic.name + "'"));
    }
    Json j = r->ToJson();
    bool disk_corrupt = false;
    for (const auto& v : r->versions) disk_corrupt = disk_corrupt || !v.ok;
    if (repair && disk_corrupt) {
      auto rep = RepairIndex(env, *cfg, ic, *r, NewJobId(), local.control());
      if (!rep.ok()) {
        local.Finish();
        return Fail(rep.status().WithContext("repair of '" + ic.name + "'"));
      }
      j["repair"] = rep->ToJson();
    }
    local.control().EnterStage(Stage::kDone);
    local.Finish();
    reports.Push(std::move(j));
  }
  return PrintVerifyReports(g, reports);
}

int CmdRollback(const GlobalOptions& g, const std::string& name) {
  auto cfg = LoadCliConfig(g);
  if (!cfg.ok()) return Fail(cfg.status());
  const IndexConfig* ic = cfg->FindIndex(name);
  if (ic == nullptr) return Fail(kExitError, "no index named '" + name + "' in " + cfg->path);
  VersionStore store(Env::Default(), cfg->data_dir, name);
  auto before = store.LiveVersion();
  LocalJob local(g, "rolling back '" + name + "'");
  auto live = RollbackIndex(Env::Default(), *cfg, *ic, local.control());
  local.Finish();
  if (!live.ok())
    return Fail(live.status().code() == Code::kCorruption ? kExitCorrupt : ExitCodeFor(live.status()),
                live.status().message());
  std::string old = before.ok() && *before ? **before : "";
  if (g.json) {
    PrintJson(Json(Json::Object{{"index", name}, {"live", *live}, {"rollback", old}}));
  } else {
    std::printf("rolled back '%s': %s is live again (%s is the rollback target)\n", name.c_str(),
                live->c_str(), old.c_str());
  }
  return kExitOk;
}

}  // namespace frb::cli
