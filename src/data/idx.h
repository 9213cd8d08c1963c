// IDX files (the MNIST / Fashion-MNIST format) and a Dataset over an image/label pair.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace teesplit {

// An unsigned-byte IDX array: magic 0x00000800 | ndims, big-endian uint32 dims, data.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Reads an IDX file, gzip-compressed or raw (detected from the content). Throws Error
// naming the file and byte offset when the magic is not `expected_magic` (0x00000803 for
// images, 0x00000801 for labels), the file is truncated or longer than its dims say, or
// the gzip stream is corrupt.
IdxArray read_idx(const std::string& path, uint32_t expected_magic);
IdxArray parse_idx(const std::vector<uint8_t>& bytes, uint32_t expected_magic,
                   const std::string& name);

// Fashion-MNIST class names, in label order.
const std::vector<std::string>& fashion_mnist_classes();

// Opens DIR/{train,t10k}-images-idx3-ubyte[.gz] and the matching labels file.
// `kind` is "fashion-mnist" or "mnist" (class names only). Images and labels must agree
// in count; labels must be < 10. The split is read into memory (uint8).
std::unique_ptr<Dataset> open_idx_dataset(const std::string& dir, const std::string& kind,
                                          const DatasetOptions& opt);

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace teesplit
