#include "s3_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <pugixml.hpp>
#include <random>
#include <thread>

#include "frb/host_port.h"
#include "frb/sha256.h"

namespace frb {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One easy handle per thread, reset between requests: curl_easy_reset
// keeps the handle's connection cache, so a thread reuses its connection.
struct ThreadHandle {
  CURL* h = nullptr;
  ~ThreadHandle() {
    if (h) curl_easy_cleanup(h);
  }
};

CURL* Handle() {
  thread_local ThreadHandle th;
  if (th.h == nullptr) {
    GlobalInit();
    th.h = curl_easy_init();
  } else {
    curl_easy_reset(th.h);
  }
  return th.h;
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void Add(const std::string& h) { list = curl_slist_append(list, h.c_str()); }
};

struct Transfer {
  const S3HttpRequest* req;
  S3HttpResponse* resp;
  CURL* curl;
  Status sink_status;
  bool to_sink = false;
  bool decided = false;
};

constexpr size_t kMaxErrorBody = 64 * 1024;

size_t OnBody(char* data, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  if (!t->decided) {
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    t->to_sink = t->req->sink && code / 100 == 2;
    t->decided = true;
  }
  if (t->to_sink) {
    Status s = t->req->sink(data, len);
    if (!s.ok()) {
      t->sink_status = s;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    t->resp->delivered += len;
    return len;
  }
  if (t->resp->body.size() < kMaxErrorBody || !t->req->sink)
    t->resp->body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* ud) {
  auto* r = static_cast<S3HttpResponse*>(ud);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    r->headers.clear();  // a new response (after 100 Continue)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view v = line.substr(colon + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
  r->headers[name] = std::string(v);
  return size * n;
}

bool RetryableCurl(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

bool RetryableHttp(long status, const std::string& body) {
  if (status == 500 || status == 502 || status == 503 || status == 504 || status == 429)
    return true;
  if (status == 400) {
    std::string code = XmlChildText(body, "Code");
    return code == "RequestTimeout" || code == "SlowDown";
  }
  return false;
}

Status HttpError(const S3HttpRequest& req, long status, const std::string& body) {
  std::string what = req.method + " s3://" + req.bucket + (req.key.empty() ? "" : "/" + req.key);
  std::string summary = S3ErrorSummary(body);
  std::string msg = what + ": HTTP " + std::to_string(status) +
                    (summary.empty() ? "" : " (" + summary + ")");
  std::string code = XmlChildText(body, "Code");
  if (status == 404) return NotFound(msg);
  if (status == 403 || status == 401) return Status(Code::kPermissionDenied, msg);
  if (status == 412 || (status == 409 && code == "ConditionalRequestConflict"))
    return FailedPrecondition(msg);
  if (status == 400 || status == 405 || status == 411 || status == 416)
    return InvalidArgument(msg);
  return IOError(msg);
}

std::string BuildUrl(const S3Options& o, const S3HttpRequest& req) {
  std::string endpoint = o.endpoint.empty() ? "https://s3." + o.region + ".amazonaws.com" : o.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  std::string url;
  if (o.path_style || req.bucket.empty()) {
    url = endpoint + "/" + req.bucket;
  } else {
    size_t scheme = endpoint.find("://");
    size_t host = scheme == std::string::npos ? 0 : scheme + 3;
    url = endpoint.substr(0, host) + req.bucket + "." + endpoint.substr(host);
  }
  if (!req.key.empty()) url += "/" + S3Request::Encode(req.key, true);
  else if (!o.path_style && !req.bucket.empty()) url += "/";
  std::string q;
  for (const auto& [k, v] : req.query) {  // std::map: sorted by name
    q += q.empty() ? "?" : "&";
    q += S3Request::Encode(k, false) + "=" + S3Request::Encode(v, false);
  }
  return url + q;
}

std::chrono::milliseconds Backoff(const S3Options& o, int attempt) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  int64_t cap = std::min<int64_t>(o.max_backoff.count(),
                                  o.base_backoff.count() << std::min(attempt, 20));
  std::uniform_int_distribution<int64_t> d(cap / 2, std::max<int64_t>(cap, 1));
  return std::chrono::milliseconds(d(rng));
}

}  // namespace

std::string S3HttpResponse::Header(const std::string& lower) const {
  auto it = headers.find(lower);
  return it == headers.end() ? "" : it->second;
}

std::string S3Request::Encode(std::string_view s, bool keep_slash) {
  return PercentEncode(s, keep_slash);
}

std::string XmlChildText(const std::string& xml, const char* name) {
  if (xml.empty()) return "";
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return "";
  return doc.document_element().child(name).text().as_string();
}

std::string S3ErrorSummary(const std::string& xml) {
  std::string code = XmlChildText(xml, "Code");
  if (code.empty()) return "";
  std::string msg = XmlChildText(xml, "Message");
  return msg.empty() ? code : code + ": " + msg;
}

Result<S3HttpResponse> S3Request::Run(S3Client& client, const S3HttpRequest& req) {
  const S3Options& o = client.opts_;
  const std::string url = BuildUrl(o, req);
  const std::string sigv4 = "aws:amz:" + o.region + ":s3";
  // The payload hash is part of the signature: the store checks the body.
  const std::string payload_hash = Sha256::Hex(req.body);
  S3HttpResponse resp;
  Status last;
  for (int attempt = 0; attempt < std::max(1, o.max_attempts); ++attempt) {
    if (attempt > 0) {
      ++client.retries_;
      std::this_thread::sleep_for(Backoff(o, attempt - 1));
    }
    ++client.requests_;
    uint64_t already = resp.delivered;  // resume a streamed GET after these
    resp = S3HttpResponse();
    resp.delivered = already;
    CURL* c = Handle();
    if (c == nullptr) return Internal("curl_easy_init failed");
    HeaderList h;
    for (const auto& x : req.headers) h.Add(x);
    h.Add("x-amz-content-sha256: " + payload_hash);
    if (!o.credentials->session_token.empty())
      h.Add("x-amz-security-token: " + o.credentials->session_token);
    uint64_t off = req.range_offset + already;
    if (req.ranged || already > 0) {
      std::string range = "Range: bytes=" + std::to_string(off) + "-";
      if (req.range_length > 0) {
        if (already >= req.range_length) {
          resp.status = 206;
          return resp;
        }
        range += std::to_string(req.range_offset + req.range_length - 1);
      }
      h.Add(range);
    }
    // Without it curl sends a form type, which some servers parse away.
    if (req.method == "PUT" || req.method == "POST") h.Add("Content-Type: application/octet-stream");
    Transfer t{&req, &resp, c, Status(), false, false};
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, o.credentials->access_key_id.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, o.credentials->secret_access_key.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h.list);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(o.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o.low_speed_time.count()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
    if (req.method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (req.method == "PUT" || req.method == "POST") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
      if (req.method == "PUT") curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
    } else if (req.method != "GET") {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    CURLcode rc = curl_easy_perform(c);
    if (!t.sink_status.ok()) return t.sink_status;
    if (rc != CURLE_OK) {
      last = IOError(req.method + " s3://" + req.bucket + "/" + req.key + ": " +
                     (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
      if (RetryableCurl(rc)) continue;
      break;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    if (resp.status / 100 == 2) {
      if (req.method == "PUT" || req.method == "POST") client.up_ += req.body.size();
      client.down_ += resp.delivered + (req.sink ? 0 : resp.body.size());
      return resp;
    }
    if (std::find(req.accept.begin(), req.accept.end(), resp.status) != req.accept.end())
      return resp;
    last = HttpError(req, resp.status, resp.body);
    if (RetryableHttp(resp.status, resp.body)) continue;
    break;
  }
  ++client.failures_;
  return last;
}

}  // namespace frb
