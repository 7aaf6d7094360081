// The S3 client's single-request operations; transfers of whole files and
// large ranges are in s3_transfer.cc.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <pugixml.hpp>

#include "frb/s3.h"
#include "s3_http.h"

namespace frb {
namespace {

std::string Unquote(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    etag = etag.substr(1, etag.size() - 2);
  return etag;
}

std::string FirstEnv(std::initializer_list<const char*> names, const char* def) {
  for (const char* n : names)
    if (const char* v = std::getenv(n); v && *v) return v;
  return def;
}

}  // namespace

int64_t ParseRfc3339Utc(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

S3Client::S3Client(S3Options options, Env* env) : opts_(std::move(options)), env_(env) {}
S3Client::~S3Client() = default;

Result<std::unique_ptr<S3Client>> S3Client::Create(S3Options options, Env* env) {
  if (options.region.empty())
    options.region = FirstEnv({"AWS_REGION", "AWS_DEFAULT_REGION"}, "us-east-1");
  if (!options.credentials) {
    FRB_ASSIGN_OR_RETURN(S3Credentials c, LoadS3Credentials(env));
    options.credentials = std::move(c);
  }
  if (options.part_size < (1 << 20)) return InvalidArgument("S3 part_size below 1 MiB");
  if (options.parallelism < 1) options.parallelism = 1;
  if (!options.endpoint.empty() && !options.endpoint.starts_with("http://") &&
      !options.endpoint.starts_with("https://"))
    return InvalidArgument("S3 endpoint must start with http:// or https://: " + options.endpoint);
  return std::unique_ptr<S3Client>(new S3Client(std::move(options), env));
}

S3Stats S3Client::stats() const {
  return {up_.load(), down_.load(), requests_.load(), retries_.load(), failures_.load()};
}

Status S3Client::CreateBucket(const std::string& bucket) {
  S3HttpRequest r;
  r.method = "PUT";
  r.bucket = bucket;
  r.accept = {409};  // BucketAlreadyOwnedByYou
  FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(*this, r));
  (void)resp;
  return Status::Ok();
}

Result<S3ObjectInfo> S3Client::Head(const std::string& bucket, const std::string& key) {
  S3HttpRequest r;
  r.method = "HEAD";
  r.bucket = bucket;
  r.key = key;
  FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(*this, r));
  S3ObjectInfo info;
  info.key = key;
  info.size = std::strtoull(resp.Header("content-length").c_str(), nullptr, 10);
  info.etag = Unquote(resp.Header("etag"));
  return info;
}

Result<std::string> S3Client::Put(const std::string& bucket, const std::string& key,
                                  std::string_view body, const S3PutConditions& cond) {
  S3HttpRequest r;
  r.method = "PUT";
  r.bucket = bucket;
  r.key = key;
  r.body = body;
  if (cond.if_match) r.headers.push_back("If-Match: \"" + *cond.if_match + "\"");
  if (cond.if_none_match_any) r.headers.push_back("If-None-Match: *");
  FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(*this, r));
  return Unquote(resp.Header("etag"));
}

Result<S3GetResult> S3Client::Get(const std::string& bucket, const std::string& key,
                                  const std::string& if_none_match) {
  S3HttpRequest r;
  r.bucket = bucket;
  r.key = key;
  if (!if_none_match.empty()) {
    r.headers.push_back("If-None-Match: \"" + if_none_match + "\"");
    r.accept = {304};
  }
  FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(*this, r));
  S3GetResult out;
  out.not_modified = resp.status == 304;
  out.etag = Unquote(resp.Header("etag"));
  if (!out.not_modified) out.body = std::move(resp.body);
  return out;
}

Result<std::vector<S3ObjectInfo>> S3Client::List(const std::string& bucket,
                                                 const std::string& prefix) {
  std::vector<S3ObjectInfo> out;
  std::string token;
  for (int page = 0; page < 100000; ++page) {
    S3HttpRequest r;
    r.bucket = bucket;
    r.query["list-type"] = "2";
    r.query["prefix"] = prefix;
    if (!token.empty()) r.query["continuation-token"] = token;
    FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(*this, r));
    pugi::xml_document doc;
    if (!doc.load_buffer(resp.body.data(), resp.body.size()))
      return Corruption("ListObjectsV2 s3://" + bucket + "/" + prefix + ": malformed XML");
    pugi::xml_node root = doc.document_element();
    for (pugi::xml_node c = root.child("Contents"); c; c = c.next_sibling("Contents")) {
      S3ObjectInfo o;
      o.key = c.child("Key").text().as_string();
      o.size = c.child("Size").text().as_ullong();
      o.etag = Unquote(c.child("ETag").text().as_string());
      o.last_modified_unix = ParseRfc3339Utc(c.child("LastModified").text().as_string());
      out.push_back(std::move(o));
    }
    if (std::string(root.child("IsTruncated").text().as_string()) != "true") return out;
    token = root.child("NextContinuationToken").text().as_string();
    if (token.empty()) return Corruption("ListObjectsV2: truncated page without a token");
  }
  return Internal("ListObjectsV2: too many pages");
}

Status S3Client::Delete(const std::string& bucket, const std::string& key) {
  S3HttpRequest r;
  r.method = "DELETE";
  r.bucket = bucket;
  r.key = key;
  r.accept = {404};
  FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(*this, r));
  (void)resp;
  return Status::Ok();
}

}  // namespace frb
