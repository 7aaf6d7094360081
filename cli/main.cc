// faiss-rebuild: the ops CLI. Parses arguments and dispatches; the work is
// in the core library.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "cli.h"
#include "frb/build_info.h"

namespace frb::cli {
namespace {

// Commands that only exist through the daemon (its job list and readiness).
int RequireDaemon(const GlobalOptions& g, const char* what) {
  if (!g.local) return kExitOk;
  return Fail(kExitUsage, std::string(what) + " needs the daemon; drop --local");
}

}  // namespace
}  // namespace frb::cli

int main(int argc, char** argv) {
  using namespace frb::cli;
  // Past RLIMIT_FSIZE a write fails with EFBIG (reported like a full disk)
  // instead of the signal killing the command mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"faiss-rebuild: keep FAISS indexes fresh, validated and backed up"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  app.set_version_flag("--version", frb::VersionText("faiss-rebuild"));
  GlobalOptions g;
  app.add_option("--config", g.config_path,
                 "config file (default $FAISS_REBUILD_CONFIG or /etc/faiss-rebuild/config.yaml)");
  app.add_flag("--json", g.json, "machine-readable output");
  app.add_flag("--local", g.local, "act on the data dir directly, without the daemon");
  app.add_option("--daemon", g.daemon_url, "daemon URL (default from config http.listen)");

  std::string name, file;
  int rc = kExitOk;

  auto* config = app.add_subcommand("config", "validate or generate configuration");
  config->require_subcommand(1);
  config->fallthrough();
  auto* validate = config->add_subcommand("validate", "report every problem in a config file");
  validate->add_option("file", file, "config file (default: --config)");
  validate->callback([&] { rc = CmdConfigValidate(g, file); });
  auto* generate = config->add_subcommand("generate", "print a commented example config");
  generate->callback([&] { rc = CmdConfigGenerate(); });

  auto* rebuild = app.add_subcommand("rebuild", "rebuild an index now");
  rebuild->add_option("name", name, "index name")->required();
  bool wait = false;
  rebuild->add_flag("--wait", wait, "follow the job until it ends (always true with --local)");
  bool force = false;
  rebuild->add_flag("--force", force,
                    "build even when the source content and index config match the live version");
  rebuild->callback([&] {
    rc = g.local ? CmdRebuildLocal(g, name, force) : CmdRebuildRemote(g, name, wait, force);
  });

  DeltaFiles delta;
  auto* apply = app.add_subcommand("apply", "apply upserts and deletes as a delta version");
  apply->add_option("name", name, "index name")->required();
  apply->add_option("--upserts", delta.upserts, "float32 .npy of vectors to add or replace");
  apply->add_option("--ids", delta.ids, "int64 .npy: the id of each upserted vector");
  apply->add_option("--deletes", delta.deletes, "int64 .npy of ids to delete");
  apply->callback([&] {
    rc = g.local ? CmdApplyLocal(g, name, delta) : CmdApplyRemote(g, name, delta, wait);
  });
  apply->add_flag("--wait", wait, "follow the job until it ends (always true with --local)");

  auto* status = app.add_subcommand("status", "live version, last job and next run per index");
  status->add_option("name", name, "index name (default: all)");
  status->callback([&] { rc = g.local ? CmdStatusLocal(g, name) : CmdStatusRemote(g, name); });

  // Jobs live in the daemon: these always go through its API.
  std::string job_id;
  auto* jobs = app.add_subcommand("jobs", "the daemon's queued, running and recent jobs");
  jobs->fallthrough();
  auto* jshow = jobs->add_subcommand("show", "one job: state, stages, result");
  jshow->add_option("id", job_id, "job id")->required();
  jshow->callback([&] {
    rc = RequireDaemon(g, "jobs show");
    if (rc == kExitOk) rc = CmdJobShowRemote(g, job_id);
  });
  jobs->callback([&] {
    if (jshow->parsed()) return;
    rc = RequireDaemon(g, "jobs");
    if (rc == kExitOk) rc = CmdJobsRemote(g);
  });
  auto* cancel = app.add_subcommand("cancel", "cancel a queued or running job");
  cancel->add_option("id", job_id, "job id")->required();
  cancel->callback([&] {
    rc = RequireDaemon(g, "cancel");
    if (rc == kExitOk) rc = CmdCancelRemote(g, job_id);
  });
  auto* health = app.add_subcommand("health", "the daemon's readiness; exit 6 when not ready");
  health->callback([&] {
    rc = RequireDaemon(g, "health");
    if (rc == kExitOk) rc = CmdHealthRemote(g);
  });

  auto* versions = app.add_subcommand("versions", "versions on disk and in backups, marking live and rollback");
  versions->add_option("name", name, "index name")->required();
  versions->callback([&] { rc = CmdVersionsAll(g, name); });

  // list, create and restore go through the daemon (create and restore are
  // jobs queued behind its other jobs on the index) unless --local; verify
  // and prune read and prune files and always act on the data dir (prune
  // takes the index lock, so it never overlaps a daemon job).
  auto* backup = app.add_subcommand("backup", "list, create, verify or prune backups");
  backup->require_subcommand(1);
  backup->fallthrough();
  std::string version;
  bool dry_run = false;
  auto* blist = backup->add_subcommand("list", "backups of an index");
  blist->add_option("name", name, "index name")->required();
  blist->callback([&] { rc = g.local ? CmdBackupList(g, name) : CmdBackupListRemote(g, name); });
  auto* bcreate = backup->add_subcommand("create", "back up the live version now");
  bcreate->add_option("name", name, "index name")->required();
  bcreate->callback([&] {
    rc = g.local ? CmdBackupCreate(g, name) : CmdBackupCreateRemote(g, name);
  });
  auto* bverify = backup->add_subcommand("verify", "decompress and check every byte of backups");
  bverify->add_option("name", name, "index name")->required();
  bverify->add_option("version", version, "version id (default: every backup)");
  bverify->callback([&] { rc = CmdBackupVerify(g, name, version); });
  auto* bprune = backup->add_subcommand("prune", "apply the retention policy");
  bprune->add_option("name", name, "index name")->required();
  bprune->add_flag("--dry-run", dry_run, "print what would be kept or removed, and why");
  bprune->callback([&] { rc = CmdBackupPrune(g, name, dry_run); });

  auto* restore = app.add_subcommand("restore", "publish an earlier version as a new live version");
  restore->add_option("name", name, "index name")->required();
  restore->add_option("version", version, "version id (see `versions NAME`)")->required();
  restore->callback([&] {
    rc = g.local ? CmdRestore(g, name, version) : CmdRestoreRemote(g, name, version);
  });

  bool repair = false;
  auto* verify = app.add_subcommand(
      "verify", "check every byte of every on-disk version and backup; exit 7 on corruption");
  verify->add_option("name", name, "index name (default: all)");
  verify->add_flag("--repair", repair,
                   "--local: quarantine corrupt versions and replace a corrupt live one "
                   "(the daemon's verify job always does when scrub.repair is on)");
  verify->callback([&] { rc = g.local ? CmdVerify(g, name, repair) : CmdVerifyRemote(g, name); });
  auto* rollback = app.add_subcommand("rollback", "make the rollback target live again, after verifying it");
  rollback->add_option("name", name, "index name")->required();
  rollback->callback([&] { rc = g.local ? CmdRollback(g, name) : CmdRollbackRemote(g, name); });

  auto* disk = app.add_subcommand("disk", "space used per index: live, staging, versions, backups");
  disk->callback([&] { rc = CmdDisk(g); });

  // The object-storage repository, read directly with the credentials of
  // this process (AWS_* environment or the shared credentials file).
  auto* repo = app.add_subcommand("repo", "the object-storage repository: ls, verify, pull");
  repo->require_subcommand(1);
  repo->fallthrough();
  auto* rls = repo->add_subcommand("ls", "versions in the repository, marking live and previous");
  rls->add_option("name", name, "index name")->required();
  rls->callback([&] { rc = CmdRepoLs(g, name); });
  auto* rverify = repo->add_subcommand(
      "verify", "read every byte of a version (default: all) and check SHA-256; exit 7 on corruption");
  rverify->add_option("name", name, "index name")->required();
  rverify->add_option("version", version, "version id (default: every version)");
  rverify->callback([&] { rc = CmdRepoVerify(g, name, version); });
  auto* rpull = repo->add_subcommand("pull", "download a version (default: live), verified, into DIR");
  std::vector<std::string> pull_args;
  rpull->add_option("args", pull_args, "NAME [VERSION] DIR")->expected(2, 3)->required();
  rpull->callback([&] {
    name = pull_args[0];
    rc = CmdRepoPull(g, name, pull_args.size() == 3 ? pull_args[1] : "", pull_args.back());
  });

  auto* schedule = app.add_subcommand("schedule", "check cron expressions");
  schedule->require_subcommand(1);
  schedule->fallthrough();
  auto* next = schedule->add_subcommand("next", "print the next fire times of a cron expression");
  std::string expr, zone, from;
  int count = 5;
  next->add_option("expr", expr, "cron expression, e.g. \"0 3 * * *\" or @daily")->required();
  next->add_option("--tz", zone, "IANA time zone (default UTC)");
  next->add_option("--from", from, "start time, ISO 8601 (default now)");
  next->add_option("--count", count, "how many fire times (default 5)");
  next->callback([&] { rc = CmdScheduleNext(g, expr, zone, from, count); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  return rc;
}
