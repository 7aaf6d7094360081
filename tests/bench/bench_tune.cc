// bench_tune: what tuning (`search: { nprobe: auto }`) adds to the
// validation stage. One index is built once with the core's Builder; then
// the core's Validator runs on it alternately without tuning (nprobe fixed
// at --nprobe) and with tuning (nprobe auto, tune.target_recall --target),
// --reps times each, and the medians of the stage's wall time are reported
// with the chosen nprobe and the measured curve.
//
// Target: validation with tuning <= 1.2 x validation without.
//
//   bench_tune [--n 1000000] [--d 128] [--factory IVF4096,Flat]
//              [--nprobe 16] [--target 0.95] [--max 1024] [--queries 1000]
//              [--threads 0] [--reps 3] [--dir /tmp/frb-bench-tune] [--keep]
//
// The source .npy is cached in --dir and reused when its size matches.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "frb/builder.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/job_control.h"
#include "frb/source.h"
#include "frb/validator.h"
#include "synth.h"

namespace {

using frb::Env;

struct Options {
  int64_t n = 1000000;
  int d = 128;
  std::string factory = "IVF4096,Flat";
  int nprobe = 16;
  double target = 0.95;
  int max = 1024;
  int queries = 1000;
  int threads = 0;
  int reps = 3;
  std::string dir = "/tmp/frb-bench-tune";
  bool keep = false;
};

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "bench_tune: %s\n", why.c_str());
  std::exit(1);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--n") o.n = std::atoll(next().c_str());
    else if (a == "--d") o.d = std::atoi(next().c_str());
    else if (a == "--factory") o.factory = next();
    else if (a == "--nprobe") o.nprobe = std::atoi(next().c_str());
    else if (a == "--target") o.target = std::atof(next().c_str());
    else if (a == "--max") o.max = std::atoi(next().c_str());
    else if (a == "--queries") o.queries = std::atoi(next().c_str());
    else if (a == "--threads") o.threads = std::atoi(next().c_str());
    else if (a == "--reps") o.reps = std::atoi(next().c_str());
    else if (a == "--dir") o.dir = next();
    else if (a == "--keep") o.keep = true;
    else Die("unknown argument " + a);
  }
  return o;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double LoadAverage() {
  double l = 0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = 0;
    std::fclose(f);
  }
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  Env* env = Env::Default();
  ::mkdir(o.dir.c_str(), 0755);
  const std::string npy = o.dir + "/vecs.npy";
  const uint64_t want_size = frb::synth::NpyHeader(o.n, o.d).size() + uint64_t(o.n) * o.d * 4;
  auto info = env->Stat(npy);
  if (!info.ok() || info->size != want_size) {
    std::printf("generating %lld x %d ...\n", static_cast<long long>(o.n), o.d);
    if (auto s = frb::synth::WriteNpy(env, npy, o.n, o.d, 1); !s.ok()) Die(s.ToString());
  }

  frb::IndexConfig fixed;
  fixed.name = "bench";
  fixed.source_path = npy;
  fixed.dimension = o.d;
  fixed.factory = o.factory;
  fixed.threads = o.threads;
  fixed.search = {{"nprobe", o.nprobe}};
  fixed.validation.queries = o.queries;
  fixed.validation.min_recall = 0;
  fixed.validation.max_p99_ms = 1e9;
  frb::IndexConfig tuned = fixed;
  tuned.search.clear();
  tuned.tune.param = "nprobe";
  tuned.tune.target_recall = o.target;
  tuned.tune.max = o.max;

  auto source = frb::VectorSource::Open(env, npy, frb::SourceFormat::kNpy, o.d);
  if (!source.ok()) Die(source.status().ToString());
  const std::string index_path = o.dir + "/index.faiss";
  std::printf("building %s over %lld x %d (load %.1f) ...\n", o.factory.c_str(),
              static_cast<long long>(o.n), o.d, LoadAverage());
  frb::JobControl build_control;
  auto t0 = std::chrono::steady_clock::now();
  auto built = frb::Builder(env).Build(fixed, **source, index_path, build_control);
  if (!built.ok()) Die(built.status().ToString());
  std::printf("built in %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  std::vector<double> without, with, tune_only;
  std::vector<double> loads;
  frb::ValidationReport last_fixed, last_tuned;
  for (int rep = 0; rep < o.reps; ++rep) {
    for (bool tune : {false, true}) {
      frb::JobControl control;
      loads.push_back(LoadAverage());
      auto s = std::chrono::steady_clock::now();
      auto r = frb::Validator(env).Validate(tune ? tuned : fixed, **source, index_path,
                                            built->file, std::nullopt, control);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count();
      if (!r.ok()) Die(r.status().ToString());
      (tune ? with : without).push_back(secs);
      if (tune) {
        tune_only.push_back(r->tune ? r->tune->seconds : 0);
        last_tuned = *r;
      } else {
        last_fixed = *r;
      }
      std::printf("rep %d %-8s validation %.2f s%s\n", rep + 1, tune ? "tuned" : "fixed", secs,
                  tune && r->tune ? (", of which tuning " + std::to_string(r->tune->seconds) +
                                     " s").c_str()
                                  : "");
      std::fflush(stdout);
    }
  }
  std::printf("\nfixed nprobe %d: recall@%d %.4f (95%% CI %.4f-%.4f), p99 %.3f ms\n", o.nprobe,
              last_fixed.k, last_fixed.recall, last_fixed.recall_ci_low,
              last_fixed.recall_ci_high, last_fixed.p99_ms);
  if (last_tuned.tune) {
    const frb::TuneReport& t = *last_tuned.tune;
    std::printf("tuned (target %.3f, %s): ", t.target_recall,
                t.use_lower_bound ? "lower bound" : "estimate");
    if (t.chosen) std::printf("nprobe %.0f\n", *t.chosen);
    else std::printf("no nprobe up to %d meets it\n", o.max);
    std::printf("  %8s %8s %8s %8s %9s\n", "nprobe", "recall", "ci_low", "p50_ms", "p99_ms");
    for (const auto& p : t.curve)
      std::printf("  %8.0f %8.4f %8.4f %8.3f %9.3f\n", p.value, p.recall, p.ci_low, p.p50_ms,
                  p.p99_ms);
  }
  double a = Median(without), b = Median(with);
  std::printf("\nvalidation median: fixed %.2f s, tuned %.2f s (tuning itself %.2f s): "
              "+%.1f %% (target <= 20 %%); load average during the runs %.1f-%.1f on %d cores\n",
              a, b, Median(tune_only), 100 * (b - a) / a,
              *std::min_element(loads.begin(), loads.end()),
              *std::max_element(loads.begin(), loads.end()),
              static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  if (!o.keep) std::remove(index_path.c_str());
  return 0;
}
