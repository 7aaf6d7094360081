#include "follower.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "frb/manifest.h"
#include "frb/timezone.h"

namespace frb::searchd {
namespace {

// The longest wait before retrying a version that keeps failing: a corrupt
// object in the store stays corrupt, and re-reading hundreds of MB every
// poll would only load the store.
constexpr std::chrono::seconds kMaxBackoff{60};

}  // namespace

Result<std::chrono::milliseconds> ParseInterval(std::string_view text) {
  if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
    int64_t ms = 0;
    auto digits = text.substr(0, text.size() - 2);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
    if (ec != std::errc() || p != digits.data() + digits.size() || ms <= 0)
      return InvalidArgument("'" + std::string(text) + "' is not a positive duration");
    return std::chrono::milliseconds(ms);
  }
  FRB_ASSIGN_OR_RETURN(std::chrono::seconds s, ParseDuration(text));
  if (s.count() <= 0)
    return InvalidArgument("'" + std::string(text) + "' is not a positive duration");
  return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}

Follower::Follower(Env* env, FollowOptions options, const IndexRegistry* registry,
                   FollowMetrics* metrics, std::function<void()> on_installed)
    : env_(env),
      options_(std::move(options)),
      registry_(registry),
      metrics_(metrics),
      on_installed_(std::move(on_installed)) {}

Follower::~Follower() { Stop(std::chrono::hours(1)); }

Result<std::unique_ptr<Follower::IndexState>> Follower::NewState(const std::string& name) {
  auto cache = std::make_unique<FollowCache>(env_, options_.cache_dir, name);
  FRB_RETURN_IF_ERROR(cache->Open());
  auto st = std::make_unique<IndexState>(std::move(cache));
  // After a restart the cache already serves what it installed last.
  st->installed = st->cache->LocalLive().value_or("");
  metrics_->RegisterIndex(name);
  return st;
}

Status Follower::Open(const std::vector<std::string>& indexes) {
  FRB_ASSIGN_OR_RETURN(S3Location loc, ParseS3Url(options_.url));
  FRB_ASSIGN_OR_RETURN(client_, S3Client::Create(options_.s3, env_));
  repo_ = std::make_unique<Repository>(client_.get(), loc, env_);
  return Reconfigure(indexes);
}

Status Follower::Reconfigure(const std::vector<std::string>& indexes) {
  std::map<std::string, std::shared_ptr<IndexState>> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& name : indexes)
      if (auto it = states_.find(name); it != states_.end()) next[name] = it->second;
  }
  for (const std::string& name : indexes) {
    if (next.count(name)) continue;
    FRB_ASSIGN_OR_RETURN(auto st, NewState(name));
    next[name] = std::move(st);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    states_ = std::move(next);
  }
  cv_.notify_all();  // poll the new ones now
  return Status::Ok();
}

void Follower::Start() {
  thread_ = std::thread([this] { Run(); });
}

bool Follower::Stop(std::chrono::milliseconds wait) {
  if (!thread_.joinable()) return true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!done_ && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!done_) return false;
  thread_.join();
  return true;
}

void Follower::Run() {
  spdlog::info("following {} (polling every {} ms, cache {})", options_.url,
               options_.interval.count(), options_.cache_dir);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    // A copy: Reconfigure may replace the map while an index downloads.
    auto states = states_;
    lock.unlock();
    for (auto& [name, st] : states) {
      Poll(name, *st);
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) break;
    }
    lock.lock();
    cv_.wait_for(lock, options_.interval, [this] { return stop_; });
  }
  done_ = true;
}

void Follower::Fail(const std::string& name, IndexState& st, std::string_view stage,
                    const Status& why) {
  metrics_->CountFailure(name, stage);
  const std::string msg = std::string(stage) + ": " + why.ToString();
  if (msg != st.last_error) {
    const std::string serving = registry_->Get(name) ? registry_->Get(name)->version : "";
    spdlog::error("index {}: follow {} failed: {}; {}", name, options_.url, msg,
                  serving.empty() ? std::string("nothing served yet")
                                  : "still serving " + serving);
    st.last_error = msg;
  }
}

void Follower::Poll(const std::string& name, IndexState& st) {
  auto read = repo_->ReadPointerIfChanged(name, st.etag);
  if (!read.ok()) {
    Fail(name, st, "pointer", read.status());
    UpdateLag(name, st);
    return;
  }
  metrics_->SetPointerRead(name, NowUnixMillis() / 1000.0);
  if (!read->not_modified) {
    if (!read->pointer) {
      // Never published: nothing to follow yet (readiness says so).
      st.pointer.reset();
      st.etag.clear();
      return;
    }
    const bool moved = !st.pointer || st.pointer->live != read->pointer->live;
    st.pointer = *read->pointer;
    st.etag = st.pointer->etag;
    if (moved) {
      const int64_t now = NowUnixMillis();
      auto at = ParseIso8601(st.pointer->updated_at, TimeZone::Utc());
      // The publisher's clock, unless it is ahead of ours.
      st.moved_unix_ms = at.ok() && *at * 1000 <= now ? *at * 1000 : now;
      metrics_->SetPointerVersion(name, st.pointer->live);
      spdlog::info("index {}: repository pointer names {} (previous {})", name,
                   st.pointer->live, st.pointer->previous.value_or("none"));
    }
  }
  if (st.pointer && st.installed != st.pointer->live) Install(name, st);
  UpdateLag(name, st);
}

void Follower::Install(const std::string& name, IndexState& st) {
  const std::string version = st.pointer->live;
  const std::string previous = st.pointer->previous.value_or("");
  if (Status ok = VersionStore::CheckVersionId(version); !ok.ok()) {
    Fail(name, st, "pointer", ok);
    return;
  }
  if (st.failing == version && std::chrono::steady_clock::now() < st.retry_at) return;
  std::string how = "cache";
  if (!st.cache->Has(version)) {
    how = "download";
    // Backoff for a version that keeps failing: the interval, doubled per
    // failure, at most kMaxBackoff. A new pointer version is tried at once.
    auto failed = [&](std::string_view stage, const Status& why) {
      if (st.failing != version) st.failures = 0;
      st.failing = version;
      ++st.failures;
      auto delay = options_.interval * (1 << std::min(st.failures - 1, 10));
      st.retry_at = std::chrono::steady_clock::now() +
                    std::min<std::chrono::milliseconds>(delay, kMaxBackoff);
      Fail(name, st, stage, why);
    };
    auto manifest = repo_->ReadVersion(name, version);
    if (!manifest.ok()) return failed("manifest", manifest.status());
    uint64_t total = 0;
    for (const RepoFile& f : manifest->files) total += f.size;
    auto staging = st.cache->StagingFor(version);
    if (!staging.ok()) return failed("install", staging.status());
    // Room for the download beside what is cached (partials count already,
    // but a rough check names the problem better than ENOSPC mid-file).
    if (auto space = env_->GetDiskSpace(*staging); space.ok() && space->free_bytes < total)
      return failed("install", IOError(*staging + ": " + std::to_string(space->free_bytes) +
                                       " bytes free, version " + version + " needs " +
                                       std::to_string(total)));
    spdlog::info("index {}: downloading version {} ({} bytes)", name, version, total);
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t before = client_->stats().bytes_downloaded;
    Status pulled = repo_->Pull(name, version, *staging);
    const uint64_t got = client_->stats().bytes_downloaded - before;
    metrics_->AddBytes(name, got);
    if (!pulled.ok())
      return failed(pulled.code() == Code::kCorruption ? "verify" : "download", pulled);
    // The file Pull hashed; Install renames its directory and chmods it.
    auto pulled_file = env_->Stat(JoinPath(*staging, "index.faiss"));
    if (Status in = st.cache->Install(version); !in.ok()) return failed("install", in);
    if (pulled_file.ok()) RecordVerified(name, st, version, *manifest, *pulled_file);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("index {}: version {} downloaded and verified ({} bytes in {:.3f}s, "
                 "{:.1f} MB/s)", name, version, got, secs, secs > 0 ? got / secs / 1e6 : 0.0);
  }
  if (Status p = st.cache->Point(version, previous); !p.ok()) {
    Fail(name, st, "install", p);
    return;
  }
  st.installed = version;
  st.failing.clear();
  st.failures = 0;
  st.last_error.clear();
  metrics_->CountInstall(name, how);
  spdlog::info("index {}: version {} installed from the {}; handing it to the server", name,
               version, how == "cache" ? "cache (no download)" : "repository");
  if (on_installed_) on_installed_();
  std::set<std::string> keep = {version};
  if (!previous.empty()) keep.insert(previous);
  if (auto served = registry_->Get(name)) keep.insert(served->version);  // never what is loaded
  auto pruned = st.cache->Prune(keep, options_.cache_versions, "");
  if (!pruned.ok()) {
    spdlog::warn("index {}: cannot prune the follow cache: {}", name,
                 pruned.status().ToString());
  } else if (!pruned->empty()) {
    std::string list;
    for (const auto& v : *pruned) {
      list += (list.empty() ? "" : ", ") + v;
      if (options_.verified != nullptr)
        options_.verified->ForgetUnder(st.cache->store().VersionDir(v));
    }
    spdlog::info("index {}: removed from the follow cache: {}", name, list);
  }
}

void Follower::RecordVerified(const std::string& name, IndexState& st,
                              const std::string& version, const RepoVersion& repo_version,
                              const FileInfo& pulled) {
  if (options_.verified == nullptr) return;
  const VersionStore& store = st.cache->store();
  auto m = store.ReadManifest(version);
  if (!m.ok()) return;  // the registry's load reports it
  const std::string path = store.VersionIndexPath(version);
  // Pull checked each file against the repository's listing; the load
  // checks against manifest.json. Only when both name the same bytes is
  // the download's hash the load's.
  bool same = false;
  for (const RepoFile& f : repo_version.files)
    if (JoinPath(store.VersionDir(version), f.name) == path)
      same = f.sha256 == m->file_sha256 && f.size == m->file_size;
  if (!same) return;
  // The very file Pull hashed (a version directory left by an earlier run
  // is another inode), unwritten since (chmod changes only its ctime).
  auto info = env_->Stat(path);
  if (!info.ok() || info->size != m->file_size || info->inode != pulled.inode ||
      info->device != pulled.device || info->mtime_ns != pulled.mtime_ns ||
      info->size != pulled.size)
    return;
  options_.verified->Record(path, *info);
  spdlog::debug("index {}: version {} recorded as hashed at download", name, version);
}

void Follower::UpdateLag(const std::string& name, const IndexState& st) {
  if (!st.pointer) return;
  auto served = registry_->Get(name);
  if (served && served->version == st.pointer->live) {
    metrics_->SetLag(name, 0);
    return;
  }
  metrics_->SetLag(name, std::max<int64_t>(0, NowUnixMillis() - st.moved_unix_ms) / 1000.0);
}

}  // namespace frb::searchd
