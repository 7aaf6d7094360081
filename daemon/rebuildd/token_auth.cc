#include "token_auth.h"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace frb::rebuildd {

Result<TokenAuth> TokenAuth::Load(const std::string& path, bool required,
                                  std::string_view listen) {
  TokenAuth auth;
  if (path.empty()) {
    if (required)
      return FailedPrecondition("http.listen '" + std::string(listen) +
                                "' is beyond loopback: set http.token_file so mutating "
                                "endpoints require a bearer token");
    return auth;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  if ((st.st_mode & 0044) != 0)
    return Status(Code::kPermissionDenied,
                  "token file " + path + " is group- or world-readable; chmod 600 it");
  std::ifstream in(path);
  if (!in) return IOError("cannot read token file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' ||
                            token.back() == ' ' || token.back() == '\t'))
    token.pop_back();
  if (token.empty()) return InvalidArgument("token file " + path + " is empty");
  auth.token_ = std::move(token);
  return auth;
}

bool TokenAuth::Check(std::string_view authorization) const {
  if (token_.empty()) return true;
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view given = authorization.substr(kPrefix.size());
  // Walk the whole expected token whatever the input; fold every difference
  // (and a length mismatch) into one flag.
  unsigned diff = given.size() == token_.size() ? 0u : 1u;
  for (size_t i = 0; i < token_.size(); ++i) {
    unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= g ^ static_cast<unsigned char>(token_[i]);
  }
  return diff == 0;
}

}  // namespace frb::rebuildd
