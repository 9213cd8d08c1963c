// libFuzzer target for the readers of the other files teesplit takes from users:
// .npy tensors, IDX (Fashion-MNIST, raw or gzip), PNG/JPEG images (decoded, then
// the ImageNet preprocessing) and TON_IoT CSV files. The first byte picks the
// reader, the rest is the file. Each input must be read or refused with
// teesplit::Error; a crash, a sanitizer report or an allocation the file's bytes
// do not justify (libFuzzer's -malloc_limit_mb) is a bug.
// Build: as fuzz_onnx_import (docs/testing.md), target fuzz_input_files.
// Corpus: fuzz/corpus/fuzz_input_files (seeds from fuzz/make_input_seeds.py, plus
// every input that once failed); scripts/fuzz-smoke.sh runs it, docs/testing.md
// has the long runs (-malloc_limit_mb=1024).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/ton_iot.h"
#include "io/image.h"
#include "io/npy.h"

namespace {

// The CSV readers take paths: the input goes through one temporary file.
std::string temp_file(const uint8_t* data, size_t size) {
  static std::string path = [] {
    char tmpl[] = "/tmp/fuzz_input_files.XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd >= 0) close(fd);
    std::atexit([] { std::remove(path.c_str()); });
    return std::string(tmpl);
  }();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

void read_csv(const std::string& path) {
  teesplit::CsvReader r(path, 0, 1, 64);  // small buffer: records cross refills
  std::vector<std::string> fields;
  for (int n = 0; n < 100000 && r.next(fields); ++n) {
  }
}

void read_ton_iot(const std::string& path) {
  teesplit::DatasetOptions opt;
  auto ds = teesplit::open_ton_iot(path, opt);
  for (int64_t i = 0; i < ds->size() && i < 64; ++i) ds->get(i);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 6;
  const uint8_t* file = data + 1;
  const size_t n = size - 1;
  try {
    switch (mode) {
      case 0:
        teesplit::parse_npy(file, n, "fuzz.npy");
        break;
      case 1:
        teesplit::parse_idx(std::vector<uint8_t>(file, file + n), 0x803, "fuzz-images-idx3");
        break;
      case 2:
        teesplit::parse_idx(std::vector<uint8_t>(file, file + n), 0x801, "fuzz-labels-idx1");
        break;
      case 3: {
        teesplit::Image img = teesplit::decode_image(file, n, "fuzz.img");
        teesplit::imagenet_preprocess(img, 64, 56);
        break;
      }
      case 4:
        read_csv(temp_file(file, n));
        break;
      case 5:
        read_ton_iot(temp_file(file, n));
        break;
    }
  } catch (const teesplit::Error&) {
    // refused with a message: fine
  }
  return 0;
}
