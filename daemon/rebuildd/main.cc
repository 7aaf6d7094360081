// faiss-rebuildd: the rebuild service. Parses flags, sets up logging and
// signals (daemon/common), and runs a Daemon until SIGTERM/SIGINT. Reload
// (SIGHUP) and shutdown run one after the other on the main thread.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "daemon.h"
#include "frb/build_info.h"
#include "logging.h"
#include "signals.h"

int main(int argc, char** argv) {
  CLI::App app{"faiss-rebuildd: scheduled FAISS index rebuilds with an admin API"};
  frb::rebuildd::DaemonOptions options;
  options.config_path = "/etc/faiss-rebuild/config.yaml";
  frb::service::LogOptions log;
  log.program = "faiss-rebuildd";
  app.add_option("--config", options.config_path, "config file")->capture_default_str();
  app.add_option("--log-format", log.format, "text | json")->capture_default_str();
  app.add_option("--log-file", log.file,
                 "log to this file, rotated at 64 MiB (5 kept), instead of stderr");
  app.add_option("--log-level", log.level, "trace|debug|info|warn|error")
      ->capture_default_str();
  app.add_option("--listen", options.listen_override,
                 "HOST:PORT overriding http.listen; port 0 picks a free port");
  app.set_version_flag("--version", frb::VersionText("faiss-rebuildd"));
  CLI11_PARSE(app, argc, argv);
  options.config_is_default = app.get_option("--config")->count() == 0;

  frb::Status s = frb::service::SetupLogging(log);
  if (!s.ok()) {
    std::fprintf(stderr, "faiss-rebuildd: %s\n", s.message().c_str());
    return 2;
  }
  frb::service::Signals signals;  // before any thread starts

  spdlog::info("faiss-rebuildd {}, FAISS {}, FAISS kernels {}", frb::ProgramVersion(),
               frb::FaissVersion(), frb::FaissKernels());
  frb::rebuildd::Daemon daemon(frb::Env::Default(), options);
  s = daemon.Start();
  if (!s.ok()) {
    spdlog::critical("cannot start: {}", s.ToString());
    return 1;
  }
  daemon.notifier().Ready(daemon.StatusLine());
  daemon.notifier().StartStatusUpdates([&daemon] { return daemon.StatusLine(); });
  daemon.notifier().StartWatchdog([&daemon](std::string* why) { return daemon.Alive(why); });

  while (signals.WaitAny() == frb::service::SignalEvent::kReload) {
    spdlog::info("SIGHUP: reloading {}", options.config_path);
    daemon.notifier().Reloading();
    (void)daemon.Reload();
    daemon.notifier().Ready(daemon.StatusLine());
  }
  spdlog::info("{}: shutting down", frb::service::Signals::StopCause());
  daemon.notifier().Stopping("stopping: cancelling jobs");
  daemon.Shutdown();
  spdlog::info("stopped");
  return 0;
}
