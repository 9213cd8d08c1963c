// MemfdSecretArena: the worker's secret memory (core/secret.h's SecretArena),
// one memfd_secret(2) region of a fixed size. The kernel removes its pages from
// its own direct map: no other process, not even root through /proc/PID/mem or
// ptrace, can read them; they are never swapped and never in a core dump.
// They count against RLIMIT_MEMLOCK (check_memlock in sandbox.h).
//
// The allocator: first fit over a free list ordered by offset, neighbours
// coalesced on free; every block 64-byte aligned and a multiple of 64 bytes;
// a mutex makes it thread-safe. Its bookkeeping (offsets and sizes, no
// secret bytes) lives on the ordinary heap.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/secret.h"

namespace teesplit::enclave {

// True when this kernel offers memfd_secret; false (the reason in *why) when it
// lacks secretmem (ENOSYS); any other error of memfd_secret throws Error.
bool memfd_secret_available(std::string* why = nullptr);

class MemfdSecretArena final : public SecretArena {
 public:
  static constexpr size_t kAlign = 64;

  // A region of `bytes` (rounded up to whole pages). Throws Error when
  // memfd_secret is unavailable, or when RLIMIT_MEMLOCK is too small (the
  // message names the limit and how to raise it).
  static std::unique_ptr<MemfdSecretArena> create(size_t bytes);
  ~MemfdSecretArena() override;  // wipes what was ever handed out, unmaps
  MemfdSecretArena(const MemfdSecretArena&) = delete;
  MemfdSecretArena& operator=(const MemfdSecretArena&) = delete;

  // 64-byte aligned and zeroed; nullptr when no free block is large enough.
  // A request of 0 bytes gets 64.
  void* allocate(size_t bytes) override;
  // `p` must come from allocate() with the same `bytes`; anything else is a
  // bug, reported on stderr, and aborts (a corrupt free list would hand one
  // secret's memory to another).
  void deallocate(void* p, size_t bytes) override;
  const char* kind() const override { return "memfd_secret"; }

  size_t capacity() const { return size_; }
  const void* base() const { return base_; }
  bool contains(const void* p) const;
  size_t bytes_free() const;
  size_t largest_free_block() const;
  // The free list as (offset, size), ordered by offset.
  std::vector<std::pair<size_t, size_t>> free_blocks() const;

 private:
  MemfdSecretArena(char* base, size_t size);
  static size_t block_size(size_t bytes);

  char* base_;
  size_t size_;
  mutable std::mutex mu_;
  std::map<size_t, size_t> free_;  // offset -> size, disjoint and never adjacent
  std::map<size_t, size_t> used_;  // offset -> size of live blocks
  size_t touched_ = 0;             // end of the highest block ever handed out
};

}  // namespace teesplit::enclave
