// faiss-searchd: serves k-NN search over the live version of every
// configured index and hot-reloads each new version (docs/api.md,
// the search server). A thin program: the work is in the frb_searchd library,
// logging, signals and systemd integration in daemon/common.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "frb/build_info.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/host_port.h"
#include "follow_metrics.h"
#include "follower.h"
#include "index_registry.h"
#include "logging.h"
#include "metrics.h"
#include "notifier.h"
#include "reporter.h"
#include "server.h"
#include "signals.h"
#include "watcher.h"

namespace {

// STATUS= for `systemctl status`.
std::string StatusLine(const frb::searchd::IndexRegistry& registry) {
  size_t loaded = 0, total = 0;
  for (const auto& [name, li] : registry.List()) {
    ++total;
    if (li) ++loaded;
  }
  std::string line = "serving " + std::to_string(loaded) + " of " + std::to_string(total) +
                     " indexes";
  if (const size_t degraded = registry.Degraded().size(); degraded > 0)
    line += ", " + std::to_string(degraded) + " not on the live version";
  return line;
}

std::vector<std::string> IndexNames(const frb::Config& config) {
  std::vector<std::string> names;
  for (const auto& ic : config.indexes) names.push_back(ic.name);
  return names;
}

// The follower's settings: flags over search_server.*, the store's
// endpoint, region and addressing from repository:.
frb::Result<frb::searchd::FollowOptions> FollowOptionsFrom(const frb::Config& config,
                                                           const std::string& url,
                                                           const std::string& cache_dir,
                                                           const std::string& interval) {
  frb::searchd::FollowOptions o;
  FRB_ASSIGN_OR_RETURN(frb::S3Location loc, frb::ParseS3Url(url));
  o.url = loc.ToUrl();
  o.cache_dir = cache_dir.empty() ? config.search_cache_dir : cache_dir;
  if (o.cache_dir.empty())
    return frb::InvalidArgument(
        "following " + o.url + " needs a cache directory: --cache-dir DIR or "
        "search_server.cache_dir");
  o.interval = config.search_follow_interval;
  if (!interval.empty()) {
    auto parsed = frb::searchd::ParseInterval(interval);
    if (!parsed.ok()) return frb::InvalidArgument("--follow-interval: " + parsed.status().message());
    o.interval = *parsed;
  }
  o.cache_versions = config.search_cache_versions;
  o.s3.endpoint = config.repository.endpoint;
  o.s3.region = config.repository.region;
  o.s3.path_style = config.repository.path_style;
  o.s3.parallelism = config.repository.parallelism;
  // Without repository.endpoint, an override from the environment is an
  // S3-compatible store (MinIO, Ceph RGW, ...): those want path-style
  // addressing.
  if (const char* e = std::getenv("AWS_ENDPOINT_URL");
      o.s3.endpoint.empty() && e != nullptr && *e != '\0') {
    o.s3.endpoint = e;
    o.s3.path_style = true;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"faiss-searchd: hot-reloading FAISS search server"};
  std::string config_path = "/etc/faiss-rebuild/config.yaml";
  std::string listen, port_file, policy = "refuse";
  frb::service::LogOptions log;
  log.program = "faiss-searchd";
  uint64_t memory_limit = 0;
  frb::searchd::ServerOptions sopt;
  int param_factor = 16, poll_ms = 500;
  bool no_inotify = false;
  app.add_option("--config", config_path, "configuration file (same as the daemon's)");
  app.add_option("--listen", listen, "HOST:PORT (default: search_server.listen); port 0 = any");
  app.add_option("--port-file", port_file, "write the bound port to this file");
  app.add_option("--memory-limit-bytes", memory_limit,
                 "limit on the summed size of loaded indexes, replacing the default "
                 "admission by available memory (0 = no check at all)");
  uint64_t memory_reserve = 64ull << 20;
  app.add_option("--memory-reserve-bytes", memory_reserve,
                 "without --memory-limit-bytes: memory kept free beyond a new version's "
                 "size when it is loaded beside the old one");
  frb::MemorySources memory_sources;
  app.add_option("--meminfo", memory_sources.meminfo,
                 "where MemAvailable is read (default /proc/meminfo)");
  app.add_option("--cgroup-dir", memory_sources.cgroup_dir,
                 "cgroup v2 directory whose memory.max bounds the process (default: the "
                 "process's own, from /proc/self/cgroup, and its ancestors)");
  app.add_option("--reload-policy", policy, "over the memory limit: refuse | unready")
      ->check(CLI::IsMember({"refuse", "unready"}));
  app.add_option("--rate-limit", sopt.rate_limit, "search requests per second (0 = off)");
  app.add_option("--threads", sopt.threads,
                 "HTTP worker threads running handlers (0 = max(16, 4 x cores))");
  app.add_option("--coalesce-max", sopt.coalesce_max,
                 "most concurrent single-vector searches run as one FAISS batch (1 = off)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--max-k", sopt.limits.max_k, "largest k accepted")->check(CLI::PositiveNumber);
  app.add_option("--max-batch", sopt.limits.max_batch, "most vectors per request")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-param-factor", param_factor,
                 "nprobe/efSearch overrides up to this many times the configured value")
      ->check(CLI::PositiveNumber);
  app.add_option("--poll-ms", poll_ms, "polling interval of the live pointers")
      ->check(CLI::PositiveNumber);
  app.add_flag("--no-inotify", no_inotify, "only poll the live pointers");
  frb::searchd::LoaderPriority loader;
  app.add_option("--loader-nice", loader.nice,
                 "nice value of the thread that loads new versions (0-19)")
      ->check(CLI::Range(0, 19));
  app.add_flag("--loader-idle", loader.idle,
               "load new versions in SCHED_IDLE (only on idle CPU time; may delay swaps "
               "for long under saturation)");
  std::string follow, cache_dir, follow_interval;
  app.add_option("--follow", follow,
                 "serve what the object-storage repository s3://BUCKET/PREFIX publishes "
                 "(default: search_server.follow) instead of data_dir");
  app.add_option("--cache-dir", cache_dir,
                 "where a follower keeps downloaded versions (default: "
                 "search_server.cache_dir)");
  app.add_option("--follow-interval", follow_interval,
                 "how often a follower reads the repository pointer, e.g. 2s or 500ms "
                 "(default: search_server.follow_interval, 2s)");
  app.add_option("--log-level", log.level, "trace|debug|info|warn|error");
  app.add_option("--log-format", log.format, "text | json");
  app.add_option("--log-file", log.file,
                 "log to this file, rotated at 64 MiB (5 kept), instead of stderr");
  app.set_version_flag("--version", frb::VersionText("faiss-searchd"));
  CLI11_PARSE(app, argc, argv);

  if (frb::Status s = frb::service::SetupLogging(log); !s.ok()) {
    std::fprintf(stderr, "faiss-searchd: %s\n", s.message().c_str());
    return 2;
  }

  spdlog::info("faiss-searchd {}, FAISS {}, FAISS kernels {}", frb::ProgramVersion(),
               frb::FaissVersion(), frb::FaissKernels());
  frb::Env* env = frb::Env::Default();
  frb::ConfigOptions copt;
  copt.check_sources = false;  // the server reads versions, never sources
  copt.missing_hint = app.get_option("--config")->count() == 0
                         ? "the default path; pass --config FILE"
                         : "named by --config";
  auto config = frb::LoadConfig(env, config_path, copt);
  if (!config.ok()) {
    std::fprintf(stderr, "faiss-searchd: %s\n", config.status().ToString().c_str());
    return 1;
  }
  if (listen.empty()) listen = config->search_listen;
  auto address = frb::ParseHostPort(listen, /*allow_port_zero=*/true);
  if (!address.ok()) {
    std::fprintf(stderr, "faiss-searchd: bad listen address: %s\n",
                 address.status().message().c_str());
    return 2;
  }
  sopt.http = config->search_limits;

  // Following a repository: the cache dir stands in for data_dir, so the
  // registry and watcher load, verify and swap downloaded versions exactly
  // like local ones.
  if (follow.empty()) follow = config->search_follow;
  std::optional<frb::searchd::FollowOptions> fopt;
  if (!follow.empty()) {
    auto f = FollowOptionsFrom(*config, follow, cache_dir, follow_interval);
    if (!f.ok()) {
      std::fprintf(stderr, "faiss-searchd: %s\n", f.status().message().c_str());
      return 2;
    }
    fopt = std::move(f).value();
    config->data_dir = fopt->cache_dir;
    config->search_report_corruption = false;  // no local daemon repairs a cache
  }

  frb::service::Signals signals;  // before the server's threads start

  frb::searchd::SearchMetrics metrics;
  frb::searchd::CorruptionReporter reporter(env, frb::searchd::ReporterTargetFrom(*config));
  // A follower's downloads, hashed as they arrived: their load skips a
  // second SHA-256 pass (see verified_files.h).
  frb::searchd::VerifiedFiles verified;
  frb::searchd::RegistryOptions ropt;
  if (fopt) {
    ropt.verified = &verified;
    fopt->verified = &verified;
  }
  using Mode = frb::searchd::AdmissionOptions::Mode;
  if (app.count("--memory-limit-bytes") == 0) {
    ropt.admission.mode = Mode::kAvailable;
  } else {
    ropt.admission.mode = memory_limit > 0 ? Mode::kLimit : Mode::kOff;
  }
  ropt.admission.limit_bytes = memory_limit;
  ropt.admission.reserve_bytes = memory_reserve;
  ropt.admission.sources = memory_sources;
  ropt.admission.policy = policy == "unready" ? frb::searchd::ReloadPolicy::kUnready
                                              : frb::searchd::ReloadPolicy::kRefuse;
  ropt.param_factor = param_factor;
  ropt.on_bad_live = [&reporter](const std::string& index, const std::string&,
                                 const frb::Status&) { reporter.Report(index); };
  frb::searchd::IndexRegistry registry(env, *config, ropt, &metrics);
  frb::searchd::SearchServer server(&registry, &metrics, sopt);
  // Only a follower exports the follow families.
  std::unique_ptr<frb::searchd::FollowMetrics> follow_metrics;
  // Created before the watcher, which it wakes; opened (and its caches
  // locked) before the first load reads them.
  frb::searchd::LiveWatcher* watcher_ptr = nullptr;
  std::unique_ptr<frb::searchd::Follower> follower;
  if (fopt) {
    follow_metrics = std::make_unique<frb::searchd::FollowMetrics>(metrics.registry());
    follower = std::make_unique<frb::searchd::Follower>(
        env, *fopt, &registry, follow_metrics.get(), [&watcher_ptr] {
          if (watcher_ptr != nullptr) watcher_ptr->Wake();
        });
    frb::Status opened = follower->Open(IndexNames(*config));
    if (!opened.ok()) {
      std::fprintf(stderr, "faiss-searchd: %s\n", opened.ToString().c_str());
      return 1;
    }
  }
  auto bound = server.Bind(*address);
  if (!bound.ok()) {
    std::fprintf(stderr, "faiss-searchd: %s\n", bound.status().ToString().c_str());
    return 1;
  }
  if (!port_file.empty()) {
    frb::Status st = frb::WriteFileAtomic(env, port_file, std::to_string(*bound) + "\n");
    if (!st.ok()) {
      std::fprintf(stderr, "faiss-searchd: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  spdlog::info("listening on {}:{} ({} indexes configured)", address->UrlHost(), *bound,
               config->indexes.size());

  // Indexes load on the watcher thread, so /healthz answers at once and
  // /readyz says 503 until every index is loaded.
  frb::searchd::LiveWatcher watcher(&registry, std::chrono::milliseconds(poll_ms),
                                     !no_inotify, loader);
  watcher_ptr = &watcher;
  watcher.Start();
  if (follower) follower->Start();
  // systemd (Type=notify): ready once the socket is bound (/readyz covers
  // index loading); WATCHDOG=1 at half of WatchdogSec while the connection
  // loop turns.
  frb::service::Notifier notifier;
  notifier.Ready(StatusLine(registry));
  notifier.StartStatusUpdates([&registry] { return StatusLine(registry); });
  notifier.StartWatchdog([&server](std::string* why) { return server.Alive(why); });
  // SIGHUP: re-read the config file. A config that fails validation is
  // refused whole (the running one keeps serving); a valid one is applied
  // by the registry, and the loader thread loads what it added.
  std::string served_listen = config->search_listen;
  auto reload = [&] {
    notifier.Reloading();
    std::vector<frb::ConfigProblem> problems;
    auto next = frb::LoadConfig(env, config_path, copt, &problems);
    if (!next.ok()) {
      spdlog::error("reload: {} is refused; still serving the previous configuration:",
                    config_path);
      for (const auto& p : problems) spdlog::error("reload:   {}", p.ToString());
      if (problems.empty()) spdlog::error("reload:   {}", next.status().ToString());
      metrics.CountConfigReload("failed");
      notifier.Ready("configuration reload refused; see the log; " + StatusLine(registry));
      return;
    }
    if (next->search_listen != served_listen && !app.count("--listen"))
      spdlog::warn("reload: search_server.listen changed to {}; it takes a restart "
                   "(still listening on {})", next->search_listen, served_listen);
    if (follower) {
      next->data_dir = fopt->cache_dir;
      next->search_report_corruption = false;
      if (frb::Status st = follower->Reconfigure(IndexNames(*next)); !st.ok())
        spdlog::error("reload: {}", st.ToString());
    }
    reporter.SetTarget(frb::searchd::ReporterTargetFrom(*next));
    registry.Reconfigure(*next);
    watcher.Wake();
    metrics.CountConfigReload("ok");
    spdlog::info("reload: {} applied ({} indexes configured)", config_path,
                 next->indexes.size());
    notifier.Ready(StatusLine(registry));
  };
  // Its own thread, so a reload waiting for a long load to finish never
  // holds up a stop signal.
  std::thread reloader([&] {
    while (signals.WaitReload() == frb::service::SignalEvent::kReload) {
      spdlog::info("SIGHUP: reloading {}", config_path);
      reload();
    }
  });
  std::thread signal_waiter([&] {
    signals.WaitStop();
    spdlog::info("{}: stopping", frb::service::Signals::StopCause());
    server.Stop();
  });
  frb::Status run = server.Run();
  if (!run.ok()) {
    spdlog::error("{}", run.ToString());
    signals.RequestStop();  // wakes the waiter
  }
  signal_waiter.join();
  notifier.Stopping("stopping");
  signals.CloseReload();  // the reloader ends after a reload in progress
  reloader.join();
  notifier.StopThreads();
  if (follower && !follower->Stop(std::chrono::seconds(2))) {
    // Pull cannot be interrupted; its partial files resume at the next start.
    spdlog::info("stopping during a download; it resumes at the next start");
    watcher.Stop();
    std::_Exit(run.ok() ? 0 : 1);
  }
  watcher.Stop();
  return run.ok() ? 0 : 1;
}
