#include "reporter.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace frb::searchd {

ReporterTarget ReporterTargetFrom(const Config& config) {
  ReporterTarget t;
  t.enabled = config.search_report_corruption;
  t.token_file = config.http_token_file;
  const std::string& listen = config.http_listen;
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    t.enabled = false;
    return t;
  }
  t.host = listen.substr(0, colon);
  if (t.host.size() >= 2 && t.host.front() == '[' && t.host.back() == ']')
    t.host = t.host.substr(1, t.host.size() - 2);
  // A daemon listening on every address is reachable on loopback.
  if (t.host.empty() || t.host == "0.0.0.0") t.host = "127.0.0.1";
  if (t.host == "::") t.host = "::1";
  try {
    t.port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    t.enabled = false;
  }
  return t;
}

CorruptionReporter::CorruptionReporter(Env* env, ReporterTarget target, ReporterOptions options)
    : env_(env), options_(options), target_(std::move(target)) {
  thread_ = std::thread([this] { Run(); });
}

CorruptionReporter::~CorruptionReporter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CorruptionReporter::Report(const std::string& index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!target_.enabled) {
      spdlog::info("index {}: not asking faiss-rebuildd to repair it "
                   "(search_server.report_corruption is off)", index);
      return;
    }
    if (std::find(queue_.begin(), queue_.end(), index) != queue_.end()) return;
    if (queue_.size() >= options_.max_queued) {
      spdlog::warn("index {}: too many reports queued; not asking the daemon", index);
      return;
    }
    queue_.push_back(index);
  }
  cv_.notify_all();
}

void CorruptionReporter::SetTarget(ReporterTarget target) {
  std::lock_guard<std::mutex> lock(mu_);
  target_ = std::move(target);
}

int CorruptionReporter::Send(const ReporterTarget& target, const std::string& index) {
  httplib::Client client(target.host, target.port);
  client.set_connection_timeout(options_.timeout);
  client.set_read_timeout(options_.timeout);
  client.set_write_timeout(options_.timeout);
  httplib::Headers headers;
  if (!target.token_file.empty()) {
    auto token = ReadFileToString(env_, target.token_file);
    if (!token.ok()) {
      spdlog::warn("index {}: cannot read the daemon's token: {}", index,
                   token.status().ToString());
    } else {
      std::string tok = *token;
      while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' '))
        tok.pop_back();
      headers.emplace("Authorization", "Bearer " + tok);
    }
  }
  // Config validation limits index names to characters safe in a path.
  const std::string path = "/api/v1/indexes/" + index + "/verify";
  auto res = client.Post(path, headers, "{\"reason\":\"live version failed verification in "
                                        "faiss-searchd\"}",
                         "application/json");
  if (!res) {
    spdlog::warn("index {}: asking faiss-rebuildd at {}:{} to verify it failed: {}", index,
                 target.host, target.port, httplib::to_string(res.error()));
    return 0;
  }
  return res->status;
}

void CorruptionReporter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const std::string index = queue_.front();
    queue_.pop_front();
    auto backoff = options_.backoff;
    for (int attempt = 1; attempt <= options_.attempts && !stop_; ++attempt) {
      const ReporterTarget target = target_;
      if (!target.enabled) break;
      lock.unlock();
      const int code = Send(target, index);
      lock.lock();
      if (code >= 200 && code < 300) {
        spdlog::info("index {}: asked faiss-rebuildd to verify and repair it (HTTP {})", index,
                     code);
        break;
      }
      if (code == 404 || code == 405) {
        // A daemon without the endpoint (older version): retries cannot help.
        if (!warned_404_)
          spdlog::warn("faiss-rebuildd at {}:{} has no verify endpoint (HTTP {}); repair "
                       "{} by hand (faiss-rebuild verify / rollback)", target.host,
                       target.port, code, index);
        warned_404_ = true;
        break;
      }
      if (code != 0)
        spdlog::warn("index {}: faiss-rebuildd answered HTTP {} to the verify request", index,
                     code);
      if (attempt == options_.attempts) {
        spdlog::error("index {}: gave up asking faiss-rebuildd to verify it after {} attempts",
                      index, attempt);
        break;
      }
      cv_.wait_for(lock, backoff, [&] { return stop_; });
      backoff *= 2;
    }
  }
}

}  // namespace frb::searchd
