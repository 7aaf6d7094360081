// bench_rebuild: the cost of the full faiss-rebuild cycle against the plain
// FAISS script a user would otherwise write, measured side by side in one run.
//
//   (A) raw FAISS: mmap the .npy, index_factory, train on a uniform random
//       sample of train_sample rows, add every row in batches straight from
//       the map, faiss::write_index(index, path). Timed: train + add + write.
//   (B) the real CLI: `faiss-rebuild --config CFG rebuild NAME --local --json`
//       (fingerprint, build, fsync, validation with exact ground truth,
//       publish). Timed: the whole child process.
//
// Both run as freshly exec'd children (posix_spawn, so no copy of this
// process's memory is inherited) with the same OMP_NUM_THREADS (the rest of
// the environment, e.g. OMP_WAIT_POLICY, is inherited by both); wall time is
// taken around spawn..wait4, peak RSS is ru_maxrss and CPU time ru_utime +
// ru_stime from wait4. While a child runs, /proc/PID/status and stat are
// sampled every 20 ms for RSS (anon/file) and CPU per phase; B's phases are
// placed from the stage_seconds and finished_unix_ms of its --json output.
// With --reps N they alternate A,B,A,B,... and medians are reported.
//
// By default each B publishes into an empty data_dir (a first build: no
// drift guards, no backup of an outgoing version); --with-live runs an
// untimed warm-up build first so every timed B replaces a live version.
//
// Targets: B wall / A train+add+write <= 1.15;
//                B peak RSS / (index file size + training sample) <= 1.3.
//
//   bench_rebuild [--n 1000000] [--d 128] [--factory IVF4096,Flat]
//                 [--train-sample 200000] [--threads all] [--reps 1]
//                 [--add-batch 65536] [--seed 1] [--dir /tmp/frb-bench-rebuild]
//                 [--keep] [--drop-data] [--with-live]
//
// The generated .npy is cached in --dir and reused when its header matches;
// --drop-data deletes it at the end. Everything else in --dir (indexes,
// data_dir, config) is deleted unless --keep. Exit status 0 means the
// measurement ran; whether a target was met is in the output.
#include <dlfcn.h>
#include <faiss/Index.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <omp.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "frb/env.h"
#include "frb/job_control.h"
#include "frb/json.h"
#include "frb/source.h"
#include "frb/store.h"
#include "ivf_health.h"
#include "synth.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "bench_rebuild: %s\n", msg.c_str());
  std::exit(1);
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string LoadAvg() {
  std::string s = ReadSmallFile("/proc/loadavg");
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t c = line.find(':');
      if (c != std::string::npos) return line.substr(c + 2);
    }
  }
  return "unknown";
}

// The BLAS FAISS was linked against, as OpenBLAS reports itself.
std::string BlasConfig() {
  using Fn = char* (*)();
  auto get = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  std::string s = get != nullptr ? std::string(get()) : "not OpenBLAS (openblas_get_config missing)";
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string Mib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

// ---------------------------------------------------------------------------
// (A) the plain FAISS script, run in a child: `bench_rebuild --child-raw ...`.
// Prints one JSON line with its own timings on stdout.

struct Npy {
  const uint8_t* base = nullptr;
  size_t size = 0;
  const float* data = nullptr;
  int64_t n = 0;
  int d = 0;
};

// Minimal .npy reader, as a script would do with np.load(mmap_mode="r").
Npy MapNpy(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die(path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) Die(path + ": " + std::strerror(errno));
  Npy npy;
  npy.size = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, npy.size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) Die(path + ": mmap: " + std::strerror(errno));
  npy.base = static_cast<const uint8_t*>(p);
  if (npy.size < 10 || std::memcmp(npy.base, "\x93NUMPY", 6) != 0) Die(path + ": not .npy");
  size_t hlen, off;
  if (npy.base[6] == 1) {
    hlen = npy.base[8] | (npy.base[9] << 8);
    off = 10;
  } else {
    hlen = npy.base[8] | (npy.base[9] << 8) | (npy.base[10] << 16) |
           (static_cast<size_t>(npy.base[11]) << 24);
    off = 12;
  }
  std::string header(reinterpret_cast<const char*>(npy.base + off), hlen);
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    Die(path + ": expected little-endian float32 C order");
  size_t s = header.find("'shape': (");
  if (s == std::string::npos) Die(path + ": no shape");
  long long n = 0, d = 0;
  if (std::sscanf(header.c_str() + s, "'shape': (%lld, %lld)", &n, &d) != 2) Die(path + ": bad shape");
  npy.n = n;
  npy.d = static_cast<int>(d);
  npy.data = reinterpret_cast<const float*>(npy.base + off + hlen);
  if (off + hlen + static_cast<size_t>(n) * d * 4 > npy.size) Die(path + ": truncated");
  return npy;
}

int ChildRaw(int argc, char** argv) {
  // --child-raw NPY OUT FACTORY TRAIN_SAMPLE THREADS ADD_BATCH SEED
  if (argc != 9) Die("--child-raw: wrong arguments");
  std::string npy_path = argv[2], out = argv[3], factory = argv[4];
  int64_t train_sample = std::atoll(argv[5]);
  int threads = std::atoi(argv[6]);
  int64_t add_batch = std::atoll(argv[7]);
  uint64_t seed = std::strtoull(argv[8], nullptr, 10);
  if (threads > 0) omp_set_num_threads(threads);

  Npy x = MapNpy(npy_path);
  auto t0 = Clock::now();
  int64_t t0_ms = UnixMs();

  // Uniform sample without replacement (partial Fisher-Yates, what
  // numpy's choice(n, size, replace=False) amounts to), rows copied out.
  int64_t ts = std::min(train_sample, x.n);
  std::vector<int64_t> perm(static_cast<size_t>(x.n));
  for (int64_t i = 0; i < x.n; ++i) perm[i] = i;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < ts; ++i) {
    int64_t j = std::uniform_int_distribution<int64_t>(i, x.n - 1)(rng);
    std::swap(perm[i], perm[j]);
  }
  std::vector<float> train(static_cast<size_t>(ts) * x.d);
  for (int64_t i = 0; i < ts; ++i)
    std::memcpy(train.data() + i * x.d, x.data + perm[i] * x.d, sizeof(float) * x.d);
  std::vector<int64_t>().swap(perm);

  std::unique_ptr<faiss::Index> index(faiss::index_factory(x.d, factory.c_str(), faiss::METRIC_L2));
  index->train(ts, train.data());
  std::vector<float>().swap(train);
  double train_s = Since(t0);
  int64_t train_end_ms = UnixMs();

  auto t1 = Clock::now();
  for (int64_t b = 0; b < x.n; b += add_batch) {
    int64_t n = std::min(add_batch, x.n - b);
    index->add(n, x.data + b * x.d);
  }
  double add_s = Since(t1);
  int64_t add_end_ms = UnixMs();

  auto t2 = Clock::now();
  faiss::write_index(index.get(), out.c_str());
  double write_s = Since(t2);
  double total_s = Since(t0);
  int64_t write_end_ms = UnixMs();

  // Untimed (after A's clock stopped): what validation's IVF health costs on
  // this index, the same function on the same kind of in-memory lists.
  auto th = Clock::now();
  std::optional<frb::IvfHealth> health = frb::MeasureIvfHealth(*index);
  double health_s = Since(th);

  std::printf("{\"health_s\": %.9f, \"imbalance_factor\": %.6f, \"empty_lists\": %" PRId64 ", "
              "\"train_s\": %.6f, \"add_s\": %.6f, \"write_s\": %.6f, \"total_s\": %.6f, "
              "\"ntotal\": %" PRId64 ", \"threads\": %d, \"t0_ms\": %" PRId64
              ", \"train_end_ms\": %" PRId64 ", \"add_end_ms\": %" PRId64
              ", \"write_end_ms\": %" PRId64 "}\n",
              health_s, health ? health->imbalance_factor : 0.0,
              health ? health->empty_lists : int64_t{-1}, train_s, add_s, write_s, total_s,
              static_cast<int64_t>(index->ntotal),
              omp_get_max_threads(), t0_ms, train_end_ms, add_end_ms, write_end_ms);
  return 0;
}

// ---------------------------------------------------------------------------
// Child processes.

// One /proc/PID/status reading of the child.
struct RssSample {
  int64_t unix_ms = 0;
  long rss_kb = 0, anon_kb = 0, file_kb = 0;
  double cpu_s = 0;  // user + system so far, from /proc/PID/stat
};

struct ChildRun {
  int wait_status = 0;
  double wall_s = 0;
  long maxrss_kb = 0;
  double cpu_s = 0;  // user + system
  std::string out;
  std::vector<RssSample> samples;  // every kSampleMs while it ran
  bool ok() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }
};

constexpr int kSampleMs = 20;

bool SampleRss(pid_t pid, RssSample* s) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  auto field = [&](const char* key) -> long {
    const char* p = std::strstr(buf, key);
    return p != nullptr ? std::atol(p + std::strlen(key)) : -1;
  };
  s->unix_ms = UnixMs();
  s->rss_kb = field("VmRSS:");
  s->anon_kb = field("RssAnon:");
  s->file_kb = field("RssFile:");
  // utime and stime are fields 14 and 15, counted from after "(comm)".
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    if (n > 0) {
      buf[n] = 0;
      const char* p = std::strrchr(buf, ')');
      // Fields after ")": state is 0, utime 11, stime 12.
      unsigned long long ticks = 0;
      for (int field_no = 0; p != nullptr && field_no <= 12; ++field_no) {
        p = std::strchr(p, ' ');
        if (p == nullptr) break;
        ++p;
        if (field_no >= 11) ticks += std::strtoull(p, nullptr, 10);
      }
      s->cpu_s = static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  }
  return s->rss_kb >= 0;
}

ChildRun Spawn(const std::vector<std::string>& args, const std::string& stderr_path,
               int threads) {
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0) env_store.emplace_back(*e);
  env_store.push_back("OMP_NUM_THREADS=" + std::to_string(threads));
  std::vector<char*> envp, argv;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args_copy = args;
  for (auto& s : args_copy) argv.push_back(s.data());
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) Die(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);

  ChildRun r;
  pid_t pid;
  auto t0 = Clock::now();
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) Die("spawn " + args[0] + ": " + std::strerror(rc));
  // Read its stdout until EOF, sampling its RSS in between.
  char buf[4096];
  for (;;) {
    struct pollfd p = {fds[0], POLLIN, 0};
    int ready = ::poll(&p, 1, kSampleMs);
    if (ready == 0) {
      RssSample sample;
      if (SampleRss(pid, &sample)) r.samples.push_back(sample);
      continue;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    ssize_t got = ::read(fds[0], buf, sizeof(buf));
    if (got > 0) r.out.append(buf, static_cast<size_t>(got));
    else if (got == 0 || errno != EINTR) break;
  }
  ::close(fds[0]);
  struct rusage ru;
  while (::wait4(pid, &r.wait_status, 0, &ru) < 0) {
    if (errno != EINTR) Die(std::string("wait4: ") + std::strerror(errno));
  }
  r.wall_s = Since(t0);
  r.maxrss_kb = ru.ru_maxrss;
  r.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return r;
}

void ReportChildFailure(const char* what, const ChildRun& r, const std::string& stderr_path) {
  std::fprintf(stderr, "bench_rebuild: %s failed (wait status %d)\nstdout:\n%s\nstderr (%s):\n%s\n",
               what, r.wait_status, r.out.c_str(), stderr_path.c_str(),
               ReadSmallFile(stderr_path).c_str());
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) Die(path + ": " + std::strerror(errno));
  return static_cast<uint64_t>(st.st_size);
}

// Peak sampled RSS within each phase [start_ms, end_ms); samples before the
// first phase count as "startup", after the last as "exit".
struct Phase {
  std::string name;
  int64_t start_ms = 0, end_ms = 0;
};
struct PhasePeak {
  std::string name;
  double seconds = 0;
  RssSample peak;  // rss_kb = -1 when no sample fell in the phase
  double cpu_s = 0;  // CPU used in the phase, between the samples around it
};

std::vector<PhasePeak> PeaksByPhase(const std::vector<RssSample>& samples,
                                    const std::vector<Phase>& phases) {
  std::vector<PhasePeak> out;
  out.push_back({"startup", 0, {0, -1, -1, -1, 0}, 0});
  for (const auto& p : phases)
    out.push_back({p.name, (p.end_ms - p.start_ms) / 1000.0, {0, -1, -1, -1, 0}, 0});
  out.push_back({"exit", 0, {0, -1, -1, -1, 0}, 0});
  // CPU counter at the last sample before `ms` (0 before the first).
  auto cpu_before = [&](int64_t ms) {
    double c = 0;
    for (const auto& s : samples)
      if (s.unix_ms < ms) c = s.cpu_s;
    return c;
  };
  for (size_t i = 0; i < phases.size(); ++i)
    out[i + 1].cpu_s = cpu_before(phases[i].end_ms) - cpu_before(phases[i].start_ms);
  for (const auto& s : samples) {
    size_t slot = out.size() - 1;
    if (phases.empty() || s.unix_ms < phases.front().start_ms) {
      slot = 0;
    } else {
      for (size_t i = 0; i < phases.size(); ++i)
        if (s.unix_ms < phases[i].end_ms) {
          slot = i + 1;
          break;
        }
    }
    if (s.rss_kb > out[slot].peak.rss_kb) out[slot].peak = s;
  }
  return out;
}

void PrintPhasePeaks(const char* who, const std::vector<PhasePeak>& peaks) {
  std::printf("%s\n", who);
  std::printf("  %-18s %9s %9s %12s %12s %12s\n", "phase", "wall s", "CPU s", "peak RSS", "anon",
              "file");
  for (const auto& p : peaks) {
    bool timed = p.name != "startup" && p.name != "exit";
    char wall[32] = "", cpu[32] = "";
    if (timed) {
      std::snprintf(wall, sizeof(wall), "%.2f", p.seconds);
      std::snprintf(cpu, sizeof(cpu), "%.2f", p.cpu_s);
    }
    if (p.peak.rss_kb < 0) {
      std::printf("  %-18s %9s %9s %12s\n", p.name.c_str(), wall, cpu, "(no sample)");
      continue;
    }
    std::printf("  %-18s %9s %9s %12s %12s %12s\n", p.name.c_str(), wall, cpu,
                Mib(p.peak.rss_kb * 1024.0).c_str(), Mib(p.peak.anon_kb * 1024.0).c_str(),
                Mib(p.peak.file_kb * 1024.0).c_str());
  }
}

// ---------------------------------------------------------------------------

struct Options {
  int64_t n = 1000000;
  int d = 128;
  std::string factory = "IVF4096,Flat";
  int64_t train_sample = 200000;
  int threads = 0;
  int reps = 1;
  int64_t add_batch = 65536;
  uint64_t seed = 1;
  std::string dir = "/tmp/frb-bench-rebuild";
  bool keep = false;
  bool drop_data = false;
  bool with_live = false;
};

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
    else if (a == "--train-sample") o.train_sample = std::atoll(next().c_str());
    else if (a == "--threads") o.threads = std::atoi(next().c_str());
    else if (a == "--reps") o.reps = std::atoi(next().c_str());
    else if (a == "--add-batch") o.add_batch = std::atoll(next().c_str());
    else if (a == "--seed") o.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--dir") o.dir = next();
    else if (a == "--keep") o.keep = true;
    else if (a == "--drop-data") o.drop_data = true;
    else if (a == "--with-live") o.with_live = true;
    else if (a == "--help" || a == "-h") {
      std::printf("usage: bench_rebuild [--n N] [--d D] [--factory F] [--train-sample T]\n"
                  "                     [--threads P] [--reps R] [--add-batch B] [--seed S]\n"
                  "                     [--dir DIR] [--keep] [--drop-data] [--with-live]\n"
                  "--with-live: an untimed warm-up rebuild first, so every timed cycle\n"
                  "replaces a live version (drift guards, backup of the outgoing version,\n"
                  "pruning) instead of publishing into an empty data_dir.\n");
      std::exit(0);
    } else {
      Die("unknown argument " + a + " (try --help)");
    }
  }
  if (o.n <= 0 || o.d <= 0 || o.train_sample <= 0 || o.reps <= 0 || o.add_batch <= 0)
    Die("--n, --d, --train-sample, --reps and --add-batch must be positive");
  if (o.threads <= 0) o.threads = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  return o;
}

void Check(const frb::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

// Reuses `path` when it is a .npy of exactly n x d float32; else writes it.
void EnsureData(const Options& o, const std::string& path) {
  frb::Env* env = frb::Env::Default();
  uint64_t want = frb::synth::NpyHeader(o.n, o.d).size() + static_cast<uint64_t>(o.n) * o.d * 4;
  if (env->Exists(path)) {
    auto src = frb::VectorSource::Open(env, path, frb::SourceFormat::kNpy, o.d);
    auto info = env->Stat(path);
    if (src.ok() && info.ok() && (*src)->count() == o.n && (*src)->dim() == o.d &&
        info->size == want) {
      std::printf("data:     %s (reused, %s)\n", path.c_str(), Mib(static_cast<double>(want)).c_str());
      return;
    }
  }
  auto t0 = Clock::now();
  std::string tmp = path + ".tmp";
  Check(frb::synth::WriteNpy(env, tmp, o.n, o.d, o.seed), "generating " + tmp);
  Check(env->Rename(tmp, path), "rename " + tmp);
  std::printf("data:     %s (generated in %.1f s, not part of any timing)\n", path.c_str(), Since(t0));
}

std::string WriteConfig(const Options& o, const std::string& path, const std::string& data_dir,
                        const std::string& npy) {
  std::string yaml =
      "# Written by bench_rebuild.\n"
      "data_dir: " + data_dir + "\n"
      "indexes:\n"
      "  - name: bench\n"
      "    source: { path: \"" + npy + "\", format: npy }\n"
      "    dimension: " + std::to_string(o.d) + "\n"
      "    metric: L2\n"
      "    factory: \"" + o.factory + "\"\n"
      "    train_sample: " + std::to_string(o.train_sample) + "\n"
      "    add_batch: " + std::to_string(o.add_batch) + "\n"
      "    threads: " + std::to_string(o.threads) + "\n"
      "    keep_versions: 2\n"
      "    timeout: \"1d\"\n"
      "    search: { nprobe: 16 }\n"
      "    validation:\n"
      "      k: 10\n"
      "      queries: 1000\n"
      "      min_recall: 0\n"
      "      max_p99_ms: 1000000\n";
  Check(frb::WriteFileAtomic(frb::Env::Default(), path, yaml), "writing " + path);
  return path;
}

struct RawRep {
  double wall_s = 0, train_s = 0, add_s = 0, write_s = 0, total_s = 0, fsync_s = 0, cpu_s = 0;
  long maxrss_kb = 0;
  uint64_t file_size = 0;
  int threads = 0;
  double health_s = 0, imbalance = 0;  // IVF health, measured untimed after the write
  int64_t empty_lists = -1;            // -1: not an IVF index
  std::vector<PhasePeak> phases;
};

struct CycleRep {
  double wall_s = 0, cpu_s = 0;
  long maxrss_kb = 0;
  std::map<std::string, double> stages;
  double recall = 0, recall_lo = 0, recall_hi = 0, p99_ms = 0;
  double imbalance = 0;  // validation's IVF imbalance factor (0: none reported)
  int64_t empty_lists = -1;
  int queries = 0;
  uint64_t file_size = 0;
  std::string version;
  std::vector<PhasePeak> phases;
};

RawRep RunRaw(const Options& o, const std::string& self, const std::string& npy,
              const std::string& run_dir, int rep) {
  std::string out = frb::JoinPath(run_dir, "raw-" + std::to_string(rep) + ".faiss");
  std::string err = frb::JoinPath(run_dir, "raw-" + std::to_string(rep) + ".stderr");
  ChildRun r = Spawn({self, "--child-raw", npy, out, o.factory, std::to_string(o.train_sample),
                      std::to_string(o.threads), std::to_string(o.add_batch), std::to_string(o.seed)},
                     err, o.threads);
  if (!r.ok()) {
    ReportChildFailure("raw FAISS child", r, err);
    std::exit(1);
  }
  auto j = frb::Json::Parse(r.out);
  if (!j.ok()) Die("raw FAISS child printed unparsable output: " + r.out);
  RawRep rep_out;
  rep_out.wall_s = r.wall_s;
  rep_out.cpu_s = r.cpu_s;
  rep_out.maxrss_kb = r.maxrss_kb;
  rep_out.train_s = j->GetDouble("train_s");
  rep_out.add_s = j->GetDouble("add_s");
  rep_out.write_s = j->GetDouble("write_s");
  rep_out.total_s = j->GetDouble("total_s");
  rep_out.threads = static_cast<int>(j->GetInt("threads"));
  rep_out.health_s = j->GetDouble("health_s");
  rep_out.imbalance = j->GetDouble("imbalance_factor");
  rep_out.empty_lists = j->GetInt("empty_lists");
  rep_out.file_size = FileSize(out);
  int64_t t0_ms = j->GetInt("t0_ms"), train_ms = j->GetInt("train_end_ms"),
          add_ms = j->GetInt("add_end_ms"), write_ms = j->GetInt("write_end_ms");
  rep_out.phases = PeaksByPhase(r.samples, {{"sample+train", t0_ms, train_ms},
                                            {"add", train_ms, add_ms},
                                            {"write", add_ms, write_ms}});
  // Not part of A's time (a plain script does not fsync), but flushed here
  // so A's dirty pages are not written back during B's measurement.
  auto t0 = Clock::now();
  int fd = ::open(out.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
  rep_out.fsync_s = Since(t0);
  if (!o.keep) (void)::unlink(out.c_str());
  return rep_out;
}

CycleRep RunCycle(const Options& o, const std::string& cli, const std::string& cfg,
                  const std::string& data_dir, const std::string& err) {
  ChildRun r = Spawn({cli, "--config", cfg, "rebuild", "bench", "--local", "--json"}, err,
                     o.threads);
  if (!r.ok()) {
    ReportChildFailure("faiss-rebuild rebuild --local", r, err);
    std::exit(1);
  }
  auto j = frb::Json::Parse(r.out);
  if (!j.ok()) Die("faiss-rebuild printed unparsable JSON: " + r.out);
  CycleRep c;
  c.wall_s = r.wall_s;
  c.cpu_s = r.cpu_s;
  c.maxrss_kb = r.maxrss_kb;
  if (!j->GetBool("ok")) Die("rebuild did not publish: " + r.out);
  if (const frb::Json* st = j->Find("stage_seconds"); st != nullptr && st->is_object())
    for (const auto& [k, v] : st->as_object())
      if (v.is_number()) c.stages[k] = v.as_double();
  if (const frb::Json* v = j->Find("validation")) {
    c.recall = v->GetDouble("recall");
    c.recall_lo = v->GetDouble("recall_ci_low");
    c.recall_hi = v->GetDouble("recall_ci_high");
    c.p99_ms = v->GetDouble("p99_ms");
    c.queries = static_cast<int>(v->GetInt("queries"));
    if (const frb::Json* h = v->Find("ivf")) {
      c.imbalance = h->GetDouble("imbalance_factor");
      c.empty_lists = h->GetInt("empty_lists");
    }
  }
  c.version = j->GetString("version");
  // Stage boundaries: stages ran back to back in lifecycle order and the
  // terminal one ended just before finished_unix_ms.
  std::vector<std::pair<std::string, double>> order;
  double sum = 0;
  for (int s = 0; s <= static_cast<int>(frb::Stage::kTimedOut); ++s) {
    std::string k(frb::StageName(static_cast<frb::Stage>(s)));
    if (auto it = c.stages.find(k); it != c.stages.end()) {
      order.emplace_back(k, it->second);
      sum += it->second;
    }
  }
  std::vector<Phase> phases;
  double at = static_cast<double>(j->GetInt("finished_unix_ms")) - 1000 * sum;
  for (const auto& [k, secs] : order) {
    phases.push_back({k, static_cast<int64_t>(at), static_cast<int64_t>(at + 1000 * secs)});
    at += 1000 * secs;
  }
  c.phases = PeaksByPhase(r.samples, phases);
  frb::VersionStore store(frb::Env::Default(), data_dir, "bench");
  c.file_size = FileSize(store.VersionIndexPath(c.version));
  return c;
}

std::string SelfExe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) Die("readlink /proc/self/exe failed");
  return std::string(buf, static_cast<size_t>(n));
}

int Main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  frb::Env* env = frb::Env::Default();
  std::string cli = std::string(FRB_BIN_DIR) + "/cli/faiss-rebuild";
  if (::access(cli.c_str(), X_OK) != 0) Die(cli + " is not built (make faiss-rebuild)");
  std::string self = SelfExe();

  std::string load_before = LoadAvg();
  std::printf("bench_rebuild: rebuild cycle overhead (raw FAISS vs faiss-rebuild CLI)\n");
  std::printf("machine:  %ld cores online, %s\n", ::sysconf(_SC_NPROCESSORS_ONLN), CpuModel().c_str());
  std::printf("blas:     %s\n", BlasConfig().c_str());
  std::printf("params:   n=%" PRId64 " d=%d factory=%s train_sample=%" PRId64
              " add_batch=%" PRId64 " threads=%d reps=%d nprobe=16 queries=1000 k=10\n",
              o.n, o.d, o.factory.c_str(), o.train_sample, o.add_batch, o.threads, o.reps);
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  std::printf("omp:      OMP_NUM_THREADS=%d for both children, OMP_WAIT_POLICY=%s (inherited)\n",
              o.threads, wait_policy != nullptr ? wait_policy : "unset");
  std::printf("loadavg before: %s\n", load_before.c_str());

  Check(env->CreateDirs(o.dir), "mkdir " + o.dir);
  char name[128];
  std::snprintf(name, sizeof(name), "data-n%" PRId64 "-d%d-s%" PRIu64 ".npy", o.n, o.d, o.seed);
  std::string npy = frb::JoinPath(o.dir, name);
  EnsureData(o, npy);
  std::string run_dir = frb::JoinPath(o.dir, "run-" + std::to_string(::getpid()));
  Check(env->CreateDirs(run_dir), "mkdir " + run_dir);
  std::printf("cli:      %s\n", cli.c_str());
  std::printf("B mode:   %s\n\n",
              o.with_live ? "each timed cycle replaces a live version (untimed warm-up build first)"
                          : "each cycle publishes into an empty data_dir (first build: no live "
                            "version, so no drift guards and no backup of an outgoing version)");
  std::fflush(stdout);

  // --with-live: one data_dir for every cycle, seeded by an untimed build.
  std::string shared_data = frb::JoinPath(run_dir, "data");
  std::string shared_cfg = frb::JoinPath(run_dir, "bench.yaml");
  if (o.with_live) {
    WriteConfig(o, shared_cfg, shared_data, npy);
    std::printf("config:   %s\n", shared_cfg.c_str());
    CycleRep w = RunCycle(o, cli, shared_cfg, shared_data, frb::JoinPath(run_dir, "warmup.stderr"));
    std::printf("warm-up B (untimed): %.2f s, published %s\n", w.wall_s, w.version.c_str());
    std::fflush(stdout);
  }

  std::vector<RawRep> raw;
  std::vector<CycleRep> cyc;
  for (int rep = 0; rep < o.reps; ++rep) {
    raw.push_back(RunRaw(o, self, npy, run_dir, rep));
    const RawRep& a = raw.back();
    std::printf("rep %d A raw FAISS: train+add+write %.2f s (train %.2f, add %.2f, write %.2f), "
                "process %.2f s, peak RSS %s, file %s, [untimed fsync %.2f s]  load %s\n",
                rep + 1, a.total_s, a.train_s, a.add_s, a.write_s, a.wall_s,
                Mib(a.maxrss_kb * 1024.0).c_str(), Mib(static_cast<double>(a.file_size)).c_str(),
                a.fsync_s, LoadAvg().c_str());
    std::fflush(stdout);
    std::string data_dir = shared_data, cfg = shared_cfg;
    if (!o.with_live) {
      data_dir = frb::JoinPath(run_dir, "data-" + std::to_string(rep));
      cfg = frb::JoinPath(run_dir, "bench-" + std::to_string(rep) + ".yaml");
      WriteConfig(o, cfg, data_dir, npy);
      if (rep == 0) std::printf("config:   %s\n", cfg.c_str());
    }
    cyc.push_back(RunCycle(o, cli, cfg, data_dir,
                           frb::JoinPath(run_dir, "cycle-" + std::to_string(rep) + ".stderr")));
    // Each first-build data_dir holds a full index; keep the disk bounded.
    if (!o.with_live && !o.keep) (void)env->RemoveAll(data_dir);
    const CycleRep& b = cyc.back();
    std::printf("rep %d B full cycle: %.2f s, peak RSS %s, file %s, recall@10 %.4f, "
                "ratio B/A %.3f  load %s\n",
                rep + 1, b.wall_s, Mib(b.maxrss_kb * 1024.0).c_str(),
                Mib(static_cast<double>(b.file_size)).c_str(), b.recall, b.wall_s / a.total_s,
                LoadAvg().c_str());
    std::fflush(stdout);
  }
  std::string load_after = LoadAvg();

  auto med = [](const auto& v, auto field) {
    std::vector<double> x;
    for (const auto& e : v) x.push_back(static_cast<double>(field(e)));
    return Median(x);
  };
  double a_total = med(raw, [](const RawRep& r) { return r.total_s; });
  double a_train = med(raw, [](const RawRep& r) { return r.train_s; });
  double a_add = med(raw, [](const RawRep& r) { return r.add_s; });
  double a_write = med(raw, [](const RawRep& r) { return r.write_s; });
  double a_wall = med(raw, [](const RawRep& r) { return r.wall_s; });
  double a_rss = med(raw, [](const RawRep& r) { return r.maxrss_kb * 1024.0; });
  double a_fsync = med(raw, [](const RawRep& r) { return r.fsync_s; });
  double b_wall = med(cyc, [](const CycleRep& r) { return r.wall_s; });
  double a_cpu = med(raw, [](const RawRep& r) { return r.cpu_s; });
  double b_cpu = med(cyc, [](const CycleRep& r) { return r.cpu_s; });
  double b_rss = med(cyc, [](const CycleRep& r) { return r.maxrss_kb * 1024.0; });
  double b_recall = med(cyc, [](const CycleRep& r) { return r.recall; });
  double index_bytes = static_cast<double>(cyc.back().file_size);
  double train_bytes = static_cast<double>(std::min(o.train_sample, o.n)) * o.d * 4;

  // Stage medians, in lifecycle order.
  std::vector<std::pair<std::string, double>> stages;
  double stage_sum = 0;
  for (int s = 0; s <= static_cast<int>(frb::Stage::kTimedOut); ++s) {
    std::string k(frb::StageName(static_cast<frb::Stage>(s)));
    std::vector<double> x;
    for (const auto& c : cyc)
      if (auto it = c.stages.find(k); it != c.stages.end()) x.push_back(it->second);
    if (x.empty()) continue;
    stages.emplace_back(k, Median(x));
    stage_sum += stages.back().second;
  }
  auto stage = [&](const std::string& k) {
    for (const auto& [n, v] : stages)
      if (n == k) return v;
    return 0.0;
  };

  double ratio = b_wall / a_total;
  double mem_ratio = b_rss / (index_bytes + train_bytes);
  std::printf("\n== results (median of %d rep%s; threads %d for both; A ran with %d OMP threads) ==\n",
              o.reps, o.reps == 1 ? "" : "s", o.threads, raw.back().threads);
  std::printf("%-44s %12s %12s\n", "", "A raw FAISS", "B full cycle");
  std::printf("%-44s %12.2f %12.2f\n", "wall seconds (A: train+add+write; B: process)", a_total, b_wall);
  std::printf("%-44s %12.2f %12.2f\n", "process wall seconds (spawn..wait4)", a_wall, b_wall);
  std::printf("%-44s %12.2f %12.2f\n", "process CPU seconds (user+sys, whole process)", a_cpu, b_cpu);
  std::printf("%-44s %12.2f %12.2f\n", "  training", a_train, stage("training"));
  std::printf("%-44s %12.2f %12.2f\n", "  adding", a_add, stage("adding"));
  std::printf("%-44s %12.2f %12.2f\n", "  writing (B: + fsync + SHA-256)", a_write, stage("writing_staging"));
  std::printf("%-44s %12s %12.2f\n", "  loading_source (B: fingerprint SHA-256+scan)", "-", stage("loading_source"));
  std::printf("%-44s %12s %12.2f\n", "  validating (B: re-read+checksum, exact kNN)", "-", stage("validating"));
  std::printf("%-44s %12s %12.2f\n", "  publishing (B: re-hash, manifest, rename)", "-", stage("publishing"));
  std::printf("%-44s %12s %12.2f\n", "  outside stages (exec, config, store, lock)", "-", b_wall - stage_sum);
  std::printf("%-44s %12s %12s\n", "peak RSS", Mib(a_rss).c_str(), Mib(b_rss).c_str());
  std::printf("%-44s %12s %12s\n", "index file size", Mib(static_cast<double>(raw.back().file_size)).c_str(),
              Mib(index_bytes).c_str());
  std::printf("%-44s %12.2f %12s\n", "untimed fsync of A's file (B pays it inside)", a_fsync, "");
  std::printf("\nstage_seconds (CLI --json, median):");
  for (const auto& [k, v] : stages) std::printf(" %s=%.3f", k.c_str(), v);
  std::printf("\nrecall@10 (B, %d queries, nprobe 16): %.4f (95%% CI %.4f-%.4f), p99 %.3f ms\n",
              cyc.back().queries, b_recall, cyc.back().recall_lo, cyc.back().recall_hi,
              cyc.back().p99_ms);
  std::printf("IVF health: A (untimed, after its write) read the list sizes in %.1f us: imbalance "
              "factor %.4f, %" PRId64 " empty lists; B's validation recorded %.4f, %" PRId64 "\n",
              1e6 * raw.back().health_s, raw.back().imbalance, raw.back().empty_lists,
              cyc.back().imbalance, cyc.back().empty_lists);
  std::printf("training sample: %s (%" PRId64 " x %d x 4 B)\n", Mib(train_bytes).c_str(),
              std::min(o.train_sample, o.n), o.d);
  std::printf("\ntarget time:   B / A(train+add+write) = %.3f  (target <= 1.15: %s);"
              " B / A(process) = %.3f\n",
              ratio, ratio <= 1.15 ? "met" : "MISSED", b_wall / a_wall);
  std::printf("               B / A in process CPU seconds = %.3f (less sensitive to other load on\n"
              "               the machine; includes OpenMP spin-waiting)\n",
              b_cpu / a_cpu);
  std::printf("target memory: B peak RSS / (index %s + sample %s) = %.3f  (target <= 1.3: %s);"
              " A's = %.3f\n",
              Mib(index_bytes).c_str(), Mib(train_bytes).c_str(), mem_ratio,
              mem_ratio <= 1.3 ? "met" : "MISSED", a_rss / (index_bytes + train_bytes));
  std::printf("\nby phase, last rep (sampled from /proc every %d ms: peak RSS is a lower bound,\n"
              "ru_maxrss above is the exact peak; 'file' is mapped source/library pages;\n"
              "CPU s is user+sys of all threads, spin-waiting OpenMP threads included):\n",
              kSampleMs);
  PrintPhasePeaks("A raw FAISS", raw.back().phases);
  PrintPhasePeaks("B full cycle", cyc.back().phases);
  if (o.reps > 1) {
    std::printf("per-rep B/A:");
    for (size_t i = 0; i < cyc.size(); ++i) std::printf(" %.3f", cyc[i].wall_s / raw[i].total_s);
    std::printf("\n");
  }
  std::printf("loadavg before: %s\nloadavg after:  %s\n", load_before.c_str(), load_after.c_str());

  if (o.keep) {
    std::printf("kept: %s\n", run_dir.c_str());
  } else {
    (void)env->RemoveAll(run_dir);
  }
  if (o.drop_data) (void)env->RemoveFile(npy);
  else std::printf("data cached for reuse: %s (--drop-data removes it)\n", npy.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--child-raw") == 0) return ChildRaw(argc, argv);
  return Main(argc, argv);
}
