// Whole-file reads and writes: the one helper every reader and writer uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace teesplit {

constexpr size_t kNoFileLimit = SIZE_MAX;

// The file's bytes. Throws Error naming the file when it is missing, not a
// regular file, unreadable, or larger than max_bytes (checked before reading).
// The path of the running program (/proc/self/exe, symlinks resolved); throws
// Error when it cannot be read. Programs find what is installed beside them here.
std::string running_executable();

std::string read_file(const std::string& path, size_t max_bytes = kNoFileLimit);

// Writes bytes to path atomically: into "path.tmp-PID" beside it, flushed,
// then renamed over path, so a reader never sees half a file. Throws Error
// naming the file (and removes the temporary) on failure.
void write_file(const std::string& path, std::string_view bytes);
inline void write_file(const std::string& path, const void* data, size_t size) {
  write_file(path, std::string_view(static_cast<const char*>(data), size));
}

}  // namespace teesplit
