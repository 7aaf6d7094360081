// Bearer-token check for mutating admin endpoints.
#pragma once

#include <string>
#include <string_view>

#include "frb/status.h"

namespace frb::rebuildd {

// Thread safety: immutable after Load; Check may be called from any thread.
class TokenAuth {
 public:
  TokenAuth() = default;  // disabled: every request passes
  // Reads the token from `path` (empty = no token). The file must not be
  // group- or world-readable. `required` (listening beyond loopback) makes a
  // missing token an error: an open admin API on the network is refused.
  static Result<TokenAuth> Load(const std::string& path, bool required,
                                std::string_view listen);

  bool enabled() const { return !token_.empty(); }
  // Checks an "Authorization" header value in time independent of where it
  // differs, so the token cannot be guessed byte by byte.
  bool Check(std::string_view authorization) const;

 private:
  std::string token_;
};

}  // namespace frb::rebuildd
