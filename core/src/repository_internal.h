// Documents of the repository (version manifests, the pointer), shared by
// the writer (repository.cc) and the reader (repository_pull.cc).
#pragma once

#include <string>

#include "frb/repository.h"

namespace frb::repo_internal {

bool IsHex64(const std::string& s);
// A plain file name of a version dir (no '/', "..", NUL, ".partial").
bool SafeFileName(const std::string& name);
std::string VersionJson(const RepoVersion& v);
Result<RepoVersion> ParseVersion(const std::string& text, const std::string& origin);
std::string PointerJson(const RepoPointer& p);
Result<RepoPointer> ParsePointer(const std::string& text, const std::string& origin);

}  // namespace frb::repo_internal
