// The smallest OpenSSL wrappers every trust component uses: randomness,
// constant-time comparison, SHA-256.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace teesplit::crypto {

using Bytes32 = std::array<uint8_t, 32>;

// RAND_bytes; throws Error when the generator fails (never returns weak bytes).
void random_bytes(void* out, size_t n);

// Constant time in n (CRYPTO_memcmp): for tags, measurements, keys.
bool ct_equal(const void* a, const void* b, size_t n);

Bytes32 sha256(const void* data, size_t n);
inline Bytes32 sha256(std::span<const uint8_t> data) {
  return sha256(data.data(), data.size());
}

// Incremental SHA-256 for data that comes in parts.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(const void* data, size_t n);
  Sha256& update(std::span<const uint8_t> data) { return update(data.data(), data.size()); }
  // Little-endian u64 length, then the bytes: unambiguous concatenation.
  Sha256& update_field(std::span<const uint8_t> data);
  Bytes32 finish();

 private:
  void* ctx_;
};

std::string to_hex(std::span<const uint8_t> bytes);
// Exactly 2*out.size() hex digits (either case); false otherwise.
bool from_hex(const std::string& hex, std::span<uint8_t> out);

}  // namespace teesplit::crypto
