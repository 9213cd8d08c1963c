#include "crypto/aead.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "core/error.h"

namespace teesplit::crypto {

namespace {

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

// EVP_*Update takes an int length: feed large buffers in chunks.
constexpr size_t kChunk = size_t{1} << 30;

CipherCtx init(const SecretBytes& key, std::span<const uint8_t, 12> nonce, bool encrypt) {
  TS_CHECK(key.size() == kAesGcmKeyBytes, "AES-256-GCM: a key has 32 bytes, not ", key.size());
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  TS_CHECK(ctx, "AES-256-GCM: cannot create a cipher context");
  // 12 bytes is GCM's default IV length in OpenSSL; set it anyway.
  if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr, encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data(), encrypt) != 1)
    fail("AES-256-GCM: cannot initialise the cipher");
  return ctx;
}

void feed_aad(EVP_CIPHER_CTX* ctx, std::span<const uint8_t> aad) {
  for (size_t off = 0; off < aad.size(); off += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, aad.size() - off));
    int out_len = 0;
    if (EVP_CipherUpdate(ctx, nullptr, &out_len, aad.data() + off, n) != 1)
      fail("AES-256-GCM: cannot process the associated data");
  }
}

// GCM is a stream mode: Update writes exactly as many bytes as it reads.
void feed(EVP_CIPHER_CTX* ctx, std::span<const uint8_t> in, uint8_t* out) {
  for (size_t off = 0; off < in.size(); off += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, in.size() - off));
    int out_len = 0;
    if (EVP_CipherUpdate(ctx, out + off, &out_len, in.data() + off, n) != 1 || out_len != n)
      fail("AES-256-GCM: the cipher update failed");
  }
}

}  // namespace

void aes256gcm_seal_into(const SecretBytes& key, std::span<const uint8_t, 12> nonce,
                         std::span<const uint8_t> aad, std::span<const uint8_t> plaintext,
                         uint8_t* out) {
  CipherCtx ctx = init(key, nonce, true);
  feed_aad(ctx.get(), aad);
  feed(ctx.get(), plaintext, out);
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out + plaintext.size(), &final_len) != 1 || final_len != 0)
    fail("AES-256-GCM: the encryption did not finish");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAesGcmTagBytes,
                          out + plaintext.size()) != 1)
    fail("AES-256-GCM: cannot read the tag");
}

std::vector<uint8_t> aes256gcm_seal(const SecretBytes& key, std::span<const uint8_t, 12> nonce,
                                    std::span<const uint8_t> aad,
                                    std::span<const uint8_t> plaintext) {
  std::vector<uint8_t> out(plaintext.size() + kAesGcmTagBytes);
  aes256gcm_seal_into(key, nonce, aad, plaintext, out.data());
  return out;
}

bool aes256gcm_open(const SecretBytes& key, std::span<const uint8_t, 12> nonce,
                    std::span<const uint8_t> aad, std::span<const uint8_t> ciphertext_and_tag,
                    SecretBytes& plaintext) {
  plaintext.clear();
  if (ciphertext_and_tag.size() < kAesGcmTagBytes) return false;
  const size_t n = ciphertext_and_tag.size() - kAesGcmTagBytes;
  CipherCtx ctx = init(key, nonce, false);
  // The tag is set before the final call; OpenSSL copies it.
  uint8_t tag[kAesGcmTagBytes];
  std::copy_n(ciphertext_and_tag.data() + n, kAesGcmTagBytes, tag);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAesGcmTagBytes, tag) != 1)
    fail("AES-256-GCM: cannot set the tag");
  feed_aad(ctx.get(), aad);
  SecretBytes out(n);
  feed(ctx.get(), ciphertext_and_tag.first(n), out.data());
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + n, &final_len) != 1) {
    return false;  // `out` goes back through the secret allocator, which wipes it
  }
  plaintext = std::move(out);
  return true;
}

}  // namespace teesplit::crypto
