// A test-only Env that models what survives a power cut.
//
// It forwards every call to a real Env and keeps, for the tree under `root`,
// a shadow model of what is durable:
//   - a regular file's durable content is what it held at its last
//     successful Sync (a file never synced is durably empty);
//   - a directory's durable entries are what it held at its last successful
//     SyncDir; creations, renames and removals in it since then are volatile.
//     A rename is one journal record: once either of its two directories is
//     synced, both sides of that rename are durable (no real filesystem can
//     show a directory in both places, or in neither, after a crash).
//   - a symlink's target is durable together with its directory entry.
//
// CutPowerAt(n) makes the n-th counted operation and every later one fail
// with kIOError "power lost" without touching the disk, as if the machine
// stopped there. Recover() then rewrites the real tree under `root` to its
// durable state, as a reboot would find it.
//
// Counted operations: file create, append, sync, close, rename, remove,
// mkdir, directory sync, symlink, link, chmod, lock. Consecutive appends to
// one file count once: cutting at any of them leaves the same durable state
// (unsynced data is dropped either way), so the enumeration of cut points
// loses nothing by collapsing them.
//
// Thread-safe (one mutex around every mutating operation).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "frb/env.h"

namespace frb::test {

class PowerLossEnv : public EnvWrapper {
 public:
  explicit PowerLossEnv(std::string root, Env* base = Env::Default());

  // Declares everything now under root durable (a clean shutdown), clears
  // the cut and the operation count.
  Status Snapshot();
  // The n-th counted operation (1-based) and all later ones fail; 0 = never.
  void CutPowerAt(int64_t n);
  // Fails every operation from now on.
  void PowerOff();
  bool power_lost() const { return lost_.load(); }
  int64_t ops() const;
  // "12 rename /x/live.tmp.1.2 -> /x/live": one line per counted operation.
  std::vector<std::string> Log() const;
  // Rewrites the real tree under root to its durable state, then takes a
  // fresh Snapshot (power is back). `summary` (optional) says what was lost.
  Status Recover(std::string* summary = nullptr);

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& p) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& p) override;
  Result<std::unique_ptr<MappedFile>> MapFile(const std::string& p) override;
  Status Rename(const std::string& f, const std::string& t) override;
  Status RemoveFile(const std::string& p) override;
  Status RemoveAll(const std::string& p) override;
  Status CreateDirs(const std::string& p) override;
  Status SyncDir(const std::string& p) override;
  Result<std::vector<std::string>> ListDir(const std::string& p) override;
  Result<FileInfo> Stat(const std::string& p) override;
  Status Symlink(const std::string& t, const std::string& l) override;
  Result<std::string> ReadLink(const std::string& p) override;
  Status LinkFile(const std::string& f, const std::string& t) override;
  Status MakeReadOnly(const std::string& p) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& p, bool w) override;

 private:
  friend class PowerLossFile;
  enum class Kind { kFile, kDir, kSymlink };
  struct Node {
    Kind kind = Kind::kFile;
    std::string content;                       // file: durable bytes; symlink: target
    std::map<std::string, uint64_t> entries;   // dir: durable name -> node
    mode_t mode = 0644;
  };
  struct PendingRename {
    uint64_t src_dir, dst_dir, node;
    std::string src_name, dst_name;
  };

  // All below: mu_ held.
  Status BeginOp(const std::string& what, const void* append_file = nullptr);
  bool Inside(const std::string& path) const;
  // Node id of the inode at `path` (lstat), creating an empty "nothing
  // durable yet" node when it is unknown; 0 when the path does not exist or
  // is outside root.
  uint64_t IdOf(const std::string& path);
  uint64_t NewNode(const std::string& path, ino_t ino);
  void ForgetInode(const std::string& path);  // before an unlink
  void ForgetTree(const std::string& path);   // before a remove_all
  Status CaptureDir(const std::string& path);
  Status CaptureFile(const std::string& path, ino_t expect_ino);
  Status ScanTree(const std::string& path, uint64_t* id);
  Status Rebuild(uint64_t dir, const std::string& path, std::map<uint64_t, std::string>& made,
                 int depth, std::string* summary);

  std::string root_;
  mutable std::mutex mu_;
  std::atomic<bool> lost_{false};
  int64_t cut_at_ = 0;
  int64_t ops_ = 0;
  const void* last_append_ = nullptr;
  std::vector<std::string> log_;
  uint64_t next_id_ = 1;
  uint64_t root_id_ = 0;
  std::map<uint64_t, Node> nodes_;
  std::map<ino_t, uint64_t> ino_ids_;
  std::vector<PendingRename> pending_;
};

}  // namespace frb::test
