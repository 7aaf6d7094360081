#include "frb/repair.h"

#include <limits>
#include <set>

#include "frb/backup.h"
#include "frb/manifest.h"
#include "frb/publisher.h"
#include "frb/rebuild.h"

namespace frb {
namespace {

std::string FirstProblem(const VersionCheck& c) {
  if (c.problems.empty()) return "ok";
  const VerifyProblem& p = c.problems.front();
  return p.file + ": " + p.check + " check failed: " + p.detail;
}

// Is `id` intact? From `known` (a verify just done) when it covers it, else
// read now.
Result<bool> Intact(Env* env, const VersionStore& store, const std::string& id,
                    const IndexVerifyReport* known) {
  if (known != nullptr)
    if (const VersionCheck* c = known->Find(id)) return c->ok;
  FRB_ASSIGN_OR_RETURN(VersionCheck c, VerifyVersion(env, store, id, nullptr, nullptr));
  return c.ok;
}

Status MoveToQuarantine(Env* env, VersionStore& store, const std::string& id,
                        const std::string& reason) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(id));
  std::string qdir = QuarantineDir(store);
  FRB_RETURN_IF_ERROR(CreateDirsDurable(env, qdir));
  std::string to = JoinPath(qdir, id);
  FRB_RETURN_IF_ERROR(env->Rename(store.VersionDir(id), to));
  FRB_RETURN_IF_ERROR(env->SyncDir(qdir));
  FRB_RETURN_IF_ERROR(env->SyncDir(JoinPath(store.IndexDir(), "versions")));
  int64_t now = NowUnixMillis();
  Json j(Json::Object{{"version", id},
                      {"reason", reason},
                      {"quarantined", FormatUtcMillis(now)},
                      {"quarantined_unix_ms", now}});
  // The record is for people; the move is what counts.
  (void)WriteFileAtomic(env, JoinPath(to, "quarantine.json"), j.Dump(2) + "\n");
  return Status::Ok();
}

Status QuarantineImpl(Env* env, VersionStore& store, const std::string& id,
                      const std::string& reason, std::vector<std::string>* moved,
                      const IndexVerifyReport* known) {
  FRB_ASSIGN_OR_RETURN(auto live, store.LiveVersion());
  if (live && *live == id)
    return FailedPrecondition("version " + id + " is live; publish another before quarantining it");
  FRB_ASSIGN_OR_RETURN(auto rollback, store.RollbackVersion());
  FRB_RETURN_IF_ERROR(MoveToQuarantine(env, store, id, reason));
  if (moved != nullptr) moved->push_back(id);
  if (!rollback || *rollback != id) return Status::Ok();
  // The rollback target is gone: the newest other intact version takes its
  // place, so a rollback always lands on something that serves.
  FRB_ASSIGN_OR_RETURN(auto ids, store.ListVersions());
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    if (live && *live == *it) continue;
    FRB_ASSIGN_OR_RETURN(bool ok, Intact(env, store, *it, known));
    if (ok)
      return ReplaceSymlink(env, "versions/" + *it, JoinPath(store.IndexDir(), "rollback"));
    FRB_RETURN_IF_ERROR(MoveToQuarantine(env, store, *it, "corrupt (found choosing a rollback target)"));
    if (moved != nullptr) moved->push_back(*it);
  }
  FRB_RETURN_IF_ERROR(env->RemoveFile(JoinPath(store.IndexDir(), "rollback")));
  return env->SyncDir(store.IndexDir());
}

// Stages the index file of the intact `from` (on disk or in backups) and
// returns its manifest.
Result<Manifest> StageIntact(Env* env, const Config& config, const IndexConfig& index,
                             const VersionStore& store, const std::string& from,
                             const std::string& source, const std::string& staged,
                             JobControl& control) {
  if (source == "backup") {
    BackupStore backups(env, config, index);
    return backups.RestoreFile(from, staged, &control);
  }
  FRB_ASSIGN_OR_RETURN(Manifest m, store.ReadManifest(from));
  // Published files are read-only: a hard link is as safe as a copy, and
  // the publisher re-hashes it before the swap either way.
  if (!env->LinkFile(store.VersionIndexPath(from), staged).ok()) {
    FRB_ASSIGN_OR_RETURN(auto in, env->NewSequentialFile(store.VersionIndexPath(from)));
    FRB_ASSIGN_OR_RETURN(auto out, env->NewWritableFile(staged));
    std::vector<uint8_t> buf(1 << 20);
    for (;;) {
      size_t got = 0;
      FRB_RETURN_IF_ERROR(in->Read(buf.data(), buf.size(), &got));
      if (got == 0) break;
      FRB_RETURN_IF_ERROR(out->Append(buf.data(), got));
      FRB_RETURN_IF_ERROR(control.Check());
    }
    FRB_RETURN_IF_ERROR(out->Sync());
    FRB_RETURN_IF_ERROR(out->Close());
  }
  return m;
}

}  // namespace

std::string QuarantineDir(const VersionStore& store) {
  return JoinPath(store.IndexDir(), "quarantine");
}

Result<std::vector<std::string>> ListQuarantined(Env* env, const VersionStore& store) {
  auto entries = env->ListDir(QuarantineDir(store));
  if (!entries.ok()) {
    if (entries.status().code() == Code::kNotFound) return std::vector<std::string>();
    return entries.status();
  }
  std::vector<std::string> out;
  for (auto& e : *entries)
    if (!e.empty() && e[0] == 'v' && e.find(".tmp.") == std::string::npos) out.push_back(std::move(e));
  return out;
}

Status QuarantineVersion(Env* env, VersionStore& store, const std::string& id,
                         const std::string& reason, std::vector<std::string>* moved) {
  return QuarantineImpl(env, store, id, reason, moved, nullptr);
}

Json RepairOutcome::ToJson() const {
  Json j = Json::MakeObject();
  j["live_corrupt"] = live_corrupt;
  j["repaired"] = repaired;
  if (!corrupt_live.empty()) j["corrupt_live"] = corrupt_live;
  if (!new_version.empty()) j["new_version"] = new_version;
  if (!repaired_from.empty()) j["repaired_from"] = repaired_from;
  if (!source.empty()) j["source"] = source;
  Json q = Json::MakeArray();
  for (const auto& v : quarantined) q.Push(v);
  j["quarantined"] = std::move(q);
  if (!error.empty()) j["error"] = error;
  return j;
}

Result<RepairOutcome> RepairIndex(Env* env, const Config& config, const IndexConfig& index,
                                  const IndexVerifyReport& report, const std::string& job_id,
                                  JobControl& control, bool wait_for_lock) {
  RepairOutcome out;
  VersionStore store(env, config.data_dir, index.name);
  FRB_RETURN_IF_ERROR(store.Init());
  FRB_ASSIGN_OR_RETURN(auto lock, store.Lock(wait_for_lock));
  // The report was made without the lock: act only on what still holds.
  FRB_ASSIGN_OR_RETURN(auto live, store.LiveVersion());
  for (const auto& c : report.versions) {
    if (c.ok || (live && *live == c.version_id) || !env->Exists(store.VersionDir(c.version_id)))
      continue;
    FRB_RETURN_IF_ERROR(QuarantineImpl(env, store, c.version_id, "corrupt: " + FirstProblem(c),
                                       &out.quarantined, &report));
  }
  const VersionCheck* lc = live ? report.Find(*live) : nullptr;
  if (lc == nullptr || lc->ok) return out;
  out.live_corrupt = true;
  out.corrupt_live = *live;
  std::string reason = "live version " + *live + " is corrupt: " + FirstProblem(*lc);

  // The newest intact copy: rollback target, newest other version on disk,
  // newest backup that verified.
  FRB_ASSIGN_OR_RETURN(auto rollback, store.RollbackVersion());
  std::vector<std::pair<std::string, std::string>> candidates;  // (version, source)
  if (rollback && *rollback != *live) candidates.push_back({*rollback, "disk"});
  FRB_ASSIGN_OR_RETURN(auto ids, store.ListVersions());
  for (auto it = ids.rbegin(); it != ids.rend(); ++it)
    if (*it != *live && (!rollback || *it != *rollback)) candidates.push_back({*it, "disk"});
  for (auto it = report.backups.rbegin(); it != report.backups.rend(); ++it)
    if (it->ok) candidates.push_back({it->version_id, "backup"});

  std::string stage_id = job_id.empty() ? NewJobId() : job_id;
  FRB_ASSIGN_OR_RETURN(StagingDir staging_dir, store.FreshStaging(stage_id));
  const std::string& staging = staging_dir.path();
  std::string staged = JoinPath(staging, "index.faiss");
  std::vector<std::string> tried;
  for (const auto& [from, source] : candidates) {
    if (source == "disk") {
      FRB_ASSIGN_OR_RETURN(bool ok, Intact(env, store, from, &report));
      if (!ok) continue;
    }
    (void)env->RemoveFile(staged);
    auto m = StageIntact(env, config, index, store, from, source, staged, control);
    if (!m.ok()) {
      if (m.status().code() == Code::kCancelled || m.status().code() == Code::kTimedOut)
        return m.status();
      tried.push_back(from + " (" + source + "): " + m.status().message());
      continue;
    }
    if (m->dim != index.dimension || m->metric != MetricName(index.metric)) {
      tried.push_back(from + ": dimension/metric differ from the config");
      continue;
    }
    control.EnterStage(Stage::kPublishing);
    FRB_RETURN_IF_ERROR(control.Check());
    Manifest nm = *m;
    FRB_ASSIGN_OR_RETURN(nm.version_id, store.NextVersionId(NowUnixMillis()));
    nm.parent_version = *live;
    nm.created_unix_ms = NowUnixMillis();
    nm.job_id = stage_id;
    nm.restored_from.clear();
    nm.repaired_from = from;
    nm.repair_reason = reason;
    Publisher publisher(env);
    // No pruning inside the publish: the corrupt version is still the
    // rollback target then, and pruning could drop the intact copy.
    Status s = publisher.Publish(store, staging, nm, std::numeric_limits<int>::max(), nullptr);
    if (!s.ok()) {
      auto now = store.LiveVersion();
      if (!now.ok() || !*now || **now != nm.version_id) {
        tried.push_back(from + ": " + s.message());
        continue;
      }
    }
    out.repaired = true;
    out.new_version = nm.version_id;
    out.repaired_from = from;
    out.source = source;
    FRB_RETURN_IF_ERROR(
        QuarantineImpl(env, store, *live, reason, &out.quarantined, &report));
    auto pruned = store.PruneVersions(index.keep_versions);
    if (!pruned.ok()) return pruned.status().WithContext("repaired, but pruning old versions failed");
    return out;
  }
  out.error = "no intact copy of index '" + index.name + "' on disk or in backups" +
              (tried.empty() ? std::string() : " (tried: " + tried.front() + ")") +
              "; the corrupt live version stays until a rebuild replaces it";
  return out;
}

Result<std::string> CheckOutgoingVersion(Env* env, const VersionStore& store,
                                         const std::string& version, const Status& backup_error,
                                         JobControl& control) {
  if (backup_error.code() != Code::kCorruption) return std::string();
  FRB_ASSIGN_OR_RETURN(VersionCheck c, VerifyVersion(env, store, version, nullptr, &control));
  if (c.ok) return std::string();
  return "outgoing live version " + version + " is corrupt (" + FirstProblem(c) +
         "): not backed up; it goes to quarantine once replaced";
}

Status QuarantineOutgoing(Env* env, VersionStore& store, const std::string& version,
                          const std::string& reason, std::vector<std::string>* moved) {
  if (!env->Exists(store.VersionDir(version))) return Status::Ok();
  return QuarantineImpl(env, store, version, reason, moved, nullptr);
}

Result<std::string> RollbackIndex(Env* env, const Config& config, const IndexConfig& index,
                                  JobControl& control) {
  VersionStore store(env, config.data_dir, index.name);
  FRB_RETURN_IF_ERROR(store.Init());
  FRB_ASSIGN_OR_RETURN(auto lock, store.Lock(false));
  FRB_ASSIGN_OR_RETURN(auto target, store.RollbackVersion());
  FRB_ASSIGN_OR_RETURN(auto live, store.LiveVersion());
  if (!target || (live && *live == *target))
    return FailedPrecondition("index '" + index.name + "' has no rollback target");
  control.EnterStage(Stage::kValidating);
  FRB_ASSIGN_OR_RETURN(VersionCheck c, VerifyVersion(env, store, *target, nullptr, &control));
  if (!c.ok)
    return Corruption("rollback target " + *target + " of index '" + index.name +
                      "' is corrupt: " + FirstProblem(c) +
                      "; not rolled back (`faiss-rebuild verify " + index.name +
                      "` quarantines it)");
  control.EnterStage(Stage::kPublishing);
  FRB_RETURN_IF_ERROR(control.Check());
  FRB_RETURN_IF_ERROR(store.SwapLive(*target));
  control.EnterStage(Stage::kDone);
  return *target;
}

}  // namespace frb
