// AES-256-GCM (NIST SP 800-38D) through OpenSSL 3's EVP interface: 32-byte
// key, 12-byte nonce, 16-byte tag appended to the ciphertext.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/secret.h"

namespace teesplit::crypto {

constexpr size_t kAesGcmKeyBytes = 32;
constexpr size_t kAesGcmNonceBytes = 12;
constexpr size_t kAesGcmTagBytes = 16;

// ciphertext || tag (plaintext.size() + 16 bytes). Throws Error when the key
// is not 32 bytes or OpenSSL fails. A nonce must never repeat under one key.
std::vector<uint8_t> aes256gcm_seal(const SecretBytes& key, std::span<const uint8_t, 12> nonce,
                                    std::span<const uint8_t> aad,
                                    std::span<const uint8_t> plaintext);
// The same, written to out[0 .. plaintext.size() + 16).
void aes256gcm_seal_into(const SecretBytes& key, std::span<const uint8_t, 12> nonce,
                         std::span<const uint8_t> aad, std::span<const uint8_t> plaintext,
                         uint8_t* out);

// Decrypts ciphertext || tag into `plaintext` (secret memory, resized).
// Returns false, never throws, when the input is shorter than a tag or the tag
// does not verify; `plaintext` is then empty (and what was decrypted wiped).
// Throws Error only for a key that is not 32 bytes or an OpenSSL failure.
bool aes256gcm_open(const SecretBytes& key, std::span<const uint8_t, 12> nonce,
                    std::span<const uint8_t> aad, std::span<const uint8_t> ciphertext_and_tag,
                    SecretBytes& plaintext);

}  // namespace teesplit::crypto
