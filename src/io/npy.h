// NumPy .npy files (format versions 1.0, 2.0 and 3.0), C order, little-endian.
//
// Read: '<f4' -> F32, '<f8' -> F32 (converted), '<i8' -> I64, '<i4' -> I32, '|u1' -> U8,
// '|b1' -> Bool (any non-zero byte reads as true). Anything else, fortran_order True, a
// malformed header, or a payload whose length differs from the shape's size throws Error
// naming the file (or "<memory>") and the byte offset.
// Write: version 1.0 (2.0 when the header exceeds 65535 bytes), header padded to 64 bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/file.h"

namespace teesplit {

Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& t);

// In-memory forms. `name` only labels error messages.
Tensor parse_npy(const std::vector<uint8_t>& bytes, const std::string& name = "<memory>");
Tensor parse_npy(const uint8_t* data, size_t size, const std::string& name = "<memory>");
std::vector<uint8_t> serialize_npy(const Tensor& t);

}  // namespace teesplit
