// Streaming zstd compression and decompression of backup files through Env,
// hashing both the raw and the compressed bytes in the same pass.
#include <zstd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "frb/backup.h"
#include "frb/sha256.h"

namespace frb {
namespace {

// Multiple of every shuffle block we write (1 MiB), so blocks never straddle
// two reads and a file is shuffled the same however it is read.
constexpr size_t kChunk = 4 << 20;

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// Float32 lanes: all first bytes, then all second bytes, ... The exponent
// and high mantissa bytes of similar floats then sit together, which is what
// zstd can match; a trailing len % 4 is copied unchanged.
void Shuffle(const uint8_t* in, size_t len, uint8_t* out) {
  size_t n = len / 4;
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < 4; ++k) out[k * n + i] = in[4 * i + k];
  std::memcpy(out + 4 * n, in + 4 * n, len - 4 * n);
}
void Unshuffle(const uint8_t* in, size_t len, uint8_t* out) {
  size_t n = len / 4;
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < 4; ++k) out[4 * i + k] = in[k * n + i];
  std::memcpy(out + 4 * n, in + 4 * n, len - 4 * n);
}

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A helper thread that hashes compressed chunks and hashes + writes raw
// chunks in submission order, with a small pool of reusable buffers (big
// buffers from malloc are fresh mmaps: page faults on every chunk).
// Used by one producer thread.
class ChunkSink {
 public:
  ChunkSink(size_t buf_size, WritableFile* out, bool hash_raw) : out_(out), hash_raw_(hash_raw) {
    for (int i = 0; i < 8; ++i) pool_.push_back(std::make_unique<std::vector<uint8_t>>(buf_size));
    for (auto& b : pool_) free_.push_back(b.get());
    thread_ = std::thread([this] { Run(); });
  }
  ~ChunkSink() {
    if (thread_.joinable()) {
      std::string a, b;
      (void)Finish(&a, &b);
    }
  }
  std::vector<uint8_t>* Acquire() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !free_.empty(); });
    auto* b = free_.back();
    free_.pop_back();
    return b;
  }
  void Release(std::vector<uint8_t>* b) {
    std::lock_guard<std::mutex> l(mu_);
    free_.push_back(b);
    cv_.notify_all();
  }
  // Takes ownership of `b` until processed; returns the first error so far.
  Status Submit(std::vector<uint8_t>* b, size_t n, bool raw) {
    std::lock_guard<std::mutex> l(mu_);
    jobs_.push_back({b, n, raw});
    cv_.notify_all();
    return error_;
  }
  // Waits for every job; returns the hex digests and the first error.
  Status Finish(std::string* raw_hex, std::string* zst_hex) {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
      cv_.notify_all();
    }
    thread_.join();
    *raw_hex = hash_raw_ ? raw_sha_.FinishHex() : "";
    *zst_hex = zst_sha_.FinishHex();
    return error_;
  }

 private:
  struct Job {
    std::vector<uint8_t>* buf;
    size_t n;
    bool raw;
  };
  void Run() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return done_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = jobs_.front();
        jobs_.pop_front();
      }
      Status s;
      if (job.raw) {
        if (hash_raw_) raw_sha_.Update(job.buf->data(), job.n);
        if (out_ != nullptr) s = out_->Append(job.buf->data(), job.n);
      } else {
        zst_sha_.Update(job.buf->data(), job.n);
      }
      std::lock_guard<std::mutex> l(mu_);
      if (!s.ok() && error_.ok()) error_ = s;
      free_.push_back(job.buf);
      cv_.notify_all();
    }
  }
  WritableFile* out_;
  bool hash_raw_;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> pool_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<uint8_t>*> free_;
  std::deque<Job> jobs_;
  bool done_ = false;
  Status error_;
  Sha256 raw_sha_, zst_sha_;
  std::thread thread_;
};

Status ZstdSet(ZSTD_CCtx* c, ZSTD_cParameter p, int v, const std::string& path) {
  size_t r = ZSTD_CCtx_setParameter(c, p, v);
  if (ZSTD_isError(r))
    return Internal(path + ": zstd parameter " + std::to_string(p) + "=" + std::to_string(v) +
                    ": " + ZSTD_getErrorName(r));
  return Status::Ok();
}

}  // namespace

Result<CodecStats> CompressFile(Env* env, const std::string& src, const std::string& dst,
                                int level, int workers, uint64_t shuffle_block,
                                JobControl* control) {
  auto t0 = std::chrono::steady_clock::now();
  if (shuffle_block != 0 && (kChunk % shuffle_block != 0 || shuffle_block % 4 != 0))
    return InvalidArgument("shuffle block " + std::to_string(shuffle_block) +
                           " must divide " + std::to_string(kChunk) + " and be a multiple of 4");
  FRB_ASSIGN_OR_RETURN(FileInfo info, env->Stat(src));
  FRB_ASSIGN_OR_RETURN(auto in, env->NewSequentialFile(src));
  FRB_ASSIGN_OR_RETURN(auto out, env->NewWritableFile(dst));
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  if (!cctx) return Internal("zstd: cannot allocate a compression context");
  if (workers <= 0) workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  FRB_RETURN_IF_ERROR(ZstdSet(cctx.get(), ZSTD_c_compressionLevel, level, dst));
  FRB_RETURN_IF_ERROR(ZstdSet(cctx.get(), ZSTD_c_checksumFlag, 1, dst));
  FRB_RETURN_IF_ERROR(ZstdSet(cctx.get(), ZSTD_c_nbWorkers, workers, dst));
  (void)ZSTD_CCtx_setPledgedSrcSize(cctx.get(), info.size);

  std::vector<uint8_t> ibuf(kChunk), sbuf(shuffle_block ? kChunk : 0), obuf(1 << 20);
  Sha256 raw_sha, zst_sha;
  CodecStats st;
  for (;;) {
    size_t got = 0;
    FRB_RETURN_IF_ERROR(in->Read(ibuf.data(), ibuf.size(), &got));
    bool last = got < ibuf.size();
    raw_sha.Update(ibuf.data(), got);
    st.raw_bytes += got;
    const uint8_t* feed = ibuf.data();
    if (shuffle_block) {
      for (size_t off = 0; off < got; off += shuffle_block)
        Shuffle(ibuf.data() + off, std::min<size_t>(shuffle_block, got - off), sbuf.data() + off);
      feed = sbuf.data();
    }
    ZSTD_inBuffer zin{feed, got, 0};
    ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      ZSTD_outBuffer zout{obuf.data(), obuf.size(), 0};
      size_t rem = ZSTD_compressStream2(cctx.get(), &zout, &zin, mode);
      if (ZSTD_isError(rem)) return Internal(dst + ": zstd: " + ZSTD_getErrorName(rem));
      if (zout.pos > 0) {
        FRB_RETURN_IF_ERROR(out->Append(obuf.data(), zout.pos));
        zst_sha.Update(obuf.data(), zout.pos);
        st.zst_bytes += zout.pos;
      }
      if (last ? rem == 0 : zin.pos == zin.size) break;
    }
    if (last) break;
    if (control != nullptr) {
      FRB_RETURN_IF_ERROR(control->Check());
      if (info.size > 0)
        control->SetWork(static_cast<double>(st.raw_bytes), static_cast<double>(info.size), "bytes");
    }
  }
  FRB_RETURN_IF_ERROR(out->Sync());
  FRB_RETURN_IF_ERROR(out->Close());
  st.raw_sha256 = raw_sha.FinishHex();
  st.zst_sha256 = zst_sha.FinishHex();
  st.seconds = Since(t0);
  return st;
}

Result<CodecStats> DecompressFile(Env* env, const std::string& src, const std::string& dst,
                                  const DecompressOptions& opts, JobControl* control) {
  const uint64_t shuffle_block = opts.shuffle_block;
  auto t0 = std::chrono::steady_clock::now();
  if (shuffle_block > (64u << 20) || shuffle_block % 4 != 0)
    return Corruption(src + ": implausible shuffle block " + std::to_string(shuffle_block));
  FRB_ASSIGN_OR_RETURN(FileInfo info, env->Stat(src));
  FRB_ASSIGN_OR_RETURN(auto in, env->NewSequentialFile(src));
  std::unique_ptr<WritableFile> out;
  if (!dst.empty()) {
    FRB_ASSIGN_OR_RETURN(out, env->NewWritableFile(dst));
  }
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  if (!dctx) return Internal("zstd: cannot allocate a decompression context");

  // Decompression is single-threaded in zstd; the two SHA-256 passes and
  // the writes run on a second thread so a restore costs about as much as
  // a plain `zstd -d`.
  size_t ocap = shuffle_block ? shuffle_block : (1u << 20);
  ChunkSink sink(std::max<size_t>(ocap, 1u << 20), out.get(), opts.hash_raw);
  // Without shuffle, `obuf` is a plain output window; with it, one block is
  // collected whole before it is unshuffled.
  std::vector<uint8_t>* obuf = sink.Acquire();
  size_t fill = 0;
  CodecStats st;
  auto emit = [&](size_t n) -> Status {
    if (shuffle_block) {
      std::vector<uint8_t>* u = sink.Acquire();
      Unshuffle(obuf->data(), n, u->data());
      std::swap(u, obuf);
      sink.Release(u);
    }
    st.raw_bytes += n;
    FRB_RETURN_IF_ERROR(sink.Submit(obuf, n, /*raw=*/true));
    obuf = sink.Acquire();
    return Status::Ok();
  };
  size_t last_ret = 1;  // != 0: no complete frame yet
  Status status;
  for (;;) {
    std::vector<uint8_t>* ibuf = sink.Acquire();
    size_t got = 0;
    status = in->Read(ibuf->data(), 1 << 20, &got);
    if (!status.ok() || got == 0) {
      sink.Release(ibuf);
      break;
    }
    st.zst_bytes += got;
    ZSTD_inBuffer zin{ibuf->data(), got, 0};
    bool full = false;
    while (status.ok() && (zin.pos < zin.size || full)) {
      ZSTD_outBuffer zout{obuf->data(), ocap, fill};
      size_t in_before = zin.pos;
      size_t ret = ZSTD_decompressStream(dctx.get(), &zout, &zin);
      if (ZSTD_isError(ret)) {
        status = Corruption(src + ": zstd: " + ZSTD_getErrorName(ret) + " (at compressed byte " +
                            std::to_string(st.zst_bytes - got + zin.pos) + ")");
        break;
      }
      // A call that only drained a full output window after the frame ended
      // returns the next frame's header hint; it must not mask the "0 =
      // frame complete" of the call before.
      if (zin.pos != in_before || zout.pos != fill) last_ret = ret;
      fill = zout.pos;
      full = fill == ocap;
      if (full || (!shuffle_block && fill > 0)) {
        status = emit(fill);
        fill = 0;
      }
    }
    // Consumed: hand the compressed chunk over for hashing.
    Status s;
    if (opts.hash_compressed) {
      s = sink.Submit(ibuf, got, /*raw=*/false);
    } else {
      sink.Release(ibuf);
    }
    if (status.ok()) status = s;
    if (!status.ok()) break;
    if (control != nullptr) {
      status = control->Check();
      if (!status.ok()) break;
      if (info.size > 0)
        control->SetWork(static_cast<double>(st.zst_bytes), static_cast<double>(info.size), "bytes");
    }
  }
  if (status.ok() && st.zst_bytes == 0) status = Corruption(src + ": empty file, no zstd frame");
  if (status.ok() && last_ret != 0)
    status = Corruption(src + ": zstd: truncated (the last frame is incomplete after " +
                        std::to_string(st.zst_bytes) + " bytes)");
  if (status.ok() && fill > 0) status = emit(fill);
  sink.Release(obuf);
  Status drained = sink.Finish(&st.raw_sha256, &st.zst_sha256);
  if (!opts.hash_compressed) st.zst_sha256.clear();
  FRB_RETURN_IF_ERROR(status);
  FRB_RETURN_IF_ERROR(drained);
  if (out) {
    if (opts.sync) FRB_RETURN_IF_ERROR(out->Sync());
    FRB_RETURN_IF_ERROR(out->Close());
  }
  st.seconds = Since(t0);
  return st;
}

}  // namespace frb
