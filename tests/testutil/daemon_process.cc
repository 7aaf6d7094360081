#include "daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <thread>

#include "frb/env.h"
#include "testutil.h"

namespace frb::test {

using Clock = std::chrono::steady_clock;

ChildProcess::ChildProcess(std::vector<std::string> argv, const std::string& log,
                           ChildOptions options)
    : log_(log), term_grace_ms_(options.term_grace_ms) {
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (options.capture_stdout) ::dup2(fd, 1);
    ::dup2(fd, 2);
    for (auto& kv : options.env) ::putenv(kv.data());
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0 || exit_code_ != kRunning) return;
  if (term_grace_ms_ > 0) {
    ::kill(pid_, SIGTERM);
    if (Exited(term_grace_ms_)) return;
  }
  ::kill(pid_, SIGKILL);
  Wait();
}

void ChildProcess::Reaped(int status) {
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

int ChildProcess::WaitForPort() {
  std::regex re("listening on 127\\.0\\.0\\.1:([0-9]+)");
  for (auto deadline = Clock::now() + std::chrono::seconds(20); Clock::now() < deadline;) {
    std::smatch m;
    std::string text = Log();
    if (std::regex_search(text, m, re)) return port_ = std::stoi(m[1]);
    if (Exited(0)) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

bool ChildProcess::WaitForLog(const std::string& want, int timeout_s) {
  for (auto deadline = Clock::now() + std::chrono::seconds(timeout_s); Clock::now() < deadline;) {
    if (Log().find(want) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0 && exit_code_ == kRunning) ::kill(pid_, sig);
}

bool ChildProcess::Exited(int timeout_ms) {
  if (exit_code_ != kRunning) return true;
  if (pid_ <= 0) return true;
  for (auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      Reaped(status);
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int ChildProcess::Wait() {
  if (exit_code_ == kRunning && pid_ > 0) {
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) Reaped(status);
  }
  return exit_code_;
}

std::string ChildProcess::Log() const {
  auto text = ReadFileToString(Env::Default(), log_);
  return text.ok() ? *text : "";
}

std::vector<std::string> RebuilddArgv(const std::string& config) {
  return {BinPath("daemon/rebuildd/faiss-rebuildd"), "--config", config, "--listen",
          "127.0.0.1:0"};
}

}  // namespace frb::test
