#include "core/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace teesplit {

std::string read_file(const std::string& path, size_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail("cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fclose(f);
    fail("cannot read '", path, "': not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    std::fclose(f);
    fail("'", path, "' is ", size, " bytes, more than the ", max_bytes, " allowed");
  }
  std::string out;
  out.resize(static_cast<size_t>(size));
  size_t got = size ? std::fread(out.data(), 1, out.size(), f) : 0;
  // The file may have grown since fstat: read on, within the limit.
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) {
    if (got + n > max_bytes) {
      std::fclose(f);
      fail("'", path, "' grew beyond the ", max_bytes, " bytes allowed while being read");
    }
    out.resize(got);
    out.append(buf, n);
    got += n;
  }
  const bool err = std::ferror(f) != 0;
  const int e = errno;
  std::fclose(f);
  if (err) fail("error reading '", path, "' at byte offset ", got, ": ", std::strerror(e));
  out.resize(got);
  return out;
}

void write_file(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail("cannot create '", path, "': ", std::strerror(errno));
  const size_t n = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);
  int e = errno;
  bool ok = n == bytes.size() && std::fflush(f) == 0;
  if (!ok) e = errno ? errno : e;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    e = errno;
  }
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    e = errno;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    fail("error writing '", path, "': ", std::strerror(e));
  }
}

std::string running_executable() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  TS_CHECK(!ec, "cannot find the running executable: ", ec.message());
  return self.string();
}

}  // namespace teesplit
