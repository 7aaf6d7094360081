#include "frb/manifest.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "frb/sha256.h"

namespace frb {
namespace {

Json ParamsToJson(const std::map<std::string, double>& m) {
  Json j = Json::MakeObject();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

std::map<std::string, double> ParamsFromJson(const Json* j) {
  std::map<std::string, double> m;
  if (j == nullptr || !j->is_object()) return m;
  for (const auto& [k, v] : j->as_object())
    if (v.is_number()) m[k] = v.as_double();
  return m;
}

template <typename T>
void PutOpt(Json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

}  // namespace

void SealJson(Json& doc, std::string_view checksum_key) {
  std::string digest = Sha256::Hex(doc.Dump());
  doc[checksum_key] = digest;
}

Result<Json> OpenSealedJson(std::string_view text, std::string_view origin,
                            std::string_view checksum_key, int format_version) {
  std::string o(origin);
  auto parsed = Json::Parse(text);
  if (!parsed.ok()) return Corruption(o + ": " + parsed.status().message());
  Json j = std::move(parsed).value();
  if (!j.is_object()) return Corruption(o + ": not a JSON object");
  std::string want = j.GetString(checksum_key);
  std::erase_if(j.as_object(), [&](const auto& kv) { return kv.first == checksum_key; });
  if (want.empty() || Sha256::Hex(j.Dump()) != want)
    return Corruption(o + ": " + std::string(checksum_key) + " mismatch (the file was changed or damaged)");
  if (j.GetInt("format_version") != format_version)
    return Corruption(o + ": unsupported format_version " + std::to_string(j.GetInt("format_version")));
  return j;
}

std::string FormatUtcMillis(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json TuneReport::ToJson() const {
  Json j = Json::MakeObject();
  j["param"] = param;
  j["target_recall"] = target_recall;
  j["use"] = use_lower_bound ? "lower_bound" : "estimate";
  j["k"] = k;
  j["max"] = max;
  if (chosen) j["chosen"] = static_cast<int64_t>(*chosen);
  Json c = Json::MakeArray();
  for (const TunePoint& p : curve) {
    Json e = Json::MakeObject();
    e[param] = static_cast<int64_t>(p.value);
    e["recall"] = p.recall;
    e["recall_ci_low"] = p.ci_low;
    e["recall_ci_high"] = p.ci_high;
    e["p50_ms"] = p.p50_ms;
    e["p99_ms"] = p.p99_ms;
    c.Push(std::move(e));
  }
  j["curve"] = std::move(c);
  j["seconds"] = seconds;
  return j;
}

Result<TuneReport> TuneReport::FromJson(const Json& j) {
  if (!j.is_object()) return Corruption("tune report is not an object");
  TuneReport t;
  t.param = j.GetString("param");
  t.target_recall = j.GetDouble("target_recall");
  t.use_lower_bound = j.GetString("use", "lower_bound") == "lower_bound";
  t.k = static_cast<int>(j.GetInt("k"));
  t.max = static_cast<int>(j.GetInt("max"));
  if (const Json* c = j.Find("chosen"); c && c->is_number()) t.chosen = c->as_double();
  if (const Json* c = j.Find("curve"); c && c->is_array()) {
    for (const Json& e : c->as_array()) {
      if (!e.is_object()) return Corruption("tune curve entry is not an object");
      TunePoint p;
      p.value = e.GetDouble(t.param);
      p.recall = e.GetDouble("recall");
      p.ci_low = e.GetDouble("recall_ci_low");
      p.ci_high = e.GetDouble("recall_ci_high");
      p.p50_ms = e.GetDouble("p50_ms");
      p.p99_ms = e.GetDouble("p99_ms");
      t.curve.push_back(p);
    }
  }
  t.seconds = j.GetDouble("seconds");
  return t;
}

IvfHealth IvfHealthOf(const std::vector<int64_t>& list_sizes) {
  IvfHealth h;
  h.nlist = static_cast<int64_t>(list_sizes.size());
  double sum_sq = 0;
  for (int64_t n : list_sizes) {
    h.ntotal += n;
    sum_sq += static_cast<double>(n) * static_cast<double>(n);
    if (n == 0) ++h.empty_lists;
    h.largest_list = std::max(h.largest_list, n);
  }
  if (h.ntotal > 0) {
    double total = static_cast<double>(h.ntotal);
    h.imbalance_factor = static_cast<double>(h.nlist) * sum_sq / (total * total);
  }
  if (h.nlist > 0) h.empty_lists_ratio = static_cast<double>(h.empty_lists) / h.nlist;
  return h;
}

Json IvfHealth::ToJson() const {
  Json j = Json::MakeObject();
  j["nlist"] = nlist;
  j["ntotal"] = ntotal;
  j["imbalance_factor"] = imbalance_factor;
  j["empty_lists"] = empty_lists;
  j["empty_lists_ratio"] = empty_lists_ratio;
  j["largest_list"] = largest_list;
  return j;
}

IvfHealth IvfHealth::FromJson(const Json& j) {
  IvfHealth h;
  h.nlist = j.GetInt("nlist");
  h.ntotal = j.GetInt("ntotal");
  h.imbalance_factor = j.GetDouble("imbalance_factor");
  h.empty_lists = j.GetInt("empty_lists");
  h.empty_lists_ratio = j.GetDouble("empty_lists_ratio");
  h.largest_list = j.GetInt("largest_list");
  return h;
}

Json ValidationReport::ToJson() const {
  Json j = Json::MakeObject();
  j["passed"] = passed;
  Json f = Json::MakeArray();
  for (const auto& s : failures) f.Push(s);
  j["failures"] = std::move(f);
  j["checksum_ok"] = checksum_ok;
  j["dim"] = dim;
  j["metric"] = metric;
  j["ntotal"] = ntotal;
  j["expected_ntotal"] = expected_ntotal;
  j["k"] = k;
  j["queries"] = queries;
  j["recall"] = recall;
  j["recall_ci_low"] = recall_ci_low;
  j["recall_ci_high"] = recall_ci_high;
  j["search_params"] = ParamsToJson(search_params);
  j["latency_queries"] = latency_queries;
  j["p50_ms"] = p50_ms;
  j["p99_ms"] = p99_ms;
  PutOpt(j, "live_ntotal", live_ntotal);
  PutOpt(j, "count_change", count_change);
  PutOpt(j, "live_file_size", live_file_size);
  PutOpt(j, "size_change", size_change);
  PutOpt(j, "live_recall", live_recall);
  if (tune) j["tune"] = tune->ToJson();
  if (ivf) j["ivf"] = ivf->ToJson();
  j["seconds"] = seconds;
  return j;
}

Result<ValidationReport> ValidationReport::FromJson(const Json& j) {
  if (!j.is_object()) return Corruption("validation report is not an object");
  ValidationReport r;
  r.passed = j.GetBool("passed");
  if (const Json* f = j.Find("failures"); f && f->is_array())
    for (const auto& s : f->as_array())
      if (s.is_string()) r.failures.push_back(s.as_string());
  r.checksum_ok = j.GetBool("checksum_ok");
  r.dim = static_cast<int>(j.GetInt("dim"));
  r.metric = j.GetString("metric");
  r.ntotal = j.GetInt("ntotal");
  r.expected_ntotal = j.GetInt("expected_ntotal");
  r.k = static_cast<int>(j.GetInt("k"));
  r.queries = static_cast<int>(j.GetInt("queries"));
  r.recall = j.GetDouble("recall");
  r.recall_ci_low = j.GetDouble("recall_ci_low");
  r.recall_ci_high = j.GetDouble("recall_ci_high");
  r.search_params = ParamsFromJson(j.Find("search_params"));
  r.latency_queries = static_cast<int>(j.GetInt("latency_queries"));
  r.p50_ms = j.GetDouble("p50_ms");
  r.p99_ms = j.GetDouble("p99_ms");
  if (j.Find("live_ntotal")) r.live_ntotal = j.GetInt("live_ntotal");
  if (j.Find("count_change")) r.count_change = j.GetDouble("count_change");
  if (j.Find("live_file_size"))
    r.live_file_size = static_cast<uint64_t>(j.GetInt("live_file_size"));
  if (j.Find("size_change")) r.size_change = j.GetDouble("size_change");
  if (j.Find("live_recall")) r.live_recall = j.GetDouble("live_recall");
  if (const Json* t = j.Find("tune")) {
    FRB_ASSIGN_OR_RETURN(TuneReport tr, TuneReport::FromJson(*t));
    r.tune = std::move(tr);
  }
  // Absent in manifests written before IVF health was measured.
  if (const Json* h = j.Find("ivf"); h && h->is_object()) r.ivf = IvfHealth::FromJson(*h);
  r.seconds = j.GetDouble("seconds");
  return r;
}

Json Manifest::LiveSummary(const std::string& live_path, int64_t now_unix_ms) const {
  Json j = Json::MakeObject();
  j["version"] = version_id;
  j["created"] = FormatUtcMillis(created_unix_ms);
  j["age_seconds"] = static_cast<double>(now_unix_ms - created_unix_ms) / 1000;
  j["ntotal"] = ntotal;
  j["file_size"] = file_size;
  j["recall"] = validation.recall;
  j["p99_ms"] = validation.p99_ms;
  j["search_params"] = ParamsToJson(validation.search_params);
  if (const auto& t = validation.tune; t && t->chosen) {
    Json tuned = Json::MakeObject();
    tuned["param"] = t->param;
    tuned["value"] = static_cast<int64_t>(*t->chosen);
    tuned["target_recall"] = t->target_recall;
    tuned["use"] = t->use_lower_bound ? "lower_bound" : "estimate";
    tuned["k"] = t->k;
    if (!t->curve.empty()) {
      tuned["recall"] = t->curve.back().recall;
      tuned["recall_ci_low"] = t->curve.back().ci_low;
      tuned["p50_ms"] = t->curve.back().p50_ms;
    }
    tuned["curve"] = t->ToJson()["curve"];
    j["tuned"] = std::move(tuned);
  }
  j["kind"] = kind;
  j["full_version"] = full_version;
  j["deltas_since_full"] = deltas_since_full;
  j["delta_rows_since_full"] = delta_rows_since_full;
  j["delta_through"] = delta_through;
  if (validation.ivf) j["ivf"] = validation.ivf->ToJson();
  j["path"] = live_path;
  return j;
}

Json Manifest::ToJson() const {
  Json j = Json::MakeObject();
  j["format_version"] = kFormatVersion;
  j["index"] = index_name;
  j["version"] = version_id;
  j["parent_version"] = parent_version;
  j["created_unix_ms"] = created_unix_ms;
  j["created"] = FormatUtcMillis(created_unix_ms);
  j["job_id"] = job_id;
  if (!restored_from.empty()) j["restored_from"] = restored_from;
  if (!repaired_from.empty()) j["repaired_from"] = repaired_from;
  if (!repair_reason.empty()) j["repair_reason"] = repair_reason;
  j["source"] = source.ToJson();
  j["factory"] = factory;
  j["metric"] = metric;
  j["dim"] = dim;
  j["ntotal"] = ntotal;
  Json file = Json::MakeObject();
  file["name"] = index_file;
  file["size"] = file_size;
  file["sha256"] = file_sha256;
  j["file"] = std::move(file);
  Json build = Json::MakeObject();
  build["train_vectors"] = train_vectors;
  build["train_sample"] = train_sample;
  build["threads"] = threads;
  build["stage_seconds"] = ParamsToJson(stage_seconds);
  j["build"] = std::move(build);
  j["validation"] = validation.ToJson();
  j["kind"] = kind;
  Json delta = Json::MakeObject();
  Json seqs = Json::MakeArray();
  for (int64_t q : delta_seqs) seqs.Push(q);
  delta["seqs"] = std::move(seqs);
  delta["through"] = delta_through;
  delta["upserts"] = delta_upserts;
  delta["deletes"] = delta_deletes;
  j["delta"] = std::move(delta);
  j["full_version"] = full_version;
  j["deltas_since_full"] = deltas_since_full;
  j["delta_rows_since_full"] = delta_rows_since_full;
  // The value searchd serves by default, where readers look first.
  if (validation.tune && validation.tune->chosen) j[validation.tune->param] = static_cast<int64_t>(*validation.tune->chosen);
  SealJson(j, "manifest_sha256");
  return j;
}

std::string Manifest::Serialize() const { return ToJson().Dump(2) + "\n"; }

Result<Manifest> Manifest::Parse(std::string_view text, std::string_view origin) {
  FRB_ASSIGN_OR_RETURN(Json j, OpenSealedJson(text, origin, "manifest_sha256", kFormatVersion));
  Manifest m;
  m.index_name = j.GetString("index");
  m.version_id = j.GetString("version");
  m.parent_version = j.GetString("parent_version");
  m.created_unix_ms = j.GetInt("created_unix_ms");
  m.job_id = j.GetString("job_id");
  m.restored_from = j.GetString("restored_from");
  m.repaired_from = j.GetString("repaired_from");
  m.repair_reason = j.GetString("repair_reason");
  const Json* src = j.Find("source");
  if (src == nullptr) return Corruption(std::string(origin) + ": missing source");
  auto fp = SourceFingerprint::FromJson(*src);
  if (!fp.ok()) return Corruption(std::string(origin) + ": " + fp.status().message());
  m.source = *fp;
  m.factory = j.GetString("factory");
  m.metric = j.GetString("metric");
  m.dim = static_cast<int>(j.GetInt("dim"));
  m.ntotal = j.GetInt("ntotal");
  const Json* file = j.Find("file");
  if (file == nullptr || !file->is_object())
    return Corruption(std::string(origin) + ": missing file section");
  m.index_file = file->GetString("name", "index.faiss");
  m.file_size = static_cast<uint64_t>(file->GetInt("size"));
  m.file_sha256 = file->GetString("sha256");
  if (m.version_id.empty() || m.file_sha256.size() != 64)
    return Corruption(std::string(origin) + ": missing version or file checksum");
  if (const Json* b = j.Find("build")) {
    m.train_vectors = b->GetInt("train_vectors");
    m.train_sample = b->GetInt("train_sample");
    m.threads = static_cast<int>(b->GetInt("threads"));
    m.stage_seconds = ParamsFromJson(b->Find("stage_seconds"));
  }
  if (const Json* v = j.Find("validation")) {
    auto r = ValidationReport::FromJson(*v);
    if (!r.ok()) return Corruption(std::string(origin) + ": " + r.status().message());
    m.validation = *r;
  }
  // Older manifests have no delta fields: full builds.
  m.kind = j.GetString("kind", "full");
  if (const Json* d = j.Find("delta"); d && d->is_object()) {
    if (const Json* q = d->Find("seqs"); q && q->is_array())
      for (const auto& x : q->as_array())
        if (x.is_int()) m.delta_seqs.push_back(x.as_int());
    m.delta_through = d->GetInt("through");
    m.delta_upserts = d->GetInt("upserts");
    m.delta_deletes = d->GetInt("deletes");
  }
  m.full_version = j.GetString("full_version", m.kind == "full" ? m.version_id : "");
  m.deltas_since_full = j.GetInt("deltas_since_full");
  m.delta_rows_since_full = j.GetInt("delta_rows_since_full");
  return m;
}

}  // namespace frb
