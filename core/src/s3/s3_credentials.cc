// Credentials and locations of the S3 client.
#include <cstdlib>

#include "frb/env.h"
#include "frb/s3.h"

namespace frb {
namespace {

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

Result<std::string> ReadSmallFile(Env* env, const std::string& path) {
  FRB_ASSIGN_OR_RETURN(auto f, env->NewSequentialFile(path));
  std::string out;
  char buf[4096];
  for (;;) {
    size_t got = 0;
    FRB_RETURN_IF_ERROR(f->Read(buf, sizeof(buf), &got));
    if (got == 0) break;
    out.append(buf, got);
    if (out.size() > (1 << 20)) return InvalidArgument(path + ": larger than 1 MiB");
  }
  return out;
}

}  // namespace

bool IsS3Url(std::string_view url) { return url.starts_with("s3://"); }

Result<S3Location> ParseS3Url(std::string_view url) {
  if (!IsS3Url(url)) return InvalidArgument("not an s3:// URL: " + std::string(url));
  std::string_view rest = url.substr(5);
  size_t slash = rest.find('/');
  S3Location loc;
  loc.bucket = std::string(rest.substr(0, slash));
  std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  loc.prefix = std::string(prefix);
  // Bucket naming rules (lowercase letters, digits, '.', '-'; 3-63).
  bool ok = loc.bucket.size() >= 3 && loc.bucket.size() <= 63;
  for (char c : loc.bucket)
    ok = ok && (std::islower(static_cast<unsigned char>(c)) ||
                std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-');
  if (!ok) return InvalidArgument("invalid bucket name in " + std::string(url));
  if (loc.prefix.find("//") != std::string::npos || loc.prefix.starts_with("/") ||
      loc.prefix.find('\0') != std::string::npos || loc.prefix == ".." ||
      loc.prefix.starts_with("../") || loc.prefix.find("/../") != std::string::npos ||
      loc.prefix.ends_with("/.."))
    return InvalidArgument("invalid prefix in " + std::string(url));
  return loc;
}

std::string S3Location::Key(std::string_view rest) const {
  return prefix.empty() ? std::string(rest) : prefix + "/" + std::string(rest);
}

std::string S3Location::ToUrl() const {
  return "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix);
}

Result<S3Credentials> LoadS3Credentials(Env* env) {
  S3Credentials c;
  c.access_key_id = Getenv("AWS_ACCESS_KEY_ID");
  c.secret_access_key = Getenv("AWS_SECRET_ACCESS_KEY");
  c.session_token = Getenv("AWS_SESSION_TOKEN");
  if (!c.access_key_id.empty() && !c.secret_access_key.empty()) return c;
  std::string file = Getenv("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty()) {
    std::string home = Getenv("HOME");
    if (home.empty()) return NotFound("no AWS credentials: AWS_ACCESS_KEY_ID unset and no HOME");
    file = home + "/.aws/credentials";
  }
  std::string profile = Getenv("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  auto text = ReadSmallFile(env, file);
  if (!text.ok())
    return NotFound("no AWS credentials: AWS_ACCESS_KEY_ID unset and " + file + " unreadable (" +
                    text.status().ToString() + ")");
  S3Credentials fc;
  bool in_profile = false;
  size_t pos = 0;
  const std::string& t = *text;
  while (pos < t.size()) {
    size_t end = t.find('\n', pos);
    if (end == std::string::npos) end = t.size();
    std::string line = Trim(std::string_view(t).substr(pos, end - pos));
    pos = end + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      std::string name = Trim(std::string_view(line).substr(1, line.size() - 2));
      if (name.starts_with("profile ")) name = Trim(std::string_view(name).substr(8));
      in_profile = name == profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = Trim(std::string_view(line).substr(0, eq));
    std::string v = Trim(std::string_view(line).substr(eq + 1));
    if (k == "aws_access_key_id") fc.access_key_id = v;
    else if (k == "aws_secret_access_key") fc.secret_access_key = v;
    else if (k == "aws_session_token") fc.session_token = v;
  }
  if (fc.access_key_id.empty() || fc.secret_access_key.empty())
    return NotFound("no AWS credentials: AWS_ACCESS_KEY_ID unset and profile [" + profile +
                    "] of " + file + " has no aws_access_key_id/aws_secret_access_key");
  return fc;
}

}  // namespace frb
