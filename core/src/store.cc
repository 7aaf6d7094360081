#include "frb/store.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string_view>
#include <thread>

namespace frb {
namespace {
constexpr char kManifestFile[] = "manifest.json";
constexpr char kIndexFile[] = "index.faiss";

bool IsTempName(const std::string& name) {
  return name.find(".tmp.") != std::string::npos;
}
}  // namespace

VersionStore::VersionStore(Env* env, std::string data_dir, std::string index_name)
    : env_(env),
      name_(std::move(index_name)),
      index_dir_(JoinPath(JoinPath(data_dir, "indexes"), name_)) {}

std::string VersionStore::VersionDir(const std::string& id) const {
  return JoinPath(JoinPath(index_dir_, "versions"), id);
}
std::string VersionStore::VersionIndexPath(const std::string& id) const {
  return JoinPath(VersionDir(id), kIndexFile);
}
std::string VersionStore::StagingRoot() const { return JoinPath(index_dir_, "staging"); }
std::string VersionStore::LivePath() const { return JoinPath(index_dir_, "live.faiss"); }

Status VersionStore::Init() {
  // Durably: on a first run the index directory (and data_dir/indexes) are
  // new, and a version published into them must survive a power cut.
  FRB_RETURN_IF_ERROR(CreateDirsDurable(env_, JoinPath(index_dir_, "versions")));
  FRB_RETURN_IF_ERROR(CreateDirsDurable(env_, StagingRoot()));
  std::string live_file = LivePath();
  if (!env_->Exists(live_file)) {
    // Dangling until the first publish; then it always resolves.
    FRB_RETURN_IF_ERROR(ReplaceSymlink(env_, "live/index.faiss", live_file));
  }
  return Status::Ok();
}

Result<std::unique_ptr<FileLock>> VersionStore::Lock(bool wait) {
  auto lock = env_->LockFile(JoinPath(index_dir_, ".lock"), wait);
  if (!lock.ok() && lock.status().code() == Code::kBusy) {
    return Busy("index '" + name_ + "' is busy: another rebuild, backup or "
                "restore holds " + JoinPath(index_dir_, ".lock"));
  }
  return lock;
}

Result<std::unique_ptr<FileLock>> VersionStore::LockWithin(std::chrono::milliseconds wait,
                                                           JobControl& control) {
  using Clock = std::chrono::steady_clock;
  auto lock = Lock(false);
  if (lock.ok() || lock.status().code() != Code::kBusy || wait.count() <= 0) return lock;
  control.EnterStage(Stage::kWaitingForLock);
  const auto start = Clock::now();
  const auto deadline = start + wait;
  // flock has no timeout: poll it, and the job's cancel flag and deadline.
  auto pause = std::chrono::milliseconds(20);
  for (;;) {
    FRB_RETURN_IF_ERROR(control.Check());
    auto now = Clock::now();
    if (now >= deadline) break;
    control.SetProgress(std::chrono::duration<double>(now - start) / wait);
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(250));
    lock = Lock(false);
    if (lock.ok() || lock.status().code() != Code::kBusy) return lock;
  }
  return Busy("index '" + name_ + "' is busy: another job or process held " +
              JoinPath(index_dir_, ".lock") + " for the whole lock wait of " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) +
              "s; not counted as a failure");
}

Status VersionStore::CleanStaging() {
  auto entries = env_->ListDir(StagingRoot());
  if (entries.ok()) {
    for (const auto& e : *entries)
      FRB_RETURN_IF_ERROR(env_->RemoveAll(JoinPath(StagingRoot(), e)));
  }
  // Temporary symlinks and files left by a crash in the middle of a swap.
  FRB_ASSIGN_OR_RETURN(auto top, env_->ListDir(index_dir_));
  for (const auto& e : top)
    if (IsTempName(e)) FRB_RETURN_IF_ERROR(env_->RemoveAll(JoinPath(index_dir_, e)));
  return Status::Ok();
}

Result<std::string> VersionStore::CreateStaging(const std::string& job_id) {
  FRB_RETURN_IF_ERROR(CheckVersionId(job_id));
  std::string dir = JoinPath(StagingRoot(), job_id);
  FRB_RETURN_IF_ERROR(env_->RemoveAll(dir));
  FRB_RETURN_IF_ERROR(env_->CreateDirs(dir));
  return dir;
}

Result<StagingDir> VersionStore::FreshStaging(const std::string& job_id) {
  FRB_RETURN_IF_ERROR(CleanStaging());
  FRB_ASSIGN_OR_RETURN(std::string dir, CreateStaging(job_id));
  return StagingDir(env_, std::move(dir));
}

namespace {
// Version sequence numbers have six digits and room to grow; far below
// where arithmetic on them could overflow.
constexpr int64_t kMaxSeq = 999'999'999'999;

// The number in "v000007-..." (or a whole SEQ file's text, trimmed): -1
// unless it is plain decimal digits within kMaxSeq.
int64_t ParseSeq(std::string_view digits) {
  if (digits.empty() || digits.size() > 12) return -1;
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v <= kMaxSeq ? v : -1;
}
}  // namespace

Result<std::string> VersionStore::NextVersionId(int64_t now_unix_ms, std::string* warning) {
  std::string seq_path = JoinPath(index_dir_, "SEQ");
  int64_t seq = 0;
  bool seq_corrupt = false;
  std::string seq_text;
  auto text = ReadFileToString(env_, seq_path);
  if (text.ok()) {
    seq_text = *text;
    while (!seq_text.empty() && (seq_text.back() == '\n' || seq_text.back() == '\r' ||
                                 seq_text.back() == ' '))
      seq_text.pop_back();
    seq = ParseSeq(seq_text);
    seq_corrupt = seq < 0;
  } else if (text.status().code() != Code::kNotFound) {
    return text.status();
  }
  // Never go below what is on disk, even if SEQ was lost.
  FRB_ASSIGN_OR_RETURN(auto versions, ListVersions());
  int64_t on_disk = 0;
  for (const auto& v : versions) {
    size_t dash = v.find('-');
    int64_t n = ParseSeq(std::string_view(v).substr(1, dash == std::string::npos ? v.npos : dash - 1));
    if (n >= 0) on_disk = std::max(on_disk, n);  // else not ours: ignored
  }
  if (seq_corrupt) {
    std::string shown = seq_text.size() > 40 ? seq_text.substr(0, 40) + "..." : seq_text;
    for (char& c : shown)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    // The newest version is never pruned, so with versions on disk their
    // highest number is the last one issued (ids of failed publishes are
    // never on disk, and reusing one is harmless). With none, an id could
    // collide with one a backup still carries.
    if (on_disk == 0) {
      return Corruption(seq_path + ": not a version sequence number ('" + shown +
                        "') and no versions on disk to recover it from; write the "
                        "last issued number (see the backups' version ids) into it");
    }
    if (warning != nullptr) {
      *warning = seq_path + ": not a version sequence number ('" + shown +
                 "'); continuing from the newest version on disk (" +
                 std::to_string(on_disk) + ") and rewriting it";
    }
    seq = 0;
  }
  seq = std::max(seq, on_disk);
  if (seq >= kMaxSeq) return Corruption(seq_path + ": version sequence exhausted at " + std::to_string(seq));
  ++seq;
  FRB_RETURN_IF_ERROR(WriteFileAtomic(env_, seq_path, std::to_string(seq) + "\n"));
  time_t secs = static_cast<time_t>(now_unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "v%06lld-%04d%02d%02dT%02d%02d%02dZ",
                static_cast<long long>(seq), tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf);
}

Result<std::optional<std::string>> VersionStore::ReadPointer(
    const std::string& link) const {
  auto target = env_->ReadLink(JoinPath(index_dir_, link));
  if (!target.ok()) {
    if (target.status().code() == Code::kNotFound) return std::optional<std::string>();
    return target.status();
  }
  std::string id = BaseName(*target);
  FRB_RETURN_IF_ERROR(CheckVersionId(id));
  return std::optional<std::string>(id);
}

Result<std::optional<std::string>> VersionStore::LiveVersion() const {
  return ReadPointer("live");
}
Result<std::optional<std::string>> VersionStore::RollbackVersion() const {
  return ReadPointer("rollback");
}

Result<std::vector<std::string>> VersionStore::ListVersions() const {
  auto entries = env_->ListDir(JoinPath(index_dir_, "versions"));
  if (!entries.ok()) {
    if (entries.status().code() == Code::kNotFound) return std::vector<std::string>();
    return entries.status();
  }
  std::vector<std::string> out;
  for (auto& e : *entries)
    if (!e.empty() && e[0] == 'v' && !IsTempName(e)) out.push_back(std::move(e));
  return out;  // zero-padded sequence: lexical order is age order
}

Result<Manifest> VersionStore::ReadManifest(const std::string& id) const {
  FRB_RETURN_IF_ERROR(CheckVersionId(id));
  std::string path = JoinPath(VersionDir(id), kManifestFile);
  FRB_ASSIGN_OR_RETURN(std::string text, ReadFileToString(env_, path));
  FRB_ASSIGN_OR_RETURN(Manifest m, Manifest::Parse(text, path));
  // A sealed manifest of another version (copied or restored into the
  // wrong directory) is as wrong as a damaged one.
  if (m.version_id != id)
    return Corruption(path + ": describes version '" + m.version_id + "', not '" + id + "'");
  return m;
}

Status VersionStore::CommitVersion(const std::string& staging_dir,
                                   const std::string& id) {
  FRB_RETURN_IF_ERROR(CheckVersionId(id));
  FRB_RETURN_IF_ERROR(env_->SyncDir(staging_dir));
  std::string versions = JoinPath(index_dir_, "versions");
  FRB_RETURN_IF_ERROR(env_->Rename(staging_dir, VersionDir(id)));
  FRB_RETURN_IF_ERROR(env_->SyncDir(versions));
  return env_->SyncDir(StagingRoot());
}

Status VersionStore::SwapLive(const std::string& id) {
  FRB_RETURN_IF_ERROR(CheckVersionId(id));
  FRB_ASSIGN_OR_RETURN(auto old, LiveVersion());
  // Rollback first: a crash between the two swaps leaves rollback == live,
  // which is harmless; the reverse order could lose the rollback target.
  if (old && *old != id) {
    FRB_RETURN_IF_ERROR(ReplaceSymlink(env_, "versions/" + *old,
                                       JoinPath(index_dir_, "rollback")));
  }
  return ReplaceSymlink(env_, "versions/" + id, JoinPath(index_dir_, "live"));
}

Result<std::vector<std::string>> VersionStore::PruneVersions(int keep) {
  FRB_ASSIGN_OR_RETURN(auto versions, ListVersions());
  FRB_ASSIGN_OR_RETURN(auto live, LiveVersion());
  FRB_ASSIGN_OR_RETURN(auto rollback, RollbackVersion());
  std::vector<std::string> removed;
  int kept = 0;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    bool pinned = (live && *live == *it) || (rollback && *rollback == *it);
    if (pinned || kept < keep) {
      ++kept;
      continue;
    }
    FRB_RETURN_IF_ERROR(env_->RemoveAll(VersionDir(*it)));
    removed.push_back(*it);
  }
  if (!removed.empty()) FRB_RETURN_IF_ERROR(env_->SyncDir(JoinPath(index_dir_, "versions")));
  return removed;
}

Status VersionStore::CheckVersionId(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 128 && id != "." && id != "..";
  for (char c : id) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!allowed) ok = false;
  }
  if (!ok) return InvalidArgument("'" + id + "' is not a valid version identifier");
  return Status::Ok();
}

}  // namespace frb
