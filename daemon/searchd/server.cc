#include "server.h"

#include <httplib.h>
#include <omp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "frb/json.h"
#include "http_server.h"
#include "frb/manifest.h"

namespace frb::searchd {
namespace {

constexpr const char* kJson = "application/json";

int Cores() { return std::max(1u, std::thread::hardware_concurrency()); }

// The OpenMP threads a batch may use, as the process started: the CPUs it may
// run on, or OMP_NUM_THREADS when the operator set it (respected as a cap;
// it is also how sanitizer runs keep uninstrumented libgomp single-threaded).
// Read once, before any request thread changes its own setting.
int OmpBudget() {
  static const int budget = std::max(1, omp_get_max_threads());
  return budget;
}

// Counts a search in flight for as long as it lives.
// Thread safety: one per request; the shared counter is atomic.
class InFlight {
 public:
  explicit InFlight(std::atomic<int>& n) : n_(n), now_(n.fetch_add(1) + 1) {}
  ~InFlight() { n_.fetch_sub(1); }
  int now() const { return now_; }

 private:
  std::atomic<int>& n_;
  int now_;
};

}  // namespace

namespace {

http::ServerOptions HttpOptions(const ServerOptions& o) {
  http::ServerOptions h;
  h.limits = o.http;
  // Workers run handlers only (idle and slow connections wait in the
  // connection loop), but a single-vector search blocks in the coalescer
  // while its batch runs: max(16, 4 x cores) keeps the cores fed. The CPU
  // is not oversubscribed by this: each single-query search runs one
  // OpenMP thread (below), and only `cores` of them make progress at a time.
  h.threads = o.threads > 0 ? o.threads : std::max(16, 4 * Cores());
  return h;
}

}  // namespace

SearchServer::SearchServer(IndexRegistry* registry, SearchMetrics* metrics,
                           ServerOptions options)
    : http_(std::make_unique<http::HttpServer>(HttpOptions(options))),
      registry_(registry),
      metrics_(metrics),
      options_(options) {
  if (options_.rate_limit > 0) limiter_ = std::make_unique<RateLimiter>(options_.rate_limit);
  // One coalesced FAISS call per OpenMP thread of the budget, each on one
  // thread (below): the cores stay busy without oversubscribing them.
  const int lanes = OmpBudget();
  if (options_.coalesce_max > 1) {
    coalescer_ = std::make_unique<SearchCoalescer>(lanes, options_.coalesce_max);
    // FAISS's default (BLAS from 20 queries) leaves small coalesced batches
    // on the scalar path; from 2 on BLAS is cheaper per query (measured on
    // 1M x 128 IVF4096, one thread: 1.3 vs 1.5 ms at 2, 1.0 vs 1.4 ms at 4).
    SetBlasFromBatchesOf(2);
  }
  Routes();
}

SearchServer::~SearchServer() = default;

Result<int> SearchServer::Bind(const HostPort& address) { return http_->Bind(address); }

Status SearchServer::Run() { return http_->Run(); }

void SearchServer::Stop() { http_->Stop(); }

bool SearchServer::Alive(std::string* why) const {
  // The loop wakes every 50 ms; ten seconds without a turn is a hang.
  if (http_->LoopAlive(std::chrono::seconds(10))) return true;
  *why = "the HTTP connection loop has not run for over 10 s";
  return false;
}

void SearchServer::Routes() {
  httplib::Server& routes = http_->routes();
  routes.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", kJson);
  });

  routes.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    Json out = Json::MakeObject();
    Json missing = Json::MakeArray();
    for (const auto& [name, li] : registry_->List())
      if (!li) missing.Push(Json(name));
    const bool ready = missing.size() == 0;
    out["ready"] = ready;
    out["not_loaded"] = std::move(missing);
    // Serving, but not the live version: ready (queries are answered), and
    // saying why, for the operator and the alert's runbook.
    Json degraded = Json::MakeArray();
    for (const DegradedInfo& d : registry_->Degraded()) {
      Json e = Json::MakeObject();
      e["index"] = d.index;
      e["serving"] = d.serving;
      e["live"] = d.live;
      e["reason"] = d.reason;
      degraded.Push(std::move(e));
    }
    out["degraded"] = std::move(degraded);
    res.status = ready ? 200 : 503;
    res.set_content(out.Dump(), kJson);
  });

  routes.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_->Serialize(), "text/plain; version=0.0.4");
  });

  routes.Get("/api/v1/indexes", [this](const httplib::Request&, httplib::Response& res) {
    Json list = Json::MakeArray();
    for (const auto& [name, li] : registry_->List()) {
      Json e = Json::MakeObject();
      e["name"] = name;
      e["loaded"] = li != nullptr;
      if (li) {
        e["version"] = li->version;
        e["ntotal"] = li->ntotal;
        e["dim"] = li->dim;
        e["metric"] = li->metric;
        e["factory"] = li->factory;
        e["loaded_at"] = FormatUtcMillis(li->loaded_unix_ms);
        if (li->nprobe > 0) e["nprobe"] = li->nprobe;
        if (li->max_nprobe > 0) e["max_nprobe"] = li->max_nprobe;
        if (li->ef_search > 0) e["efSearch"] = li->ef_search;
        if (li->max_ef_search > 0) e["max_efSearch"] = li->max_ef_search;
        e["tuned"] = li->tuned;
      }
      list.Push(std::move(e));
    }
    Json out = Json::MakeObject();
    out["indexes"] = std::move(list);
    res.set_content(out.Dump(), kJson);
  });

  // The body streams into the parser as it arrives: no copy of it, no
  // JSON tree, and an invalid or oversized request stops the read.
  routes.Post(R"(/api/v1/indexes/([^/]+)/search)",
              [this](const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) {
    const auto start = std::chrono::steady_clock::now();
    const std::string name = req.matches[1];
    const bool known = registry_->IsConfigured(name);
    auto finish = [&](int code, std::string body) {
      res.status = code;
      res.set_content(std::move(body), kJson);
      metrics_->ObserveRequest(
          known ? name : std::string(), code,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    };
    if (limiter_ && !limiter_->TryAcquire())
      return finish(429, ErrorBody("rate limit exceeded"));
    if (!known) return finish(404, ErrorBody("no index named '" + name + "'"));
    // Holding this reference pins the version for the whole request: a swap
    // meanwhile serves later requests from the new version.
    std::shared_ptr<const LoadedIndex> li = registry_->Get(name);
    if (!li) return finish(503, ErrorBody("index '" + name + "' is not loaded yet"));
    SearchRequestParser parser(*li, options_.limits);
    const size_t cap = static_cast<size_t>(options_.http.max_body_bytes);
    size_t received = 0;
    const bool read = reader([&](const char* data, size_t n) {
      received += n;
      return received <= cap && parser.Feed(std::string_view(data, n)).ok();
    });
    if (received > cap)
      return finish(413, ErrorBody("request body exceeds the limit of " + std::to_string(cap) +
                                   " bytes"));
    if (!read && http::BodyTimedOut())
      return finish(408, ErrorBody("request body not received within the request timeout"));
    auto parsed = parser.Finish();
    if (!parsed.ok()) return finish(400, ErrorBody(parsed.status().message()));
    if (!read) return finish(400, ErrorBody("request body not received"));
    SearchRequest& sr = *parsed;
    InFlight in_flight(in_flight_);
    // One OpenMP thread per single query (the HTTP workers already keep the
    // cores busy); a batch may use its share of the OpenMP budget.
    omp_set_num_threads(sr.n == 1 ? 1 : std::max(1, OmpBudget() / in_flight.now()));
    std::vector<float> d(sr.n * sr.k);
    std::vector<int64_t> l(sr.n * sr.k);
    Status st;
    int batch_size = 1;
    if (sr.n == 1 && coalescer_) {
      st = coalescer_->Search(*li, sr.x.data(), sr.k, sr.params, d.data(), l.data(),
                              &batch_size);
    } else {
      st = li->Search(sr.n, sr.x.data(), sr.k, sr.params, d.data(), l.data());
    }
    if (sr.n == 1) metrics_->ObserveBatchSize(name, batch_size);
    if (!st.ok()) {
      spdlog::error("index {} version {}: {}", name, li->version, st.ToString());
      return finish(500, ErrorBody(st.message()));
    }
    finish(200, FormatSearchResponse(*li, sr, d.data(), l.data()));
  });

  routes.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("{} {}: {}", req.method, req.path, what);
        res.status = 500;
        res.set_content(ErrorBody("internal error"), kJson);
      });
}

}  // namespace frb::searchd
