#include "frb/verify.h"

#include <algorithm>
#include <thread>

#include "frb/manifest.h"
#include "frb/sha256.h"

namespace frb {
namespace {

constexpr char kVerifyStateFile[] = "verify_state.json";
constexpr size_t kReadChunk = 1 << 20;
// Sleeps are cut into slices so a cancel is honoured quickly.
constexpr double kMaxSleepSlice = 0.1;

Json ProblemJson(const VerifyProblem& p) {
  return Json(Json::Object{{"file", p.file}, {"check", p.check}, {"detail", p.detail}});
}

}  // namespace

RateLimiter::RateLimiter(uint64_t bytes_per_second)
    : rate_(bytes_per_second),
      tokens_(0),
      capacity_(static_cast<double>(bytes_per_second) / 10),
      last_(std::chrono::steady_clock::now()) {}

Status RateLimiter::Acquire(uint64_t bytes, JobControl* control) {
  if (rate_ == 0) return Status::Ok();
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(capacity_, tokens_ + elapsed * static_cast<double>(rate_));
  tokens_ -= static_cast<double>(bytes);
  while (tokens_ < 0) {
    double wait = std::min(kMaxSleepSlice, -tokens_ / static_cast<double>(rate_));
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    now = std::chrono::steady_clock::now();
    tokens_ += std::chrono::duration<double>(now - last_).count() * static_cast<double>(rate_);
    last_ = now;
    if (control != nullptr) FRB_RETURN_IF_ERROR(control->Check());
  }
  return Status::Ok();
}

Json VersionCheck::ToJson() const {
  Json j = Json::MakeObject();
  j["version"] = version_id;
  j["ok"] = ok;
  Json probs = Json::MakeArray();
  for (const auto& p : problems) probs.Push(ProblemJson(p));
  j["problems"] = std::move(probs);
  j["bytes"] = bytes;
  j["file_size"] = file_size;
  j["file_mtime_ns"] = file_mtime_ns;
  return j;
}

Result<VersionCheck> VerifyVersion(Env* env, const VersionStore& store, const std::string& version,
                                   RateLimiter* limiter, JobControl* control) {
  VersionCheck c;
  c.version_id = version;
  std::string mpath = JoinPath(store.VersionDir(version), "manifest.json");
  std::string path = store.VersionIndexPath(version);
  auto add = [&](const std::string& file, std::string check, std::string detail) {
    c.problems.push_back({file, std::move(check), std::move(detail)});
  };
  std::optional<Manifest> m;
  auto text = ReadFileToString(env, mpath);
  if (!text.ok()) {
    add(mpath, text.status().code() == Code::kNotFound ? "missing" : "manifest",
        text.status().message());
  } else {
    auto parsed = Manifest::Parse(*text, mpath);
    if (!parsed.ok()) {
      add(mpath, "manifest", parsed.status().message());
    } else if (parsed->version_id != version) {
      add(mpath, "manifest_version",
          "describes version '" + parsed->version_id + "', not '" + version + "'");
    } else {
      m = std::move(*parsed);
    }
  }
  auto fi = env->Stat(path);
  if (!fi.ok() || !fi->is_regular) {
    add(path, "missing", fi.ok() ? "not a regular file" : fi.status().message());
    c.ok = false;
    return c;
  }
  c.file_size = fi->size;
  c.file_mtime_ns = fi->mtime_ns;
  // Without a manifest there is nothing to check the bytes against; the
  // version is corrupt either way.
  if (m) {
    if (fi->size != m->file_size)
      add(path, "size", std::to_string(fi->size) + " bytes, the manifest says " +
                            std::to_string(m->file_size));
    auto in = env->NewSequentialFile(path);
    if (!in.ok()) {
      add(path, "read", in.status().message());
    } else {
      std::vector<uint8_t> buf(kReadChunk);
      Sha256 sha;
      for (;;) {
        size_t got = 0;
        Status s = (*in)->Read(buf.data(), buf.size(), &got);
        if (!s.ok()) {
          add(path, "read", s.message());
          break;
        }
        if (got == 0) {
          if (fi->size == m->file_size && sha.FinishHex() != m->file_sha256)
            add(path, "sha256", "SHA-256 of the index file does not match the manifest's " +
                                    m->file_sha256.substr(0, 16) + "...");
          break;
        }
        sha.Update(buf.data(), got);
        c.bytes += got;
        if (limiter != nullptr) FRB_RETURN_IF_ERROR(limiter->Acquire(got, control));
        if (control != nullptr) {
          FRB_RETURN_IF_ERROR(control->Check());
          if (m->file_size) control->SetProgress(static_cast<double>(c.bytes) / m->file_size);
        }
      }
    }
  }
  c.ok = c.problems.empty();
  return c;
}

bool IndexVerifyReport::ok() const { return corrupt_count() == 0; }

int IndexVerifyReport::corrupt_count() const {
  int n = static_cast<int>(broken_backups.size());
  for (const auto& v : versions) n += v.ok ? 0 : 1;
  for (const auto& b : backups) n += b.ok ? 0 : 1;
  return n;
}

const VersionCheck* IndexVerifyReport::Find(const std::string& version) const {
  for (const auto& v : versions)
    if (v.version_id == version) return &v;
  return nullptr;
}

bool IndexVerifyReport::live_corrupt() const {
  if (!live) return false;
  const VersionCheck* c = Find(*live);
  return c != nullptr && !c->ok;
}

std::vector<std::string> IndexVerifyReport::ProblemLines() const {
  std::vector<std::string> out;
  auto push = [&](const std::vector<VerifyProblem>& ps) {
    for (const auto& p : ps) out.push_back(p.file + ": " + p.check + ": " + p.detail);
  };
  for (const auto& v : versions) push(v.problems);
  for (const auto& b : backups) push(b.problems);
  push(broken_backups);
  return out;
}

Json IndexVerifyReport::ToJson() const {
  Json j = Json::MakeObject();
  j["index"] = index;
  j["ok"] = ok();
  j["live"] = live ? Json(*live) : Json();
  j["rollback"] = rollback ? Json(*rollback) : Json();
  Json vs = Json::MakeArray();
  for (const auto& v : versions) {
    Json vj = v.ToJson();
    vj["live"] = live && *live == v.version_id;
    vj["rollback"] = rollback && *rollback == v.version_id;
    vs.Push(std::move(vj));
  }
  j["versions"] = std::move(vs);
  Json bs = Json::MakeArray();
  for (const auto& b : backups) {
    Json bj = Json::MakeObject();
    bj["version"] = b.version_id;
    bj["ok"] = b.ok;
    Json probs = Json::MakeArray();
    for (const auto& p : b.problems) probs.Push(ProblemJson(p));
    bj["problems"] = std::move(probs);
    bs.Push(std::move(bj));
  }
  for (const auto& p : broken_backups)
    bs.Push(Json(Json::Object{{"version", nullptr},
                              {"ok", false},
                              {"problems", Json(Json::Array{ProblemJson(p)})}}));
  j["backups"] = std::move(bs);
  j["corrupt"] = corrupt_count();
  j["bytes_read"] = bytes_read;
  j["seconds"] = seconds;
  j["finished"] = FormatUtcMillis(finished_unix_ms);
  j["finished_unix_ms"] = finished_unix_ms;
  return j;
}

Result<IndexVerifyReport> VerifyIndex(Env* env, const Config& config, const IndexConfig& index,
                                      const VerifyOptions& options, JobControl* control) {
  auto t0 = std::chrono::steady_clock::now();
  VersionStore store(env, config.data_dir, index.name);
  IndexVerifyReport r;
  r.index = index.name;
  FRB_ASSIGN_OR_RETURN(r.live, store.LiveVersion());
  FRB_ASSIGN_OR_RETURN(r.rollback, store.RollbackVersion());
  FRB_ASSIGN_OR_RETURN(auto ids, store.ListVersions());
  RateLimiter limiter(options.max_bytes_per_second);
  if (control != nullptr) control->EnterStage(Stage::kValidating);
  for (const auto& id : ids) {
    // Pruned since the listing (a job ran meanwhile): nothing to check.
    if (!env->Exists(store.VersionDir(id))) continue;
    FRB_ASSIGN_OR_RETURN(VersionCheck c, VerifyVersion(env, store, id, &limiter, control));
    if (!c.ok && !env->Exists(store.VersionDir(id))) continue;
    r.bytes_read += c.bytes;
    r.versions.push_back(std::move(c));
  }
  if (options.backups) {
    BackupStore backups(env, config, index);
    FRB_ASSIGN_OR_RETURN(auto list, backups.List(&r.broken_backups));
    for (const auto& b : list) {
      auto v = backups.Verify(b.manifest.version_id, control);
      if (!v.ok()) {
        if (v.status().code() == Code::kNotFound) continue;  // pruned meanwhile
        return v.status();
      }
      // The codec reads at full speed; pay for the compressed bytes after,
      // so the average rate over the scrub still holds.
      r.bytes_read += b.manifest.compressed_size;
      FRB_RETURN_IF_ERROR(limiter.Acquire(b.manifest.compressed_size, control));
      r.backups.push_back(std::move(*v));
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.finished_unix_ms = NowUnixMillis();
  // Advisory (status and health read it): a read-only data dir still gets
  // its answer.
  Json state = Json::MakeObject();
  state["finished_unix_ms"] = r.finished_unix_ms;
  state["finished"] = FormatUtcMillis(r.finished_unix_ms);
  state["bytes_read"] = r.bytes_read;
  Json vs = Json::MakeObject();
  for (const auto& v : r.versions) vs[v.version_id] = v.ToJson();
  state["versions"] = std::move(vs);
  Status ws = WriteFileAtomic(env, JoinPath(store.IndexDir(), kVerifyStateFile), state.Dump(2) + "\n");
  if (!ws.ok() && ws.code() != Code::kPermissionDenied) return ws;
  return r;
}

Result<std::optional<VerifyState>> ReadVerifyState(Env* env, const VersionStore& store) {
  auto text = ReadFileToString(env, JoinPath(store.IndexDir(), kVerifyStateFile));
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return std::optional<VerifyState>();
    return text.status();
  }
  FRB_ASSIGN_OR_RETURN(Json j, Json::Parse(*text));
  VerifyState st;
  st.finished_unix_ms = j.GetInt("finished_unix_ms");
  st.bytes_read = static_cast<uint64_t>(j.GetInt("bytes_read"));
  if (const Json* vs = j.Find("versions"); vs && vs->is_object()) {
    for (const auto& [id, vj] : vs->as_object()) {
      VersionCheck c;
      c.version_id = id;
      c.ok = vj.GetBool("ok");
      c.bytes = static_cast<uint64_t>(vj.GetInt("bytes"));
      c.file_size = static_cast<uint64_t>(vj.GetInt("file_size"));
      c.file_mtime_ns = vj.GetInt("file_mtime_ns");
      if (const Json* ps = vj.Find("problems"); ps && ps->is_array())
        for (const auto& p : ps->as_array())
          c.problems.push_back({p.GetString("file"), p.GetString("check"), p.GetString("detail")});
      st.versions.emplace(id, std::move(c));
    }
  }
  return std::optional<VerifyState>(std::move(st));
}

Json VersionIntegrity::ToJson() const {
  Json j = Json::MakeObject();
  j["state"] = state;
  if (!detail.empty()) j["detail"] = detail;
  if (verified_unix_ms) j["verified"] = FormatUtcMillis(*verified_unix_ms);
  return j;
}

VersionIntegrity QuickIntegrity(Env* env, const VersionStore& store, const std::string& version,
                                const std::optional<VerifyState>& state) {
  VersionIntegrity out;
  auto m = store.ReadManifest(version);
  if (!m.ok()) return {"corrupt", m.status().message(), std::nullopt};
  std::string path = store.VersionIndexPath(version);
  auto fi = env->Stat(path);
  if (!fi.ok()) return {"corrupt", path + ": " + fi.status().message(), std::nullopt};
  if (fi->size != m->file_size)
    return {"corrupt",
            path + ": size " + std::to_string(fi->size) + " does not match the manifest's " +
                std::to_string(m->file_size),
            std::nullopt};
  const VersionCheck* last = nullptr;
  if (state) {
    auto it = state->versions.find(version);
    if (it != state->versions.end()) last = &it->second;
  }
  if (last != nullptr && !last->ok) {
    const VerifyProblem& p = last->problems.front();
    return {"corrupt", p.file + ": " + p.check + ": " + p.detail, std::nullopt};
  }
  if (last != nullptr && last->file_mtime_ns == fi->mtime_ns && last->file_size == fi->size) {
    out.state = "ok";
    out.verified_unix_ms = state->finished_unix_ms;
    return out;
  }
  // A published file is written before its manifest's creation time and
  // never again (0444); a later mtime means someone or something wrote it.
  int64_t written_ms = fi->mtime_ns / 1000000;
  if (written_ms > m->created_unix_ms || (last != nullptr && last->file_mtime_ns != fi->mtime_ns))
    return {"modified", path + ": modified at " + FormatUtcMillis(written_ms) + ", after it was " +
                            (last != nullptr ? "verified" : "published") + "; run verify",
            std::nullopt};
  out.state = "unverified";
  return out;
}

Json IntegritySummary(Env* env, const VersionStore& store, bool* live_bad) {
  Json j = Json::MakeObject();
  if (live_bad != nullptr) *live_bad = false;
  auto state = ReadVerifyState(env, store);
  std::optional<VerifyState> st = state.ok() ? std::move(*state) : std::nullopt;
  j["last_verify"] = st ? Json(FormatUtcMillis(st->finished_unix_ms)) : Json();
  auto live = store.LiveVersion();
  auto rollback = store.RollbackVersion();
  if (live.ok() && *live) {
    VersionIntegrity li = QuickIntegrity(env, store, **live, st);
    if (live_bad != nullptr) *live_bad = li.bad();
    Json lj = li.ToJson();
    lj["version"] = **live;
    j["live"] = std::move(lj);
  }
  if (rollback.ok() && *rollback) {
    Json rj = QuickIntegrity(env, store, **rollback, st).ToJson();
    rj["version"] = **rollback;
    j["rollback"] = std::move(rj);
  }
  // Counted by hand: repair.h's ListQuarantined would pull repair into verify.
  int64_t quarantined = 0;
  if (auto q = env->ListDir(JoinPath(store.IndexDir(), "quarantine")); q.ok())
    for (const auto& e : *q) quarantined += (!e.empty() && e[0] == 'v') ? 1 : 0;
  j["quarantined"] = quarantined;
  return j;
}

}  // namespace frb
