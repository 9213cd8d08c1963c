#include "crypto/x25519.h"

#include <openssl/evp.h>

#include <memory>

#include "core/error.h"

namespace teesplit::crypto {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

Pkey private_pkey(const SecretBytes& private_key) {
  TS_CHECK(private_key.size() == 32, "X25519: a private key has 32 bytes, not ",
           private_key.size());
  Pkey k(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(), 32));
  TS_CHECK(k, "X25519: OpenSSL refused the private key");
  return k;
}

Bytes32 public_of(EVP_PKEY* k) {
  Bytes32 pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(k, pub.data(), &len) != 1 || len != pub.size())
    fail("X25519: cannot read the public key");
  return pub;
}

}  // namespace

X25519KeyPair X25519KeyPair::generate() {
  SecretBytes priv(32);
  random_bytes(priv.data(), priv.size());
  return from_private(priv);
}

X25519KeyPair X25519KeyPair::from_private(const SecretBytes& private_key) {
  X25519KeyPair kp;
  kp.public_key = x25519_public_key(private_key);
  kp.private_key = private_key;
  return kp;
}

Bytes32 x25519_public_key(const SecretBytes& private_key) {
  return public_of(private_pkey(private_key).get());
}

SecretBytes x25519(const SecretBytes& private_key, const Bytes32& peer_public) {
  Pkey self = private_pkey(private_key);
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(), 32));
  TS_CHECK(peer, "X25519: OpenSSL refused the peer's public key");
  PkeyCtx ctx(EVP_PKEY_CTX_new(self.get(), nullptr));
  TS_CHECK(ctx && EVP_PKEY_derive_init(ctx.get()) == 1 &&
               EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) == 1,
           "X25519: cannot set up the key agreement");
  SecretBytes shared(32);
  size_t len = shared.size();
  // OpenSSL itself fails the derivation when the result is all zero.
  const bool ok = EVP_PKEY_derive(ctx.get(), shared.data(), &len) == 1 && len == 32;
  uint8_t any = 0;
  for (uint8_t b : shared) any |= b;
  if (!ok || any == 0)
    fail(
        "X25519: the peer's public key gives an all-zero shared secret (a point of small "
        "order); refused");
  return shared;
}

}  // namespace teesplit::crypto
