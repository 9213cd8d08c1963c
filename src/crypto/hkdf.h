// HKDF-SHA256 (RFC 5869) through OpenSSL 3's EVP_KDF interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/secret.h"

namespace teesplit::crypto {

// Extract-then-expand: `length` bytes (1 .. 255*32) of output keying material
// from `ikm` (at least one byte), `salt` (empty: 32 zero bytes, as RFC 5869
// says) and `info` (at most kHkdfMaxInfo bytes). Throws Error on bad sizes.
constexpr size_t kHkdfMaxInfo = 1024;
SecretBytes hkdf_sha256(const SecretBytes& ikm, std::span<const uint8_t> salt,
                        std::span<const uint8_t> info, size_t length);

}  // namespace teesplit::crypto
