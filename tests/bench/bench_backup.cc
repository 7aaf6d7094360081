// bench_backup: backup compression and restore against the zstd CLI on the
// same FAISS index file, measured side by side in one run.
//
//   (A) `zstd -T0 -3 -q -f IN -o OUT`      vs  CompressFile(level 3, workers 0 = all cores)
//   (B) `zstd -d -q -f IN.zst -o OUT`      vs  DecompressFile (the restore path)
//   (C) byte shuffle (1 MiB blocks) on/off: ratio and throughput
//
// Compression also hashes both sides with SHA-256 and fsyncs the output;
// the zstd CLI does neither. A restore decompresses (zstd checks its frame
// checksum, like the CLI) and fsyncs; the SHA-256 of the restored file is
// the validator's first step and is timed on its own row, as is the former
// path that hashed while decompressing. Restore is timed with fsync (what a
// restore does) and without (same work as the CLI). Runs
// alternate A,B,A,B,... --reps times after one warm-up (page cache warm for
// both), medians reported.
//
// Targets: compression >= 0.8x `zstd -T0 -3`; restore >= 0.8x `zstd -d`.
//
//   bench_backup [--n 500000] [--d 128] [--factory IVF1024,Flat] [--reps 3]
//                [--file INDEX] [--dir /tmp/frb-bench-backup] [--keep]
#include <faiss/Index.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "frb/backup.h"
#include "frb/env.h"
#include "frb/sha256.h"
#include "synth.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "bench_backup: %s\n", msg.c_str());
  std::exit(1);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double TimeShell(const std::string& cmd) {
  auto t0 = Clock::now();
  int rc = std::system(cmd.c_str());
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (rc != 0) Die("command failed: " + cmd);
  return s;
}

uint64_t FileSize(const std::string& p) {
  auto st = frb::Env::Default()->Stat(p);
  if (!st.ok()) Die(st.status().ToString());
  return st->size;
}

template <typename T>
T Check(frb::Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 500000;
  int d = 128, reps = 3;
  std::string factory = "IVF1024,Flat", file, dir = "/tmp/frb-bench-backup";
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--n") n = std::atoll(next().c_str());
    else if (a == "--d") d = std::atoi(next().c_str());
    else if (a == "--factory") factory = next();
    else if (a == "--reps") reps = std::max(1, std::atoi(next().c_str()));
    else if (a == "--file") file = next();
    else if (a == "--dir") dir = next();
    else if (a == "--keep") keep = true;
    else Die("unknown argument " + a);
  }
  frb::Env* env = frb::Env::Default();
  if (!env->CreateDirs(dir).ok()) Die("cannot create " + dir);
  if (file.empty()) {
    file = frb::JoinPath(dir, "index.faiss");
    std::printf("building %s over %lld x %d synthetic vectors...\n", factory.c_str(),
                static_cast<long long>(n), d);
    std::vector<float> x(static_cast<size_t>(n) * d);
    frb::synth::GenerateRows(1, d, 256, 0, n, x.data());
    std::unique_ptr<faiss::Index> index(faiss::index_factory(d, factory.c_str()));
    index->train(std::min<int64_t>(n, 50000), x.data());
    index->add(n, x.data());
    faiss::write_index(index.get(), file.c_str());
  }
  const uint64_t size = FileSize(file);
  const double mb = static_cast<double>(size) / 1e6;
  std::printf("index file %s: %.1f MB\n", file.c_str(), mb);

  std::string cli_z = frb::JoinPath(dir, "cli.zst"), cli_out = frb::JoinPath(dir, "cli.out");
  std::string our_z = frb::JoinPath(dir, "ours.zst"), our_out = frb::JoinPath(dir, "ours.out");
  std::string shuf_z = frb::JoinPath(dir, "shuf.zst");
  std::vector<double> sha_s, our_d_hash, our_v, cli_c, our_c, our_c_nosync, shuf_c, cli_d, our_d, our_d_nosync, shuf_d;
  uint64_t cli_size = 0, our_size = 0, shuf_size = 0;
  for (int r = 0; r <= reps; ++r) {  // r == 0: warm-up, not recorded
    double a = TimeShell("zstd -T0 -3 -q -f '" + file + "' -o '" + cli_z + "'");
    auto ours = Check(frb::CompressFile(env, file, our_z, 3, 0, 0, nullptr), "compress");
    // CompressFile always fsyncs its output (a backup must be durable), so
    // its time includes that; the CLI's does not.
    auto shuf = Check(frb::CompressFile(env, file, shuf_z, 3, 0, 1 << 20, nullptr), "compress shuffled");
    double b = TimeShell("zstd -d -q -f '" + cli_z + "' -o '" + cli_out + "'");
    // The restore path (BackupStore::RestoreFile): zstd's frame checksum,
    // fsync; the SHA-256 is the validator's first step (timed separately).
    frb::DecompressOptions restore{.sync = true, .hash_raw = false, .hash_compressed = false};
    auto dec = Check(frb::DecompressFile(env, our_z, our_out, restore, nullptr), "decompress");
    auto sha_t0 = Clock::now();
    auto out_sha = Check(frb::Sha256File(env, our_out), "sha256");
    sha_s.push_back(std::chrono::duration<double>(Clock::now() - sha_t0).count());
    restore.sync = false;
    auto dec_nosync = Check(frb::DecompressFile(env, our_z, our_out, restore, nullptr), "decompress");
    restore.hash_raw = true;  // the previous restore path: hashing while decompressing
    restore.sync = true;
    auto dec_hash = Check(frb::DecompressFile(env, our_z, our_out, restore, nullptr), "decompress");
    auto dec_shuf = Check(frb::DecompressFile(env, shuf_z, our_out,
                                              {.shuffle_block = 1 << 20, .sync = true}, nullptr),
                          "decompress shuffled");
    // The verify path: both SHA-256, no output file.
    auto ver = Check(frb::DecompressFile(env, our_z, "", {}, nullptr), "verify");
    if (out_sha != ours.raw_sha256 || dec_hash.raw_sha256 != ours.raw_sha256 ||
        dec_shuf.raw_sha256 != ours.raw_sha256)
      Die("round trip mismatch");
    if (r == 0) continue;
    cli_c.push_back(a);
    our_c.push_back(ours.seconds);
    shuf_c.push_back(shuf.seconds);
    cli_d.push_back(b);
    our_d.push_back(dec.seconds);
    our_d_nosync.push_back(dec_nosync.seconds);
    our_d_hash.push_back(dec_hash.seconds);
    shuf_d.push_back(dec_shuf.seconds);
    our_v.push_back(ver.seconds);
    cli_size = FileSize(cli_z);
    our_size = ours.zst_bytes;
    shuf_size = shuf.zst_bytes;
  }
  double ca = Median(cli_c), co = Median(our_c), cs = Median(shuf_c);
  double da = Median(cli_d), dd = Median(our_d), dn = Median(our_d_nosync), ds = Median(shuf_d);
  std::printf("\n%-38s %9s %9s %8s\n", "", "seconds", "MB/s", "ratio");
  auto row = [&](const char* name, double s, uint64_t z) {
    std::printf("%-38s %9.3f %9.1f %8s\n", name, s, mb / s,
                z ? (std::to_string(static_cast<double>(size) / z).substr(0, 5) + "x").c_str() : "");
  };
  row("zstd -T0 -3 (CLI)", ca, cli_size);
  row("CompressFile level 3 (+sha256, fsync)", co, our_size);
  row("  with byte shuffle", cs, shuf_size);
  row("zstd -d (CLI)", da, 0);
  row("restore: DecompressFile (fsync)", dd, 0);
  row("restore: DecompressFile (no fsync)", dn, 0);
  row("  hashing while decompressing (fsync)", Median(our_d_hash), 0);
  row("validator's SHA-256 of the restored file", Median(sha_s), 0);
  row("  with byte shuffle (fsync)", ds, 0);
  row("verify (both SHA-256, no output)", Median(our_v), 0);
  std::printf("\ncompression throughput vs zstd -T0 -3: %.2fx (target >= 0.80)\n", ca / co);
  std::printf("restore throughput vs zstd -d:        %.2fx with fsync, %.2fx without (target >= 0.80)\n",
              da / dd, da / dn);
  std::printf("  (hashing while decompressing instead: %.2fx with fsync)\n", da / Median(our_d_hash));
  std::printf("byte shuffle ratio gain:               %.3fx -> %.3fx (%+.1f%% smaller), compress %.2fx slower\n",
              static_cast<double>(size) / our_size, static_cast<double>(size) / shuf_size,
              100.0 * (1.0 - static_cast<double>(shuf_size) / our_size), cs / co);
  if (!keep)
    for (const auto& p : {cli_z, cli_out, our_z, our_out, shuf_z}) (void)env->RemoveFile(p);
  return 0;
}
