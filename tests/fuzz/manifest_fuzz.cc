// Fuzz target: the self-checksummed manifests. The input is a manifest
// document (version manifest.json or backup <version>.backup.json) and goes
// through OpenSealedJson, Manifest::Parse and BackupManifest::Parse as it
// is. Since random bytes almost never carry a matching SHA-256, the input is
// also re-sealed (checksum recomputed over the mutated fields) so the field
// parsing behind the checksum gate is reached too.
//
// Properties: never crashes; failures are kCorruption naming the origin; a
// manifest that parses serializes to a document that parses again and
// serializes identically; any change to a sealed document's bytes outside
// insignificant whitespace is refused.
#include <cstdint>
#include <string>
#include <string_view>

#include "frb/backup.h"
#include "frb/json.h"
#include "frb/manifest.h"
#include "fuzz_common.h"

namespace {

constexpr char kOrigin[] = "/fuzz/manifest.json";

void CheckError(const frb::Status& s) {
  FRB_FUZZ_CHECK(s.code() == frb::Code::kCorruption, s.ToString());
  FRB_FUZZ_CHECK(s.message().find(kOrigin) != std::string::npos, s.ToString());
}

template <typename M>
void ParseAndRoundTrip(std::string_view text) {
  auto m = M::Parse(text, kOrigin);
  if (!m.ok()) {
    CheckError(m.status());
    return;
  }
  const std::string once = m->Serialize();
  auto again = M::Parse(once, kOrigin);
  FRB_FUZZ_CHECK(again.ok(), once + "\n" + again.status().ToString());
  FRB_FUZZ_CHECK(again->Serialize() == once, once);
}

// Drops the checksum member and seals the document again.
std::string Reseal(const frb::Json& doc, std::string_view key) {
  frb::Json j = doc;
  std::erase_if(j.as_object(), [&](const auto& kv) { return kv.first == key; });
  frb::SealJson(j, key);
  return j.Dump(2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);

  // As stored: mostly checksum mismatches.
  for (const char* key : {"manifest_sha256", "backup_manifest_sha256"}) {
    auto j = frb::OpenSealedJson(text, kOrigin, key, 1);
    if (!j.ok()) CheckError(j.status());
  }
  ParseAndRoundTrip<frb::Manifest>(text);
  ParseAndRoundTrip<frb::BackupManifest>(text);

  // Re-sealed: the fields behind the gate.
  auto doc = frb::Json::Parse(text);
  if (!doc.ok() || !doc->is_object()) return 0;
  const std::string v = Reseal(*doc, "manifest_sha256");
  ParseAndRoundTrip<frb::Manifest>(v);
  const std::string b = Reseal(*doc, "backup_manifest_sha256");
  ParseAndRoundTrip<frb::BackupManifest>(b);

  // A sealed document must refuse a flipped byte that changes its meaning:
  // flip one byte inside a string value or number (not whitespace).
  auto sealed = frb::OpenSealedJson(v, kOrigin, "manifest_sha256", 1);
  if (sealed.ok() && !v.empty()) {
    std::string flipped = v;
    size_t at = size % flipped.size();
    const char c = flipped[at];
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
      flipped[at] = static_cast<char>(c ^ 0x01);
      auto bad = frb::OpenSealedJson(flipped, kOrigin, "manifest_sha256", 1);
      // It may still parse only if the flip produced an equivalent document
      // (e.g. 'E' <-> 'e' in an exponent, or an escape that decodes the same).
      if (bad.ok()) {
        auto orig = frb::Json::Parse(v);
        auto now = frb::Json::Parse(flipped);
        FRB_FUZZ_CHECK(orig.ok() && now.ok() && *orig == *now, flipped);
      }
    }
  }
  return 0;
}
