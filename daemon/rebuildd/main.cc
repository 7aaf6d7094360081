// faiss-rebuildd: the rebuild service. Parses flags, sets up logging and
// signals, and runs a Daemon until SIGTERM/SIGINT.
//
// Signals are blocked in every thread and taken synchronously by sigwait in
// the main thread, so reload and shutdown run as ordinary code, never inside
// an async signal handler.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <pthread.h>

#include "daemon.h"
#include "frb/build_info.h"
#include "logging.h"

int main(int argc, char** argv) {
  CLI::App app{"faiss-rebuildd: scheduled FAISS index rebuilds with an admin API"};
  frb::rebuildd::DaemonOptions options;
  options.config_path = "/etc/faiss-rebuild/config.yaml";
  std::string log_format = "text";
  app.add_option("--config", options.config_path, "config file")->capture_default_str();
  app.add_option("--log-format", log_format, "text | json")->capture_default_str();
  std::string log_file;
  app.add_option("--log-file", log_file,
                 "log to this file, rotated at 64 MiB (5 kept), instead of stderr");
  app.add_option("--listen", options.listen_override,
                 "HOST:PORT overriding http.listen; port 0 picks a free port");
  app.set_version_flag("--version", frb::VersionText("faiss-rebuildd"));
  CLI11_PARSE(app, argc, argv);
  options.config_is_default = app.get_option("--config")->count() == 0;

  frb::Status s = frb::rebuildd::SetupLogging(log_format, log_file);
  if (!s.ok()) {
    std::fprintf(stderr, "faiss-rebuildd: %s\n", s.message().c_str());
    return 2;
  }

  // Block before any thread starts so every thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client hanging up must not kill us
  // Past RLIMIT_FSIZE a write fails with EFBIG (reported like a full disk)
  // instead of the signal killing us mid-publish.
  std::signal(SIGXFSZ, SIG_IGN);

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
  daemon.notifier().StartWatchdog([&daemon] {
    std::string why;
    return daemon.Alive(&why);
  });

  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading {}", options.config_path);
      daemon.notifier().Reloading();
      (void)daemon.Reload();
      daemon.notifier().Ready(daemon.StatusLine());
      continue;
    }
    spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    daemon.notifier().Stopping("stopping: cancelling jobs");
    daemon.Shutdown();
    spdlog::info("stopped");
    return 0;
  }
}
