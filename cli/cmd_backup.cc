// Backup, restore, versions and disk commands. They act on the data dir
// directly (like `versions`); daemon-API mode is added separately.
#include <cstdio>
#include <map>

#include "cli.h"
#include "progress.h"
#include "frb/backup.h"
#include "frb/s3.h"
#include "frb/env.h"
#include "frb/repair.h"
#include "frb/store.h"
#include "frb/verify.h"

namespace frb::cli {
namespace {

// Config plus the named index, or an exit code already reported.
struct Target {
  Config cfg;
  const IndexConfig* index = nullptr;
};
std::optional<Target> LoadTarget(const GlobalOptions& g, const std::string& name, int* rc) {
  auto cfg = LoadCliConfig(g);
  if (!cfg.ok()) {
    *rc = Fail(cfg.status());
    return std::nullopt;
  }
  Target t{std::move(cfg).value(), nullptr};
  t.index = t.cfg.FindIndex(name);
  if (t.index == nullptr) {
    *rc = Fail(kExitError, "no index named '" + name + "' in " + t.cfg.path);
    return std::nullopt;
  }
  return t;
}

std::string Ratio(double r) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fx", r);
  return buf;
}

std::string Mark(const Json& j) {
  return j.GetBool("live") ? "live" : j.GetBool("rollback") ? "rollback" : "";
}

// Holds the index lock for create/prune so they never overlap a rebuild.
Result<std::unique_ptr<FileLock>> LockIndex(VersionStore& store) {
  FRB_RETURN_IF_ERROR(store.Init());
  return store.Lock(false);
}

}  // namespace

int CmdBackupList(const GlobalOptions& g, const std::string& name) {
  int rc = kExitOk;
  auto t = LoadTarget(g, name, &rc);
  if (!t) return rc;
  Env* env = Env::Default();
  VersionStore store(env, t->cfg.data_dir, name);
  BackupStore backups(env, t->cfg, *t->index);
  std::vector<VerifyProblem> broken;
  auto list = backups.List(&broken);
  if (!list.ok()) return Fail(list.status());
  auto live = store.LiveVersion();
  auto rollback = store.RollbackVersion();
  if (!live.ok()) return Fail(live.status());
  if (!rollback.ok()) return Fail(rollback.status());
  Json all = Json::MakeArray();
  for (const auto& b : *list) all.Push(b.ToJson(*live, *rollback));
  for (const auto& p : broken)
    std::fprintf(stderr, "faiss-rebuild: warning: unreadable backup manifest %s: %s\n",
                 p.file.c_str(), p.detail.c_str());
  return PrintBackupList(g, all);
}

int PrintBackupList(const GlobalOptions& g, const Json& all) {
  if (g.json) {
    PrintJson(all);
    return kExitOk;
  }
  std::printf("%-26s %-9s %-25s %10s %10s %7s %s\n", "VERSION", "MARK", "CREATED", "SIZE",
              "BACKUP", "RATIO", "VERIFIED");
  for (const auto& j : all.as_array()) {
    std::string verified = j.Find("verified_at")->is_null() ? "never" : j.GetString("verified_at");
    if (j.Find("verify_error")) verified = "FAILED " + j.GetString("last_verify_failed_at");
    std::printf("%-26s %-9s %-25s %10s %10s %7s %s\n", j.GetString("version").c_str(),
                Mark(j).c_str(), j.GetString("version_created").c_str(),
                HumanBytes(static_cast<uint64_t>(j.GetInt("size"))).c_str(),
                HumanBytes(static_cast<uint64_t>(j.GetInt("compressed_size"))).c_str(),
                Ratio(j.GetDouble("ratio")).c_str(), verified.c_str());
  }
  return kExitOk;
}

int CmdBackupCreate(const GlobalOptions& g, const std::string& name) {
  int rc = kExitOk;
  auto t = LoadTarget(g, name, &rc);
  if (!t) return rc;
  Env* env = Env::Default();
  VersionStore store(env, t->cfg.data_dir, name);
  auto lock = LockIndex(store);
  if (!lock.ok()) return Fail(lock.status());
  auto live = store.LiveVersion();
  if (!live.ok()) return Fail(live.status());
  if (!*live) return Fail(kExitError, "index '" + name + "' has no live version to back up");
  BackupStore backups(env, t->cfg, *t->index);
  LocalJob local(g, "backing up '" + name + "' " + **live);
  local.control().EnterStage(Stage::kBackingUp);
  auto made = CreateBackupWithRetention(env, t->cfg, *t->index, store, **live, local.control());
  if (made.ok()) local.control().EnterStage(Stage::kDone);
  local.Finish();
  if (!made.ok()) return Fail(made.status());
  const BackupInfo* info = &made->info;
  bool created = made->created;
  Json j = info->ToJson(*live, *store.RollbackVersion());
  j["created"] = created;
  j["compress_seconds"] = info->manifest.compress_seconds;
  Json removed = Json::MakeArray();
  for (const auto& id : made->pruned) removed.Push(id);
  j["pruned"] = removed;
  if (g.json) {
    PrintJson(j);
    return kExitOk;
  }
  const BackupManifest& m = info->manifest;
  if (!created) {
    std::printf("backup of %s already exists (identical): %s\n", m.version_id.c_str(),
                backups.DataPath(m.version_id).c_str());
  } else {
    std::printf("backed up %s: %s -> %s (%s) in %.2fs, %.0f MB/s\n", m.version_id.c_str(),
                HumanBytes(m.size).c_str(), HumanBytes(m.compressed_size).c_str(),
                Ratio(m.ratio()).c_str(), m.compress_seconds, m.read_mb_per_s);
  }
  for (const auto& r : removed.as_array()) std::printf("pruned backup %s\n", r.as_string().c_str());
  return kExitOk;
}

int CmdBackupVerify(const GlobalOptions& g, const std::string& name, const std::string& version) {
  int rc = kExitOk;
  auto t = LoadTarget(g, name, &rc);
  if (!t) return rc;
  BackupStore backups(Env::Default(), t->cfg, *t->index);
  std::vector<std::string> ids;
  std::vector<VerifyProblem> broken;
  if (!version.empty()) {
    ids.push_back(version);
  } else {
    auto list = backups.List(&broken);
    if (!list.ok()) return Fail(list.status());
    for (const auto& b : *list) ids.push_back(b.manifest.version_id);
    if (ids.empty() && broken.empty()) return Fail(kExitError, "index '" + name + "' has no backups in " + backups.Dir());
  }
  Json all = Json::MakeArray();
  bool all_ok = broken.empty();
  for (const auto& p : broken) {
    Json j = Json::MakeObject();
    j["file"] = p.file;
    j["ok"] = false;
    j["problems"] = Json(Json::Array{Json(Json::Object{{"file", p.file}, {"check", p.check}, {"detail", p.detail}})});
    all.Push(std::move(j));
  }
  for (const auto& id : ids) {
    auto r = backups.Verify(id);
    if (!r.ok()) return Fail(r.status());
    all_ok = all_ok && r->ok;
    Json j = Json::MakeObject();
    j["version"] = id;
    j["ok"] = r->ok;
    j["seconds"] = r->seconds;
    Json probs = Json::MakeArray();
    for (const auto& p : r->problems)
      probs.Push(Json(Json::Object{{"file", p.file}, {"check", p.check}, {"detail", p.detail}}));
    j["problems"] = std::move(probs);
    all.Push(std::move(j));
  }
  if (g.json) {
    PrintJson(all);
  } else {
    for (const auto& j : all.as_array()) {
      if (j.GetBool("ok")) {
        std::printf("%s: ok (%.2fs)\n", j.GetString("version").c_str(), j.GetDouble("seconds"));
        continue;
      }
      for (const auto& p : j.Find("problems")->as_array())
        std::printf("%s: CORRUPT %s: %s check failed: %s\n",
                    j.GetString("version", j.GetString("file")).c_str(), p.GetString("file").c_str(),
                    p.GetString("check").c_str(), p.GetString("detail").c_str());
    }
  }
  if (!all_ok) return Fail(kExitCorrupt, "backup verification failed for index '" + name + "'");
  return kExitOk;
}

int CmdBackupPrune(const GlobalOptions& g, const std::string& name, bool dry_run) {
  int rc = kExitOk;
  auto t = LoadTarget(g, name, &rc);
  if (!t) return rc;
  Env* env = Env::Default();
  VersionStore store(env, t->cfg.data_dir, name);
  auto lock = LockIndex(store);
  if (!lock.ok()) return Fail(lock.status());
  BackupStore backups(env, t->cfg, *t->index);
  auto decisions = backups.Prune(store, dry_run);
  if (!decisions.ok()) return Fail(decisions.status());
  Json all = Json::MakeArray();
  for (const auto& d : *decisions) {
    Json reasons = Json::MakeArray();
    for (const auto& r : d.reasons) reasons.Push(r);
    all.Push(Json(Json::Object{{"version", d.id},
                               {"action", d.keep ? "keep" : (dry_run ? "would_remove" : "removed")},
                               {"reasons", std::move(reasons)}}));
  }
  if (g.json) {
    PrintJson(all);
    return kExitOk;
  }
  for (const auto& j : all.as_array()) {
    std::string why;
    for (const auto& r : j.Find("reasons")->as_array()) why += (why.empty() ? "" : ", ") + r.as_string();
    std::printf("%-26s %-12s %s\n", j.GetString("version").c_str(), j.GetString("action").c_str(),
                why.c_str());
  }
  return kExitOk;
}

int CmdRestore(const GlobalOptions& g, const std::string& name, const std::string& version) {
  int rc = kExitOk;
  auto t = LoadTarget(g, name, &rc);
  if (!t) return rc;
  LocalJob local(g, "restoring '" + name + "' to " + version);
  auto out = RestoreVersion(Env::Default(), t->cfg, *t->index, version, local.control());
  local.Finish();
  if (!out.ok()) return Fail(out.status().WithContext("restore of " + name + "/" + version + " failed (live unchanged)"));
  if (g.json) {
    Json j = Json::MakeObject();
    j["restored_from"] = out->restored_from;
    j["location"] = out->location;
    j["version"] = out->new_version;
    if (!out->backed_up.empty()) j["backed_up"] = out->backed_up;
    j["validation"] = out->full_validation ? "full" : "structural";
    j["report"] = out->validation.ToJson();
    PrintJson(j);
    return kExitOk;
  }
  std::printf("restored %s (from %s) as new live version %s; validation: %s", version.c_str(),
              out->location.c_str(), out->new_version.c_str(),
              out->full_validation ? "full" : "structural (source changed since it was built)");
  if (out->full_validation) std::printf(", recall %.4f", out->validation.recall);
  std::printf("\n");
  return kExitOk;
}

int CmdVersionsAll(const GlobalOptions& g, const std::string& name) {
  int rc = kExitOk;
  auto t = LoadTarget(g, name, &rc);
  if (!t) return rc;
  Env* env = Env::Default();
  VersionStore store(env, t->cfg.data_dir, name);
  BackupStore backups(env, t->cfg, *t->index);
  auto versions = store.ListVersions();
  auto list = backups.List();
  auto live = store.LiveVersion();
  auto rollback = store.RollbackVersion();
  for (const Status* s : {&versions.status(), &list.status(), &live.status(), &rollback.status()})
    if (!s->ok()) return Fail(*s);
  std::map<std::string, Json> rows;  // zero-padded ids: map order is age order
  auto row = [&](const std::string& v) -> Json& {
    Json& j = rows[v];
    if (j.is_null()) {
      j["version"] = v;
      j["location"] = "";
      j["live"] = *live && **live == v;
      j["rollback"] = *rollback && **rollback == v;
    }
    return j;
  };
  auto describe = [](Json& j, const Manifest& m) {
    j["created"] = FormatUtcMillis(m.created_unix_ms);
    j["ntotal"] = m.ntotal;
    j["size"] = m.file_size;
    j["recall"] = m.validation.recall;
    if (!m.restored_from.empty()) j["restored_from"] = m.restored_from;
  };
  auto vstate = ReadVerifyState(env, store);
  std::optional<VerifyState> st = vstate.ok() ? std::move(*vstate) : std::nullopt;
  for (const auto& v : *versions) {
    Json& j = row(v);
    j["location"] = "disk";
    auto m = store.ReadManifest(v);
    if (m.ok()) describe(j, *m);
    else j["error"] = m.status().message();
    j["integrity"] = QuickIntegrity(env, store, v, st).ToJson();
  }
  // Set aside by verify/repair: listed so nobody wonders where they went.
  if (auto q = ListQuarantined(env, store); q.ok())
    for (const auto& v : *q) row(v)["location"] = "quarantine";
  for (const auto& b : *list) {
    const BackupManifest& bm = b.manifest;
    Json& j = row(bm.version_id);
    bool on_disk = j.GetString("location") == "disk";
    j["location"] = on_disk ? "disk+backup" : "backup";
    if (!on_disk) {
      auto m = Manifest::Parse(bm.version_manifest.Dump(), backups.ManifestPath(bm.version_id));
      if (m.ok()) describe(j, *m);
      else j["error"] = m.status().message();
    }
    j["compressed_size"] = bm.compressed_size;
    j["ratio"] = bm.ratio();
    j["verified_at"] = b.verified_unix_ms ? Json(FormatUtcMillis(*b.verified_unix_ms)) : Json();
    // The last verify failed: the backup is not to be trusted for a restore.
    if (b.failed_verify_unix_ms) {
      j["last_verify_failed_at"] = FormatUtcMillis(*b.failed_verify_unix_ms);
      j["verify_error"] = b.verify_error;
    }
  }
  Json all = Json::MakeArray();
  for (auto& [v, j] : rows) all.Push(std::move(j));
  if (g.json) {
    PrintJson(all);
    return kExitOk;
  }
  std::printf("%-26s %-9s %-12s %-25s %12s %10s %7s %s\n", "VERSION", "MARK", "LOCATION",
              "CREATED", "VECTORS", "SIZE", "RATIO", "VERIFIED");
  for (const auto& j : all.as_array()) {
    if (j.Find("error")) {
      std::printf("%-26s %-9s %-12s unreadable manifest: %s\n", j.GetString("version").c_str(),
                  Mark(j).c_str(), j.GetString("location").c_str(), j.GetString("error").c_str());
      continue;
    }
    if (const Json* in = j.Find("integrity"); in && in->is_object()) {
      std::string state = in->GetString("state");
      if (state == "corrupt" || state == "modified") {
        std::printf("%-26s %-9s %-12s %s: %s\n", j.GetString("version").c_str(), Mark(j).c_str(),
                    j.GetString("location").c_str(), state == "corrupt" ? "CORRUPT" : "MODIFIED",
                    in->GetString("detail").c_str());
        continue;
      }
    }
    if (j.GetString("location") == "quarantine") {
      std::printf("%-26s %-9s %-12s corrupt, set aside (never served, backed up or pruned)\n",
                  j.GetString("version").c_str(), Mark(j).c_str(), "quarantine");
      continue;
    }
    const Json* va = j.Find("verified_at");
    std::string verified = va == nullptr ? "-" : va->is_null() ? "never" : va->as_string();
    if (j.Find("verify_error")) verified = "FAILED " + j.GetString("last_verify_failed_at");
    std::printf("%-26s %-9s %-12s %-25s %12lld %10s %7s %s\n", j.GetString("version").c_str(),
                Mark(j).c_str(), j.GetString("location").c_str(), j.GetString("created").c_str(),
                static_cast<long long>(j.GetInt("ntotal")),
                HumanBytes(static_cast<uint64_t>(j.GetInt("size"))).c_str(),
                j.Find("ratio") ? Ratio(j.GetDouble("ratio")).c_str() : "-",
                verified.c_str());
  }
  return kExitOk;
}

int CmdDisk(const GlobalOptions& g) {
  auto cfg = LoadCliConfig(g);
  if (!cfg.ok()) return Fail(cfg.status());
  Env* env = Env::Default();
  Json out = Json::MakeObject();
  Json indexes = Json::MakeArray();
  for (const auto& ic : cfg->indexes) {
    auto u = MeasureDiskUsage(env, *cfg, ic.name);
    if (!u.ok()) return Fail(u.status());
    indexes.Push(Json(Json::Object{{"index", ic.name}, {"live", u->live}, {"staging", u->staging},
                                   {"versions", u->versions}, {"version_count", u->version_count},
                                   {"backups", u->backups}, {"backup_count", u->backup_count}}));
  }
  out["indexes"] = std::move(indexes);
  Json free = Json::MakeObject();
  for (const auto& [key, path] : {std::pair<std::string, std::string>{"data_dir", cfg->data_dir},
                                  {"backup_dir", BackupRoot(*cfg)}}) {
    if (IsS3Url(path)) continue;  // offsite: no filesystem of ours
    // The backup dir may not exist yet: report the filesystem it will be on.
    std::string p = path;
    while (!env->Exists(p) && p != "/" && p != ".") p = DirName(p);
    auto ds = env->GetDiskSpace(p);
    if (!ds.ok()) return Fail(ds.status());
    free[key] = Json(Json::Object{{"path", path}, {"free_bytes", ds->free_bytes},
                                  {"total_bytes", ds->total_bytes}});
  }
  out["filesystems"] = std::move(free);
  if (g.json) {
    PrintJson(out);
    return kExitOk;
  }
  std::printf("%-24s %10s %10s %10s %10s\n", "INDEX", "LIVE", "STAGING", "VERSIONS", "BACKUPS");
  for (const auto& j : out.Find("indexes")->as_array())
    std::printf("%-24s %10s %10s %10s %10s\n", j.GetString("index").c_str(),
                HumanBytes(static_cast<uint64_t>(j.GetInt("live"))).c_str(),
                HumanBytes(static_cast<uint64_t>(j.GetInt("staging"))).c_str(),
                (HumanBytes(static_cast<uint64_t>(j.GetInt("versions"))) + "").c_str(),
                HumanBytes(static_cast<uint64_t>(j.GetInt("backups"))).c_str());
  for (const auto& [k, v] : out.Find("filesystems")->as_object())
    std::printf("free on %-10s %s (%s)\n", k.c_str(),
                HumanBytes(static_cast<uint64_t>(v.GetInt("free_bytes"))).c_str(),
                v.GetString("path").c_str());
  return kExitOk;
}

}  // namespace frb::cli
