// `repo`: the object-storage repository of a config's `repository:`
// section, read directly (ls, verify, pull); no daemon needed.
#include <cstdio>

#include "cli.h"
#include "frb/env.h"
#include "frb/repository.h"
#include "frb/repository_sync.h"

namespace frb::cli {
namespace {

struct Opened {
  std::unique_ptr<S3Client> client;
  std::unique_ptr<Repository> repo;
};

Result<Opened> Open(const GlobalOptions& g, const std::string& name) {
  FRB_ASSIGN_OR_RETURN(Config cfg, LoadCliConfig(g));
  if (cfg.repository.url.empty())
    return InvalidArgument("the config has no repository: section (repository.url)");
  if (!IsValidIndexName(name)) return InvalidArgument("invalid index name '" + name + "'");
  FRB_ASSIGN_OR_RETURN(S3Location loc, ParseS3Url(cfg.repository.url));
  Opened o;
  FRB_ASSIGN_OR_RETURN(o.client, S3Client::Create(RepositoryS3Options(cfg.repository),
                                                  Env::Default()));
  o.repo = std::make_unique<Repository>(o.client.get(), loc, Env::Default());
  return o;
}

}  // namespace

int CmdRepoLs(const GlobalOptions& g, const std::string& name) {
  auto o = Open(g, name);
  if (!o.ok()) return Fail(o.status());
  auto pointer = o->repo->ReadPointer(name);
  if (!pointer.ok()) return Fail(pointer.status());
  auto ids = o->repo->ListVersions(name);
  if (!ids.ok()) return Fail(ids.status());
  Json out = Json::MakeArray();
  for (const auto& id : *ids) {
    Json e = Json::MakeObject();
    e["version"] = id;
    e["live"] = *pointer && (*pointer)->live == id;
    e["previous"] = *pointer && (*pointer)->previous.value_or("") == id;
    auto v = o->repo->ReadVersion(name, id);
    if (v.ok()) {
      uint64_t bytes = 0;
      for (const auto& f : v->files) bytes += f.size;
      e["created_at"] = v->created_at;
      e["parent"] = v->parent ? Json(*v->parent) : Json();
      e["bytes"] = bytes;
    } else {
      e["error"] = v.status().ToString();
    }
    out.Push(std::move(e));
  }
  if (g.json) {
    Json doc = Json::MakeObject();
    doc["index"] = name;
    doc["repository"] = o->repo->location().ToUrl();
    doc["live"] = *pointer ? Json((*pointer)->live) : Json();
    doc["updated_at"] = *pointer ? Json((*pointer)->updated_at) : Json();
    doc["publisher"] = *pointer ? Json((*pointer)->publisher) : Json();
    doc["versions"] = std::move(out);
    PrintJson(doc);
    return kExitOk;
  }
  if (!*pointer) std::printf("%s: no pointer yet (never published)\n", name.c_str());
  else
    std::printf("%s: live %s (pointer updated %s by %s)\n", name.c_str(), (*pointer)->live.c_str(),
                (*pointer)->updated_at.c_str(), (*pointer)->publisher.c_str());
  std::printf("%-32s %-9s %-21s %s\n", "VERSION", "", "CREATED", "SIZE");
  for (const auto& e : out.as_array()) {
    std::string mark = e.GetBool("live") ? "live" : e.GetBool("previous") ? "previous" : "";
    if (!e.GetString("error").empty()) {
      std::printf("%-32s %-9s %s\n", e.GetString("version").c_str(), mark.c_str(),
                  e.GetString("error").c_str());
      continue;
    }
    std::printf("%-32s %-9s %-21s %s\n", e.GetString("version").c_str(), mark.c_str(),
                e.GetString("created_at").c_str(),
                HumanBytes(static_cast<uint64_t>(e.GetInt("bytes"))).c_str());
  }
  return kExitOk;
}

int CmdRepoVerify(const GlobalOptions& g, const std::string& name, const std::string& version) {
  auto o = Open(g, name);
  if (!o.ok()) return Fail(o.status());
  std::vector<std::string> ids;
  if (!version.empty()) {
    ids.push_back(version);
  } else {
    auto all = o->repo->ListVersions(name);
    if (!all.ok()) return Fail(all.status());
    ids = *all;
  }
  Json out = Json::MakeArray();
  bool all_ok = true;
  for (const auto& id : ids) {
    Status s = o->repo->Verify(name, id);
    Json e = Json::MakeObject();
    e["version"] = id;
    e["ok"] = s.ok();
    if (!s.ok()) {
      e["error"] = s.ToString();
      all_ok = false;
      // Only corruption is a verdict on the data; anything else is an error.
      if (s.code() != Code::kCorruption) {
        if (!g.json) std::printf("%s: version %s: ERROR %s\n", name.c_str(), id.c_str(), s.ToString().c_str());
        if (g.json) PrintJson(out);
        return Fail(s);
      }
    }
    if (!g.json) {
      if (s.ok()) std::printf("%s: version %s: ok\n", name.c_str(), id.c_str());
      else std::printf("%s: version %s: CORRUPT %s\n", name.c_str(), id.c_str(), s.message().c_str());
    }
    out.Push(std::move(e));
  }
  if (g.json) PrintJson(out);
  if (!all_ok) return Fail(kExitCorrupt, "the repository holds corrupt objects");
  return kExitOk;
}

int CmdRepoPull(const GlobalOptions& g, const std::string& name, const std::string& version,
                const std::string& dir) {
  auto o = Open(g, name);
  if (!o.ok()) return Fail(o.status());
  std::string id = version;
  if (id.empty()) {
    auto p = o->repo->ReadPointer(name);
    if (!p.ok()) return Fail(p.status());
    if (!*p) return Fail(NotFound(name + ": the repository has no live version yet"));
    id = (*p)->live;
  }
  Status s = o->repo->Pull(name, id, dir);
  if (s.code() == Code::kCorruption) return Fail(kExitCorrupt, s.ToString());
  if (!s.ok()) return Fail(s);
  if (g.json) {
    Json doc = Json::MakeObject();
    doc["index"] = name;
    doc["version"] = id;
    doc["dir"] = dir;
    doc["bytes_downloaded"] = o->client->stats().bytes_downloaded;
    PrintJson(doc);
  } else {
    std::printf("pulled %s %s into %s (%s downloaded, SHA-256 verified)\n", name.c_str(), id.c_str(),
                dir.c_str(), HumanBytes(o->client->stats().bytes_downloaded).c_str());
  }
  return kExitOk;
}

}  // namespace frb::cli
