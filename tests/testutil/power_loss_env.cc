#include "power_loss_env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

namespace frb::test {
namespace {

Status PowerLost(const std::string& what) { return IOError("power lost (simulated): " + what); }

std::string Normal(const std::string& p) {
  std::string n = std::filesystem::path(p).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

// "path kind size-or-target" for every entry under `dir`, for the summary.
void Describe(const std::string& dir, const std::string& rel, std::set<std::string>* out) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    std::string r = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::lstat(e.path().c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      out->insert(r + "/");
      Describe(e.path().string(), r, out);
    } else if (S_ISLNK(st.st_mode)) {
      out->insert(r + " -> " + std::filesystem::read_symlink(e.path(), ec).string());
    } else {
      out->insert(r + " (" + std::to_string(st.st_size) + " bytes)");
    }
  }
}

}  // namespace

// The WritableFile handed out: counts and gates each call, and records the
// durable content on a successful Sync.
class PowerLossFile final : public WritableFile {
 public:
  PowerLossFile(PowerLossEnv* env, std::unique_ptr<WritableFile> base, ino_t ino)
      : env_(env), base_(std::move(base)), ino_(ino) {}
  Status Append(const void* d, size_t n) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    FRB_RETURN_IF_ERROR(env_->BeginOp("append " + path(), this));
    return base_->Append(d, n);
  }
  Status Sync() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    FRB_RETURN_IF_ERROR(env_->BeginOp("sync " + path()));
    FRB_RETURN_IF_ERROR(base_->Sync());
    return env_->CaptureFile(path(), ino_);
  }
  Status Close() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    FRB_RETURN_IF_ERROR(env_->BeginOp("close " + path()));
    return base_->Close();
  }
  const std::string& path() const override { return base_->path(); }

 private:
  PowerLossEnv* env_;
  std::unique_ptr<WritableFile> base_;
  ino_t ino_;
};

PowerLossEnv::PowerLossEnv(std::string root, Env* base)
    : EnvWrapper(base), root_(Normal(root)) {}

bool PowerLossEnv::Inside(const std::string& path) const {
  std::string p = Normal(path);
  return p == root_ || (p.size() > root_.size() && p.compare(0, root_.size(), root_) == 0 &&
                        p[root_.size()] == '/');
}

Status PowerLossEnv::BeginOp(const std::string& what, const void* append_file) {
  if (lost_) return PowerLost(what);
  bool collapse = append_file != nullptr && append_file == last_append_;
  last_append_ = append_file;
  if (collapse) return Status::Ok();
  ++ops_;
  log_.push_back(std::to_string(ops_) + " " + what);
  if (cut_at_ > 0 && ops_ >= cut_at_) {
    lost_ = true;
    return PowerLost(what);
  }
  return Status::Ok();
}

uint64_t PowerLossEnv::NewNode(const std::string& path, ino_t ino) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  uint64_t id = next_id_++;
  Node& n = nodes_[id];
  n.mode = st.st_mode & 07777;
  if (S_ISDIR(st.st_mode)) {
    n.kind = Kind::kDir;
  } else if (S_ISLNK(st.st_mode)) {
    n.kind = Kind::kSymlink;
    std::error_code ec;
    n.content = std::filesystem::read_symlink(path, ec).string();
  } else {
    n.kind = Kind::kFile;
  }
  ino_ids_[ino] = id;
  return id;
}

uint64_t PowerLossEnv::IdOf(const std::string& path) {
  if (!Inside(path)) return 0;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  auto it = ino_ids_.find(st.st_ino);
  if (it != ino_ids_.end()) return it->second;
  return NewNode(path, st.st_ino);  // unknown: nothing of it is durable yet
}

void PowerLossEnv::ForgetInode(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && (S_ISDIR(st.st_mode) || st.st_nlink <= 1))
    ino_ids_.erase(st.st_ino);
}

void PowerLossEnv::ForgetTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(path, ec))
      ForgetTree(e.path().string());
  }
  // A hard link that lives on outside the tree keeps its inode; both links
  // inside the tree (rare) leave a stale mapping that the next creation of
  // that inode number overwrites.
  if (S_ISDIR(st.st_mode) || st.st_nlink <= 1) ino_ids_.erase(st.st_ino);
}

Status PowerLossEnv::CaptureFile(const std::string& path, ino_t expect_ino) {
  if (!Inside(path)) return Status::Ok();
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || st.st_ino != expect_ino)
    return Internal("PowerLossEnv: " + path + " was renamed or removed before its Sync");
  FRB_ASSIGN_OR_RETURN(std::string content, ReadFileToString(target(), path));
  nodes_[IdOf(path)].content = std::move(content);
  return Status::Ok();
}

Status PowerLossEnv::CaptureDir(const std::string& path) {
  uint64_t id = IdOf(path);
  if (id == 0) return Status::Ok();
  FRB_ASSIGN_OR_RETURN(auto names, target()->ListDir(path));
  std::map<std::string, uint64_t> entries;
  for (const auto& n : names) {
    uint64_t child = IdOf(JoinPath(path, n));
    if (child != 0) entries[n] = child;
  }
  nodes_[id].entries = std::move(entries);
  // Renames touching this directory are now durable on both sides.
  std::vector<PendingRename> rest;
  for (const auto& r : pending_) {
    if (r.src_dir != id && r.dst_dir != id) {
      rest.push_back(r);
      continue;
    }
    if (r.src_dir == r.dst_dir) continue;  // captured by the scan above
    if (r.dst_dir == id) {
      auto& src = nodes_[r.src_dir].entries;
      auto it = src.find(r.src_name);
      if (it != src.end() && it->second == r.node) src.erase(it);
    } else {
      nodes_[r.dst_dir].entries[r.dst_name] = r.node;
    }
  }
  pending_ = std::move(rest);
  return Status::Ok();
}

Status PowerLossEnv::ScanTree(const std::string& path, uint64_t* id) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "lstat", path);
  *id = NewNode(path, st.st_ino);
  Node& n = nodes_[*id];
  if (n.kind == Kind::kFile) {
    FRB_ASSIGN_OR_RETURN(n.content, ReadFileToString(target(), path));
  } else if (n.kind == Kind::kDir) {
    FRB_ASSIGN_OR_RETURN(auto names, target()->ListDir(path));
    for (const auto& name : names) {
      uint64_t child = 0;
      FRB_RETURN_IF_ERROR(ScanTree(JoinPath(path, name), &child));
      nodes_[*id].entries[name] = child;
    }
  }
  return Status::Ok();
}

Status PowerLossEnv::Snapshot() {
  std::lock_guard<std::mutex> l(mu_);
  nodes_.clear();
  ino_ids_.clear();
  pending_.clear();
  log_.clear();
  ops_ = 0;
  cut_at_ = 0;
  last_append_ = nullptr;
  lost_ = false;
  return ScanTree(root_, &root_id_);
}

void PowerLossEnv::CutPowerAt(int64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  cut_at_ = n;
}

void PowerLossEnv::PowerOff() { lost_ = true; }

int64_t PowerLossEnv::ops() const {
  std::lock_guard<std::mutex> l(mu_);
  return ops_;
}

std::vector<std::string> PowerLossEnv::Log() const {
  std::lock_guard<std::mutex> l(mu_);
  return log_;
}

Status PowerLossEnv::Rebuild(uint64_t dir, const std::string& path,
                             std::map<uint64_t, std::string>& made, int depth,
                             std::string* summary) {
  if (depth > 64) return Internal("PowerLossEnv: durable tree too deep at " + path);
  for (const auto& [name, id] : nodes_[dir].entries) {
    std::string p = JoinPath(path, name);
    const Node& n = nodes_[id];
    auto seen = made.find(id);
    if (seen != made.end() && n.kind == Kind::kFile) {
      if (::link(seen->second.c_str(), p.c_str()) != 0) return ErrnoStatus(errno, "link", p);
      continue;
    }
    if (seen != made.end() && n.kind == Kind::kDir) {
      // Cannot happen with atomic renames; say so rather than loop.
      if (summary) *summary += "durable model has directory twice: " + seen->second + " and " + p + "\n";
      continue;
    }
    made[id] = p;
    switch (n.kind) {
      case Kind::kDir:
        if (::mkdir(p.c_str(), 0755) != 0) return ErrnoStatus(errno, "mkdir", p);
        FRB_RETURN_IF_ERROR(Rebuild(id, p, made, depth + 1, summary));
        ::chmod(p.c_str(), n.mode);
        break;
      case Kind::kSymlink:
        if (::symlink(n.content.c_str(), p.c_str()) != 0) return ErrnoStatus(errno, "symlink", p);
        break;
      case Kind::kFile: {
        int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return ErrnoStatus(errno, "create", p);
        size_t off = 0;
        while (off < n.content.size()) {
          ssize_t w = ::write(fd, n.content.data() + off, n.content.size() - off);
          if (w < 0) {
            int err = errno;
            ::close(fd);
            return ErrnoStatus(err, "write", p);
          }
          off += static_cast<size_t>(w);
        }
        ::close(fd);
        ::chmod(p.c_str(), n.mode);
        break;
      }
    }
  }
  return Status::Ok();
}

Status PowerLossEnv::Recover(std::string* summary) {
  {
    std::lock_guard<std::mutex> l(mu_);
    lost_ = true;  // nothing may run while the disk is rewritten
    std::set<std::string> before, after;
    Describe(root_, "", &before);
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(root_, ec)) {
      std::filesystem::remove_all(e.path(), ec);
      if (ec) return ErrnoStatus(ec.value(), "remove", e.path().string());
    }
    std::map<uint64_t, std::string> made;
    std::string notes;
    FRB_RETURN_IF_ERROR(Rebuild(root_id_, root_, made, 0, &notes));
    Describe(root_, "", &after);
    if (summary != nullptr) {
      *summary = notes;
      for (const auto& s : before)
        if (!after.count(s)) *summary += "  lost:     " + s + "\n";
      for (const auto& s : after)
        if (!before.count(s)) *summary += "  restored: " + s + "\n";
    }
  }
  return Snapshot();
}

// --- operations ---

Result<std::unique_ptr<WritableFile>> PowerLossEnv::NewWritableFile(const std::string& p) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("create " + p));
  struct stat st;
  bool existed = ::lstat(p.c_str(), &st) == 0;
  FRB_ASSIGN_OR_RETURN(auto base, target()->NewWritableFile(p));
  if (::lstat(p.c_str(), &st) != 0) return ErrnoStatus(errno, "lstat", p);
  // A new inode is durably empty; a truncated existing one keeps its last
  // synced content until the next Sync (either is possible after a crash).
  if (Inside(p) && (!existed || !ino_ids_.count(st.st_ino))) NewNode(p, st.st_ino);
  return std::unique_ptr<WritableFile>(new PowerLossFile(this, std::move(base), st.st_ino));
}

Result<std::unique_ptr<SequentialFile>> PowerLossEnv::NewSequentialFile(const std::string& p) {
  if (lost_) return PowerLost("open " + p);
  return target()->NewSequentialFile(p);
}

Result<std::unique_ptr<RandomAccessFile>> PowerLossEnv::NewRandomAccessFile(
    const std::string& p) {
  if (lost_) return PowerLost("open " + p);
  return target()->NewRandomAccessFile(p);
}

Result<std::unique_ptr<MappedFile>> PowerLossEnv::MapFile(const std::string& p) {
  if (lost_) return PowerLost("map " + p);
  return target()->MapFile(p);
}

Result<std::vector<std::string>> PowerLossEnv::ListDir(const std::string& p) {
  if (lost_) return PowerLost("list " + p);
  return target()->ListDir(p);
}

Result<FileInfo> PowerLossEnv::Stat(const std::string& p) {
  if (lost_) return PowerLost("stat " + p);
  return target()->Stat(p);
}

Result<std::string> PowerLossEnv::ReadLink(const std::string& p) {
  if (lost_) return PowerLost("readlink " + p);
  return target()->ReadLink(p);
}

Status PowerLossEnv::Rename(const std::string& f, const std::string& t) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("rename " + f + " -> " + t));
  uint64_t src_dir = IdOf(DirName(f)), dst_dir = IdOf(DirName(t)), node = IdOf(f);
  struct stat old_st, src_st;
  bool replaces = ::lstat(t.c_str(), &old_st) == 0 && ::lstat(f.c_str(), &src_st) == 0 &&
                  old_st.st_ino != src_st.st_ino;
  bool forget = replaces && (S_ISDIR(old_st.st_mode) || old_st.st_nlink <= 1);
  FRB_RETURN_IF_ERROR(target()->Rename(f, t));
  if (forget) ino_ids_.erase(old_st.st_ino);
  if (src_dir != 0 && dst_dir != 0 && node != 0)
    pending_.push_back({src_dir, dst_dir, node, BaseName(f), BaseName(t)});
  return Status::Ok();
}

Status PowerLossEnv::RemoveFile(const std::string& p) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("remove " + p));
  struct stat st;
  bool had = ::lstat(p.c_str(), &st) == 0;
  FRB_RETURN_IF_ERROR(target()->RemoveFile(p));
  if (had && st.st_nlink <= 1) ino_ids_.erase(st.st_ino);
  return Status::Ok();
}

Status PowerLossEnv::RemoveAll(const std::string& p) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("remove_all " + p));
  ForgetTree(p);
  return target()->RemoveAll(p);
}

Status PowerLossEnv::CreateDirs(const std::string& p) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("mkdir " + p));
  std::vector<std::string> missing;
  for (std::string q = Normal(p); !target()->Exists(q); q = DirName(q)) {
    missing.push_back(q);
    if (q == "/" || q == ".") break;
  }
  FRB_RETURN_IF_ERROR(target()->CreateDirs(p));
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    struct stat st;
    if (Inside(*it) && ::lstat(it->c_str(), &st) == 0) NewNode(*it, st.st_ino);
  }
  return Status::Ok();
}

Status PowerLossEnv::SyncDir(const std::string& p) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("syncdir " + p));
  FRB_RETURN_IF_ERROR(target()->SyncDir(p));
  return CaptureDir(p);
}

Status PowerLossEnv::Symlink(const std::string& t, const std::string& link) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("symlink " + link + " -> " + t));
  FRB_RETURN_IF_ERROR(target()->Symlink(t, link));
  struct stat st;
  if (Inside(link) && ::lstat(link.c_str(), &st) == 0) NewNode(link, st.st_ino);
  return Status::Ok();
}

Status PowerLossEnv::LinkFile(const std::string& f, const std::string& t) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("link " + f + " -> " + t));
  (void)IdOf(f);  // the new name shares the inode (and its durable content)
  return target()->LinkFile(f, t);
}

Status PowerLossEnv::MakeReadOnly(const std::string& p) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("chmod " + p));
  FRB_RETURN_IF_ERROR(target()->MakeReadOnly(p));
  if (uint64_t id = IdOf(p)) nodes_[id].mode = 0444;  // metadata: treated as durable
  return Status::Ok();
}

Result<std::unique_ptr<FileLock>> PowerLossEnv::LockFile(const std::string& p, bool w) {
  std::lock_guard<std::mutex> l(mu_);
  FRB_RETURN_IF_ERROR(BeginOp("lock " + p));
  struct stat st;
  bool existed = ::lstat(p.c_str(), &st) == 0;
  auto lock = target()->LockFile(p, w);
  if (lock.ok() && !existed && Inside(p) && ::lstat(p.c_str(), &st) == 0) NewNode(p, st.st_ino);
  return lock;
}

}  // namespace frb::test
