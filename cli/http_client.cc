#include "http_client.h"

#include <httplib.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "frb/host_port.h"

namespace frb::cli {
namespace {

// "http://HOST:PORT" (or https) with no path; a bare "HOST:PORT" gets
// http://. Empty on a malformed URL.
std::string NormalizeUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.find("://") == std::string::npos) url = "http://" + url;
  size_t scheme_end = url.find("://");
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return "";
  std::string rest = url.substr(scheme_end + 3);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos) return "";
  // HOST:PORT, or HOST alone with the scheme's port.
  if (!ParseHostPort(rest).ok() &&
      !ParseHostPort(rest + (scheme == "https" ? ":443" : ":80")).ok())
    return "";
  return url;
}

// A wildcard listen address is reached through loopback. Empty when
// `listen` is not HOST:PORT.
std::string UrlForListen(const std::string& listen) {
  auto hp = ParseHostPort(listen);
  if (!hp.ok()) return "";
  if (IsWildcardHost(hp->host)) hp->host = hp->host.find(':') != std::string::npos ? "::1" : "127.0.0.1";
  return "http://" + hp->ToString();
}

std::string ReadToken(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  return token;
}

std::string Describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "connection refused";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "no answer";
    case httplib::Error::Write: return "request not sent";
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLServerVerification:
    case httplib::Error::SSLLoadingCerts: return "TLS error";
    default: return httplib::to_string(e);
  }
}

}  // namespace

std::string PathSegment(std::string_view segment) { return PercentEncode(segment); }

std::string HttpReply::Error() const {
  if (json.is_object() && !json.GetString("error").empty()) return json.GetString("error");
  std::string tail = body.size() > 200 ? body.substr(0, 200) + "..." : body;
  return "daemon answered HTTP " + std::to_string(status) + (tail.empty() ? "" : ": " + tail);
}

Result<std::unique_ptr<DaemonClient>> DaemonClient::Open(const GlobalOptions& g) {
  // The config gives the default URL and the token; with --daemon it is
  // optional (a remote daemon's config need not exist here).
  auto cfg = LoadCliConfig(g);
  std::string url;
  if (!g.daemon_url.empty()) {
    url = NormalizeUrl(g.daemon_url);
    if (url.empty())
      return InvalidArgument("bad --daemon URL '" + g.daemon_url +
                             "': want http://HOST:PORT (or https://)");
  } else {
    if (!cfg.ok())
      return FailedPrecondition(cfg.status().message() +
                                             " (needed for the daemon address; or pass "
                                             "--daemon URL, or --local)");
    url = NormalizeUrl(UrlForListen(cfg->http_listen));
    if (url.empty())
      return FailedPrecondition("http.listen '" + cfg->http_listen + "' in " + cfg->path +
                             " is not HOST:PORT; pass --daemon URL");
  }
  std::string token = cfg.ok() ? ReadToken(cfg->http_token_file) : "";
  auto client = std::unique_ptr<DaemonClient>(new DaemonClient(url, token));
  // Said with a 401, so a missing token is not a mystery.
  if (!cfg.ok())
    client->token_note_ = "no bearer token sent: config not loaded";
  else if (cfg->http_token_file.empty())
    client->token_note_ = "no bearer token sent: http.token_file is not set in " + cfg->path;
  else if (token.empty())
    client->token_note_ = "no bearer token sent: cannot read " + cfg->http_token_file;
  return client;
}

DaemonClient::DaemonClient(std::string url, const std::string& token)
    : url_(std::move(url)), client_(std::make_unique<httplib::Client>(url_)) {
  client_->set_connection_timeout(2, 0);
  client_->set_read_timeout(30, 0);
  client_->set_write_timeout(10, 0);
  if (!token.empty()) client_->set_bearer_token_auth(token);
}

DaemonClient::~DaemonClient() = default;

Result<HttpReply> DaemonClient::Call(const std::string& method, const std::string& path,
                                     const std::string& body) {
  httplib::Result res(nullptr, httplib::Error::Unknown);
  if (method == "GET") {
    res = client_->Get(path);
  } else if (method == "POST") {
    res = client_->Post(path, body, "application/json");
  } else if (method == "DELETE") {
    res = client_->Delete(path);
  } else {
    return InvalidArgument("unsupported method " + method);
  }
  if (!res)
    return IOError("cannot reach the daemon at " + url_ + " (" + Describe(res.error()) +
                   "); is faiss-rebuildd running? use --local to act on the data dir directly");
  HttpReply r;
  r.status = res->status;
  r.body = res->body;
  auto j = Json::Parse(r.body);
  if (j.ok()) r.json = std::move(*j);
  if (r.status == 401 && !token_note_.empty()) {
    std::string why = r.Error() + " (" + token_note_ + ")";
    r.json = Json::MakeObject();
    r.json["error"] = why;
  }
  return r;
}

}  // namespace frb::cli
