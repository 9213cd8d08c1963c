// Whole-file helpers shared by the readers in io/ and data/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace teesplit {

// Whole file as bytes; throws Error naming the file when it cannot be opened or read.
std::vector<uint8_t> read_file_bytes(const std::string& path);
// Writes bytes to path (truncating); throws Error naming the file on failure.
void write_file_bytes(const std::string& path, const uint8_t* data, size_t size);

}  // namespace teesplit
