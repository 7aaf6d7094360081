// A real S3-protocol server on a loopback ephemeral port for tests:
// moto_server (Python moto), else s3rver (npm) when moto is missing.
// Tests that need one call S3TestServer::Start() and GTEST_SKIP() with
// the reason when it returns null (neither server installed).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "frb/s3.h"

namespace frb::test {

// Thread-compatible. The server process is killed on destruction.
class S3TestServer {
 public:
  struct Options {
    // moto: enforce SigV4 auth with an IAM user whose keys the fixture
    // creates (needs awscli); credentials() returns those keys. Without
    // auth any key is accepted.
    bool auth = false;
    // Bucket created once the server is up ("" = none).
    std::string bucket = "frb-test";
  };

  // Starts a server and waits (<= 20 s) until it answers; null with
  // *why_not set when no server program is available or it did not start.
  static std::unique_ptr<S3TestServer> Start(const Options& opts, std::string* why_not);
  static std::unique_ptr<S3TestServer> Start(std::string* why_not) {
    return Start(Options{}, why_not);
  }
  ~S3TestServer();
  S3TestServer(const S3TestServer&) = delete;
  S3TestServer& operator=(const S3TestServer&) = delete;

  int port() const { return port_; }
  std::string endpoint() const;  // http://127.0.0.1:PORT
  const std::string& bucket() const { return bucket_; }
  const S3Credentials& credentials() const { return creds_; }
  // Client options for this server: endpoint, path style, us-east-1,
  // credentials, small parts (5 MiB), short backoff.
  S3Options ClientOptions() const;
  // Same with another endpoint (e.g. a FaultProxy in front of the server).
  S3Options ClientOptions(int via_port) const;
  // "moto" or "s3rver".
  const std::string& kind() const { return kind_; }
  // Environment entries AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=...,
  // AWS_REGION=us-east-1 for child processes (CLI, daemon).
  std::vector<std::string> ChildEnv() const;

 private:
  S3TestServer() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string kind_;
  std::string bucket_;
  std::string data_dir_;
  S3Credentials creds_;
};

// Path of a program that may serve S3 in tests, or "" (moto_server on PATH
// or in /root/.pyenv/shims; s3rver under $FRB_S3RVER_DIR or
// ~/.cache/frb/s3rver).
std::string FindMotoServer();
std::string FindS3rver();
// Path of awscli, or "".
std::string FindAwsCli();

}  // namespace frb::test
