// Whole-file uploads (multipart, parallel, resumable) and large ranged
// downloads (parallel ranges delivered in order) of the S3 client.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <pugixml.hpp>
#include <thread>

#include "frb/s3.h"
#include "frb/sha256.h"
#include "s3_http.h"

namespace frb {

// Helpers with access to S3Client's options and counters.
class S3Multipart {
 public:
  struct Part {
    std::string etag;
    uint64_t size = 0;
  };
  static Result<std::string> FindUpload(S3Client& c, const std::string& bucket,
                                        const std::string& key);
  static Result<std::map<int, Part>> ListParts(S3Client& c, const std::string& bucket,
                                               const std::string& key, const std::string& id);
  static Result<std::string> Initiate(S3Client& c, const std::string& bucket,
                                      const std::string& key);
  static Result<std::string> Complete(S3Client& c, const std::string& bucket,
                                      const std::string& key, const std::string& id,
                                      const std::map<int, Part>& parts);
  static void Abort(S3Client& c, const std::string& bucket, const std::string& key,
                    const std::string& id);
};

namespace {

std::string Unquote(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    etag = etag.substr(1, etag.size() - 2);
  return etag;
}

Status ReadAt(const RandomAccessFile& f, uint64_t off, size_t n, std::string* buf) {
  buf->resize(n);
  size_t done = 0;
  while (done < n) {
    size_t got = 0;
    FRB_RETURN_IF_ERROR(f.Read(off + done, n - done, buf->data() + done, &got));
    if (got == 0) return Corruption(f.path() + ": shorter than when opened (changed during upload)");
    done += got;
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> S3Multipart::FindUpload(S3Client& c, const std::string& bucket,
                                            const std::string& key) {
  S3HttpRequest r;
  r.bucket = bucket;
  r.query["uploads"] = "";
  r.query["prefix"] = key;
  FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(c, r));
  pugi::xml_document doc;
  if (!doc.load_buffer(resp.body.data(), resp.body.size())) return std::string();
  for (auto u = doc.document_element().child("Upload"); u; u = u.next_sibling("Upload"))
    if (key == u.child("Key").text().as_string()) return std::string(u.child("UploadId").text().as_string());
  return std::string();
}

Result<std::map<int, S3Multipart::Part>> S3Multipart::ListParts(S3Client& c,
                                                                const std::string& bucket,
                                                                const std::string& key,
                                                                const std::string& id) {
  std::map<int, Part> parts;
  std::string marker;
  for (int page = 0; page < 10000; ++page) {
    S3HttpRequest r;
    r.bucket = bucket;
    r.key = key;
    r.query["uploadId"] = id;
    if (!marker.empty()) r.query["part-number-marker"] = marker;
    FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(c, r));
    pugi::xml_document doc;
    if (!doc.load_buffer(resp.body.data(), resp.body.size()))
      return Corruption("ListParts " + key + ": malformed XML");
    auto root = doc.document_element();
    for (auto p = root.child("Part"); p; p = p.next_sibling("Part"))
      parts[p.child("PartNumber").text().as_int()] = {Unquote(p.child("ETag").text().as_string()),
                                                       p.child("Size").text().as_ullong()};
    if (std::string(root.child("IsTruncated").text().as_string()) != "true") break;
    marker = root.child("NextPartNumberMarker").text().as_string();
    if (marker.empty()) break;
  }
  return parts;
}

Result<std::string> S3Multipart::Initiate(S3Client& c, const std::string& bucket,
                                          const std::string& key) {
  S3HttpRequest r;
  r.method = "POST";
  r.bucket = bucket;
  r.key = key;
  r.query["uploads"] = "";
  FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(c, r));
  std::string id = XmlChildText(resp.body, "UploadId");
  if (id.empty()) return Corruption("CreateMultipartUpload " + key + ": no UploadId in answer");
  return id;
}

Result<std::string> S3Multipart::Complete(S3Client& c, const std::string& bucket,
                                          const std::string& key, const std::string& id,
                                          const std::map<int, Part>& parts) {
  std::string xml = "<CompleteMultipartUpload>";
  for (const auto& [n, p] : parts)
    xml += "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>\"" + p.etag +
           "\"</ETag></Part>";
  xml += "</CompleteMultipartUpload>";
  S3HttpRequest r;
  r.method = "POST";
  r.bucket = bucket;
  r.key = key;
  r.query["uploadId"] = id;
  r.body = xml;
  FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(c, r));
  // S3 may answer 200 and still report an error in the body.
  pugi::xml_document doc;
  if (doc.load_buffer(resp.body.data(), resp.body.size()) &&
      std::string(doc.document_element().name()) == "Error")
    return IOError("CompleteMultipartUpload s3://" + bucket + "/" + key + ": " +
                   S3ErrorSummary(resp.body));
  return Unquote(XmlChildText(resp.body, "ETag"));
}

void S3Multipart::Abort(S3Client& c, const std::string& bucket, const std::string& key,
                        const std::string& id) {
  S3HttpRequest r;
  r.method = "DELETE";
  r.bucket = bucket;
  r.key = key;
  r.query["uploadId"] = id;
  r.accept = {404};
  (void)S3Request::Run(c, r);
}

Result<std::string> S3Client::PutFile(const std::string& bucket, const std::string& key,
                                      const std::string& path, const std::string& sha256) {
  FRB_ASSIGN_OR_RETURN(auto file, env_->NewRandomAccessFile(path));
  const uint64_t size = file->size();
  Sha256 hash;
  auto check = [&](Sha256& h) -> Status {
    if (sha256.empty()) return Status::Ok();
    std::string got = h.FinishHex();
    if (got != sha256)
      return Corruption(path + ": SHA-256 " + got + " differs from the expected " + sha256);
    return Status::Ok();
  };
  if (size <= opts_.part_size) {
    std::string body;
    FRB_RETURN_IF_ERROR(ReadAt(*file, 0, size, &body));
    hash.Update(body.data(), body.size());
    FRB_RETURN_IF_ERROR(check(hash));
    return Put(bucket, key, body);
  }
  // Keys of the repository are content-addressed, so an unfinished upload
  // of the same key (a publisher killed mid-upload) carries the same bytes.
  std::string id;
  std::map<int, S3Multipart::Part> done;
  if (!sha256.empty()) {
    FRB_ASSIGN_OR_RETURN(id, S3Multipart::FindUpload(*this, bucket, key));
    if (!id.empty()) {
      auto listed = S3Multipart::ListParts(*this, bucket, key, id);
      if (listed.ok()) done = std::move(listed).value();
      else id.clear();
    }
  }
  if (id.empty()) {
    FRB_ASSIGN_OR_RETURN(id, S3Multipart::Initiate(*this, bucket, key));
  }
  const int nparts = static_cast<int>((size + opts_.part_size - 1) / opts_.part_size);
  // The reader hashes parts in order and queues them; workers upload.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<int, std::string>> queue;
  bool reading_done = false;
  Status first_error;
  std::map<int, S3Multipart::Part> parts;
  const size_t max_queue = static_cast<size_t>(opts_.parallelism);
  auto worker = [&] {
    for (;;) {
      std::pair<int, std::string> item;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !queue.empty() || reading_done || !first_error.ok(); });
        if (!first_error.ok() || queue.empty()) return;
        item = std::move(queue.front());
        queue.pop_front();
        cv.notify_all();
      }
      S3HttpRequest r;
      r.method = "PUT";
      r.bucket = bucket;
      r.key = key;
      r.query["partNumber"] = std::to_string(item.first);
      r.query["uploadId"] = id;
      r.body = item.second;
      auto resp = S3Request::Run(*this, r);
      std::lock_guard<std::mutex> lock(mu);
      if (!resp.ok()) {
        if (first_error.ok()) first_error = resp.status();
        cv.notify_all();
        return;
      }
      parts[item.first] = {Unquote(resp->Header("etag")), item.second.size()};
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < opts_.parallelism; ++i) workers.emplace_back(worker);
  Status read_status;
  for (int n = 1; n <= nparts && read_status.ok(); ++n) {
    uint64_t off = static_cast<uint64_t>(n - 1) * opts_.part_size;
    size_t len = static_cast<size_t>(std::min<uint64_t>(opts_.part_size, size - off));
    std::string buf;
    read_status = ReadAt(*file, off, len, &buf);
    if (!read_status.ok()) break;
    hash.Update(buf.data(), buf.size());
    auto it = done.find(n);
    std::unique_lock<std::mutex> lock(mu);
    if (it != done.end() && it->second.size == len) {
      parts[n] = it->second;  // uploaded before a restart
      continue;
    }
    cv.wait(lock, [&] { return queue.size() < max_queue || !first_error.ok(); });
    if (!first_error.ok()) break;
    queue.emplace_back(n, std::move(buf));
    cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    reading_done = true;
    cv.notify_all();
  }
  for (auto& t : workers) t.join();
  if (!read_status.ok()) return read_status;  // the upload stays resumable
  if (!first_error.ok()) return first_error;
  if (Status s = check(hash); !s.ok()) {
    S3Multipart::Abort(*this, bucket, key, id);
    return s;
  }
  if (static_cast<int>(parts.size()) != nparts)
    return Internal("multipart upload of " + key + ": parts missing");
  return S3Multipart::Complete(*this, bucket, key, id, parts);
}

Result<uint64_t> S3Client::GetRange(const std::string& bucket, const std::string& key,
                                    uint64_t offset, uint64_t length, const S3Sink& sink) {
  if (length == 0) {
    FRB_ASSIGN_OR_RETURN(S3ObjectInfo info, Head(bucket, key));
    if (offset >= info.size) return uint64_t{0};
    length = info.size - offset;
  }
  const uint64_t chunk = opts_.part_size;
  if (length <= chunk || opts_.parallelism <= 1) {
    S3HttpRequest r;
    r.bucket = bucket;
    r.key = key;
    r.ranged = true;
    r.range_offset = offset;
    r.range_length = length;
    r.sink = sink;
    FRB_ASSIGN_OR_RETURN(auto resp, S3Request::Run(*this, r));
    return resp.delivered;
  }
  // Parallel ranges, delivered to the sink in order through a window of
  // 2 x parallelism chunks (bounded memory).
  const uint64_t nchunks = (length + chunk - 1) / chunk;
  const uint64_t window = 2 * static_cast<uint64_t>(opts_.parallelism);
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, std::string> ready;
  uint64_t next_fetch = 0, next_deliver = 0;
  Status first_error;
  auto worker = [&] {
    for (;;) {
      uint64_t i;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] {
          return !first_error.ok() || next_fetch >= nchunks || next_fetch < next_deliver + window;
        });
        if (!first_error.ok() || next_fetch >= nchunks) return;
        i = next_fetch++;
      }
      uint64_t off = offset + i * chunk;
      uint64_t len = std::min(chunk, length - i * chunk);
      std::string buf;
      buf.reserve(len);
      S3HttpRequest r;
      r.bucket = bucket;
      r.key = key;
      r.ranged = true;
      r.range_offset = off;
      r.range_length = len;
      r.sink = [&buf](const char* d, size_t n) {
        buf.append(d, n);
        return Status::Ok();
      };
      auto resp = S3Request::Run(*this, r);
      std::lock_guard<std::mutex> lock(mu);
      if (!resp.ok() || buf.size() != len) {
        if (first_error.ok())
          first_error = resp.ok() ? Corruption("s3://" + bucket + "/" + key + ": short range at " +
                                               std::to_string(off))
                                  : resp.status();
      } else {
        ready[i] = std::move(buf);
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < opts_.parallelism; ++i) workers.emplace_back(worker);
  uint64_t delivered = 0;
  Status result;
  while (next_deliver < nchunks) {
    std::string buf;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return !first_error.ok() || ready.count(next_deliver) > 0; });
      if (!first_error.ok()) {
        result = first_error;
        break;
      }
      buf = std::move(ready[next_deliver]);
      ready.erase(next_deliver);
    }
    Status s = sink(buf.data(), buf.size());
    std::lock_guard<std::mutex> lock(mu);
    if (!s.ok()) {
      result = s;
      if (first_error.ok()) first_error = s;
      cv.notify_all();
      break;
    }
    delivered += buf.size();
    ++next_deliver;
    cv.notify_all();
  }
  for (auto& t : workers) t.join();
  if (!result.ok()) return result;
  return delivered;
}

}  // namespace frb
