// Corpus replay for builds without libFuzzer (GCC, the normal build): feeds
// every file under the given directories (or the given files) to
// LLVMFuzzerTestOneInput, as libFuzzer would with `-runs=0`. Registered with
// ctest as Fuzz.<target> so the normal suite replays the seed corpus and
// every crash reproducer in tests/fuzz/regressions/<target>/.
//
//   fuzz_<target> DIR|FILE...    exit 0 when every input ran; a failed
//                                property or sanitizer report aborts
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    fs::path p = argv[i];
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.')
          inputs.push_back(e.path());
    } else if (fs::is_regular_file(p, ec)) {
      inputs.push_back(p);
    } else {
      std::fprintf(stderr, "%s: not found (skipped)\n", argv[i]);
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "no inputs: give corpus directories or files\n");
    return 2;
  }
  std::sort(inputs.begin(), inputs.end());
  for (const auto& p : inputs) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "running %s (%zu bytes)\n", p.c_str(), bytes.size());
    // A copy of exactly `size` bytes, so reads past the end are caught by ASan.
    std::vector<uint8_t> data(bytes.begin(), bytes.end());
    uint8_t* buf = data.empty() ? nullptr : new uint8_t[data.size()];
    if (buf) std::copy(data.begin(), data.end(), buf);
    LLVMFuzzerTestOneInput(buf, data.size());
    delete[] buf;
  }
  std::fprintf(stderr, "%zu inputs ran\n", inputs.size());
  return 0;
}
