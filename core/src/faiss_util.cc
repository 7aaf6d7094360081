#include "faiss_util.h"

namespace frb {

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

}  // namespace frb
