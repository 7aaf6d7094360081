// Fuzz target: the config loader. YAML text -> ParseConfig (parse, defaults,
// overrides, validation). Sources resolve in an in-memory Env holding one
// valid .npy file, so the source checks run without touching disk.
//
// Properties: never crashes; a failure is kInvalidArgument and lists at
// least one problem with a file name and non-negative line/column; a
// success reports no problems.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frb/config.h"
#include "fuzz_common.h"

namespace {

// A valid 3 x 4 float32 C-order .npy file.
std::string SmallNpy() {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  for (int i = 0; i < 12; ++i) {
    float f = 0.25f * static_cast<float>(i);
    out.append(reinterpret_cast<const char*>(&f), sizeof f);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  static const std::string npy = SmallNpy();
  static frb::fuzz::MemEnv* env = [] {
    auto* e = new frb::fuzz::MemEnv();
    e->Put("/src/a.npy", npy);
    e->Put("/src/q.npy", npy);
    return e;
  }();
  std::string_view yaml(reinterpret_cast<const char*>(data), size);

  // Once, with source checks on (a superset of the checks without them):
  // validation builds each index through faiss::index_factory, whose
  // std::regex parsing makes every parse cost milliseconds.
  {
    frb::ConfigOptions options;
    options.check_sources = true;
    std::vector<frb::ConfigProblem> problems;
    auto r = frb::ParseConfig(yaml, "fuzz.yaml", env, options, &problems);
    if (r.ok()) {
      FRB_FUZZ_CHECK(problems.empty(), "success with problems");
      for (const auto& ix : r->indexes) (void)r->FindIndex(ix.name);
      (void)frb::ParseDuration(yaml);
    } else {
      FRB_FUZZ_CHECK(r.status().code() == frb::Code::kInvalidArgument, r.status().ToString());
      FRB_FUZZ_CHECK(!problems.empty(), r.status().ToString());
      for (const auto& p : problems) {
        FRB_FUZZ_CHECK(p.line >= 0 && p.column >= 0, p.ToString());
        FRB_FUZZ_CHECK(!p.message.empty(), p.ToString());
        (void)p.ToString();
      }
    }
  }
  return 0;
}
