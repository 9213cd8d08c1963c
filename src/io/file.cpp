#include "io/file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace teesplit {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail("cannot open '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof buf, f);
    out.insert(out.end(), buf, buf + n);
    if (n < sizeof buf) break;
  }
  bool err = std::ferror(f) != 0;
  int e = errno;
  std::fclose(f);
  if (err) fail("error reading '", path, "' at byte offset ", out.size(), ": ", std::strerror(e));
  return out;
}

void write_file_bytes(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail("cannot create '", path, "': ", std::strerror(errno));
  size_t n = size ? std::fwrite(data, 1, size, f) : 0;
  int e = errno;
  bool ok = n == size && std::fflush(f) == 0;
  if (std::fclose(f) != 0) ok = false;
  if (!ok) fail("error writing '", path, "': ", std::strerror(e));
}

}  // namespace teesplit
