#include "crypto/ed25519.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "core/secret.h"

namespace teesplit::crypto {
namespace {

EVP_PKEY* pk(void* p) {
  return static_cast<EVP_PKEY*>(p);
}

// The oldest OpenSSL error on the queue as text, and the queue emptied.
std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// A PEM passphrase prompt would block on the terminal: encrypted keys are refused.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Reads a key file into secret memory. With private_key, refuses a file that
// group or others may access (as ssh does), checked on the open descriptor.
SecretBytes read_key_file_bytes(const std::string& path, bool private_key) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open key file '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("key file '", path, "' is not a regular file");
  }
  if (private_key && (st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail("private key file '", path, "' has mode ", mode,
         ": it must not be accessible by group or others (chmod 600 '", path, "')");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxKeyFileBytes) {
    ::close(fd);
    fail("key file '", path, "' is ", st.st_size, " bytes, more than the ", kMaxKeyFileBytes,
         " allowed");
  }
  SecretBytes out(kMaxKeyFileBytes + 1);
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      fail("error reading key file '", path, "': ", std::strerror(e));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  TS_CHECK(got <= kMaxKeyFileBytes, "key file '", path, "' grew beyond ", kMaxKeyFileBytes,
           " bytes while being read");
  out.resize(got);
  return out;
}

// Writes bytes to path with `mode`: into a fresh temporary beside it (mkstemp:
// created 0600), synced, then renamed over path (overwrite) or hard-linked to
// path, which fails when path exists. Never leaves the temporary behind.
void write_atomically(const std::string& path, std::string_view bytes, mode_t mode,
                      bool overwrite) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) fail("cannot create a temporary file beside '", path, "': ", std::strerror(errno));
  int e = 0;
  if (fchmod(fd, mode) != 0) e = errno;
  for (size_t off = 0; e == 0 && off < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      e = errno;
    else
      off += static_cast<size_t>(n);
  }
  if (e == 0 && fsync(fd) != 0) e = errno;
  if (::close(fd) != 0 && e == 0) e = errno;
  if (e == 0) {
    if (overwrite) {
      if (std::rename(tmp.c_str(), path.c_str()) != 0) e = errno;
    } else if (::link(tmp.c_str(), path.c_str()) != 0) {
      e = errno;
    }
  }
  ::unlink(tmp.c_str());  // after rename: already gone; after link: the extra name
  if (e == EEXIST) fail("'", path, "' exists: refusing to replace it");
  if (e != 0) fail("error writing '", path, "': ", std::strerror(e));
}

std::string public_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  TS_CHECK(bio && PEM_write_bio_PUBKEY(bio.get(), key) == 1,
           "cannot encode an Ed25519 public key: ", openssl_reason());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

EVP_PKEY* public_pkey(const Bytes32& public_key) {
  return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), 32);
}

}  // namespace

Ed25519PrivateKey Ed25519PrivateKey::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!key) fail("cannot generate an Ed25519 key: ", openssl_reason());
  return Ed25519PrivateKey(key);
}

Ed25519PrivateKey Ed25519PrivateKey::from_seed(std::span<const uint8_t, 32> seed) {
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), 32);
  if (!key) fail("cannot make an Ed25519 key from a seed: ", openssl_reason());
  return Ed25519PrivateKey(key);
}

Ed25519PrivateKey Ed25519PrivateKey::load(const std::string& path) {
  const SecretBytes pem = read_key_file_bytes(path, /*private_key=*/true);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  TS_CHECK(bio, "cannot read '", path, "': out of memory");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  if (!key) fail("'", path, "' is not a PEM private key (PKCS#8, unencrypted): ", openssl_reason());
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    fail("'", path, "' holds a private key of another type than Ed25519");
  }
  return Ed25519PrivateKey(key);
}

void Ed25519PrivateKey::save(const std::string& path, bool overwrite) const {
  // Secure-heap memory BIO: the PEM is wiped when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  TS_CHECK(bio && PEM_write_bio_PrivateKey(bio.get(), pk(pkey_), nullptr, nullptr, 0, nullptr,
                                           nullptr) == 1,
           "cannot encode an Ed25519 private key: ", openssl_reason());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  write_atomically(path, std::string_view(data, static_cast<size_t>(n)), 0600, overwrite);
}

void Ed25519PrivateKey::save_public(const std::string& path, bool overwrite) const {
  write_atomically(path, public_pem(pk(pkey_)), 0644, overwrite);
}

Bytes32 Ed25519PrivateKey::public_key() const {
  Bytes32 out{};
  size_t len = out.size();
  TS_CHECK(EVP_PKEY_get_raw_public_key(pk(pkey_), out.data(), &len) == 1 && len == 32,
           "cannot read an Ed25519 public key: ", openssl_reason());
  return out;
}

Ed25519PrivateKey::Ed25519PrivateKey(Ed25519PrivateKey&& other) noexcept : pkey_(other.pkey_) {
  other.pkey_ = nullptr;
}

Ed25519PrivateKey& Ed25519PrivateKey::operator=(Ed25519PrivateKey&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(pk(pkey_));
    pkey_ = other.pkey_;
    other.pkey_ = nullptr;
  }
  return *this;
}

Ed25519PrivateKey::~Ed25519PrivateKey() {
  EVP_PKEY_free(pk(pkey_));  // OpenSSL wipes the key material
}

Ed25519Signature ed25519_sign(const Ed25519PrivateKey& key, std::span<const uint8_t> msg) {
  TS_CHECK(key.native(), "Ed25519: signing with an empty key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Ed25519Signature sig{};
  size_t len = sig.size();
  const bool ok =
      ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pk(key.native())) == 1 &&
      EVP_DigestSign(ctx, sig.data(), &len, msg.data(), msg.size()) == 1 && len == sig.size();
  EVP_MD_CTX_free(ctx);
  if (!ok) fail("Ed25519 signing failed: ", openssl_reason());
  return sig;
}

bool ed25519_verify(const Bytes32& public_key, std::span<const uint8_t> msg,
                    std::span<const uint8_t> sig) {
  if (sig.size() != 64) return false;
  EVP_PKEY* key = public_pkey(public_key);
  EVP_MD_CTX* ctx = key ? EVP_MD_CTX_new() : nullptr;
  const bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx, sig.data(), sig.size(), msg.data(), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  ERR_clear_error();
  return ok;
}

Bytes32 load_ed25519_public_key(const std::string& path) {
  const SecretBytes head = read_key_file_bytes(path, /*private_key=*/false);
  const std::string_view text(reinterpret_cast<const char*>(head.data()), head.size());
  if (text.find("PRIVATE KEY-----") != std::string_view::npos)
    return Ed25519PrivateKey::load(path).public_key();
  BioPtr bio(BIO_new_mem_buf(head.data(), static_cast<int>(head.size())));
  TS_CHECK(bio, "cannot read '", path, "': out of memory");
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr);
  if (!key) fail("'", path, "' is not a PEM public or private key: ", openssl_reason());
  Bytes32 out{};
  size_t len = out.size();
  const bool ok = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 &&
                  EVP_PKEY_get_raw_public_key(key, out.data(), &len) == 1 && len == 32;
  EVP_PKEY_free(key);
  ERR_clear_error();
  TS_CHECK(ok, "'", path, "' holds a public key of another type than Ed25519");
  return out;
}

void save_ed25519_public_key(const std::string& path, const Bytes32& public_key, bool overwrite) {
  EVP_PKEY* key = public_pkey(public_key);
  if (!key) fail("not an Ed25519 public key: ", openssl_reason());
  std::string pem;
  try {
    pem = public_pem(key);
  } catch (...) {
    EVP_PKEY_free(key);
    throw;
  }
  EVP_PKEY_free(key);
  write_atomically(path, pem, 0644, overwrite);
}

std::string public_key_path_for(const std::string& private_path) {
  const std::string ext = ".pem";
  if (private_path.size() > ext.size() &&
      private_path.compare(private_path.size() - ext.size(), ext.size(), ext) == 0)
    return private_path.substr(0, private_path.size() - ext.size()) + ".pub.pem";
  return private_path + ".pub.pem";
}

void write_key_file(const std::string& path, std::span<const uint8_t> bytes, unsigned mode,
                    bool overwrite) {
  write_atomically(path,
                   std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                   static_cast<mode_t>(mode), overwrite);
}

}  // namespace teesplit::crypto
