#include "crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>

#include "core/error.h"

namespace teesplit::crypto {

SecretBytes hkdf_sha256(const SecretBytes& ikm, std::span<const uint8_t> salt,
                        std::span<const uint8_t> info, size_t length) {
  TS_CHECK(!ikm.empty(), "HKDF-SHA256: the input keying material is empty");
  TS_CHECK(length >= 1 && length <= 255 * 32, "HKDF-SHA256: cannot derive ", length,
           " bytes (1 to 8160)");
  TS_CHECK(info.size() <= kHkdfMaxInfo, "HKDF-SHA256: info of ", info.size(),
           " bytes exceeds the limit of ", kHkdfMaxInfo);
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr),
                                                        EVP_KDF_free);
  TS_CHECK(kdf, "HKDF-SHA256: OpenSSL has no HKDF");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                EVP_KDF_CTX_free);
  TS_CHECK(ctx, "HKDF-SHA256: cannot create a KDF context");
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  const_cast<uint8_t*>(ikm.data()), ikm.size());
  // An absent salt is HashLen zero bytes in RFC 5869, and so in OpenSSL.
  if (!salt.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    const_cast<uint8_t*>(salt.data()), salt.size());
  if (!info.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                    const_cast<uint8_t*>(info.data()), info.size());
  params[n] = OSSL_PARAM_construct_end();
  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
    fail("HKDF-SHA256: the derivation failed");
  return out;
}

}  // namespace teesplit::crypto
