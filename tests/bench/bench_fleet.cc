// bench_fleet: publish-to-served lag of three faiss-searchd followers on one
// machine, and the repository download throughput against `aws s3 cp`, on a
// real S3-protocol server on loopback (moto_server, else s3rver).
//
//   (A) a version (Flat, --mb MB of vectors) is built with RebuildJob,
//       uploaded and the pointer moved; three followers (--follow-interval)
//       download, verify and swap it. Lag per follower = pointer moved ->
//       /api/v1/indexes names the version; transfer = the follower's own
//       "downloaded and verified (N bytes in X s)" log line. Target: lag <=
//       transfer + 2 s.
//   (B) Repository::Pull of the same version into a fresh dir (SHA-256 and
//       fsync included) vs `aws s3 cp` of its index object, --reps times
//       alternating, medians. Target: >= 1.0x.
//
//   bench_fleet [--mb 500] [--interval 2s] [--reps 3] [--dir /tmp/frb-bench-fleet]
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "mini_http_client.h"
#include "daemon_process.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/json.h"
#include "frb/rebuild.h"
#include "frb/repository.h"
#include "frb/s3.h"
#include "frb/store.h"
#include "s3_server.h"
#include "synth.h"
#include "testutil.h"

namespace {

using Clock = std::chrono::steady_clock;
using frb::Env;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "bench_fleet: %s\n", msg.c_str());
  std::exit(1);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string Served(int port) {
  frb::searchd::testing::MiniHttpClient c(port);
  auto r = c.Get("/api/v1/indexes");
  auto j = frb::Json::Parse(r.body);
  if (r.status != 200 || !j.ok()) return "";
  const frb::Json* list = j->Find("indexes");
  if (list == nullptr || list->size() != 1) return "";
  return list->as_array()[0].GetString("version");
}

// Seconds of the follower's download of `version`, from its log.
double TransferSeconds(const std::string& log, const std::string& version) {
  std::regex re("version " + version + " downloaded and verified \\(([0-9]+) bytes in ([0-9.]+)s");
  std::smatch m;
  if (!std::regex_search(log, m, re)) return -1;
  return std::stod(m[2]);
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Unix time (s) of the first log line matching `what` (after the line's
// "YYYY-MM-DDTHH:MM:SS.mmmZ" stamp), or -1.
double LogTime(const std::string& log, const std::string& what) {
  std::regex re("(\\d{4})-(\\d\\d)-(\\d\\d)T(\\d\\d):(\\d\\d):(\\d\\d)\\.(\\d{3})Z [a-z]+ [^\\n]*" +
                what);
  std::smatch m;
  if (!std::regex_search(log, m, re)) return -1;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  return static_cast<double>(timegm(&tm)) + std::stoi(m[7]) / 1000.0;
}

// The follower's own figures of the load of `version` ("loaded in X s:
// checksum Y s (how), read Z s, warm-up W s"), or "?".
std::string LoadBreakdown(const std::string& log, const std::string& version) {
  std::regex re("serving version " + version + " [^\\n]*loaded in ([0-9.]+)s: checksum ([0-9.]+)s "
                "\\(([^)]*)\\), read ([0-9.]+)s, warm-up ([0-9.]+)s");
  std::smatch m;
  if (!std::regex_search(log, m, re)) return "?";
  return "load " + m[1].str() + " s = checksum " + m[2].str() + " s (" + m[3].str() + ") + read " +
         m[4].str() + " s + warm-up " + m[5].str() + " s";
}

}  // namespace

int main(int argc, char** argv) {
  int mb = 500, reps = 3;
  std::string interval = "2s", dir = "/tmp/frb-bench-fleet";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--mb") mb = std::atoi(argv[i + 1]);
    else if (a == "--interval") interval = argv[i + 1];
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
    else Die("unknown option " + a);
  }
  Env* env = Env::Default();
  (void)env->RemoveAll(dir);
  if (!env->CreateDirs(dir).ok()) Die("cannot create " + dir);
  std::string why;
  auto server = frb::test::S3TestServer::Start(&why);
  if (!server) Die("no S3 test server: " + why);
  std::printf("server: %s on %s\n", server->kind().c_str(), server->endpoint().c_str());
  auto client = frb::S3Client::Create(server->ClientOptions(), env);
  if (!client.ok()) Die(client.status().ToString());
  // The followers' client settings (default part size and parallelism).
  frb::S3Options plain = server->ClientOptions();
  plain.part_size = frb::S3Options().part_size;
  auto pull_client = frb::S3Client::Create(plain, env);
  if (!pull_client.ok()) Die(pull_client.status().ToString());
  auto loc = frb::ParseS3Url("s3://" + server->bucket() + "/bench");
  frb::Repository repo(client->get(), *loc, env);
  frb::Repository pull_repo(pull_client->get(), *loc, env);

  const int dim = 128;
  const int64_t n = static_cast<int64_t>(mb) * 1000000 / (dim * 4);
  const std::string source = dir + "/vecs.npy";
  const std::string indexes =
      "indexes:\n  - name: big\n    source: { path: " + source +
      ", format: npy }\n    dimension: 128\n    metric: L2\n    factory: Flat\n"
      "    keep_versions: 3\n    validation: { queries: 20, latency_queries: 5, "
      "min_recall: 0.5, max_p99_ms: 100000, max_size_change: 10, max_count_change: 10 }\n";
  frb::test::WriteText(dir + "/builder.yaml", "data_dir: " + dir + "/builder\n" + indexes);
  frb::ConfigOptions co;
  co.check_sources = false;
  auto cfg = frb::LoadConfig(env, dir + "/builder.yaml", co);
  if (!cfg.ok()) Die(cfg.status().ToString());
  std::optional<frb::RepoPointer> pointer;
  auto publish_build = [&](uint64_t seed) {
    if (!frb::synth::WriteNpy(env, source, n, dim, seed).ok()) Die("cannot write the source");
    frb::JobControl control;
    frb::RebuildJob job(env, *cfg, cfg->indexes[0], frb::test::Forced());
    auto t0 = Clock::now();
    frb::JobOutcome out = job.Run(control);
    if (!out.status.ok()) Die(out.status.ToString());
    std::printf("built %s in %.1f s\n", out.version_id.c_str(), Since(t0));
    const std::string vdir =
        frb::VersionStore(env, cfg->data_dir, "big").VersionDir(out.version_id);
    t0 = Clock::now();
    auto up = repo.UploadVersion("big", out.version_id, vdir,
                                 pointer ? std::optional<std::string>(pointer->live)
                                         : std::nullopt);
    if (!up.ok()) Die(up.status().ToString());
    std::printf("uploaded %s in %.1f s\n", out.version_id.c_str(), Since(t0));
    return out.version_id;
  };
  auto move = [&](const std::string& v) {
    auto cur = repo.ReadPointer("big");
    if (!cur.ok()) Die(cur.status().ToString());
    auto moved = repo.MovePointer("big", v, *cur, "bench");
    if (!moved.ok()) Die(moved.status().ToString());
    pointer = *moved;
  };

  const std::string v1 = publish_build(1);
  move(v1);
  const uint64_t bytes = [&] {
    auto st = env->Stat(frb::VersionStore(env, cfg->data_dir, "big").VersionIndexPath(v1));
    return st.ok() ? st->size : 0;
  }();

  // (A) three followers.
  std::vector<std::unique_ptr<frb::test::ChildProcess>> fs;
  std::vector<int> ports;
  for (int i = 0; i < 3; ++i) {
    const std::string name = dir + "/f" + std::to_string(i);
    frb::test::WriteText(name + ".yaml", "data_dir: " + name + "-unused\n" + indexes);
    frb::test::ChildOptions o;
    o.env = server->ChildEnv();
    o.env.push_back("AWS_ENDPOINT_URL=" + server->endpoint());
    o.capture_stdout = false;
    o.term_grace_ms = 5000;
    fs.push_back(std::make_unique<frb::test::ChildProcess>(
        std::vector<std::string>{frb::test::BinPath("daemon/searchd/faiss-searchd"), "--config",
                                 name + ".yaml", "--listen", "127.0.0.1:0", "--follow",
                                 "s3://" + server->bucket() + "/bench", "--cache-dir",
                                 name + "-cache", "--follow-interval", interval,
                                 "--memory-limit-bytes", "0"},
        name + ".log", o));
    ports.push_back(fs.back()->WaitForPort());
    if (ports.back() == 0) Die("follower did not start: " + fs.back()->Log());
  }
  auto wait_all = [&](const std::string& v, Clock::time_point t0) {
    std::vector<double> lag(3, -1);
    while (Since(t0) < 600) {
      bool all = true;
      for (int i = 0; i < 3; ++i) {
        if (lag[i] < 0 && Served(ports[i]) == v) lag[i] = Since(t0);
        all = all && lag[i] >= 0;
      }
      if (all) return lag;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Die("followers did not converge on " + v);
  };
  auto t_first = Clock::now();
  auto first = wait_all(v1, t_first);
  std::printf("initial load (start -> served) at 3 followers: %.2f %.2f %.2f s\n", first[0],
              first[1], first[2]);

  const std::string v2 = publish_build(2);
  const auto t0 = Clock::now();
  const double wall0 = WallSeconds();
  move(v2);
  auto lag = wait_all(v2, t0);
  std::printf("\n(A) publish-to-served, %.0f MB index, 3 followers, --follow-interval %s\n",
              bytes / 1e6, interval.c_str());
  std::printf("%-10s %10s %12s %12s %10s\n", "follower", "lag_s", "transfer_s", "lag-transfer",
              "MB/s");
  for (int i = 0; i < 3; ++i) {
    const double tr = TransferSeconds(fs[i]->Log(), v2);
    std::printf("%-10d %10.2f %12.2f %12.2f %10.1f   ratio lag/transfer %.2f\n", i, lag[i], tr,
                lag[i] - tr, tr > 0 ? bytes / tr / 1e6 : 0.0, tr > 0 ? lag[i] / tr : 0.0);
  }
  // Where the lag went, from each follower's log (timestamps in ms, UTC):
  // pointer moved -> seen at a poll -> download started -> downloaded and
  // verified -> installed in the cache -> served (the load's own breakdown).
  std::printf("\ncomponents (s after the pointer moved): seen, download start, downloaded+verified, "
              "installed, served\n");
  for (int i = 0; i < 3; ++i) {
    const std::string log = fs[i]->Log();
    auto at = [&](const std::string& what) {
      const double t = LogTime(log, what);
      return t < 0 ? -1.0 : t - wall0;
    };
    std::printf("follower %d: %.3f %.3f %.3f %.3f %.3f; %s\n", i,
                at("repository pointer names " + v2), at("downloading version " + v2),
                at("version " + v2 + " downloaded and verified"),
                at("version " + v2 + " installed"), at("serving version " + v2),
                LoadBreakdown(log, v2).c_str());
  }
  fs.clear();  // stop the followers before the throughput runs

  // (B) download throughput: Repository::Pull vs aws s3 cp.
  const std::string aws = frb::test::FindAwsCli();
  auto manifest = repo.ReadVersion("big", v2);
  if (!manifest.ok()) Die(manifest.status().ToString());
  std::string index_key;
  for (const auto& f : manifest->files)
    if (f.name == "index.faiss") index_key = repo.ObjectKey("big", f.sha256);
  std::string envs;
  for (const auto& kv : server->ChildEnv()) envs += kv + " ";
  std::vector<double> ours, theirs;
  for (int r = 0; r < reps; ++r) {
    const std::string out = dir + "/pull" + std::to_string(r);
    (void)env->RemoveAll(out);
    auto t = Clock::now();
    frb::Status st = pull_repo.Pull("big", v2, out);
    if (!st.ok()) Die(st.ToString());
    ours.push_back(Since(t));
    (void)env->RemoveAll(out);
    if (!aws.empty()) {
      const std::string cmd = envs + aws + " --endpoint-url " + server->endpoint() +
                              " s3 cp --quiet s3://" + server->bucket() + "/" + index_key + " " +
                              dir + "/aws.out";
      t = Clock::now();
      if (std::system(cmd.c_str()) != 0) Die("failed: " + cmd);
      theirs.push_back(Since(t));
      (void)env->RemoveFile(dir + "/aws.out");
    }
  }
  std::printf("\n(B) download of %.0f MB, medians of %d\n", bytes / 1e6, reps);
  std::printf("Repository::Pull (ranged GETs, SHA-256, fsync): %.2f s, %.1f MB/s\n", Median(ours),
              bytes / Median(ours) / 1e6);
  if (!theirs.empty()) {
    std::printf("aws s3 cp:                                      %.2f s, %.1f MB/s\n",
                Median(theirs), bytes / Median(theirs) / 1e6);
    std::printf("ratio (ours / aws throughput): %.2fx\n", Median(theirs) / Median(ours));
  } else {
    std::printf("aws s3 cp: not installed, no comparison\n");
  }
  (void)env->RemoveAll(dir);
  return 0;
}
