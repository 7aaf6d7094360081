// The manifest of a published version and the validation report it carries
// (docs/architecture.md). Stored as manifest.json next to the index file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frb/config.h"
#include "frb/json.h"
#include "frb/source.h"
#include "frb/status.h"

namespace frb {

// One rung of the tuning ladder.
struct TunePoint {
  double value = 0;     // of the tuned parameter
  double recall = 0;    // recall@k
  double ci_low = 0;    // 95% Wilson interval
  double ci_high = 0;
  double p50_ms = 0;    // single-query latency at this value
  double p99_ms = 0;
};

// What tuning measured and chose (validation of an index whose search
// parameter is auto).
struct TuneReport {
  std::string param;           // "nprobe" | "efSearch"
  double target_recall = 0;
  bool use_lower_bound = true; // compared the CI lower bound, else the estimate
  int k = 0;
  int max = 0;                 // configured bound (nprobe also <= nlist)
  std::optional<double> chosen;  // unset: no value up to max met the target
  std::vector<TunePoint> curve;  // ladder order, up to the chosen value
  double seconds = 0;

  Json ToJson() const;
  static Result<TuneReport> FromJson(const Json& j);
};

// How evenly an IVF index's vectors spread over its inverted lists: deltas
// added to an index without retraining skew them. Measured from list sizes.
struct IvfHealth {
  int64_t nlist = 0;
  int64_t ntotal = 0;            // sum of the list sizes
  // FAISS's definition: nlist * sum(size^2) / ntotal^2; 1 when every list
  // holds ntotal / nlist vectors, nlist when one list holds them all; 0 for
  // an empty index.
  double imbalance_factor = 0;
  int64_t empty_lists = 0;
  double empty_lists_ratio = 0;  // empty_lists / nlist
  int64_t largest_list = 0;

  Json ToJson() const;
  static IvfHealth FromJson(const Json& j);
};

// The health of lists of these sizes (nlist = list_sizes.size()).
IvfHealth IvfHealthOf(const std::vector<int64_t>& list_sizes);

struct ValidationReport {
  bool passed = false;
  std::vector<std::string> failures;  // one line per failed gate

  // structure
  bool checksum_ok = false;
  int dim = 0;
  std::string metric;
  int64_t ntotal = 0;
  int64_t expected_ntotal = 0;

  // recall@k vs exact search
  int k = 0;
  int queries = 0;
  double recall = 0;
  double recall_ci_low = 0;   // 95% Wilson interval
  double recall_ci_high = 0;
  std::map<std::string, double> search_params;

  // single-query latency
  int latency_queries = 0;
  double p50_ms = 0;
  double p99_ms = 0;

  // drift vs the live version (absent when there is none)
  std::optional<int64_t> live_ntotal;
  std::optional<double> count_change;  // relative, signed
  std::optional<uint64_t> live_file_size;
  std::optional<double> size_change;   // relative, signed
  std::optional<double> live_recall;   // when max_recall_drop_vs_live is set

  std::optional<TuneReport> tune;  // when a search parameter is auto
  std::optional<IvfHealth> ivf;    // IVF indexes only

  double seconds = 0;

  Json ToJson() const;
  static Result<ValidationReport> FromJson(const Json& j);
};

struct Manifest {
  static constexpr int kFormatVersion = 1;

  std::string index_name;
  std::string version_id;
  std::string parent_version;  // live version when this one was built
  int64_t created_unix_ms = 0;
  std::string job_id;
  std::string restored_from;   // set when published by a restore
  // Set when published by a repair: the intact version copied, and why
  // (the corrupt live version it replaced and what failed).
  std::string repaired_from;
  std::string repair_reason;

  SourceFingerprint source;
  std::string factory;
  std::string metric;  // "L2" | "IP"
  int dim = 0;
  int64_t ntotal = 0;

  std::string index_file = "index.faiss";
  uint64_t file_size = 0;
  std::string file_sha256;

  int64_t train_vectors = 0;
  int64_t train_sample = 0;  // configured when built (0 in older manifests)
  int threads = 0;
  std::map<std::string, double> stage_seconds;
  ValidationReport validation;

  // Deltas (docs/architecture.md): "full" for a build from the source,
  // "delta" for live plus logged upserts/deletes.
  std::string kind = "full";
  std::vector<int64_t> delta_seqs;  // applied by this version (full: replayed)
  int64_t delta_through = 0;        // highest delta sequence number it contains
  int64_t delta_upserts = 0;        // rows upserted / ids deleted by this version
  int64_t delta_deletes = 0;
  std::string full_version;         // the last full build in its chain (full: itself)
  int64_t deltas_since_full = 0;    // delta versions since that full build
  int64_t delta_rows_since_full = 0;  // their upserts + deletes

  // Includes "manifest_sha256", a checksum of the rest of the document.
  Json ToJson() const;
  std::string Serialize() const;  // pretty JSON + newline
  // Rejects documents whose manifest_sha256 does not match (kCorruption).
  static Result<Manifest> Parse(std::string_view text, std::string_view origin);
  // The short form `status` shows for a live version (CLI and daemon API):
  // version, created, age_seconds (at `now_unix_ms`), ntotal, file_size,
  // recall, p99_ms, search_params, path (= `live_path`), and for a tuned
  // version `tuned` {param, value, target_recall, use, k, recall,
  // recall_ci_low, p50_ms, curve}, and for an IVF index `ivf` {nlist, ntotal,
  // imbalance_factor, empty_lists, empty_lists_ratio, largest_list}.
  Json LiveSummary(const std::string& live_path, int64_t now_unix_ms) const;
};

// Self-checksummed JSON documents (version and backup manifests): Seal adds
// `checksum_key` = SHA-256 of the compact dump of the rest; Open parses,
// checks that checksum and `format_version`, and returns the document
// without the key. Errors are kCorruption naming `origin`.
void SealJson(Json& doc, std::string_view checksum_key);
Result<Json> OpenSealedJson(std::string_view text, std::string_view origin,
                            std::string_view checksum_key, int format_version);

// "2026-11-21T13:05:01.123Z".
std::string FormatUtcMillis(int64_t unix_ms);
int64_t NowUnixMillis();

}  // namespace frb
