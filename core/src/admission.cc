#include "frb/admission.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <vector>

#include "frb/backup.h"

namespace frb {
namespace {

// The number right after `prefix` at the start of `s` (0 when none).
uint64_t NumberAfter(std::string_view s, std::string_view prefix) {
  uint64_t v = 0;
  for (size_t i = prefix.size(); i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
    v = std::min<uint64_t>(v * 10 + static_cast<uint64_t>(s[i] - '0'), 1ull << 40);
  return v;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t pos = 0;;) {
    size_t next = s.find(sep, pos);
    out.push_back(s.substr(pos, next == s.npos ? s.npos : next - pos));
    if (next == s.npos) return out;
    pos = next + 1;
  }
}

std::string Gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
  return buf;
}

struct Model {
  double per_vector = 0;  // bytes
  double fixed = 0;       // bytes independent of the count
  bool has_codes = false;
  bool trains = false;
  std::string unmodelled;
};

// Bytes per vector of a storage ("encoding") component, or < 0 if unknown.
double CodeBytes(std::string_view c, double d, Model* m) {
  if (c == "Flat") return d * 4;
  if (StartsWith(c, "PQ")) {
    double sub = static_cast<double>(NumberAfter(c, "PQ"));
    size_t x = c.find('x');
    double nbits = x == c.npos ? 8 : static_cast<double>(NumberAfter(c.substr(x), "x"));
    if (sub <= 0 || nbits <= 0) return -1;
    m->trains = true;
    m->fixed += d * std::exp2(nbits) * 4;  // codebooks
    return std::ceil(sub * nbits / 8);
  }
  if (StartsWith(c, "SQ")) {
    if (c == "SQfp16" || c == "SQbf16") return 2 * d;  // no ranges to train
    m->trains = true;
    uint64_t bits = NumberAfter(c, "SQ");
    return bits > 0 && bits <= 8 ? std::ceil(d * static_cast<double>(bits) / 8) : d;
  }
  return -1;
}

Model ModelFactory(const std::string& factory, int dim) {
  Model m;
  double d = dim;
  const double d_in = dim;
  auto unknown = [&](std::string_view c) {
    if (m.unmodelled.empty()) m.unmodelled = std::string(c);
  };
  for (std::string_view c : Split(factory, ',')) {
    if (c == "IDMap" || c == "IDMap2") {
      m.per_vector += c == "IDMap" ? 8 : 24;
    } else if (c == "L2norm") {
    } else if (StartsWith(c, "PCA") || StartsWith(c, "OPQ") || StartsWith(c, "RR") ||
               StartsWith(c, "ITQ") || StartsWith(c, "Pad")) {
      size_t digits = c.find_first_of("0123456789");
      uint64_t out = digits == c.npos ? 0 : NumberAfter(c, c.substr(0, digits));
      if (StartsWith(c, "OPQ")) {
        size_t us = c.find('_');
        out = us == c.npos ? static_cast<uint64_t>(d) : NumberAfter(c.substr(us), "_");
      }
      double d_out = out > 0 ? static_cast<double>(out) : d;
      m.fixed += std::max(d, d_out) * std::max(d, d_out) * 4;
      if (!StartsWith(c, "Pad")) m.trains = true;
      d = d_out;
    } else if (StartsWith(c, "IVF")) {
      double nlist = static_cast<double>(NumberAfter(c, "IVF"));
      if (nlist <= 0) {
        unknown(c);
        continue;
      }
      m.trains = true;
      m.fixed += nlist * d * 4;
      if (size_t h = c.find("HNSW"); h != c.npos)
        m.fixed += nlist * (static_cast<double>(NumberAfter(c.substr(h), "HNSW")) * 2 * 4 * 1.2 + 16);
      else if (c.find('_') != c.npos || c.find('(') != c.npos)
        unknown(c);
      m.per_vector += 8;  // ids in the inverted lists
    } else if (StartsWith(c, "HNSW") || StartsWith(c, "NSG")) {
      bool hnsw = StartsWith(c, "HNSW");
      double links = static_cast<double>(NumberAfter(c, hnsw ? "HNSW" : "NSG"));
      if (links <= 0) links = 32;
      // Level 0 has 2M neighbours, upper levels a geometric tail of M each.
      m.per_vector += hnsw ? links * 2 * 4 * 1.2 + 16 : links * 4;
      size_t us = c.find('_');
      if (us == c.npos) {
        m.per_vector += d * 4;
        m.has_codes = true;
        continue;
      }
      double code = CodeBytes(c.substr(us + 1), d, &m);
      if (code < 0) {
        unknown(c);
        continue;
      }
      m.per_vector += code;
      m.has_codes = true;
    } else if (c == "RFlat" || c == "Refine(Flat)") {
      m.per_vector += d_in * 4;
    } else if (double code = CodeBytes(c, d, &m); code >= 0) {
      m.per_vector += code;
      m.has_codes = true;
    } else {
      unknown(c);
    }
  }
  if (!m.has_codes && m.unmodelled.empty()) m.unmodelled = factory;
  return m;
}

}  // namespace

BuildEstimate EstimateBuild(const IndexConfig& index, int64_t count, int dim) {
  Model m = ModelFactory(index.factory, dim);
  const double n = static_cast<double>(count);
  const double d = dim;
  BuildEstimate e;
  e.unmodelled = m.unmodelled;
  e.trains = m.trains || !m.unmodelled.empty();
  double per = m.per_vector;
  // Anything not modelled: assume full-precision storage with headroom
  // (larger than every compressed encoding).
  if (!m.unmodelled.empty()) per = std::max(per, d * 4 * 1.5 + 64);
  double index_bytes = (m.fixed + per * n) * 1.1 + (1 << 20);
  e.index_bytes = static_cast<uint64_t>(index_bytes);
  double train_rows = e.trains ? std::min<double>(n, static_cast<double>(index.train_sample)) : 0;
  double sample = train_rows * dim * 4;
  // Fitted to measured peaks (docs/operations.md, capacity): k-means holds
  // ~4.5 copies' worth of the sample; inverted lists grow by doubling, so
  // an index being filled holds up to ~1.7x its final size.
  double training = m.fixed + 4.5 * sample + train_rows * 16;
  double batch = std::min<double>(n, static_cast<double>(index.add_batch));
  double adding = 1.7 * index_bytes + batch * (d * 4 + 16);
  e.peak_memory_bytes = static_cast<uint64_t>(std::max(training, adding) + (64 << 20));
  return e;
}

Status AdmitBuild(Env* env, const IndexConfig& index, const BuildEstimate& e,
                  const std::string& staging_dir, const AvailableMemoryFn& available) {
  std::string basis = e.unmodelled.empty()
                          ? ""
                          : " (a conservative bound: '" + e.unmodelled + "' is not modelled)";
  FRB_RETURN_IF_ERROR(CheckFreeSpace(env, staging_dir, e.index_bytes,
                                     "index '" + index.name + "' (" + index.factory + ")" + basis));
  if (!index.memory_admission || !available) return Status::Ok();
  auto avail = available();
  if (!avail.ok()) return Status::Ok();  // not knowing is no reason to refuse
  if (e.peak_memory_bytes > *avail) {
    return FailedPrecondition(
        "index '" + index.name + "': the build needs an estimated " +
        std::to_string(e.peak_memory_bytes) + " bytes (" + Gib(e.peak_memory_bytes) +
        ") of memory" + basis + " but only " + std::to_string(*avail) + " bytes (" +
        Gib(*avail) + ") are available (MemAvailable and the cgroup limit); lower "
        "train_sample or add_batch, free memory, or set memory_admission: false");
  }
  return Status::Ok();
}

}  // namespace frb
