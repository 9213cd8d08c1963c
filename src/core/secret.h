// Memory for secrets: session keys, decrypted inputs, the front partition's
// weights and activations. Inside the enclave worker the sandbox installs an
// arena backed by memfd_secret (src/enclave/), whose pages the kernel removes
// from its own direct map: not even root can read them through /proc/PID/mem.
// Until an arena is installed, secrets come from the ordinary heap. Either way
// every secret is wiped (explicit_bzero) before its memory is given back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <vector>

namespace teesplit {

class SecretArena {
 public:
  virtual ~SecretArena() = default;
  // 64-byte aligned, zeroed; nullptr when the arena is exhausted.
  virtual void* allocate(size_t bytes) = 0;
  // Called with the size given to allocate(); the memory is already wiped.
  virtual void deallocate(void* p, size_t bytes) = 0;
  // One word for logs and quotes: "memfd_secret", "heap".
  virtual const char* kind() const = 0;
};

// Installs the process-wide arena (nullptr: back to the heap). Memory keeps
// going back to the arena that gave it, so install once, early, and keep the
// arena alive for the rest of the process.
void install_secret_arena(SecretArena* arena);
SecretArena* installed_secret_arena();
// "heap" or the installed arena's kind().
const char* secret_memory_kind();

// 64-byte aligned, zeroed; throws Error("out of secret memory ...") on failure.
void* secret_allocate(size_t bytes);
// Wipes `bytes` at p, then returns them to where they came from.
void secret_deallocate(void* p, size_t bytes) noexcept;
// explicit_bzero: a wipe the compiler cannot drop.
void secure_wipe(void* p, size_t bytes) noexcept;

template <class T>
struct SecretAllocator {
  using value_type = T;
  SecretAllocator() = default;
  template <class U>
  SecretAllocator(const SecretAllocator<U>&) {}
  T* allocate(size_t n) {
    if (n > std::numeric_limits<size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(secret_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { secret_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const SecretAllocator<U>&) const {
    return true;
  }
};

// Bytes that are wiped when freed (and when the vector grows).
using SecretBytes = std::vector<uint8_t, SecretAllocator<uint8_t>>;

}  // namespace teesplit
