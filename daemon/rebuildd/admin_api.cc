#include "admin_api.h"

#include <spdlog/spdlog.h>


#include "daemon.h"
#include "frb/backup.h"
#include "frb/json.h"
#include "frb/manifest.h"
#include "frb/delta_log.h"
#include "frb/store.h"

namespace frb::rebuildd {
namespace {

void SendJson(httplib::Response& res, int code, const Json& j) {
  res.status = code;
  res.set_content(j.Dump(2) + "\n", "application/json");
}

void SendError(httplib::Response& res, int code, const std::string& msg) {
  Json j = Json::MakeObject();
  j["error"] = msg;
  SendJson(res, code, j);
}

int HttpCodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument: return 400;
    case Code::kNotFound: return 404;
    case Code::kBusy: return 409;
    case Code::kFailedPrecondition: return 409;
    case Code::kPermissionDenied: return 403;
    default: return 500;
  }
}

}  // namespace

namespace {

http::ServerOptions Options(const Daemon& daemon) {
  http::ServerOptions o;
  o.limits = daemon.config()->http_limits;
  o.threads = 8;
  return o;
}

}  // namespace

AdminServer::AdminServer(Daemon& daemon) : daemon_(daemon), http_(Options(daemon)) { Routes(); }

AdminServer::~AdminServer() { Stop(); }

Result<int> AdminServer::Bind(const HostPort& listen) { return http_.Bind(listen); }

void AdminServer::Serve() { http_.Start(); }

void AdminServer::Stop() { http_.Stop(); }

void AdminServer::Routes() {
  httplib::Server& server_ = http_.routes();
  const size_t max_body = static_cast<size_t>(http_.options().limits.max_body_bytes);
  // Errors httplib or the server answer themselves get a JSON body too.
  http_.set_error_handler([max_body](const httplib::Request&, httplib::Response& res) {
    std::string msg = res.status == 404   ? "no such endpoint"
                      : res.status == 413 ? "request body too large (limit " +
                                                std::to_string(max_body) + " bytes)"
                      : res.status == 405 ? "method not allowed"
                                          : "request failed (HTTP " + std::to_string(res.status) + ")";
    SendError(res, res.status, msg);
  });
  // Mutating requests without the token are refused from their head, before
  // any of their body is read.
  http_.set_head_check([this](const http::RequestHead& head) -> std::optional<http::Refusal> {
    if (!head.Mutating()) return std::nullopt;
    const std::string given = head.Header("Authorization");
    if (daemon_.auth().Check(given)) return std::nullopt;
    return http::Refusal{401, given.empty() ? "missing bearer token" : "wrong bearer token",
                         {{"WWW-Authenticate", "Bearer"}}};
  });
  server_.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("{} {}: {}", req.method, req.path, what);
        SendError(res, 500, "internal error: " + what);
      });
  server_.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    if (req.path != "/metrics" && req.path != "/healthz" && req.path != "/readyz")
      spdlog::debug("{} {} -> {}", req.method, req.path, res.status);
  });

  // Mutating endpoints pass through here first.
  auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
    if (daemon_.auth().Check(req.get_header_value("Authorization"))) return true;
    res.set_header("WWW-Authenticate", "Bearer");
    SendError(res, 401, req.has_header("Authorization") ? "wrong bearer token"
                                                        : "missing bearer token");
    return false;
  };

  server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    std::string why;
    if (!daemon_.Alive(&why)) return SendError(res, 503, why);
    SendJson(res, 200, Json(Json::Object{{"status", "alive"}}));
  });
  server_.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    std::string why;
    if (!daemon_.Ready(&why)) return SendError(res, 503, why);
    SendJson(res, 200, Json(Json::Object{{"status", "ready"}}));
  });
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(daemon_.metrics().Scrape(daemon_.env(), *daemon_.config(), daemon_.scheduler()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  server_.Get("/api/v1/status", [this](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, daemon_.StatusJson());
  });
  server_.Get(R"(/api/v1/indexes/([^/]+))",
              [this](const httplib::Request& req, httplib::Response& res) {
                auto j = daemon_.IndexJson(req.matches[1]);
                if (!j.ok()) return SendError(res, HttpCodeFor(j.status()), j.status().message());
                SendJson(res, 200, *j);
              });
  http_.PostBody(R"(/api/v1/indexes/([^/]+)/rebuild)",
               [this, authorized](const httplib::Request& req, httplib::Response& res,
                                  const std::string& raw) {
                 if (!authorized(req, res)) return;
                 std::string trigger = "api";
                 bool force = false;
                 if (!raw.empty()) {
                   auto body = Json::Parse(raw);
                   if (!body.ok() || !body->is_object())
                     return SendError(res, 400, "body must be a JSON object: " +
                                                    (body.ok() ? std::string("got another type")
                                                               : body.status().message()));
                   // The CLI says who asked, so job records show "cli".
                   std::string t = body->GetString("trigger", "api");
                   if (t != "api" && t != "cli")
                     return SendError(res, 400, "trigger must be \"api\" or \"cli\"");
                   trigger = t;
                   if (const Json* f = body->Find("force")) {
                     if (!f->is_bool()) return SendError(res, 400, "force must be true or false");
                     force = f->as_bool();
                   }
                 }
                 std::string name = req.matches[1];
                 auto id = daemon_.scheduler().Trigger(name, trigger, "rebuild", "", force);
                 if (!id.ok()) return SendError(res, HttpCodeFor(id.status()), id.status().message());
                 spdlog::info("job {} index={} queued by {}", *id, name, trigger);
                 res.set_header("Location", "/api/v1/jobs/" + *id);
                 SendJson(res, 202, Json(Json::Object{{"job_id", *id}, {"index", name}}));
               });
  // A delta: the daemon reads the named files, logs them durably, then
  // queues a delta job (or, while a job of the index is queued or running,
  // leaves it to the delta feeder, which queues one when the index is free).
  http_.PostBody(R"(/api/v1/indexes/([^/]+)/deltas)",
               [this, authorized](const httplib::Request& req, httplib::Response& res,
                                  const std::string& raw) {
                 if (!authorized(req, res)) return;
                 auto body = Json::Parse(raw);
                 if (!body.ok() || !body->is_object())
                   return SendError(res, 400, "body must be a JSON object {\"upserts\": PATH, "
                                              "\"ids\": PATH, \"deletes\": PATH}");
                 for (const char* key : {"upserts", "ids", "deletes", "trigger"})
                   if (const Json* v = body->Find(key); v && !v->is_string())
                     return SendError(res, 400, std::string(key) + " must be a string");
                 std::string trigger = body->GetString("trigger", "api");
                 if (trigger != "api" && trigger != "cli")
                   return SendError(res, 400, "trigger must be \"api\" or \"cli\"");
                 std::string name = req.matches[1];
                 auto cfg = daemon_.config();
                 const IndexConfig* ic = cfg->FindIndex(name);
                 if (ic == nullptr) return SendError(res, 404, "no index named '" + name + "'");
                 auto data = ReadDeltaInput(daemon_.env(), *ic, body->GetString("upserts"),
                                            body->GetString("ids"), body->GetString("deletes"));
                 if (!data.ok()) {
                   daemon_.metrics().RecordDeltaRejected(name);
                   return SendError(res, HttpCodeFor(data.status()), data.status().message());
                 }
                 VersionStore store(daemon_.env(), cfg->data_dir, name);
                 auto rec = DeltaLog(daemon_.env(), store.IndexDir()).Append(std::move(*data));
                 if (!rec.ok()) {
                   daemon_.metrics().RecordDeltaRejected(name);
                   return SendError(res, HttpCodeFor(rec.status()), rec.status().message());
                 }
                 Json reply(Json::Object{{"index", name}, {"seq", rec->seq},
                                         {"upserts", rec->upserts}, {"deletes", rec->deletes}});
                 auto id = daemon_.scheduler().Trigger(name, trigger, "delta", "");
                 if (id.ok()) {
                   spdlog::info("job {} delta {} index={} queued by {}", *id, rec->seq, name,
                                trigger);
                   res.set_header("Location", "/api/v1/jobs/" + *id);
                   reply["job_id"] = *id;
                   return SendJson(res, 202, reply);
                 }
                 // Logged: the delta is safe either way; say who applies it.
                 reply["job_id"] = Json();
                 reply["pending"] = id.status().message() +
                                    "; the delta is logged and a delta job is queued when the "
                                    "index is free";
                 SendJson(res, 202, reply);
               });
  // Backups and restores run as jobs in the same queue: they take the same
  // per-index lock as a rebuild, so one job per index still holds.
  auto enqueue = [this](httplib::Response& res, const std::string& name, const std::string& kind,
                        const std::string& version) {
    auto id = daemon_.scheduler().Trigger(name, "api", kind, version);
    if (!id.ok()) return SendError(res, HttpCodeFor(id.status()), id.status().message());
    spdlog::info("job {} {} index={} queued by api", *id, kind, name);
    res.set_header("Location", "/api/v1/jobs/" + *id);
    SendJson(res, 202, Json(Json::Object{{"job_id", *id}, {"index", name}, {"kind", kind}}));
  };
  server_.Get(R"(/api/v1/indexes/([^/]+)/backups)",
              [this](const httplib::Request& req, httplib::Response& res) {
                auto cfg = daemon_.config();
                const IndexConfig* ic = cfg->FindIndex(req.matches[1].str());
                if (ic == nullptr)
                  return SendError(res, 404, "no index named '" + req.matches[1].str() + "'");
                std::vector<VerifyProblem> broken;
                auto list = BackupStore(daemon_.env(), *cfg, *ic).List(&broken);
                if (!list.ok()) return SendError(res, 500, list.status().message());
                VersionStore store(daemon_.env(), cfg->data_dir, ic->name);
                auto live = store.LiveVersion();
                auto rollback = store.RollbackVersion();
                if (!live.ok()) return SendError(res, 500, live.status().message());
                if (!rollback.ok()) return SendError(res, 500, rollback.status().message());
                Json all = Json::MakeArray();
                for (const auto& b : *list) all.Push(b.ToJson(*live, *rollback));
                Json broken_j = Json::MakeArray();
                for (const auto& p : broken) broken_j.Push(p.file + ": " + p.detail);
                SendJson(res, 200, Json(Json::Object{{"backups", std::move(all)},
                                                     {"broken", std::move(broken_j)}}));
              });
  http_.PostBody(R"(/api/v1/indexes/([^/]+)/backups)",
               [authorized, enqueue](const httplib::Request& req, httplib::Response& res,
                                     const std::string&) {
                 if (!authorized(req, res)) return;
                 enqueue(res, req.matches[1], "backup", "");
               });
  http_.PostBody(R"(/api/v1/indexes/([^/]+)/restore)",
               [this, authorized, enqueue](const httplib::Request& req, httplib::Response& res,
                                     const std::string& raw) {
                 if (!authorized(req, res)) return;
                 auto body = Json::Parse(raw);
                 if (!body.ok() || !body->is_object() || !body->Find("version") ||
                     !body->Find("version")->is_string())
                   return SendError(res, 400, "body must be {\"version\": \"<version id>\"}");
                 std::string version = body->GetString("version");
                 Status valid = VersionStore::CheckVersionId(version);
                 if (!valid.ok()) return SendError(res, 400, valid.message());
                 // An unknown version is a 404 now, not a job failing later.
                 auto cfg = daemon_.config();
                 if (const IndexConfig* ic = cfg->FindIndex(req.matches[1].str())) {
                   Status found = CheckRestorable(daemon_.env(), *cfg, *ic, version);
                   if (!found.ok()) return SendError(res, HttpCodeFor(found), found.message());
                 }
                 enqueue(res, req.matches[1], "restore", version);
               });
  // Verify (and repair) one index now: what faiss-searchd calls when a live
  // version fails its checksum, and what `faiss-rebuild verify` queues.
  http_.PostBody(R"(/api/v1/indexes/([^/]+)/verify)",
               [authorized, enqueue](const httplib::Request& req, httplib::Response& res,
                                     const std::string& raw) {
                 if (!authorized(req, res)) return;
                 if (!raw.empty()) {
                   auto body = Json::Parse(raw);
                   if (!body.ok() || !body->is_object())
                     return SendError(res, 400, "body must be empty or a JSON object");
                   if (std::string why = body->GetString("reason"); !why.empty())
                     spdlog::warn("index {}: verify requested: {}", req.matches[1].str(), why);
                 }
                 enqueue(res, req.matches[1], "verify", "");
               });
  http_.PostBody("/api/v1/verify", [this, authorized](const httplib::Request& req,
                                                      httplib::Response& res, const std::string&) {
    if (!authorized(req, res)) return;
    Json jobs = Json::MakeArray();
    for (const auto& ic : daemon_.config()->indexes) {
      auto id = daemon_.scheduler().Trigger(ic.name, "api", "verify");
      Json j(Json::Object{{"index", ic.name}});
      if (id.ok()) j["job_id"] = *id;
      else j["error"] = id.status().message();
      jobs.Push(std::move(j));
    }
    SendJson(res, 202, Json(Json::Object{{"jobs", std::move(jobs)}}));
  });
  http_.PostBody(R"(/api/v1/indexes/([^/]+)/rollback)",
               [authorized, enqueue](const httplib::Request& req, httplib::Response& res,
                                     const std::string&) {
                 if (!authorized(req, res)) return;
                 enqueue(res, req.matches[1], "rollback", "");
               });
  server_.Get("/api/v1/jobs", [this](const httplib::Request& req, httplib::Response& res) {
    std::string index = req.get_param_value("index");
    Json all = Json::MakeArray();
    for (const auto& info : daemon_.runner().List())
      if (index.empty() || info.index == index) all.Push(info.ToJson());
    SendJson(res, 200, Json(Json::Object{{"jobs", std::move(all)}}));
  });
  server_.Get(R"(/api/v1/jobs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto info = daemon_.runner().Get(req.matches[1]);
    if (!info) return SendError(res, 404, "no job '" + std::string(req.matches[1]) + "'");
    SendJson(res, 200, info->ToJson());
  });
  http_.DeleteBody(R"(/api/v1/jobs/([^/]+))",
                 [this, authorized](const httplib::Request& req, httplib::Response& res,
                                    const std::string&) {
                   if (!authorized(req, res)) return;
                   std::string id = req.matches[1];
                   Status s = daemon_.runner().Cancel(id);
                   if (!s.ok()) return SendError(res, HttpCodeFor(s), s.message());
                   spdlog::info("job {} cancel requested over the API", id);
                   auto info = daemon_.runner().Get(id);
                   SendJson(res, 202, info ? info->ToJson() : Json(Json::Object{{"job_id", id}}));
                 });
  http_.PostBody("/api/v1/reload", [this, authorized](const httplib::Request& req,
                                                      httplib::Response& res, const std::string&) {
    if (!authorized(req, res)) return;
    daemon_.notifier().Reloading();
    std::vector<std::string> problems;
    Status s = daemon_.Reload(&problems);
    daemon_.notifier().Ready(daemon_.StatusLine());
    if (s.ok()) return SendJson(res, 200, Json(Json::Object{{"reloaded", true}}));
    Json j = Json::MakeObject();
    j["error"] = "config rejected; the running config is unchanged";
    Json list = Json::MakeArray();
    for (auto& p : problems) list.Push(p);
    j["problems"] = std::move(list);
    SendJson(res, 400, j);
  });
}

}  // namespace frb::rebuildd
