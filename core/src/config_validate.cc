// Checks on single values, kept apart from the YAML walk in config_parse.cc:
// FAISS accepting the factory and search parameters, the tz database
// knowing a zone, the source file opening, names and addresses, and the
// "did you mean" hint for unknown keys.
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "faiss_util.h"
#include "config_internal.h"
#include "frb/ids.h"
#include "frb/config.h"
#include "frb/env.h"
#include "frb/source.h"

namespace frb::config_internal {


namespace {
// Assertion failures read "Error: 'd % M == 0' failed: ..."; the caller's
// message already says FAISS rejected the factory.
std::string WithoutErrorPrefix(std::string message) {
  constexpr std::string_view kPrefix = "Error: ";
  if (message.rfind(kPrefix, 0) == 0) message.erase(0, kPrefix.size());
  return message;
}
}  // namespace

// Builds the (untrained, empty) index so FAISS itself judges the string:
// only it knows which combinations and dimensions are valid (PQ7 needs
// d % 7 == 0, IVF...,PQ16x9 needs nbits <= 8, ...). Then applies each search
// parameter the way the validator will, so one that does not fit the index
// type (efSearch on IVF) fails here rather than at the first rebuild.
// Building the empty index is how a factory string is checked, but some
// components allocate at construction: a product quantizer's codebook is
// d * 2^nbits floats (16 GiB for PQ64x16 at d=65536). Refuse those before
// FAISS tries; returns "" when the bound holds.
std::string CheckConstructionMemory(int dim, const std::string& factory) {
  constexpr double kLimit = 1024.0 * 1024 * 1024;  // 1 GiB
  static const std::regex pq(R"(PQ(\d+)x(\d+))");
  for (std::sregex_iterator it(factory.begin(), factory.end(), pq), end; it != end; ++it) {
    int nbits = std::atoi((*it)[2].str().c_str());
    if (nbits > 24) return "PQ with " + std::to_string(nbits) + " bits per code is not supported";
    double bytes = 4.0 * dim * static_cast<double>(1ull << nbits);
    if (bytes > kLimit)
      return it->str() + " at dimension " + std::to_string(dim) + " needs a " +
             std::to_string(static_cast<long long>(bytes / (1 << 20))) +
             " MiB codebook (limit 1024 MiB); use fewer bits per code";
  }
  // Transforms hold a d_in x d_out matrix (d_out <= d_in here).
  static const std::regex transform(R"((^|,)(OPQ|PCAR?|PCAW?R?|RR|ITQ)\d*)");
  double matrix = 4.0 * dim * static_cast<double>(dim);
  if (matrix > kLimit && std::regex_search(factory, transform))
    return "a linear transform at dimension " + std::to_string(dim) + " needs up to " +
           std::to_string(static_cast<long long>(matrix / (1 << 20))) +
           " MiB (limit 1024 MiB); reduce the dimension first";
  return "";
}

std::string CheckFactory(int dim, Metric metric, const std::string& factory,
                         const std::map<std::string, double>& search,
                         std::map<std::string, std::string>* param_errors) {
  // Before any regex, ours or FAISS's, sees the string.
  if (std::string why = FactoryStringProblem(factory); !why.empty()) return "the string " + why;
  if (std::string big = CheckConstructionMemory(dim, factory); !big.empty()) return big;
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(
        faiss::index_factory(dim, factory.c_str(), ToFaissMetric(metric)));
  } catch (const faiss::FaissException& e) {
    return WithoutErrorPrefix(FaissMessage(e));
  } catch (const std::exception& e) {
    return WithoutErrorPrefix(FaissMessage(e));
  }
  if (index == nullptr) return "index_factory returned no index";
  faiss::ParameterSpace space;
  for (const auto& [name, value] : search) {
    try {
      space.set_index_parameter(index.get(), name, value);
    } catch (const std::exception& e) {
      (*param_errors)[name] = FaissMessage(e);
    }
  }
  return "";
}


// `dim` 0 means the config's dimension was unusable: then only whether the
// file opens is checked. Returns "" when the file is fine.
std::string CheckSource(Env* env, const std::string& path, SourceFormat format,
                        int dim) {
  auto source = VectorSource::Open(env, path, format, dim);
  if (!source.ok()) return source.status().message();
  if (dim > 0 && (*source)->dim() != dim) {
    return path + " holds vectors of dimension " +
           std::to_string((*source)->dim()) + ", but dimension is " +
           std::to_string(dim);
  }
  return "";
}

std::string CheckIdsFile(Env* env, const std::string& ids_path, const std::string& source_path,
                         SourceFormat format, int dim) {
  auto source = VectorSource::Open(env, source_path, format, dim);
  if (!source.ok()) return "";  // reported under source.path
  auto ids = ReadCheckedIds(env, ids_path, (*source)->count(), source_path);
  return ids.ok() ? "" : ids.status().message();
}

// The name becomes a directory: no separators, no dot files, no "..".
bool IsValidIndexName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

namespace {
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}
}  // namespace

// The known key within edit distance 2 (ignoring case), or "". A candidate
// must be longer than the distance, or every short typo would "mean" 'k'.
std::string ClosestKey(std::string_view key,
                       std::span<const std::string_view> known) {
  std::string lower = Lower(key);
  std::string_view best;
  size_t best_distance = 3;
  for (std::string_view candidate : known) {
    size_t d = EditDistance(lower, Lower(candidate));
    if (d < best_distance && d < candidate.size()) {
      best = candidate;
      best_distance = d;
    }
  }
  return std::string(best);
}

}  // namespace frb::config_internal
