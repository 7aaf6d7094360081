// Which data dir a backup directory belongs to. Two data dirs configured
// with the same backup_dir would otherwise list each other's backups as
// their own and prune them under their own retention.
#include <random>

#include "backup_internal.h"
#include "frb/backup.h"

namespace frb {
namespace {

constexpr char kIdFile[] = "ID";
constexpr char kOwnerFile[] = "OWNER";

std::string RandomId() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 32; ++i) id += kHex[rd() % 16];
  return id;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Creates `path` with `text` unless it exists (link(2) of a complete temp
// file: never a partial file, and exactly one of two racers wins).
Status CreateOnce(Env* env, const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp." + RandomId().substr(0, 8);
  auto f = env->NewWritableFile(tmp);
  if (!f.ok()) return f.status();
  Status s = (*f)->Append(text.data(), text.size());
  if (s.ok()) s = (*f)->Sync();
  if (s.ok()) s = (*f)->Close();
  if (s.ok()) s = env->LinkFile(tmp, path);
  (void)env->RemoveFile(tmp);
  if (!s.ok() && env->Exists(path)) return Status::Ok();  // another racer won
  if (!s.ok()) return s;
  return env->SyncDir(DirName(path));
}

}  // namespace

Result<std::string> DataDirId(Env* env, const std::string& data_dir, bool create) {
  std::string path = JoinPath(data_dir, kIdFile);
  auto text = ReadFileToString(env, path);
  if (!text.ok() && text.status().code() == Code::kNotFound && create) {
    FRB_RETURN_IF_ERROR(CreateDirsDurable(env, data_dir));
    FRB_RETURN_IF_ERROR(CreateOnce(env, path, RandomId() + "\n"));
    text = ReadFileToString(env, path);
  }
  if (!text.ok()) return text.status();
  std::string id = Trim(*text);
  if (id.empty() || id.size() > 64 || id.find_first_not_of("0123456789abcdef") != std::string::npos)
    return Corruption(path + ": not a data dir id (32 hex digits); remove it to make a new one, "
                             "after making sure no backup_dir is shared with another data dir");
  return id;
}

Status CheckBackupOwner(Env* env, const std::string& backup_index_dir, const std::string& data_dir,
                        bool claim) {
  std::string owner_path = JoinPath(backup_index_dir, kOwnerFile);
  auto text = ReadFileToString(env, owner_path);
  if (!text.ok() && text.status().code() != Code::kNotFound) return text.status();
  if (!text.ok()) {
    // Unclaimed (new, or made before ownership was recorded): the first
    // data dir to write a backup here owns it.
    if (!claim) return Status::Ok();
    FRB_ASSIGN_OR_RETURN(std::string id, DataDirId(env, data_dir, true));
    Json j = Json::MakeObject();
    j["data_dir_id"] = id;
    j["data_dir"] = data_dir;
    FRB_RETURN_IF_ERROR(CreateOnce(env, owner_path, j.Dump(2) + "\n"));
    text = ReadFileToString(env, owner_path);
    if (!text.ok()) return text.status();
  }
  return CheckOwnerRecord(env, *text, owner_path, backup_index_dir, data_dir, claim);
}

Status CheckOwnerRecord(Env* env, std::string_view text, const std::string& owner_path,
                        const std::string& backup_index_dir, const std::string& data_dir,
                        bool claim) {
  auto j = Json::Parse(text);
  if (!j.ok() || !j->is_object() || j->GetString("data_dir_id").empty())
    return Corruption(owner_path + ": unreadable backup owner record");
  std::string owner = j->GetString("data_dir_id");
  auto mine = DataDirId(env, data_dir, claim);
  if (!mine.ok() && mine.status().code() != Code::kNotFound) return mine.status();
  if (mine.ok() && *mine == owner) return Status::Ok();
  return FailedPrecondition(
      "backup dir " + backup_index_dir + " belongs to data dir " + j->GetString("data_dir") +
      " (id " + owner + "), not to " + data_dir +
      (mine.ok() ? " (id " + *mine + ")" : "") +
      "; two data dirs must not share a backup_dir: give each its own (docs/configuration.md)");
}

}  // namespace frb
