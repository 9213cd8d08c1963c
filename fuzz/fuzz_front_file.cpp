// libFuzzer target for the front-file reader (partition/front_file.h).
// Build: cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14
//          -DTEESPLIT_FUZZ=ON -DTEESPLIT_TESTS=OFF -DTEESPLIT_BENCH=OFF -DTEESPLIT_CUDA=OFF
//        cmake --build build-fuzz --target fuzz_front_file -j2
// Corpus: fuzz/corpus/fuzz_front_file (seeds from fuzz/make_seeds.sh, plus every
// input that once failed); scripts/fuzz-smoke.sh runs it, docs/testing.md has the
// long runs; docs/front-file-format.md, section 7.
//
// The first input byte picks the mode, the rest is the file:
//   0: the file as is, no key;   1: the file with a fixed key;
//   2: the file with its SHA-256 recomputed, so that mutations reach the
//      content parser through the full reader;   3: the content section alone.
// Every input must either parse into a graph that validates or be refused
// with teesplit::Error; anything else (a crash, a sanitizer report, another
// exception type) is a bug.
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "partition/front_file.h"

namespace {

teesplit::FrontKey fixed_key() {
  teesplit::FrontKey k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i * 13 + 1);
  return k;
}

void check(const teesplit::Result<teesplit::Graph>& r) {
  if (r.ok()) r.value().validate();  // throws (and so aborts the fuzzer) if not valid
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] % 4;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  static const teesplit::FrontKey key = fixed_key();
  switch (mode) {
    case 0:
      check(teesplit::parse_front(bytes));
      break;
    case 1:
      check(teesplit::parse_front(bytes, &key));
      break;
    case 2: {
      if (bytes.size() >= teesplit::kFrontHeaderSize) {
        unsigned char md[32];
        unsigned len = 0;
        EVP_Digest(bytes.data() + teesplit::kFrontHeaderSize,
                   bytes.size() - teesplit::kFrontHeaderSize, md, &len, EVP_sha256(), nullptr);
        std::memcpy(&bytes[32], md, 32);
      }
      check(teesplit::parse_front(bytes));
      break;
    }
    default:
      try {
        // data[0] / 4 odd: bfloat16 tensors allowed (a version-2 file with the bf16 flag).
        teesplit::parse_front_content(data + 1, size - 1, (data[0] / 4) % 2 == 1).validate();
      } catch (const teesplit::Error&) {
        // refused: fine
      }
  }
  return 0;
}
