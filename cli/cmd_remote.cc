// Commands that go through the daemon's HTTP API (the default without
// --local): status, rebuild [--wait], jobs, jobs show, cancel, health,
// backup list/create and restore.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli.h"
#include "frb/manifest.h"
#include "frb/rebuild.h"
#include "http_client.h"
#include "progress.h"

namespace frb::cli {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(250);

// Opens the client or prints why not (exit 2 for a bad --daemon URL).
std::unique_ptr<DaemonClient> OpenOrFail(const GlobalOptions& g, int* rc) {
  auto c = DaemonClient::Open(g);
  if (c.ok()) return std::move(*c);
  *rc = Fail(c.status().code() == Code::kInvalidArgument ? kExitUsage : kExitError,
             c.status().message());
  return nullptr;
}

// One call that must succeed with 2xx; otherwise prints the one-line reason
// and sets *rc (kExitError unless the caller maps the HTTP status itself).
std::optional<HttpReply> CallOrFail(DaemonClient& c, const std::string& method,
                                    const std::string& path, int* rc,
                                    const std::string& body = "") {
  auto r = c.Call(method, path, body);
  if (!r.ok()) {
    *rc = Fail(kExitError, r.status().message());
    return std::nullopt;
  }
  return std::move(*r);
}

Stage StageFromName(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(Stage::kSkipped); ++i)
    if (StageName(static_cast<Stage>(i)) == name) return static_cast<Stage>(i);
  return Stage::kQueued;
}

bool Finished(const Json& job) { return job.Find("finished_unix_ms") != nullptr; }

// A running job's progress as the local printer sees it.
JobSnapshot SnapshotOf(const Json& job) {
  JobSnapshot s;
  s.stage = StageFromName(job.GetString("state"));
  s.progress = job.GetDouble("progress");
  s.rate = job.GetDouble("rate");
  s.rate_unit = job.GetString("rate_unit");
  const Json* eta = job.Find("eta_seconds");
  s.eta_seconds = eta && eta->is_number() ? eta->as_double() : -1;
  if (const Json* stages = job.Find("stages"); stages && stages->is_array())
    for (const auto& st : stages->as_array())
      s.stages.push_back({StageFromName(st.GetString("stage")), st.GetDouble("seconds")});
  return s;
}

// A finished job: the stages seen while polling, plus any it went through
// between two polls (in lifecycle order), with the final seconds.
JobSnapshot FinalSnapshot(const JobSnapshot& seen, const Json& job) {
  JobSnapshot s;
  s.stage = StageFromName(job.GetString("state"));
  s.progress = 1;
  s.stages = seen.stages;
  const Json* secs = job.Find("stage_seconds");
  if (secs == nullptr || !secs->is_object()) return s;
  for (int i = static_cast<int>(Stage::kLoadingSource); i < static_cast<int>(Stage::kDone); ++i) {
    Stage st = static_cast<Stage>(i);
    const Json* v = secs->Find(StageName(st));
    if (v == nullptr || !v->is_number()) continue;
    bool found = false;
    for (auto& r : s.stages)
      if (r.stage == st) {
        r.seconds = v->as_double();
        found = true;
      }
    if (!found) s.stages.push_back({st, v->as_double()});
  }
  return s;
}

// "training 42%" for a running job, the state otherwise.
std::string StateText(const Json& job) {
  std::string state = job.GetString("state");
  if (Finished(job)) return state;
  // Picked up by a worker but before its first stage: not "queued".
  if (state == "queued") return job.GetBool("running") ? "starting" : state;
  char buf[32];
  std::snprintf(buf, sizeof(buf), " %.0f%%", 100 * job.GetDouble("progress"));
  state += buf;
  // The same pace and ETA as the API's job JSON and the --wait bar.
  std::string rate = FormatRate(job.GetDouble("rate"), job.GetString("rate_unit"));
  if (!rate.empty()) state += " " + rate;
  if (const Json* eta = job.Find("eta_seconds"); eta && eta->is_number())
    state += " ETA " + HumanDuration(eta->as_double());
  return state;
}

double TotalSeconds(const Json& job) {
  double total = 0;
  if (const Json* secs = job.Find("stage_seconds"); secs && secs->is_object())
    for (const auto& [k, v] : secs->as_object())
      if (v.is_number()) total += v.as_double();
  if (const Json* stages = job.Find("stages"); stages && stages->is_array())
    for (const auto& st : stages->as_array()) total += st.GetDouble("seconds");
  return total;
}

// Follows job `id` to its end (progress on a TTY), then parses its record.
// On failure to follow, returns nullopt with *rc set.
std::optional<JobOutcome> FollowJob(const GlobalOptions& g, DaemonClient& c, const std::string& id,
                                    const std::string& what, int* rc) {
  bool tty = StderrIsTty() && !g.json;
  if (tty) std::fprintf(stderr, "%s on %s (job %s)\n", what.c_str(), c.url().c_str(), id.c_str());
  ProgressPrinter printer;
  JobSnapshot seen;
  Json job;
  for (;;) {
    auto j = CallOrFail(c, "GET", "/api/v1/jobs/" + PathSegment(id), rc);
    if (!j) {
      if (tty) std::fprintf(stderr, "\n");
      return std::nullopt;
    }
    if (!j->ok()) {
      *rc = Fail(kExitError, "following job " + id + ": " + j->Error());
      return std::nullopt;
    }
    if (Finished(j->json)) {
      job = std::move(j->json);
      break;
    }
    JobSnapshot s = SnapshotOf(j->json);
    if (!s.stages.empty()) seen = s;
    if (tty) printer.Update(s);
    std::this_thread::sleep_for(kPollInterval);
  }
  if (tty) printer.Finish(FinalSnapshot(seen, job));
  if (g.json) PrintJson(job);
  auto out = JobOutcome::FromJson(job);
  if (!out.ok()) {
    *rc = Fail(kExitError, "job " + id + " ended but its record is unreadable: " +
                               out.status().message());
    return std::nullopt;
  }
  return std::move(*out);
}

// POSTs a job request; returns its id, or nullopt with *rc set (exit 4 when
// the index is busy).
std::optional<std::string> Enqueue(DaemonClient& c, const std::string& path,
                                   const std::string& body, int* rc) {
  auto r = CallOrFail(c, "POST", path, rc, body);
  if (!r) return std::nullopt;
  if (r->status == 409) {
    *rc = Fail(kExitBusy, "busy: " + r->Error());
    return std::nullopt;
  }
  if (!r->ok()) {
    *rc = Fail(kExitError, r->Error());
    return std::nullopt;
  }
  std::string id = r->json.GetString("job_id");
  if (id.empty()) {
    *rc = Fail(kExitError, "the daemon accepted the job but sent no job_id");
    return std::nullopt;
  }
  return id;
}

// Index names follow the config's rule (IsValidIndexName); any other NAME
// is refused before it reaches a URL. Returns true (with *rc set) when bad.
bool BadName(const std::string& name, int* rc) {
  if (IsValidIndexName(name)) return false;
  *rc = Fail(kExitUsage, "'" + name + "' is not an index name (1-64 of A-Z a-z 0-9 . _ -, "
                         "starting with a letter or digit)");
  return true;
}

std::string IndexPath(const std::string& name, const std::string& tail = "") {
  return "/api/v1/indexes/" + PathSegment(name) + tail;
}

}  // namespace

int CmdStatusRemote(const GlobalOptions& g, const std::string& name) {
  int rc = kExitOk;
  if (!name.empty() && BadName(name, &rc)) return rc;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  auto r = CallOrFail(*c, "GET", name.empty() ? "/api/v1/status" : IndexPath(name), &rc);
  if (!r) return rc;
  if (!r->ok()) return Fail(kExitError, r->Error());
  if (g.json) {
    PrintJson(r->json);
    return kExitOk;
  }
  Json indexes = Json::MakeArray();
  if (name.empty()) {
    if (const Json* all = r->json.Find("indexes"); all && all->is_array()) indexes = *all;
  } else {
    indexes.Push(r->json);
  }
  PrintStatusText(indexes);
  return kExitOk;
}

int CmdRebuildRemote(const GlobalOptions& g, const std::string& name, bool wait, bool force) {
  int rc = kExitOk;
  if (BadName(name, &rc)) return rc;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  // The trigger shows as "cli" in the job record.
  Json body(Json::Object{{"trigger", "cli"}});
  if (force) body["force"] = true;
  auto id = Enqueue(*c, IndexPath(name, "/rebuild"), body.Dump(), &rc);
  if (!id) return rc;
  if (!wait) {
    if (g.json) PrintJson(Json(Json::Object{{"job_id", *id}, {"index", name}}));
    else std::printf("queued job %s for '%s'; follow it with: faiss-rebuild jobs show %s\n",
                     id->c_str(), name.c_str(), id->c_str());
    return kExitOk;
  }
  auto out = FollowJob(g, *c, *id, "rebuilding '" + name + "'", &rc);
  if (!out) return rc;
  return ReportOutcome(g, *out);
}

int CmdApplyRemote(const GlobalOptions& g, const std::string& name, const DeltaFiles& files,
                   bool wait) {
  int rc = kExitOk;
  if (BadName(name, &rc)) return rc;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  // The daemon reads the files itself: absolute paths, so its working
  // directory does not matter.
  Json body(Json::Object{{"trigger", "cli"}});
  auto absolute = [](const std::string& p) {
    std::error_code ec;
    auto a = std::filesystem::absolute(p, ec);
    return ec ? p : a.string();
  };
  if (!files.upserts.empty()) body["upserts"] = absolute(files.upserts);
  if (!files.ids.empty()) body["ids"] = absolute(files.ids);
  if (!files.deletes.empty()) body["deletes"] = absolute(files.deletes);
  auto r = CallOrFail(*c, "POST", IndexPath(name, "/deltas"), &rc, body.Dump());
  if (!r) return rc;
  if (!r->ok()) return Fail(kExitError, r->Error());
  std::optional<std::string> id;
  if (const Json* j = r->json.Find("job_id"); j && j->is_string()) id = j->as_string();
  if (!id) {
    // Logged, but the index is busy: the daemon queues the job later.
    if (g.json) PrintJson(r->json);
    else std::printf("delta %lld logged for '%s'; %s\n",
                     static_cast<long long>(r->json.GetInt("seq")), name.c_str(),
                     r->json.GetString("pending").c_str());
    return kExitOk;
  }
  if (!wait) {
    if (g.json) PrintJson(Json(Json::Object{{"job_id", *id}, {"index", name}}));
    else std::printf("delta logged, queued job %s for '%s'; follow it with: faiss-rebuild jobs "
                     "show %s\n", id->c_str(), name.c_str(), id->c_str());
    return kExitOk;
  }
  auto out = FollowJob(g, *c, *id, "applying deltas to '" + name + "'", &rc);
  if (!out) return rc;
  return ReportOutcome(g, *out);
}

int CmdBackupListRemote(const GlobalOptions& g, const std::string& name) {
  int rc = kExitOk;
  if (BadName(name, &rc)) return rc;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  auto r = CallOrFail(*c, "GET", IndexPath(name, "/backups"), &rc);
  if (!r) return rc;
  if (!r->ok()) return Fail(kExitError, r->Error());
  if (const Json* broken = r->json.Find("broken"); broken && broken->is_array())
    for (const auto& p : broken->as_array())
      std::fprintf(stderr, "faiss-rebuild: warning: unreadable backup manifest %s\n",
                   p.is_string() ? p.as_string().c_str() : p.Dump().c_str());
  const Json* all = r->json.Find("backups");
  if (all == nullptr || !all->is_array())
    return Fail(kExitError, "the daemon's backup list has no \"backups\" array");
  return PrintBackupList(g, *all);
}

int CmdBackupCreateRemote(const GlobalOptions& g, const std::string& name) {
  int rc = kExitOk;
  if (BadName(name, &rc)) return rc;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  auto id = Enqueue(*c, IndexPath(name, "/backups"), "", &rc);
  if (!id) return rc;
  auto out = FollowJob(g, *c, *id, "backing up '" + name + "'", &rc);
  if (!out) return rc;
  if (!out->status.ok()) return ReportOutcome(g, *out);
  if (g.json) return kExitOk;
  std::printf("backed up %s (job %s)\n", out->version_id.c_str(), id->c_str());
  for (const auto& v : out->pruned_backups) std::printf("pruned backup %s\n", v.c_str());
  return kExitOk;
}

int CmdRestoreRemote(const GlobalOptions& g, const std::string& name, const std::string& version) {
  int rc = kExitOk;
  if (BadName(name, &rc)) return rc;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  Json body(Json::Object{{"version", version}});
  auto id = Enqueue(*c, IndexPath(name, "/restore"), body.Dump(), &rc);
  if (!id) return rc;
  auto out = FollowJob(g, *c, *id, "restoring '" + name + "' to " + version, &rc);
  if (!out) return rc;
  if (out->status.ok() && !g.json)
    std::printf("restored %s as a new live version (job %s)\n", version.c_str(), id->c_str());
  return ReportOutcome(g, *out);
}

int CmdJobsRemote(const GlobalOptions& g) {
  int rc = kExitOk;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  auto r = CallOrFail(*c, "GET", "/api/v1/jobs", &rc);
  if (!r) return rc;
  if (!r->ok()) return Fail(kExitError, r->Error());
  if (g.json) {
    PrintJson(r->json);
    return kExitOk;
  }
  const Json* jobs = r->json.Find("jobs");
  if (jobs == nullptr || !jobs->is_array() || jobs->size() == 0) {
    std::printf("no jobs since the daemon started\n");
    return kExitOk;
  }
  std::printf("%-26s %-16s %-8s %-9s %-40s %-25s %8s  %s\n", "JOB", "INDEX", "KIND", "TRIGGER",
              "STATE", "QUEUED", "TIME", "RESULT");
  for (const auto& j : jobs->as_array()) {
    std::string result = j.GetString("state") == "done" ? j.GetString("version")
                                                        : j.GetString("error");
    std::printf("%-26s %-16s %-8s %-9s %-40s %-25s %8s  %s\n", j.GetString("job_id").c_str(),
                j.GetString("index").c_str(), j.GetString("kind").c_str(),
                j.GetString("trigger").c_str(), StateText(j).c_str(),
                FormatUtcMillis(j.GetInt("queued_unix_ms")).c_str(),
                HumanDuration(TotalSeconds(j)).c_str(), result.c_str());
  }
  return kExitOk;
}

int CmdJobShowRemote(const GlobalOptions& g, const std::string& id) {
  int rc = kExitOk;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  auto r = CallOrFail(*c, "GET", "/api/v1/jobs/" + PathSegment(id), &rc);
  if (!r) return rc;
  if (!r->ok()) return Fail(kExitError, r->Error());
  const Json& j = r->json;
  if (g.json) {
    PrintJson(j);
    return kExitOk;
  }
  std::printf("job %s\n", j.GetString("job_id").c_str());
  std::printf("  index:     %s\n", j.GetString("index").c_str());
  std::printf("  kind:      %s", j.GetString("kind").c_str());
  if (!j.GetString("restore_version").empty())
    std::printf(" of %s", j.GetString("restore_version").c_str());
  std::printf(" (trigger %s)\n", j.GetString("trigger").c_str());
  std::printf("  state:     %s", StateText(j).c_str());
  if (Finished(j) && j.GetString("state") != "done")
    std::printf(" in %s: %s", j.GetString("failed_stage").c_str(), j.GetString("error").c_str());
  else if (j.GetBool("cancel_requested"))
    std::printf(" (cancel requested)");
  std::printf("\n");
  std::printf("  queued:    %s\n", FormatUtcMillis(j.GetInt("queued_unix_ms")).c_str());
  if (!j.GetString("started").empty()) std::printf("  started:   %s\n", j.GetString("started").c_str());
  if (!j.GetString("finished").empty()) std::printf("  finished:  %s\n", j.GetString("finished").c_str());
  if (!j.GetString("version").empty()) std::printf("  version:   %s\n", j.GetString("version").c_str());
  if (!j.GetString("parent_version").empty())
    std::printf("  parent:    %s\n", j.GetString("parent_version").c_str());
  JobSnapshot s = Finished(j) ? FinalSnapshot({}, j) : SnapshotOf(j);
  for (const auto& st : s.stages)
    std::printf("  %-16s %8s\n", std::string(StageName(st.stage)).c_str(),
                HumanDuration(st.seconds).c_str());
  if (const Json* v = j.Find("validation"); v && v->is_object()) {
    std::printf("  validation: %s, recall@%lld %.4f, p99 %.3f ms\n",
                v->GetBool("passed") ? "passed" : "FAILED", static_cast<long long>(v->GetInt("k")),
                v->GetDouble("recall"), v->GetDouble("p99_ms"));
    if (const Json* f = v->Find("failures"); f && f->is_array())
      for (const auto& x : f->as_array())
        if (x.is_string()) std::printf("    gate failed: %s\n", x.as_string().c_str());
  }
  return kExitOk;
}

int CmdCancelRemote(const GlobalOptions& g, const std::string& id) {
  int rc = kExitOk;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  auto r = CallOrFail(*c, "DELETE", "/api/v1/jobs/" + PathSegment(id), &rc);
  if (!r) return rc;
  if (!r->ok()) return Fail(kExitError, r->Error());
  if (g.json) {
    PrintJson(r->json);
    return kExitOk;
  }
  if (Finished(r->json))
    std::printf("job %s %s\n", id.c_str(), r->json.GetString("state").c_str());
  else
    std::printf("cancel requested for job %s (%s); it stops at its next check\n", id.c_str(),
                StateText(r->json).c_str());
  return kExitOk;
}

int CmdHealthRemote(const GlobalOptions& g) {
  int rc = kExitOk;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  auto r = CallOrFail(*c, "GET", "/readyz", &rc);
  if (!r) return rc;
  if (g.json) PrintJson(r->json.is_null() ? Json(Json::Object{{"error", r->Error()}}) : r->json);
  if (r->status == 503)
    return Fail(kExitNotReady, "the daemon at " + c->url() + " is not ready: " + r->Error());
  if (!r->ok()) return Fail(kExitError, r->Error());
  if (!g.json) std::printf("ready (%s)\n", c->url().c_str());
  return kExitOk;
}

int CmdVerifyRemote(const GlobalOptions& g, const std::string& name) {
  int rc = kExitOk;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  std::vector<std::string> names;
  if (!name.empty()) {
    names.push_back(name);
  } else {
    auto r = CallOrFail(*c, "GET", "/api/v1/status", &rc);
    if (!r) return rc;
    if (!r->ok()) return Fail(kExitError, r->Error());
    if (const Json* all = r->json.Find("indexes"); all && all->is_array())
      for (const auto& j : all->as_array()) names.push_back(j.GetString("name"));
  }
  Json reports = Json::MakeArray();
  GlobalOptions quiet = g;
  quiet.json = false;  // one JSON document at the end, not one per job
  for (const auto& n : names) {
    auto id = Enqueue(*c, "/api/v1/indexes/" + n + "/verify", "", &rc);
    if (!id) return rc;
    auto out = FollowJob(quiet, *c, *id, "verifying '" + n + "'", &rc);
    if (!out) return rc;
    if (!out->status.ok()) return ReportOutcome(g, *out);
    const Json* v = out->verify.Find("verify");
    if (v == nullptr) return Fail(kExitError, "verify job " + *id + " has no report");
    Json rep = *v;
    if (const Json* r = out->verify.Find("repair")) rep["repair"] = *r;
    reports.Push(std::move(rep));
  }
  return PrintVerifyReports(g, reports);
}

int CmdRollbackRemote(const GlobalOptions& g, const std::string& name) {
  int rc = kExitOk;
  auto c = OpenOrFail(g, &rc);
  if (!c) return rc;
  auto id = Enqueue(*c, "/api/v1/indexes/" + name + "/rollback", "", &rc);
  if (!id) return rc;
  auto out = FollowJob(g, *c, *id, "rolling back '" + name + "'", &rc);
  if (!out) return rc;
  if (!out->status.ok()) {
    if (out->status.code() == Code::kCorruption)
      return Fail(kExitCorrupt, out->status.message() + " (live version " + out->parent_version +
                                    " unchanged)");
    return ReportOutcome(g, *out);
  }
  if (!g.json)
    std::printf("rolled back '%s': %s is live again (%s is the rollback target)\n", name.c_str(),
                out->version_id.c_str(), out->parent_version.c_str());
  return kExitOk;
}

}  // namespace frb::cli
