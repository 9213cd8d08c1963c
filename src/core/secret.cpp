#include "core/secret.h"

#include <string.h>  // explicit_bzero
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace teesplit {
namespace {

// Each block remembers its arena, so that memory allocated before an arena was
// installed (or after it was removed) goes back where it came from.
struct alignas(64) Header {
  SecretArena* arena;
  size_t bytes;
};
static_assert(sizeof(Header) == 64);

std::atomic<SecretArena*> g_arena{nullptr};

}  // namespace

void install_secret_arena(SecretArena* arena) {
  g_arena.store(arena);
}
SecretArena* installed_secret_arena() {
  return g_arena.load();
}
const char* secret_memory_kind() {
  SecretArena* a = g_arena.load();
  return a ? a->kind() : "heap";
}

void secure_wipe(void* p, size_t bytes) noexcept {
  if (p && bytes) explicit_bzero(p, bytes);
}

void* secret_allocate(size_t bytes) {
  if (bytes > (size_t{1} << 40)) fail("secret allocation of ", bytes, " bytes is too large");
  const size_t total = (bytes + sizeof(Header) + 63) / 64 * 64;
  SecretArena* arena = g_arena.load();
  void* block = arena ? arena->allocate(total) : std::aligned_alloc(64, total);
  if (!block)
    fail("out of secret memory allocating ", bytes, " bytes (", arena ? arena->kind() : "heap",
         ")");
  if (!arena) std::memset(block, 0, total);
  auto* h = static_cast<Header*>(block);
  h->arena = arena;
  h->bytes = total;
  return static_cast<char*>(block) + sizeof(Header);
}

void secret_deallocate(void* p, size_t) noexcept {
  if (!p) return;
  auto* h = reinterpret_cast<Header*>(static_cast<char*>(p) - sizeof(Header));
  SecretArena* arena = h->arena;
  const size_t total = h->bytes;
  secure_wipe(h, total);
  if (arena)
    arena->deallocate(h, total);
  else
    std::free(h);
}

}  // namespace teesplit
