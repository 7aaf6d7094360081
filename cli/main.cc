// faiss-rebuild: the ops CLI. Parses arguments and dispatches; the work is
// in the core library.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "cli.h"

namespace frb::cli {
namespace {

int RequireLocal(const GlobalOptions& g, const char* what) {
  if (g.local) return kExitOk;
  return Fail(kExitUsage, std::string(what) +
                              " through the daemon API is not available in this build; "
                              "use --local to act on the data dir directly");
}

}  // namespace
}  // namespace frb::cli

int main(int argc, char** argv) {
  using namespace frb::cli;
  CLI::App app{"faiss-rebuild: keep FAISS indexes fresh, validated and backed up"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
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
  rebuild->callback([&] {
    rc = RequireLocal(g, "rebuild");
    if (rc == kExitOk) rc = CmdRebuildLocal(g, name);
  });

  auto* status = app.add_subcommand("status", "live version, last job and next run per index");
  status->add_option("name", name, "index name (default: all)");
  status->callback([&] {
    rc = RequireLocal(g, "status");
    if (rc == kExitOk) rc = CmdStatusLocal(g, name);
  });

  auto* versions = app.add_subcommand("versions", "versions on disk, marking live and rollback");
  versions->add_option("name", name, "index name")->required();
  versions->callback([&] { rc = CmdVersions(g, name); });

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
