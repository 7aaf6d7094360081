#include "testutil.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace frb::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/frb-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  // Published files are read-only; restore write bits so removal works.
  std::string cmd = "chmod -R u+w '" + path_ + "' 2>/dev/null; rm -rf '" + path_ + "'";
  (void)std::system(cmd.c_str());
}

pid_t SpawnSilently(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

std::vector<std::string> BackupIds(const BackupStore& store) {
  std::vector<std::string> ids;
  auto list = store.List();
  EXPECT_TRUE(list.ok()) << list.status().ToString();
  if (list.ok())
    for (const auto& b : *list) ids.push_back(b.manifest.version_id);
  return ids;
}

int CrashIterations(int default_n) {
  const char* env = std::getenv("FRB_CRASH_ITERATIONS");
  return env ? std::max(1, std::atoi(env)) : default_n;
}

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env, int timeout_s) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    for (const auto& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ProcessResult res;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int open_fds = 2;
  while (open_fds > 0) {
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - std::chrono::steady_clock::now()).count());
    if (ms <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, ms) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? res.out : res.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return res;
}

std::string BinPath(const std::string& rel) {
#ifdef FRB_BIN_DIR
  return std::string(FRB_BIN_DIR) + "/" + rel;
#else
  const char* dir = std::getenv("FRB_BIN_DIR");
  return std::string(dir ? dir : ".") + "/" + rel;
#endif
}

Config SmallIndexConfig(const TempDir& dir, int dim) {
  std::string source = dir.Sub("vecs.npy");
  Status s = synth::WriteNpy(Env::Default(), source, 20000, dim, 3);
  if (!s.ok()) throw std::runtime_error(s.ToString());
  Config config;
  config.data_dir = dir.Sub("data");
  IndexConfig ic;
  ic.name = "t";
  ic.source_path = source;
  ic.dimension = dim;
  ic.factory = "IVF64,Flat";
  ic.train_sample = 5000;
  ic.add_batch = 4096;
  ic.search = {{"nprobe", 8}};
  ic.validation.queries = 200;
  ic.validation.latency_queries = 50;
  ic.validation.min_recall = 0.8;
  ic.validation.max_p99_ms = 1000;
  config.indexes.push_back(ic);
  return config;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string LoadedFaissPath() {
  std::string found;
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        std::string name = info->dlpi_name != nullptr ? info->dlpi_name : "";
        if (name.size() >= 12 && name.compare(name.size() - 12, 12, "/libfaiss.so") == 0) {
          *static_cast<std::string*>(out) = name;
          return 1;
        }
        return 0;
      },
      &found);
  return found;
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void FlipByte(const std::string& path) {
  ::chmod(path.c_str(), 0644);
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr) << path;
  std::fseek(f, 0, SEEK_END);
  long mid = std::ftell(f) / 2;
  std::fseek(f, mid, SEEK_SET);
  int c = std::fgetc(f);
  std::fseek(f, mid, SEEK_SET);
  std::fputc(c ^ 0xff, f);
  std::fclose(f);
}

}  // namespace frb::test
