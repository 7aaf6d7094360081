// Env helpers and the fault-injecting Env.
#include <atomic>
#include <random>

#include "frb/env.h"

namespace frb {

const char* FsOpName(FsOp op) {
  switch (op) {
    case FsOp::kCreate: return "create";
    case FsOp::kAppend: return "append";
    case FsOp::kSync: return "sync";
    case FsOp::kClose: return "close";
    case FsOp::kRead: return "read";
    case FsOp::kMap: return "map";
    case FsOp::kRename: return "rename";
    case FsOp::kRemove: return "remove";
    case FsOp::kMkdir: return "mkdir";
    case FsOp::kSyncDir: return "syncdir";
    case FsOp::kSymlink: return "symlink";
    case FsOp::kLock: return "lock";
    case FsOp::kLink: return "link";
  }
  return "?";
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  std::string out(a);
  if (out.back() != '/') out.push_back('/');
  out.append(b);
  return out;
}

std::string DirName(std::string_view path) {
  size_t pos = path.find_last_of('/');
  if (pos == std::string_view::npos) return ".";
  if (pos == 0) return "/";
  return std::string(path.substr(0, pos));
}

std::string BaseName(std::string_view path) {
  size_t pos = path.find_last_of('/');
  return std::string(pos == std::string_view::npos ? path : path.substr(pos + 1));
}

namespace {
// A unique suffix for temporary names so concurrent writers never collide.
std::string TempSuffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return ".tmp." + std::to_string(counter.fetch_add(1)) + "." +
         std::to_string(rng() % 1000000);
}
}  // namespace

Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data) {
  std::string tmp = path + TempSuffix();
  auto file = env->NewWritableFile(tmp);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(data.data(), data.size());
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = (*file)->Close();
  if (s.ok()) s = env->Rename(tmp, path);
  if (!s.ok()) {
    (void)env->RemoveFile(tmp);
    return s;
  }
  return env->SyncDir(DirName(path));
}

Result<std::string> ReadFileToString(Env* env, const std::string& path) {
  auto file = env->NewSequentialFile(path);
  if (!file.ok()) return file.status();
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    size_t got = 0;
    FRB_RETURN_IF_ERROR((*file)->Read(buf, sizeof(buf), &got));
    if (got == 0) break;
    out.append(buf, got);
  }
  return out;
}

Status CreateDirsDurable(Env* env, const std::string& path) {
  std::vector<std::string> missing;  // deepest first
  for (std::string p = path; !p.empty() && p != "/" && p != "." && !env->Exists(p); p = DirName(p))
    missing.push_back(p);
  if (missing.empty()) return Status::Ok();
  FRB_RETURN_IF_ERROR(env->CreateDirs(path));
  for (auto it = missing.rbegin(); it != missing.rend(); ++it)
    FRB_RETURN_IF_ERROR(env->SyncDir(DirName(*it)));
  return Status::Ok();
}

Status ReplaceSymlink(Env* env, const std::string& target,
                      const std::string& link) {
  std::string tmp = link + TempSuffix();
  FRB_RETURN_IF_ERROR(env->Symlink(target, tmp));
  Status s = env->Rename(tmp, link);
  if (!s.ok()) {
    (void)env->RemoveFile(tmp);
    return s;
  }
  return env->SyncDir(DirName(link));
}

// --- FaultEnv ---

Status FaultEnv::Check(FsOp op, const std::string& path) const {
  int err = hook_ ? hook_(op, path) : 0;
  if (err == 0) return Status::Ok();
  return ErrnoStatus(err, std::string("injected ") + FsOpName(op), path);
}

namespace {
class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(const FaultEnv* env, std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}
  Status Append(const void* d, size_t n) override {
    FRB_RETURN_IF_ERROR(env_->Check(FsOp::kAppend, path()));
    return base_->Append(d, n);
  }
  Status Sync() override {
    FRB_RETURN_IF_ERROR(env_->Check(FsOp::kSync, path()));
    return base_->Sync();
  }
  Status Close() override {
    Status injected = env_->Check(FsOp::kClose, path());
    Status s = base_->Close();
    return injected.ok() ? s : injected;
  }
  const std::string& path() const override { return base_->path(); }

 private:
  const FaultEnv* env_;
  std::unique_ptr<WritableFile> base_;
};

class FaultSequentialFile final : public SequentialFile {
 public:
  FaultSequentialFile(const FaultEnv* env, std::unique_ptr<SequentialFile> base)
      : env_(env), base_(std::move(base)) {}
  Status Read(void* buf, size_t n, size_t* got) override {
    FRB_RETURN_IF_ERROR(env_->Check(FsOp::kRead, path()));
    return base_->Read(buf, n, got);
  }
  Status Seek(uint64_t off) override { return base_->Seek(off); }
  const std::string& path() const override { return base_->path(); }

 private:
  const FaultEnv* env_;
  std::unique_ptr<SequentialFile> base_;
};
class FaultRandomAccessFile final : public RandomAccessFile {
 public:
  FaultRandomAccessFile(const FaultEnv* env, std::unique_ptr<RandomAccessFile> base)
      : env_(env), base_(std::move(base)) {}
  Status Read(uint64_t offset, size_t n, void* buf, size_t* got) const override {
    *got = 0;
    FRB_RETURN_IF_ERROR(env_->Check(FsOp::kRead, path()));
    return base_->Read(offset, n, buf, got);
  }
  uint64_t size() const override { return base_->size(); }
  void WillNeed(uint64_t o, uint64_t n) const override { base_->WillNeed(o, n); }
  const std::string& path() const override { return base_->path(); }

 private:
  const FaultEnv* env_;
  std::unique_ptr<RandomAccessFile> base_;
};
}  // namespace

Result<std::unique_ptr<RandomAccessFile>> FaultEnv::NewRandomAccessFile(
    const std::string& p) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kRead, p));
  FRB_ASSIGN_OR_RETURN(auto base, target()->NewRandomAccessFile(p));
  return std::unique_ptr<RandomAccessFile>(
      new FaultRandomAccessFile(this, std::move(base)));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::NewWritableFile(
    const std::string& p) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kCreate, p));
  FRB_ASSIGN_OR_RETURN(auto base, target()->NewWritableFile(p));
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, std::move(base)));
}
Result<std::unique_ptr<SequentialFile>> FaultEnv::NewSequentialFile(
    const std::string& p) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kRead, p));
  FRB_ASSIGN_OR_RETURN(auto base, target()->NewSequentialFile(p));
  return std::unique_ptr<SequentialFile>(
      new FaultSequentialFile(this, std::move(base)));
}
Result<std::unique_ptr<MappedFile>> FaultEnv::MapFile(const std::string& p) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kMap, p));
  return target()->MapFile(p);
}
Status FaultEnv::Rename(const std::string& f, const std::string& t) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kRename, f));
  return target()->Rename(f, t);
}
Status FaultEnv::RemoveFile(const std::string& p) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kRemove, p));
  return target()->RemoveFile(p);
}
Status FaultEnv::RemoveAll(const std::string& p) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kRemove, p));
  return target()->RemoveAll(p);
}
Status FaultEnv::CreateDirs(const std::string& p) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kMkdir, p));
  return target()->CreateDirs(p);
}
Status FaultEnv::SyncDir(const std::string& p) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kSyncDir, p));
  return target()->SyncDir(p);
}
Status FaultEnv::Symlink(const std::string& t, const std::string& l) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kSymlink, l));
  return target()->Symlink(t, l);
}

Status FaultEnv::LinkFile(const std::string& f, const std::string& t) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kLink, t));
  return target()->LinkFile(f, t);
}
Result<std::unique_ptr<FileLock>> FaultEnv::LockFile(const std::string& p, bool w) {
  FRB_RETURN_IF_ERROR(Check(FsOp::kLock, p));
  return target()->LockFile(p, w);
}

}  // namespace frb
