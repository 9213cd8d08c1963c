// Ed25519 signatures (RFC 8032, pure Ed25519) on OpenSSL 3's EVP interface, and
// their PEM files: a private key is PKCS#8 ("BEGIN PRIVATE KEY"), written with
// mode 0600 and refused when its file is open to group or others; a public key is
// SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"). Used for the simulated attestation
// root (attest/sim_root.h) and the model owner's signature over a manifest.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "crypto/primitives.h"

namespace teesplit::crypto {

using Ed25519Signature = std::array<uint8_t, 64>;

// Largest PEM key file read (a key file is a few hundred bytes).
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

class Ed25519PrivateKey {
 public:
  // A fresh key from the system's random generator.
  static Ed25519PrivateKey generate();
  // The key whose RFC 8032 secret key (the 32-byte seed) is `seed`.
  static Ed25519PrivateKey from_seed(std::span<const uint8_t, 32> seed);
  // Reads a PKCS#8 PEM Ed25519 private key. Throws Error naming the file when it
  // is missing, not a regular file, accessible by group or others (mode & 077),
  // too large, not PEM, or another key type.
  static Ed25519PrivateKey load(const std::string& path);

  // Writes the PKCS#8 PEM to path with mode 0600, atomically (a temporary file
  // beside it, then linked into place). Refuses to replace an existing file
  // unless overwrite is true. Throws Error naming the file.
  void save(const std::string& path, bool overwrite = false) const;
  // Writes the public key (SubjectPublicKeyInfo PEM, mode 0644), atomically.
  void save_public(const std::string& path, bool overwrite = false) const;

  Bytes32 public_key() const;

  Ed25519PrivateKey(Ed25519PrivateKey&& other) noexcept;
  Ed25519PrivateKey& operator=(Ed25519PrivateKey&& other) noexcept;
  Ed25519PrivateKey(const Ed25519PrivateKey&) = delete;
  Ed25519PrivateKey& operator=(const Ed25519PrivateKey&) = delete;
  ~Ed25519PrivateKey();

  // The EVP_PKEY (for this module's functions).
  void* native() const { return pkey_; }

 private:
  explicit Ed25519PrivateKey(void* pkey) : pkey_(pkey) {}
  void* pkey_ = nullptr;  // EVP_PKEY*
};

Ed25519Signature ed25519_sign(const Ed25519PrivateKey& key, std::span<const uint8_t> msg);

// True only when sig is a valid 64-byte signature of msg by public_key. Never
// throws: a malformed key or signature is simply not valid.
bool ed25519_verify(const Bytes32& public_key, std::span<const uint8_t> msg,
                    std::span<const uint8_t> sig);

// The public key of a PEM file holding either an Ed25519 public key or an
// Ed25519 private key (then with load()'s permission check). Throws Error
// naming the file.
Bytes32 load_ed25519_public_key(const std::string& path);
// Writes a SubjectPublicKeyInfo PEM for public_key (mode 0644), atomically.
void save_ed25519_public_key(const std::string& path, const Bytes32& public_key,
                             bool overwrite = false);

// "owner.pem" -> "owner.pub.pem" (any other name: NAME.pub.pem): where a key
// pair's public half is written beside its private file.
std::string public_key_path_for(const std::string& private_path);

// Writes bytes to path with `mode`, atomically (a fresh temporary beside it,
// synced, then renamed over path when overwrite, else hard-linked into place so
// that an existing file is never replaced). For key files of any kind.
void write_key_file(const std::string& path, std::span<const uint8_t> bytes, unsigned mode,
                    bool overwrite);

}  // namespace teesplit::crypto
