// A program the integration tests run in the background (a daemon): its
// stdout and stderr go to a log file the test reads; it is stopped and
// reaped on destruction.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace frb::test {

struct ChildOptions {
  std::vector<std::string> env;  // extra "K=V" entries
  bool capture_stdout = true;    // stdout into the log too (stderr always)
  // On destruction of a still running child: SIGTERM and this long to exit
  // before SIGKILL; 0 sends SIGKILL at once.
  int term_grace_ms = 0;
};

class ChildProcess {
 public:
  // Starts argv[0] (a path) with the rest of `argv` as its arguments.
  ChildProcess(std::vector<std::string> argv, const std::string& log, ChildOptions options = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Parses the bound port from "listening on 127.0.0.1:PORT" in the log;
  // 0 when the process exited first or did not come up within 20 s.
  int WaitForPort();
  // True once the log contains `want` (within `timeout_s`).
  bool WaitForLog(const std::string& want, int timeout_s = 20);
  // Sends `sig` while the process runs.
  void Signal(int sig);
  // True once the process exited (within `timeout_ms`); sets exit_code().
  bool Exited(int timeout_ms);
  // Blocks until the process exits; its exit code.
  int Wait();
  bool Alive() { return !Exited(0); }
  // Exit code, -signal when killed by one; only meaningful after Exited().
  int exit_code() const { return exit_code_; }
  std::string Log() const;
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  static constexpr int kRunning = -1000;
  void Reaped(int status);
  std::string log_;
  int term_grace_ms_ = 0;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = kRunning;
};

// argv of faiss-rebuildd with `config`, listening on an ephemeral loopback port.
std::vector<std::string> RebuilddArgv(const std::string& config);

// One faiss-rebuildd on an ephemeral loopback port, killed on destruction.
class RebuilddProcess : public ChildProcess {
 public:
  RebuilddProcess(const std::string& config, const std::string& log,
                  std::vector<std::string> env = {})
      : ChildProcess(RebuilddArgv(config), log, WithEnv(std::move(env))) {}

 private:
  static ChildOptions WithEnv(std::vector<std::string> env) {
    ChildOptions o;
    o.env = std::move(env);
    return o;
  }
};

}  // namespace frb::test
