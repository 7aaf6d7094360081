// The repository's layout, documents and writer: objects, version
// manifests and the pointer (conditional PUT, or lock plus read-back).
#include "frb/repository.h"

#include <ctime>
#include <random>

#include "frb/json.h"
#include "frb/manifest.h"
#include "frb/sha256.h"
#include "frb/store.h"
#include "repository_internal.h"

namespace frb {

std::string Rfc3339Utc(int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace repo_internal {

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  return true;
}

bool SafeFileName(const std::string& n) {
  return !n.empty() && n.size() < 256 && n != "." && n != ".." &&
         n.find('/') == std::string::npos && n.find('\0') == std::string::npos &&
         !n.ends_with(".partial");
}

std::string VersionJson(const RepoVersion& v) {
  Json doc = Json::MakeObject();
  doc["format"] = 1;
  doc["index"] = v.index;
  doc["version"] = v.version;
  doc["created_at"] = v.created_at;
  doc["parent"] = v.parent ? Json(*v.parent) : Json();
  doc["kind"] = v.kind;
  Json files = Json::MakeArray();
  for (const auto& f : v.files) {
    Json e = Json::MakeObject();
    e["name"] = f.name;
    e["size"] = f.size;
    e["sha256"] = f.sha256;
    files.Push(std::move(e));
  }
  doc["files"] = std::move(files);
  return doc.Dump(2) + "\n";
}

Result<RepoVersion> ParseVersion(const std::string& text, const std::string& origin) {
  auto doc = Json::Parse(text);
  if (!doc.ok()) return Corruption(origin + ": " + doc.status().message());
  if (!doc->is_object() || doc->GetInt("format") != 1)
    return Corruption(origin + ": not a format-1 version manifest");
  RepoVersion v;
  v.index = doc->GetString("index");
  v.version = doc->GetString("version");
  v.created_at = doc->GetString("created_at");
  v.kind = doc->GetString("kind", "full");
  if (const Json* p = doc->Find("parent"); p && p->is_string()) v.parent = p->as_string();
  const Json* files = doc->Find("files");
  if (!files || !files->is_array() || files->size() == 0)
    return Corruption(origin + ": no files");
  for (const Json& f : files->as_array()) {
    if (!f.is_object()) return Corruption(origin + ": malformed file entry");
    const Json* size = f.Find("size");
    RepoFile rf{f.GetString("name"), 0, f.GetString("sha256")};
    if (!size || !size->is_int() || size->as_int() < 0 || !SafeFileName(rf.name) ||
        !IsHex64(rf.sha256))
      return Corruption(origin + ": malformed file entry");
    rf.size = static_cast<uint64_t>(size->as_int());
    v.files.push_back(std::move(rf));
  }
  if (!VersionStore::CheckVersionId(v.version).ok())
    return Corruption(origin + ": invalid version id");
  return v;
}

std::string PointerJson(const RepoPointer& p) {
  Json doc = Json::MakeObject();
  doc["format"] = 1;
  doc["live"] = p.live;
  doc["previous"] = p.previous ? Json(*p.previous) : Json();
  doc["updated_at"] = p.updated_at;
  doc["publisher"] = p.publisher;
  return doc.Dump(2) + "\n";
}

Result<RepoPointer> ParsePointer(const std::string& text, const std::string& origin) {
  auto doc = Json::Parse(text);
  if (!doc.ok()) return Corruption(origin + ": " + doc.status().message());
  if (!doc->is_object() || doc->GetInt("format") != 1)
    return Corruption(origin + ": not a format-1 pointer");
  RepoPointer p;
  p.live = doc->GetString("live");
  if (const Json* prev = doc->Find("previous"); prev && prev->is_string())
    p.previous = prev->as_string();
  p.updated_at = doc->GetString("updated_at");
  p.publisher = doc->GetString("publisher");
  if (!VersionStore::CheckVersionId(p.live).ok() ||
      (p.previous && !VersionStore::CheckVersionId(*p.previous).ok()))
    return Corruption(origin + ": invalid version id");
  return p;
}

}  // namespace repo_internal

using namespace repo_internal;  // NOLINT: this file's own helpers

Repository::Repository(S3Client* client, S3Location location, Env* env)
    : client_(client), loc_(std::move(location)), env_(env) {}

std::string Repository::ObjectKey(const std::string& index, const std::string& sha256) const {
  return loc_.Key(index + "/objects/sha256/" + sha256);
}
std::string Repository::VersionKey(const std::string& index, const std::string& version) const {
  return loc_.Key(index + "/versions/" + version + ".json");
}
std::string Repository::PointerKey(const std::string& index) const {
  return loc_.Key(index + "/pointer.json");
}

Result<bool> Repository::ProbeConditionalPut() {
  std::mt19937_64 rng(std::random_device{}());
  std::string key = loc_.Key(".frb-probe/" + std::to_string(rng()));
  FRB_ASSIGN_OR_RETURN(std::string etag, client_->Put(loc_.bucket, key, "probe"));
  (void)etag;
  S3PutConditions cond;
  cond.if_none_match_any = true;
  auto second = client_->Put(loc_.bucket, key, "probe-2", cond);
  (void)client_->Delete(loc_.bucket, key);
  if (second.ok()) {
    conditional_put_ = false;
  } else if (second.status().code() == Code::kFailedPrecondition) {
    conditional_put_ = true;
  } else if (second.status().code() == Code::kInvalidArgument) {
    conditional_put_ = false;  // a store that refuses the header (501/400)
  } else {
    return second.status();
  }
  return conditional_put_;
}

Result<std::optional<RepoPointer>> Repository::ReadPointer(const std::string& index) {
  FRB_ASSIGN_OR_RETURN(RepoPointerRead r, ReadPointerIfChanged(index, ""));
  return r.pointer;
}

Result<RepoPointerRead> Repository::ReadPointerIfChanged(const std::string& index,
                                                         const std::string& etag) {
  const std::string key = PointerKey(index);
  auto got = client_->Get(loc_.bucket, key, etag);
  RepoPointerRead out;
  if (!got.ok()) {
    if (got.status().code() == Code::kNotFound) return out;
    return got.status();
  }
  if (got->not_modified) {
    out.not_modified = true;
    return out;
  }
  FRB_ASSIGN_OR_RETURN(RepoPointer p, ParsePointer(got->body, loc_.bucket + "/" + key));
  p.etag = got->etag;
  out.pointer = std::move(p);
  return out;
}

Result<RepoVersion> Repository::ReadVersion(const std::string& index, const std::string& version) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(version));
  const std::string key = VersionKey(index, version);
  FRB_ASSIGN_OR_RETURN(S3GetResult got, client_->Get(loc_.bucket, key));
  std::string origin = "s3://" + loc_.bucket + "/" + key;
  FRB_ASSIGN_OR_RETURN(RepoVersion v, ParseVersion(got.body, origin));
  if (v.index != index || v.version != version)
    return Corruption(origin + ": names " + v.index + "/" + v.version);
  return v;
}

Result<std::vector<std::string>> Repository::ListVersions(const std::string& index) {
  const std::string prefix = loc_.Key(index + "/versions/");
  FRB_ASSIGN_OR_RETURN(auto objects, client_->List(loc_.bucket, prefix));
  std::vector<std::string> out;
  for (const auto& o : objects) {
    std::string name = o.key.substr(prefix.size());
    if (name.ends_with(".json") && name.find('/') == std::string::npos)
      out.push_back(name.substr(0, name.size() - 5));
  }
  return out;  // List is in key order; version ids sort by sequence
}

Result<RepoVersion> Repository::UploadVersion(const std::string& index, const std::string& version,
                                              const std::string& local_dir,
                                              const std::optional<std::string>& parent,
                                              const std::string& kind, uint64_t* bytes_uploaded) {
  FRB_RETURN_IF_ERROR(VersionStore::CheckVersionId(version));
  FRB_ASSIGN_OR_RETURN(auto names, env_->ListDir(local_dir));
  RepoVersion v;
  v.index = index;
  v.version = version;
  v.parent = parent;
  v.kind = kind;
  v.created_at = Rfc3339Utc(std::time(nullptr));
  // The local manifest already carries the index file's digest; PutFile
  // re-hashes while it uploads, so a file that differs is refused.
  std::string index_sha;
  if (auto f = env_->NewSequentialFile(JoinPath(local_dir, "manifest.json")); f.ok()) {
    std::string text;
    char buf[8192];
    size_t got = 0;
    while ((*f)->Read(buf, sizeof(buf), &got).ok() && got > 0) text.append(buf, got);
    if (auto m = Manifest::Parse(text, local_dir); m.ok()) index_sha = m->file_sha256;
  }
  uint64_t sent = 0;
  for (const auto& name : names) {
    std::string path = JoinPath(local_dir, name);
    FRB_ASSIGN_OR_RETURN(FileInfo info, env_->Stat(path));
    if (!info.is_regular || !SafeFileName(name)) continue;
    RepoFile rf{name, info.size, ""};
    if (name == "index.faiss" && IsHex64(index_sha)) {
      rf.sha256 = index_sha;
    } else {
      FRB_ASSIGN_OR_RETURN(rf.sha256, Sha256File(env_, path));
    }
    const std::string key = ObjectKey(index, rf.sha256);
    auto head = client_->Head(loc_.bucket, key);
    if (head.ok() && head->size == rf.size) {
      v.files.push_back(std::move(rf));
      continue;  // content-addressed: already there
    }
    if (!head.ok() && head.status().code() != Code::kNotFound) return head.status();
    auto put = client_->PutFile(loc_.bucket, key, path, rf.sha256);
    if (!put.ok()) return put.status().WithContext("upload " + path);
    sent += rf.size;
    v.files.push_back(std::move(rf));
  }
  if (v.files.empty()) return InvalidArgument(local_dir + ": no files to upload");
  // Written once: an existing manifest must name the same files.
  const std::string vkey = VersionKey(index, version);
  S3PutConditions cond;
  cond.if_none_match_any = conditional_put_;
  auto existing = ReadVersion(index, version);
  if (existing.ok()) {
    bool same = existing->files.size() == v.files.size();
    for (size_t i = 0; same && i < v.files.size(); ++i)
      same = existing->files[i].sha256 == v.files[i].sha256 &&
             existing->files[i].name == v.files[i].name;
    if (!same)
      return Status(Code::kAlreadyExists, "s3://" + loc_.bucket + "/" + vkey +
                                              " exists with other files (another publisher?)");
    if (bytes_uploaded) *bytes_uploaded = sent;
    return std::move(existing).value();
  }
  if (existing.status().code() != Code::kNotFound) return existing.status();
  std::string body = VersionJson(v);
  auto put = client_->Put(loc_.bucket, vkey, body, cond);
  if (!put.ok() && put.status().code() != Code::kFailedPrecondition) return put.status();
  if (!put.ok()) return UploadVersion(index, version, local_dir, parent, kind, bytes_uploaded);
  if (bytes_uploaded) *bytes_uploaded = sent + body.size();
  return v;
}

Result<RepoPointer> Repository::MovePointer(const std::string& index, const std::string& live,
                                            const std::optional<RepoPointer>& expected,
                                            const std::string& publisher) {
  FRB_ASSIGN_OR_RETURN(RepoVersion v, ReadVersion(index, live));
  (void)v;  // a pointer never names a version without its manifest
  if (expected && expected->live == live) return *expected;
  RepoPointer p;
  p.live = live;
  if (expected) p.previous = expected->live;
  p.updated_at = Rfc3339Utc(std::time(nullptr));
  p.publisher = publisher;
  const std::string key = PointerKey(index);
  const std::string body = PointerJson(p);
  S3PutConditions cond;
  if (conditional_put_) {
    if (expected) cond.if_match = expected->etag;
    else cond.if_none_match_any = true;
  } else {
    // No conditions on this store: check, write, read back. Publishers of
    // one index on one host are serialized by the index lock.
    FRB_ASSIGN_OR_RETURN(auto now, ReadPointer(index));
    if (now.has_value() != expected.has_value() || (now && now->etag != expected->etag))
      return FailedPrecondition("s3://" + loc_.bucket + "/" + key + " moved since it was read");
  }
  auto put = client_->Put(loc_.bucket, key, body, cond);
  if (!put.ok()) {
    if (put.status().code() == Code::kFailedPrecondition)
      return FailedPrecondition("s3://" + loc_.bucket + "/" + key +
                                " moved since it was read (another publisher)");
    return put.status();
  }
  p.etag = *put;
  if (!conditional_put_) {
    FRB_ASSIGN_OR_RETURN(auto back, ReadPointer(index));
    if (!back || back->live != p.live || back->updated_at != p.updated_at ||
        back->publisher != p.publisher)
      return FailedPrecondition("s3://" + loc_.bucket + "/" + key +
                                ": read-back names another write (another publisher)");
    p.etag = back->etag;
  }
  return p;
}

}  // namespace frb
