#include "server.h"

#include <httplib.h>
#include <omp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "frb/json.h"
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

SearchServer::SearchServer(IndexRegistry* registry, SearchMetrics* metrics,
                           ServerOptions options)
    : http_(std::make_unique<httplib::Server>()),
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
  // httplib gives each keep-alive connection a worker for its whole life, and
  // a connection beyond the pool waits until another closes, so the pool is
  // sized for connections, not cores: max(16, 4 x cores). The CPU is not
  // oversubscribed by this: each single-query search runs one OpenMP thread
  // (below), and only `cores` of them make progress at a time.
  const int threads = options_.threads > 0 ? options_.threads : std::max(16, 4 * Cores());
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_keep_alive_max_count(10000);
  http_->set_keep_alive_timeout(5);
  http_->set_read_timeout(options_.timeout_s, 0);
  http_->set_write_timeout(options_.timeout_s, 0);
  http_->set_tcp_nodelay(true);
  // A batch at the limit with long decimal floats stays far below this.
  http_->set_payload_max_length(64u << 20);
  Routes();
}

SearchServer::~SearchServer() = default;

Result<int> SearchServer::Bind(const std::string& host, int port) {
  if (port == 0) {
    int bound = http_->bind_to_any_port(host);
    if (bound <= 0) return IOError("cannot bind " + host + ":0");
    return bound;
  }
  if (!http_->bind_to_port(host, port))
    return IOError("cannot bind " + host + ":" + std::to_string(port));
  return port;
}

Status SearchServer::Run() {
  if (!http_->listen_after_bind()) return IOError("the HTTP server stopped with an error");
  return Status::Ok();
}

void SearchServer::Stop() { http_->stop(); }

void SearchServer::Routes() {
  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", kJson);
  });

  http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
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

  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_->Serialize(), "text/plain; version=0.0.4");
  });

  http_->Get("/api/v1/indexes", [this](const httplib::Request&, httplib::Response& res) {
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
      }
      list.Push(std::move(e));
    }
    Json out = Json::MakeObject();
    out["indexes"] = std::move(list);
    res.set_content(out.Dump(), kJson);
  });

  http_->Post(R"(/api/v1/indexes/([^/]+)/search)",
              [this](const httplib::Request& req, httplib::Response& res) {
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
    auto parsed = ParseSearchRequest(req.body, *li, options_.limits);
    if (!parsed.ok()) return finish(400, ErrorBody(parsed.status().message()));
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

  // httplib answers unmatched routes (404), oversized bodies (413) and the
  // like itself with an empty body; give every error a JSON body.
  http_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg = res.status == 404   ? "no route " + req.method + " " + req.path
                      : res.status == 413 ? std::string("request body too large")
                                          : "HTTP " + std::to_string(res.status);
    res.set_content(ErrorBody(msg), kJson);
  });
  http_->set_exception_handler(
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
