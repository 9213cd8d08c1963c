// X25519 key agreement (RFC 7748) through OpenSSL 3's EVP interface.
#pragma once

#include "core/secret.h"
#include "crypto/primitives.h"

namespace teesplit::crypto {

// An ephemeral key pair; the private half lives in secret memory.
struct X25519KeyPair {
  Bytes32 public_key{};
  SecretBytes private_key;  // 32 bytes
  static X25519KeyPair generate();
  // The key pair of a given 32-byte private key (tests, known vectors).
  static X25519KeyPair from_private(const SecretBytes& private_key);
};

// The public key X25519(private_key, 9).
Bytes32 x25519_public_key(const SecretBytes& private_key);

// The shared secret X25519(private_key, peer_public), 32 bytes. Throws Error
// when the private key is not 32 bytes or when the result is all zero (a
// peer key of small order: RFC 7748 section 6.1's check).
SecretBytes x25519(const SecretBytes& private_key, const Bytes32& peer_public);

}  // namespace teesplit::crypto
