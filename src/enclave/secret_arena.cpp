#include "enclave/secret_arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "core/error.h"
#include "core/numbers.h"
#include "enclave/sandbox.h"

namespace teesplit::enclave {
namespace {

#ifndef __NR_memfd_secret
#define __NR_memfd_secret 447  // x86-64
#endif

int memfd_secret_syscall(unsigned flags) {
  return static_cast<int>(syscall(__NR_memfd_secret, flags));
}

std::string memfd_secret_error(int e) {
  if (e == ENOSYS)
    return "memfd_secret is not available: this kernel lacks secretmem (built without "
           "CONFIG_SECRETMEM, or before Linux 6.5 not enabled with the boot parameter "
           "secretmem.enable=1); the worker cannot keep secrets out of the host's reach";
  return std::string("memfd_secret: ") + std::strerror(e) + " (errno " + std::to_string(e) + ")";
}

[[noreturn]] void corrupt(const char* what, const void* p, size_t bytes) {
  std::fprintf(stderr, "MemfdSecretArena: %s (pointer %p, %zu bytes); aborting\n", what, p, bytes);
  std::abort();
}

}  // namespace

bool memfd_secret_available(std::string* why) {
  const int fd = memfd_secret_syscall(O_CLOEXEC);
  if (fd >= 0) {
    close(fd);
    return true;
  }
  const int e = errno;
  if (e != ENOSYS) fail(memfd_secret_error(e));
  if (why) *why = memfd_secret_error(e);
  return false;
}

std::unique_ptr<MemfdSecretArena> MemfdSecretArena::create(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (bytes == 0) fail("a secret arena of 0 bytes");
  if (bytes > (size_t{1} << 40)) fail("a secret arena of ", bytes, " bytes is too large");
  const size_t size = (bytes + page - 1) / page * page;
  const int fd = memfd_secret_syscall(O_CLOEXEC);
  if (fd < 0) fail(memfd_secret_error(errno));
  // The kernel refuses the mapping (EAGAIN) beyond RLIMIT_MEMLOCK; say why first.
  try {
    check_memlock(size);
  } catch (...) {
    close(fd);
    throw;
  }
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int e = errno;
    close(fd);
    fail("ftruncate of the memfd_secret region to ", human_bytes(double(size)), ": ",
         std::strerror(e));
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int e = errno;
  close(fd);  // the mapping keeps the memory
  if (p == MAP_FAILED) {
    if (e == EAGAIN)
      fail("mmap of ", human_bytes(double(size)),
           " of memfd_secret memory was refused (EAGAIN): it exceeds RLIMIT_MEMLOCK; raise the "
           "limit for the worker (`ulimit -l`, prlimit --memlock, or the launcher's "
           "raise_memlock_for_child)");
    fail("mmap of the memfd_secret region (", human_bytes(double(size)), "): ", std::strerror(e));
  }
  return std::unique_ptr<MemfdSecretArena>(new MemfdSecretArena(static_cast<char*>(p), size));
}

MemfdSecretArena::MemfdSecretArena(char* base, size_t size) : base_(base), size_(size) {
  free_[0] = size;
}

MemfdSecretArena::~MemfdSecretArena() {
  // The kernel does not promise to clear freed secretmem pages; wipe every
  // byte that was ever handed out (pages never touched were never filled).
  secure_wipe(base_, touched_);
  munmap(base_, size_);
}

size_t MemfdSecretArena::block_size(size_t bytes) {
  if (bytes == 0) return kAlign;
  if (bytes > SIZE_MAX - kAlign) return 0;
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

void* MemfdSecretArena::allocate(size_t bytes) {
  const size_t need = block_size(bytes);
  if (need == 0) return nullptr;
  char* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second < need) continue;
      const size_t off = it->first, size = it->second;
      free_.erase(it);
      if (size > need) free_[off + need] = size - need;
      used_[off] = need;
      if (off + need > touched_) touched_ = off + need;
      p = base_ + off;
      break;
    }
  }
  if (p) std::memset(p, 0, need);
  return p;
}

void MemfdSecretArena::deallocate(void* p, size_t bytes) {
  if (!p) return;
  const char* c = static_cast<const char*>(p);
  if (c < base_ || c >= base_ + size_) corrupt("free of memory outside the arena", p, bytes);
  const size_t off = static_cast<size_t>(c - base_);
  std::lock_guard<std::mutex> lock(mu_);
  auto u = used_.find(off);
  if (u == used_.end()) corrupt("free of a block that is not allocated", p, bytes);
  if (u->second != block_size(bytes)) corrupt("free with a size other than allocated", p, bytes);
  size_t start = off, size = u->second;
  used_.erase(u);
  // Coalesce with the free neighbours on both sides.
  auto next = free_.lower_bound(start);
  if (next != free_.end() && next->first == start + size) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      start = prev->first;
      size += prev->second;
      free_.erase(prev);
    }
  }
  free_[start] = size;
}

bool MemfdSecretArena::contains(const void* p) const {
  const char* c = static_cast<const char*>(p);
  return c >= base_ && c < base_ + size_;
}

size_t MemfdSecretArena::bytes_free() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [off, size] : free_) n += size;
  return n;
}

size_t MemfdSecretArena::largest_free_block() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t m = 0;
  for (const auto& [off, size] : free_) m = std::max(m, size);
  return m;
}

std::vector<std::pair<size_t, size_t>> MemfdSecretArena::free_blocks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {free_.begin(), free_.end()};
}

}  // namespace teesplit::enclave
