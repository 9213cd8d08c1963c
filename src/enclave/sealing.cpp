#include "enclave/sealing.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <cstring>
#include <filesystem>

#include "core/bytes.h"
#include "core/error.h"
#include "core/secret.h"
#include "crypto/aead.h"
#include "crypto/ed25519.h"
#include "crypto/hkdf.h"

namespace teesplit::enclave {
namespace {

constexpr char kMagic[8] = {'T', 'S', 'S', 'E', 'A', 'L', '1', '\0'};

SecretBytes seal_key(std::span<const uint8_t> root, const crypto::Bytes32& measurement) {
  if (root.size() != kSealRootBytes)
    fail("the sealing root holds ", root.size(), " bytes, not ", kSealRootBytes);
  SecretBytes ikm(root.begin(), root.end());
  static const char salt[] = "teesplit seal v1";
  return crypto::hkdf_sha256(ikm, {reinterpret_cast<const uint8_t*>(salt), sizeof salt - 1},
                             measurement, 32);
}

}  // namespace

std::vector<uint8_t> seal_front_key(std::span<const uint8_t> seal_root, const FrontKey& key,
                                    const crypto::Bytes32& measurement) {
  const SecretBytes k = seal_key(seal_root, measurement);
  std::array<uint8_t, 12> nonce;
  crypto::random_bytes(nonce.data(), nonce.size());
  const std::vector<uint8_t> ct = crypto::aes256gcm_seal(k, nonce, measurement, key);
  std::vector<uint8_t> blob(8 + nonce.size() + ct.size());
  std::memcpy(blob.data(), kMagic, 8);
  std::memcpy(blob.data() + 8, nonce.data(), nonce.size());
  std::memcpy(blob.data() + 8 + nonce.size(), ct.data(), ct.size());
  return blob;
}

FrontKey unseal_front_key(std::span<const uint8_t> seal_root, const std::string& blob,
                          const crypto::Bytes32& measurement) {
  if (blob.size() != 8 + 12 + kFrontKeySize + 16 || std::memcmp(blob.data(), kMagic, 8) != 0)
    fail("the sealed key is not a teesplit sealed key (", blob.size(), " bytes)");
  const SecretBytes k = seal_key(seal_root, measurement);
  const auto* b = reinterpret_cast<const uint8_t*>(blob.data());
  std::span<const uint8_t, 12> nonce(b + 8, 12);
  SecretBytes plain;
  if (!crypto::aes256gcm_open(k, nonce, measurement, {b + 20, blob.size() - 20}, plain))
    fail(
        "the sealed key does not open: sealed by another enclave measurement or sealing root, "
        "or damaged (provision the key again)");
  FrontKey out;
  std::memcpy(out.data(), plain.data(), out.size());
  return out;
}

SecretBytes read_seal_root(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TS_CHECK(fd >= 0, path, ": cannot open the sealing root: ", std::strerror(errno));
  // One byte more than a root holds, to tell a longer file from a root.
  SecretBytes root(kSealRootBytes + 1);
  size_t got = 0;
  int err = 0;
  while (got < root.size()) {
    const ssize_t n = ::read(fd, root.data() + got, root.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  TS_CHECK(err == 0, path, ": cannot read the sealing root: ", std::strerror(err));
  TS_CHECK(got == kSealRootBytes, path, ": the sealing root holds ",
           got > kSealRootBytes ? "more than " : "", got > kSealRootBytes ? kSealRootBytes : got,
           " bytes, not ", kSealRootBytes);
  root.resize(kSealRootBytes);
  return root;
}

void ensure_seal_root(const std::string& path) {
  namespace fs = std::filesystem;
  if (fs::exists(path)) {
    struct stat st {};
    TS_CHECK(::stat(path.c_str(), &st) == 0, path, ": cannot stat the sealing root");
    TS_CHECK((st.st_mode & 077) == 0, path, ": the sealing root is readable by others (mode ",
             std::oct, (st.st_mode & 0777), "); chmod 600 it");
    return;
  }
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent);
    fs::permissions(parent, fs::perms::owner_all, fs::perm_options::replace);
  }
  std::string root(kSealRootBytes, '\0');
  crypto::random_bytes(root.data(), root.size());
  // Hard-linked into place: a concurrent first user's root is never replaced.
  crypto::write_key_file(path, byte_span(root), 0600,
                         /*overwrite=*/false);
  secure_wipe(root.data(), root.size());
}

}  // namespace teesplit::enclave
