// S3 client throughput against `aws s3 cp` on the same S3-protocol server
// (moto_server on loopback, started here) and the same object: upload of a
// file and download to a file, best of N runs each.
//   bench_s3 [SIZE_MB=256] [RUNS=3] [PARALLELISM=8] [PART_MB=8]
// Prints one line per measurement and the ratios (ours / aws).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "frb/env.h"
#include "frb/s3.h"
#include "frb/sha256.h"
#include "s3_server.h"
#include "testutil.h"

using namespace frb;
using Clock = std::chrono::steady_clock;

namespace {

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int Aws(const test::S3TestServer& s, std::vector<std::string> args) {
  std::string aws = test::FindAwsCli();
  args.insert(args.begin(), {aws, "--endpoint-url", s.endpoint(), "--only-show-errors"});
  auto r = test::RunProcess(args, {"AWS_ACCESS_KEY_ID=" + s.credentials().access_key_id,
                                   "AWS_SECRET_ACCESS_KEY=" + s.credentials().secret_access_key,
                                   "AWS_DEFAULT_REGION=us-east-1"},
                            600);
  if (r.exit_code != 0) std::fprintf(stderr, "aws failed: %s\n", r.err.c_str());
  return r.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t mb = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const int par = argc > 3 ? std::atoi(argv[3]) : 8;
  const uint64_t part_mb = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 8;
  if (test::FindAwsCli().empty()) {
    std::fprintf(stderr, "awscli not found\n");
    return 2;
  }
  std::string why;
  auto server = test::S3TestServer::Start(&why);
  if (!server) {
    std::fprintf(stderr, "no S3 server: %s\n", why.c_str());
    return 2;
  }
  test::TempDir dir;
  std::string src = dir.Sub("object.bin");
  {
    auto f = std::move(Env::Default()->NewWritableFile(src)).value();
    std::mt19937_64 rng(1);
    std::string block(1 << 20, '\0');
    for (uint64_t i = 0; i < mb; ++i) {
      for (size_t j = 0; j < block.size(); j += 8) {
        uint64_t v = rng();
        std::memcpy(block.data() + j, &v, 8);
      }
      (void)f->Append(block.data(), block.size());
    }
    (void)f->Close();
  }
  std::string sha = std::move(Sha256File(Env::Default(), src)).value();
  S3Options o = server->ClientOptions();
  o.parallelism = par;
  o.part_size = part_mb << 20;
  auto client = std::move(S3Client::Create(o, Env::Default())).value();
  const double bytes = static_cast<double>(mb << 20);
  double best_up = 1e9, best_down = 1e9, best_aws_up = 1e9, best_aws_down = 1e9;
  for (int r = 0; r < runs; ++r) {
    std::string key = "bench/ours-" + std::to_string(r);
    auto t = Clock::now();
    auto put = client->PutFile(server->bucket(), key, src, sha);
    double up = Since(t);
    if (!put.ok()) {
      std::fprintf(stderr, "upload: %s\n", put.status().ToString().c_str());
      return 1;
    }
    best_up = std::min(best_up, up);
    std::string dst = dir.Sub("down-ours");
    t = Clock::now();
    {
      auto f = std::move(Env::Default()->NewWritableFile(dst)).value();
      auto got = client->GetRange(server->bucket(), key, 0, 0,
                                  [&](const char* d, size_t n) { return f->Append(d, n); });
      if (!got.ok() || !f->Close().ok()) {
        std::fprintf(stderr, "download: %s\n", got.status().ToString().c_str());
        return 1;
      }
    }
    best_down = std::min(best_down, Since(t));
    std::string awskey = "s3://" + server->bucket() + "/bench/aws-" + std::to_string(r);
    t = Clock::now();
    if (Aws(*server, {"s3", "cp", src, awskey}) != 0) return 1;
    best_aws_up = std::min(best_aws_up, Since(t));
    std::string dst2 = dir.Sub("down-aws");
    // The same object for both downloads.
    t = Clock::now();
    if (Aws(*server, {"s3", "cp", "s3://" + server->bucket() + "/" + key, dst2}) != 0) return 1;
    best_aws_down = std::min(best_aws_down, Since(t));
    if (Sha256File(Env::Default(), dst).value() != sha ||
        Sha256File(Env::Default(), dst2).value() != sha) {
      std::fprintf(stderr, "downloaded bytes differ\n");
      return 1;
    }
    (void)Env::Default()->RemoveFile(dst);
    (void)Env::Default()->RemoveFile(dst2);
  }
  auto mbps = [&](double s) { return bytes / s / 1e6; };
  std::printf("object %llu MiB, server %s on loopback, best of %d, parallelism %d, part %llu MiB\n",
              static_cast<unsigned long long>(mb), server->kind().c_str(), runs, par,
              static_cast<unsigned long long>(part_mb));
  std::printf("upload    ours %.2f s (%.0f MB/s)   aws s3 cp %.2f s (%.0f MB/s)   ratio %.2fx\n",
              best_up, mbps(best_up), best_aws_up, mbps(best_aws_up), best_aws_up / best_up);
  std::printf("download  ours %.2f s (%.0f MB/s)   aws s3 cp %.2f s (%.0f MB/s)   ratio %.2fx\n",
              best_down, mbps(best_down), best_aws_down, mbps(best_aws_down),
              best_aws_down / best_down);
  return 0;
}
