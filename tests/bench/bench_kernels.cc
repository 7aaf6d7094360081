// bench_kernels: single-query search and k-means cost of the project's FAISS
// build against Debian's static libfaiss, on the same index file in one run.
//
//   project side  this process: libfaiss found by RUNPATH, the loader taking
//                 glibc-hwcaps/x86-64-v3/libfaiss.so (AVX2) on a CPU with AVX2
//   Debian side   bench_kernels_debian: the same code (kernels_side.h) linked
//                 with Debian's static libfaiss.a alone (baseline x86-64)
//
// This process builds the index (train on the first --train-sample rows, add
// all, write) once; each side then times k-means (train of a fresh index of
// the same factory) and searches that one file, one query at a time, all on
// one thread (thread CPU time and wall), best of --passes over --nq queries drawn from the same
// distribution. Labels of both sides are compared (same index, same queries:
// they should agree but for float ties).
//
//   bench_kernels [--large] [--n 200000] [--d 128] [--factory IVF800,Flat]
//                 [--train-sample N] [--nprobe 16] [--nq 1000] [--k 10]
//                 [--passes 3] [--seed 1] [--dir /tmp/frb-bench-kernels]
//   --large: 1M x 128, IVF4096,Flat, train sample 200000.
//
// Target: project ms per query / Debian ms per query <= 0.35 (thread CPU time). The generated
// data stays in --dir for the next run. Exit 0 means the measurement ran.
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "frb/build_info.h"
#include "frb/env.h"
#include "kernels_side.h"
#include "synth.h"

namespace {

struct Options {
  int64_t n = 200000;
  int d = 128;
  std::string factory = "IVF800,Flat";
  int64_t train_sample = 0;  // 0: all rows
  int nprobe = 16;
  int64_t nq = 1000;
  int k = 10;
  int passes = 3;
  uint64_t seed = 1;
  std::string dir = "/tmp/frb-bench-kernels";
};

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

int Run(const Options& o) {
  ::mkdir(o.dir.c_str(), 0755);
  const std::string stem = o.dir + "/n" + std::to_string(o.n) + "-d" + std::to_string(o.d) +
                           "-s" + std::to_string(o.seed);
  const std::string data = stem + ".f32", queries_path = stem + "-q" + std::to_string(o.nq) + ".f32";
  const std::string index_path = o.dir + "/index.faiss", labels_path = o.dir + "/debian.labels";
  frb::Env* env = frb::Env::Default();
  if (FileSize(data) != o.n * o.d * 4) {
    std::fprintf(stderr, "generating %lld x %d\n", static_cast<long long>(o.n), o.d);
    auto s = frb::synth::WriteRawF32(env, data, o.n, o.d, o.seed);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  }
  // Queries: rows after the dataset's, from the same clusters.
  std::vector<float> queries(static_cast<size_t>(o.nq) * o.d);
  frb::synth::GenerateRows(o.seed, o.d, 64, o.n, o.nq, queries.data());
  if (FILE* f = std::fopen(queries_path.c_str(), "wb")) {
    std::fwrite(queries.data(), sizeof(float), queries.size(), f);
    std::fclose(f);
  }
  auto xb = frb::bench::ReadRawF32(data, o.n, o.d);
  if (xb.empty()) return std::fprintf(stderr, "cannot read %s\n", data.c_str()), 1;
  const int64_t ntrain = o.train_sample > 0 ? std::min(o.train_sample, o.n) : o.n;

  std::fprintf(stderr, "building %s on %lld rows (train %lld)\n", o.factory.c_str(),
               static_cast<long long>(o.n), static_cast<long long>(ntrain));
  {
    std::unique_ptr<faiss::Index> index(faiss::index_factory(o.d, o.factory.c_str()));
    index->train(ntrain, xb.data());
    index->add(o.n, xb.data());
    faiss::write_index(index.get(), index_path.c_str());
  }
  std::fprintf(stderr, "project side\n");
  auto mine = frb::bench::RunSide(xb, ntrain, o.d, o.factory, index_path, queries, o.nq, o.k,
                                  o.nprobe, o.passes);
  xb = {};  // the helper maps its own copy

  std::fprintf(stderr, "Debian side\n");
  const std::string helper = std::string(FRB_BIN_DIR) + "/tests/bench/bench_kernels_debian";
  const std::string cmd = Quote(helper) + " " + Quote(data) + " " + std::to_string(ntrain) + " " +
                          std::to_string(o.d) + " " + Quote(o.factory) + " " + Quote(index_path) +
                          " " + Quote(queries_path) + " " + std::to_string(o.nq) + " " +
                          std::to_string(o.k) + " " + std::to_string(o.nprobe) + " " +
                          std::to_string(o.passes) + " " + Quote(labels_path);
  FILE* p = ::popen(cmd.c_str(), "r");
  char line[512] = {0};
  double deb_train = 0, deb_train_cpu = 0, deb_ms = 0, deb_cpu_ms = 0;
  char deb_compile[128] = {0};
  bool parsed = p != nullptr && std::fgets(line, sizeof(line), p) != nullptr &&
                std::sscanf(line,
                            "train_s=%lf train_cpu_s=%lf search_ms=%lf search_cpu_ms=%lf "
                            "compile=%127[^\n]",
                            &deb_train, &deb_train_cpu, &deb_ms, &deb_cpu_ms, deb_compile) == 5;
  int rc = p != nullptr ? ::pclose(p) : -1;
  if (!parsed || rc != 0) {
    std::fprintf(stderr, "%s failed (exit %d): %s\n", helper.c_str(), rc, line);
    return 1;
  }
  std::vector<faiss::Index::idx_t> deb_labels(mine.labels.size());
  size_t same = 0;
  if (FILE* f = std::fopen(labels_path.c_str(), "rb")) {
    if (std::fread(deb_labels.data(), sizeof(deb_labels[0]), deb_labels.size(), f) ==
        deb_labels.size())
      for (size_t i = 0; i < deb_labels.size(); ++i) same += deb_labels[i] == mine.labels[i];
    std::fclose(f);
  }

  // The ratio of thread CPU time: on a shared machine wall time also counts
  // the time the thread waited for a core; both are printed.
  const double ratio = mine.search_cpu_ms / deb_cpu_ms;
  std::printf("bench_kernels: %lld x %d, %s, nprobe %d, k %d, %lld single queries x %d passes "
              "(best), one thread\n",
              static_cast<long long>(o.n), o.d, o.factory.c_str(), o.nprobe, o.k,
              static_cast<long long>(o.nq), o.passes);
  std::printf("  %-34s %-22s %s\n", "", "project build", "Debian static");
  std::printf("  %-34s %-22s %s\n", "libfaiss compile options", mine.compile.c_str(), deb_compile);
  std::printf("  %-34s %-22s %s\n", "FAISS kernels (FaissKernels())", frb::FaissKernels().c_str(),
              "-");
  std::printf("  %-34s %-22.4f %.4f\n", "search ms per query (CPU)", mine.search_cpu_ms,
              deb_cpu_ms);
  std::printf("  %-34s %-22.4f %.4f\n", "search ms per query (wall)", mine.search_ms, deb_ms);
  std::printf("  %-34s %-22.3f %.3f\n", "k-means train s (CPU)", mine.train_cpu_s, deb_train_cpu);
  std::printf("  %-34s %-22.3f %.3f\n", "k-means train s (wall)", mine.train_s, deb_train);
  std::printf("  same labels: %.2f %% of %zu\n", 100.0 * same / mine.labels.size(),
              mine.labels.size());
  std::printf("  search ratio project/Debian (CPU): %.3f (target <= 0.35: %s); wall %.3f; "
              "k-means ratio (CPU) %.3f\n",
              ratio, ratio <= 0.35 ? "MET" : "MISSED", mine.search_ms / deb_ms,
              mine.train_cpu_s / deb_train_cpu);
  std::remove(labels_path.c_str());
  std::remove(index_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool train_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--large") {
      o.n = 1000000, o.factory = "IVF4096,Flat";
      if (!train_set) o.train_sample = 200000;
    } else if (a == "--n") o.n = std::atoll(next().c_str());
    else if (a == "--d") o.d = std::atoi(next().c_str());
    else if (a == "--factory") o.factory = next();
    else if (a == "--train-sample") o.train_sample = std::atoll(next().c_str()), train_set = true;
    else if (a == "--nprobe") o.nprobe = std::atoi(next().c_str());
    else if (a == "--nq") o.nq = std::atoll(next().c_str());
    else if (a == "--k") o.k = std::atoi(next().c_str());
    else if (a == "--passes") o.passes = std::atoi(next().c_str());
    else if (a == "--seed") o.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--dir") o.dir = next();
    else {
      std::fprintf(stderr, "usage: bench_kernels [--large] [--n N] [--d D] [--factory F] "
                           "[--train-sample N] [--nprobe P] [--nq Q] [--k K] [--passes P] "
                           "[--seed S] [--dir DIR]\n");
      return 2;
    }
  }
  try {
    return Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels: %s\n", e.what());
    return 1;
  }
}
