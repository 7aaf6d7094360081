// Fuzz target: the JSON parser (Json::Parse), which reads every HTTP body of
// the daemon's admin API and of faiss-searchd, the CLI's API responses,
// manifests and state files. After a successful parse, the admin API's body
// checks run on the document (rebuild {"trigger"}, restore {"version"} with
// VersionStore::CheckVersionId) as admin_api.cc does them.
//
// Properties: never crashes, also at depth limits 1, 8 and 64; errors are
// kInvalidArgument naming a byte offset; a parsed document
// dumps (compact and indented) to text that parses back equal, and dumping
// is then stable.
#include <cstdint>
#include <string>
#include <string_view>

#include "frb/json.h"
#include "frb/store.h"
#include "fuzz_common.h"

namespace {

void AdminBodyChecks(const frb::Json& body) {
  if (!body.is_object()) return;
  std::string trigger = body.GetString("trigger", "api");
  (void)(trigger == "api" || trigger == "cli");
  const frb::Json* v = body.Find("version");
  if (v != nullptr && v->is_string()) {
    frb::Status s = frb::VersionStore::CheckVersionId(v->as_string());
    if (s.ok()) {
      const std::string& id = v->as_string();
      FRB_FUZZ_CHECK(!id.empty() && id.find('/') == std::string::npos &&
                         id.find('\0') == std::string::npos && id != "." && id != "..",
                     id);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (int depth : {1, 8, 64}) {
    auto r = frb::Json::Parse(text, depth);
    if (!r.ok()) {
      FRB_FUZZ_CHECK(r.status().code() == frb::Code::kInvalidArgument,
                     r.status().ToString());
      FRB_FUZZ_CHECK(r.status().message().find(" at byte ") != std::string::npos,
                     r.status().ToString());
      continue;
    }
    if (depth == 64) AdminBodyChecks(*r);
    for (int indent : {-1, 2}) {
      const std::string out = r->Dump(indent);
      auto back = frb::Json::Parse(out, depth);
      FRB_FUZZ_CHECK(back.ok(), out + "\n" + back.status().ToString());
      FRB_FUZZ_CHECK(*back == *r, out);
      FRB_FUZZ_CHECK(back->Dump(indent) == out, out);
    }
  }
  return 0;
}
