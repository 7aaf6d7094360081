#include "s3_server.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "frb/json.h"
#include "http_client.h"
#include "testutil.h"

extern char** environ;

namespace frb::test {
namespace {

bool Executable(const std::string& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; }

std::string OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string rest = path ? path : "";
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find(':', start);
    if (end == std::string::npos) end = rest.size();
    std::string cand = rest.substr(start, end - start) + "/" + name;
    if (Executable(cand)) return cand;
    start = end + 1;
  }
  return "";
}

std::string Home() {
  const char* h = std::getenv("HOME");
  return h ? h : "/root";
}

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
            const std::string& log) {
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  for (const auto& kv : extra_env) env_store.push_back(kv);
  std::vector<char*> envp, args;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

}  // namespace

std::string FindMotoServer() {
  if (const char* p = std::getenv("FRB_MOTO_SERVER"); p && Executable(p)) return p;
  std::string p = OnPath("moto_server");
  if (!p.empty()) return p;
  return Executable("/root/.pyenv/shims/moto_server") ? "/root/.pyenv/shims/moto_server" : "";
}

std::string FindS3rver() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("FRB_S3RVER_DIR")) dirs.emplace_back(d);
  dirs.push_back(Home() + "/.cache/frb/s3rver");
  for (const auto& d : dirs) {
    std::string p = d + "/node_modules/.bin/s3rver";
    if (Executable(p)) return p;
  }
  return OnPath("s3rver");
}

std::string FindAwsCli() {
  std::string p = OnPath("aws");
  if (!p.empty()) return p;
  return Executable("/root/.pyenv/shims/aws") ? "/root/.pyenv/shims/aws" : "";
}

std::unique_ptr<S3TestServer> S3TestServer::Start(const Options& opts, std::string* why_not) {
  std::unique_ptr<S3TestServer> s(new S3TestServer());
  s->port_ = FreePort();
  s->bucket_ = opts.bucket;
  char tmpl[] = "/tmp/frb-s3srv-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    *why_not = "mkdtemp failed";
    return nullptr;
  }
  s->data_dir_ = tmpl;
  std::string log = s->data_dir_ + "/server.log";
  std::string moto = FindMotoServer();
  std::string s3rver = moto.empty() ? FindS3rver() : "";
  std::string aws = FindAwsCli();
  if (!moto.empty()) {
    if (opts.auth && aws.empty()) {
      *why_not = "auth mode needs awscli to create the IAM user";
      return nullptr;
    }
    s->kind_ = "moto";
    // Three unauthenticated IAM actions create the test user, its policy
    // and its access key; every later request must be signed by that key.
    std::vector<std::string> env;
    if (opts.auth) env.push_back("INITIAL_NO_AUTH_ACTION_COUNT=3");
    s->pid_ = Spawn({moto, "-H", "127.0.0.1", "-p", std::to_string(s->port_)}, env, log);
    s->creds_ = {"AKIAFRBTESTKEY000000", "frb-test-secret-key-do-not-leak", ""};
  } else if (!s3rver.empty()) {
    if (opts.auth) {
      *why_not = "s3rver fixture: auth mode not supported";
      return nullptr;
    }
    s->kind_ = "s3rver";
    s->pid_ = Spawn({s3rver, "-d", s->data_dir_, "-a", "127.0.0.1", "-p",
                     std::to_string(s->port_), "--silent"},
                    {}, log);
    s->creds_ = {"S3RVER", "S3RVER", ""};
  } else {
    *why_not = "no S3 test server: neither moto_server nor s3rver is installed (./run installs one)";
    return nullptr;
  }
  if (s->pid_ < 0) {
    *why_not = "could not start " + s->kind_;
    return nullptr;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const std::string probe = s->kind_ == "moto" ? "/moto-api/" : "/";
  while (Http(s->port_, "GET", probe, "", "", 2).status == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      *why_not = s->kind_ + " did not answer within 20 s: " + ReadText(log);
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (opts.auth) {
    std::vector<std::string> env = {"AWS_ACCESS_KEY_ID=setup", "AWS_SECRET_ACCESS_KEY=setup",
                                    "AWS_DEFAULT_REGION=us-east-1"};
    auto aws_run = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {aws, "--endpoint-url", s->endpoint(), "--output", "json"});
      return RunProcess(args, env, 60);
    };
    auto r1 = aws_run({"iam", "create-user", "--user-name", "frb"});
    auto r2 = aws_run({"iam", "put-user-policy", "--user-name", "frb", "--policy-name", "all",
                       "--policy-document",
                       R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})"});
    auto r3 = aws_run({"iam", "create-access-key", "--user-name", "frb"});
    auto key = Json::Parse(r3.out);
    const Json* ak = key.ok() ? key->Find("AccessKey") : nullptr;
    if (r1.exit_code != 0 || r2.exit_code != 0 || ak == nullptr) {
      *why_not = "IAM setup failed: " + r1.err + r2.err + r3.err;
      return nullptr;
    }
    s->creds_ = {ak->GetString("AccessKeyId"), ak->GetString("SecretAccessKey"), ""};
  }
  if (!s->bucket_.empty()) {
    if (opts.auth) {
      auto r = RunProcess({aws, "--endpoint-url", s->endpoint(), "s3api", "create-bucket",
                           "--bucket", s->bucket_},
                          {"AWS_ACCESS_KEY_ID=" + s->creds_.access_key_id,
                           "AWS_SECRET_ACCESS_KEY=" + s->creds_.secret_access_key,
                           "AWS_DEFAULT_REGION=us-east-1"},
                          60);
      if (r.exit_code != 0) {
        *why_not = "create-bucket failed: " + r.err;
        return nullptr;
      }
    } else if (Http(s->port_, "PUT", "/" + s->bucket_).status / 100 != 2) {
      *why_not = "create bucket " + s->bucket_ + " failed";
      return nullptr;
    }
  }
  return s;
}

S3TestServer::~S3TestServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  if (!data_dir_.empty()) (void)Env::Default()->RemoveAll(data_dir_);
}

std::string S3TestServer::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

S3Options S3TestServer::ClientOptions() const { return ClientOptions(port_); }

S3Options S3TestServer::ClientOptions(int via_port) const {
  S3Options o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(via_port);
  o.region = "us-east-1";
  o.path_style = true;
  o.credentials = creds_;
  o.part_size = 5ull << 20;
  o.base_backoff = std::chrono::milliseconds(10);
  o.max_backoff = std::chrono::milliseconds(200);
  o.connect_timeout = std::chrono::seconds(5);
  o.low_speed_time = std::chrono::seconds(5);
  return o;
}

std::vector<std::string> S3TestServer::ChildEnv() const {
  return {"AWS_ACCESS_KEY_ID=" + creds_.access_key_id,
          "AWS_SECRET_ACCESS_KEY=" + creds_.secret_access_key, "AWS_REGION=us-east-1"};
}

}  // namespace frb::test
