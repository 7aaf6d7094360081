#include "frb/delta_log.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>
#include <unordered_set>

#include "frb/ids.h"
#include "frb/manifest.h"
#include "frb/sha256.h"
#include "frb/source.h"

namespace frb {
namespace {

constexpr int kRecordFormat = 1;
constexpr char kRecordFile[] = "record.json";
constexpr char kVectorsFile[] = "upsert_vectors.f32";
constexpr char kUpsertIdsFile[] = "upsert_ids.i64";
constexpr char kDeleteIdsFile[] = "delete_ids.i64";
constexpr char kRetiredFile[] = "RETIRED";
constexpr char kQuarantineDir[] = "quarantine";

std::string SeqName(int64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%012" PRId64, seq);
  return buf;
}

// A record directory's name: exactly 12 digits.
bool ParseSeqName(const std::string& name, int64_t* seq) {
  if (name.size() != 12 || name.find_first_not_of("0123456789") != std::string::npos) return false;
  *seq = std::stoll(name);
  return true;
}

Status WriteDurable(Env* env, const std::string& path, const void* data, size_t n,
                    std::string* sha) {
  FRB_ASSIGN_OR_RETURN(auto f, env->NewWritableFile(path));
  FRB_RETURN_IF_ERROR(f->Append(data, n));
  FRB_RETURN_IF_ERROR(f->Sync());
  FRB_RETURN_IF_ERROR(f->Close());
  if (sha != nullptr) {
    Sha256 h;
    h.Update(data, n);
    *sha = h.FinishHex();
  }
  return Status::Ok();
}

int64_t ParseInt(const std::string& text) {
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') break;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

Result<DeltaData> ReadDeltaInput(Env* env, const IndexConfig& index, const std::string& upserts,
                                 const std::string& ids, const std::string& deletes) {
  DeltaData d;
  d.record.dim = index.dimension;
  if (upserts.empty() != ids.empty())
    return InvalidArgument("upserts and ids go together: one id per upserted vector");
  if (upserts.empty() && deletes.empty())
    return InvalidArgument("nothing to apply: give upserts with ids, or deletes");
  if (!upserts.empty()) {
    FRB_ASSIGN_OR_RETURN(auto vs, VectorSource::Open(env, upserts, SourceFormat::kNpy,
                                                     index.dimension));
    d.vectors.resize(static_cast<size_t>(vs->count()) * vs->dim());
    FRB_RETURN_IF_ERROR(vs->Read(0, vs->count(), d.vectors.data()));
    FRB_ASSIGN_OR_RETURN(d.upsert_ids, ReadCheckedIds(env, ids, vs->count(), upserts));
    d.record.origin = upserts + " " + ids;
  }
  if (!deletes.empty()) {
    FRB_ASSIGN_OR_RETURN(d.delete_ids, ReadIdsFile(env, deletes));
    FRB_RETURN_IF_ERROR(CheckIds(d.delete_ids, deletes));
    d.record.origin += (d.record.origin.empty() ? "" : " ") + deletes;
  }
  return d;
}

Json DeltaRecord::ToJson() const {
  Json j = Json::MakeObject();
  j["seq"] = seq;
  j["created_unix_ms"] = created_unix_ms;
  j["dim"] = dim;
  j["upserts"] = upserts;
  j["deletes"] = deletes;
  j["origin"] = origin;
  Json files = Json::MakeObject();
  for (const auto& [name, hex] : sha256) files[name] = hex;
  j["sha256"] = std::move(files);
  return j;
}

DeltaLog::DeltaLog(Env* env, const std::string& index_dir)
    : env_(env), dir_(JoinPath(index_dir, "deltas")) {}

Result<int64_t> DeltaLog::LastSeqLocked() {
  int64_t last = 0;
  auto retired = ReadFileToString(env_, JoinPath(dir_, kRetiredFile));
  if (retired.ok()) last = ParseInt(*retired);
  else if (retired.status().code() != Code::kNotFound) return retired.status();
  FRB_ASSIGN_OR_RETURN(auto names, env_->ListDir(dir_));
  auto quarantined = env_->ListDir(JoinPath(dir_, kQuarantineDir));
  if (quarantined.ok())
    for (const auto& q : *quarantined) names.push_back(q.substr(0, 12));
  for (const auto& name : names) {
    int64_t seq = 0;
    if (ParseSeqName(name, &seq)) last = std::max(last, seq);
  }
  return last;
}

Result<int64_t> DeltaLog::LastSeq() {
  FRB_RETURN_IF_ERROR(CreateDirsDurable(env_, dir_));
  FRB_ASSIGN_OR_RETURN(auto lock, env_->LockFile(JoinPath(dir_, ".lock"), true));
  return LastSeqLocked();
}

Result<DeltaRecord> DeltaLog::Append(DeltaData data) {
  DeltaRecord& r = data.record;
  r.upserts = static_cast<int64_t>(data.upsert_ids.size());
  r.deletes = static_cast<int64_t>(data.delete_ids.size());
  if (r.upserts == 0 && r.deletes == 0) return InvalidArgument("delta: no upserts and no deletes");
  if (r.upserts > 0 && (r.dim <= 0 || data.vectors.size() != static_cast<size_t>(r.upserts) * r.dim))
    return InvalidArgument("delta: " + std::to_string(data.vectors.size()) + " floats for " +
                           std::to_string(r.upserts) + " upsert ids of dimension " +
                           std::to_string(r.dim));
  FRB_RETURN_IF_ERROR(CheckIds(data.upsert_ids, "delta upsert ids"));
  FRB_RETURN_IF_ERROR(CheckIds(data.delete_ids, "delta delete ids"));
  std::unordered_set<int64_t> up(data.upsert_ids.begin(), data.upsert_ids.end());
  for (int64_t id : data.delete_ids)
    if (up.count(id) != 0)
      return InvalidArgument("delta: id " + std::to_string(id) +
                             " is both upserted and deleted; send it once");

  FRB_RETURN_IF_ERROR(CreateDirsDurable(env_, dir_));
  FRB_ASSIGN_OR_RETURN(auto lock, env_->LockFile(JoinPath(dir_, ".lock"), true));
  FRB_ASSIGN_OR_RETURN(int64_t last, LastSeqLocked());
  r.seq = last + 1;
  r.created_unix_ms = NowUnixMillis();
  const std::string tmp = JoinPath(dir_, ".tmp-" + SeqName(r.seq));
  FRB_RETURN_IF_ERROR(env_->RemoveAll(tmp));
  FRB_RETURN_IF_ERROR(env_->CreateDirs(tmp));
  r.sha256.clear();
  FRB_RETURN_IF_ERROR(WriteDurable(env_, JoinPath(tmp, kVectorsFile), data.vectors.data(),
                                   data.vectors.size() * sizeof(float), &r.sha256[kVectorsFile]));
  FRB_RETURN_IF_ERROR(WriteDurable(env_, JoinPath(tmp, kUpsertIdsFile), data.upsert_ids.data(),
                                   data.upsert_ids.size() * sizeof(int64_t),
                                   &r.sha256[kUpsertIdsFile]));
  FRB_RETURN_IF_ERROR(WriteDurable(env_, JoinPath(tmp, kDeleteIdsFile), data.delete_ids.data(),
                                   data.delete_ids.size() * sizeof(int64_t),
                                   &r.sha256[kDeleteIdsFile]));
  Json doc = r.ToJson();
  doc["format_version"] = kRecordFormat;
  SealJson(doc, "record_sha256");
  std::string text = doc.Dump(2) + "\n";
  r.record_sha256 = doc.GetString("record_sha256");
  FRB_RETURN_IF_ERROR(WriteDurable(env_, JoinPath(tmp, kRecordFile), text.data(), text.size(),
                                   nullptr));
  FRB_RETURN_IF_ERROR(env_->SyncDir(tmp));
  // The rename is the commit: before it the record does not exist.
  FRB_RETURN_IF_ERROR(env_->Rename(tmp, JoinPath(dir_, SeqName(r.seq))));
  FRB_RETURN_IF_ERROR(env_->SyncDir(dir_));
  return r;
}

Status DeltaLog::Quarantine(const std::string& name, const std::string& why,
                            std::vector<std::string>* warnings) {
  const std::string qdir = JoinPath(dir_, kQuarantineDir);
  FRB_RETURN_IF_ERROR(CreateDirsDurable(env_, qdir));
  std::string to = JoinPath(qdir, name + "-" + std::to_string(NowUnixMillis()));
  FRB_RETURN_IF_ERROR(env_->Rename(JoinPath(dir_, name), to));
  FRB_RETURN_IF_ERROR(env_->SyncDir(dir_));
  if (warnings != nullptr)
    warnings->push_back("delta record " + JoinPath(dir_, name) + " quarantined to " + to +
                        ", never applied: " + why);
  return Status::Ok();
}

Result<std::vector<DeltaRecord>> DeltaLog::List(int64_t after,
                                                std::vector<std::string>* warnings) {
  std::vector<DeltaRecord> out;
  if (!env_->Exists(dir_)) return out;
  FRB_ASSIGN_OR_RETURN(auto lock, env_->LockFile(JoinPath(dir_, ".lock"), true));
  FRB_ASSIGN_OR_RETURN(auto names, env_->ListDir(dir_));
  for (const auto& name : names) {
    // Holding the lock, no writer is active: a temp dir is a torn write.
    if (name.starts_with(".tmp-")) {
      FRB_RETURN_IF_ERROR(env_->RemoveAll(JoinPath(dir_, name)));
      continue;
    }
    int64_t seq = 0;
    if (!ParseSeqName(name, &seq) || seq <= after) continue;
    const std::string rdir = JoinPath(dir_, name);
    auto text = ReadFileToString(env_, JoinPath(rdir, kRecordFile));
    if (!text.ok()) {
      if (text.status().code() != Code::kNotFound) return text.status();
      FRB_RETURN_IF_ERROR(Quarantine(name, "record.json is missing", warnings));
      continue;
    }
    auto doc = OpenSealedJson(*text, JoinPath(rdir, kRecordFile), "record_sha256", kRecordFormat);
    if (!doc.ok()) {
      FRB_RETURN_IF_ERROR(Quarantine(name, doc.status().message(), warnings));
      continue;
    }
    DeltaRecord r;
    r.seq = doc->GetInt("seq");
    r.created_unix_ms = doc->GetInt("created_unix_ms");
    r.dim = static_cast<int>(doc->GetInt("dim"));
    r.upserts = doc->GetInt("upserts");
    r.deletes = doc->GetInt("deletes");
    r.origin = doc->GetString("origin");
    r.record_sha256 = Sha256::Hex(*text);
    if (const Json* f = doc->Find("sha256"); f && f->is_object())
      for (const auto& [k, v] : f->as_object())
        if (v.is_string()) r.sha256[k] = v.as_string();
    // Sizes are cheap to check here; contents are checked by Load.
    std::string problem;
    if (r.seq != seq) problem = "record.json says seq " + std::to_string(r.seq);
    const std::pair<const char*, uint64_t> files[] = {
        {kVectorsFile, static_cast<uint64_t>(r.upserts) * r.dim * sizeof(float)},
        {kUpsertIdsFile, static_cast<uint64_t>(r.upserts) * sizeof(int64_t)},
        {kDeleteIdsFile, static_cast<uint64_t>(r.deletes) * sizeof(int64_t)}};
    for (const auto& [file, size] : files) {
      if (!problem.empty()) break;
      auto st = env_->Stat(JoinPath(rdir, file));
      if (!st.ok()) problem = std::string(file) + ": " + st.status().message();
      else if (st->size != size)
        problem = std::string(file) + " has " + std::to_string(st->size) + " bytes, expected " +
                  std::to_string(size);
      else if (r.sha256.count(file) == 0) problem = std::string(file) + " has no checksum";
    }
    if (!problem.empty()) {
      FRB_RETURN_IF_ERROR(Quarantine(name, problem, warnings));
      continue;
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<DeltaData> DeltaLog::Load(const DeltaRecord& record) {
  DeltaData d;
  d.record = record;
  const std::string name = SeqName(record.seq);
  const std::string rdir = JoinPath(dir_, name);
  auto read = [&](const char* file, void* out, size_t n) -> Status {
    FRB_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(env_, JoinPath(rdir, file)));
    std::string hex = Sha256::Hex(bytes);
    auto it = record.sha256.find(file);
    if (bytes.size() != n || it == record.sha256.end() || it->second != hex) {
      std::string why = std::string(file) + ": SHA-256 " + hex + " does not match the record";
      std::vector<std::string> ignored;
      FRB_RETURN_IF_ERROR(Quarantine(name, why, &ignored));
      return Corruption("delta " + JoinPath(rdir, file) + ": " + why +
                        " (record quarantined, not applied)");
    }
    if (n > 0) std::memcpy(out, bytes.data(), n);
    return Status::Ok();
  };
  d.vectors.resize(static_cast<size_t>(record.upserts) * record.dim);
  d.upsert_ids.resize(static_cast<size_t>(record.upserts));
  d.delete_ids.resize(static_cast<size_t>(record.deletes));
  FRB_RETURN_IF_ERROR(read(kVectorsFile, d.vectors.data(), d.vectors.size() * sizeof(float)));
  FRB_RETURN_IF_ERROR(read(kUpsertIdsFile, d.upsert_ids.data(), d.upsert_ids.size() * 8));
  FRB_RETURN_IF_ERROR(read(kDeleteIdsFile, d.delete_ids.data(), d.delete_ids.size() * 8));
  return d;
}

Result<int> DeltaLog::Retire(int64_t through) {
  if (through <= 0 || !env_->Exists(dir_)) return 0;
  FRB_ASSIGN_OR_RETURN(auto lock, env_->LockFile(JoinPath(dir_, ".lock"), true));
  FRB_ASSIGN_OR_RETURN(int64_t last, LastSeqLocked());
  // First the marker, so a crash half-way never lets a sequence number be
  // issued again.
  FRB_RETURN_IF_ERROR(WriteFileAtomic(env_, JoinPath(dir_, kRetiredFile),
                                      std::to_string(std::max(last, through)) + "\n"));
  FRB_ASSIGN_OR_RETURN(auto names, env_->ListDir(dir_));
  int removed = 0;
  for (const auto& name : names) {
    int64_t seq = 0;
    if (!ParseSeqName(name, &seq) || seq > through) continue;
    FRB_RETURN_IF_ERROR(env_->RemoveAll(JoinPath(dir_, name)));
    ++removed;
  }
  if (removed > 0) FRB_RETURN_IF_ERROR(env_->SyncDir(dir_));
  return removed;
}

}  // namespace frb
