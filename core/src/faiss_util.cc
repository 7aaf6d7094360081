#include "faiss_util.h"

#include <faiss/utils/distances.h>

namespace frb {
namespace {

// FAISS's exact search tiles the database in blocks of 1024 rows with one
// OpenMP parallel region each: exact ground truth for 1000 queries over
// 1M rows opens ~1000 regions per call, and on a busy host OpenMP's
// spin-waiting at each barrier costs more than the arithmetic (measured 3x).
// 1024 x 16384 tiles keep the scratch block at 64 MiB and the region count
// of k-means and IVF assignment unchanged, while exact search opens 16x
// fewer. Set before main(), so no FAISS call can be running.
const bool kFaissTilesTuned = [] {
  faiss::distance_compute_blas_query_bs = 1024;
  faiss::distance_compute_blas_database_bs = 16384;
  return true;
}();

}  // namespace

std::string FaissMessage(const std::exception& e) {
  std::string s = e.what();
  // FaissException::what() is "Error in <func> at <file>:<line>: <msg>".
  size_t pos = s.find(": ", s.find(" at "));
  if (s.rfind("Error in ", 0) == 0 && pos != std::string::npos) s = s.substr(pos + 2);
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

std::string FactoryStringProblem(std::string_view factory) {
  if (factory.empty()) return "is empty";
  if (factory.size() > kMaxFactoryLength) {
    return "is " + std::to_string(factory.size()) + " characters long (at most " +
           std::to_string(kMaxFactoryLength) + ")";
  }
  int depth = 0;
  for (size_t i = 0; i < factory.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(factory[i]);
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    std::string where = " at character " + std::to_string(i + 1);
    if (c == '(') {
      if (++depth > kMaxFactoryNesting)
        return "nests parentheses more than " + std::to_string(kMaxFactoryNesting) +
               " deep" + where;
    } else if (c == ')') {
      if (--depth < 0) return "has an unmatched ')'" + where;
    } else if (!alnum && c != ',' && c != '_' && c != '+' && c != '.') {
      std::string shown = c >= 0x20 && c < 0x7f ? std::string("'") + static_cast<char>(c) + "'"
                                                 : "byte " + std::to_string(c);
      return "has " + shown + where +
             "; factory strings use only letters, digits and , _ ( ) + .";
    }
  }
  if (depth != 0) return "has an unclosed '('";
  return "";
}

}  // namespace frb
