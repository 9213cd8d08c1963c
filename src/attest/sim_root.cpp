#include "attest/sim_root.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace teesplit::attest {
namespace {

namespace fs = std::filesystem;

// mkdir -p with mode 0700 for the directories it creates.
void make_private_dirs(const fs::path& dir) {
  if (dir.empty() || fs::exists(dir)) return;
  make_private_dirs(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    fail("cannot create directory '", dir.string(), "': ", std::strerror(errno));
}

}  // namespace

std::string default_sim_root_path() {
  fs::path base;
  if (geteuid() == 0) {
    base = "/var/lib/teesplit";
  } else if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg == '/') {
    base = fs::path(xdg) / "teesplit";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    base = fs::path(home) / ".local" / "share" / "teesplit";
  } else {
    fail("no default place for the simulated attestation root: set HOME or XDG_DATA_HOME, or ",
         "give --sim-root FILE");
  }
  return (base / "sim-root" / kSimRootKeyFile).string();
}

std::string sim_root_public_path(const std::string& private_path) {
  return crypto::public_key_path_for(private_path);
}

crypto::Ed25519PrivateKey load_or_create_sim_root(const std::string& path_in) {
  const std::string path = path_in.empty() ? default_sim_root_path() : path_in;
  if (::access(path.c_str(), F_OK) != 0) {
    make_private_dirs(fs::path(path).parent_path());
    crypto::Ed25519PrivateKey key = crypto::Ed25519PrivateKey::generate();
    try {
      key.save(path);  // linked into place: a concurrent creator's key wins
    } catch (const Error&) {
      if (::access(path.c_str(), F_OK) != 0) throw;
    }
  }
  crypto::Ed25519PrivateKey key = crypto::Ed25519PrivateKey::load(path);
  const std::string pub = sim_root_public_path(path);
  if (::access(pub.c_str(), F_OK) != 0) {
    try {
      key.save_public(pub);
    } catch (const Error&) {
      if (::access(pub.c_str(), F_OK) != 0) throw;
    }
  }
  return key;
}

Bytes32 sim_root_public_key(const std::string& path) {
  if (path.empty()) return load_or_create_sim_root().public_key();
  return crypto::load_ed25519_public_key(path);
}

SimulatedQuoteSigner::SimulatedQuoteSigner(crypto::Ed25519PrivateKey root)
    : root_(std::move(root)), public_key_(root_.public_key()) {}

Quote SimulatedQuoteSigner::sign(const ReportBody& body) const {
  Quote q;
  q.header.version = kQuoteVersion;
  q.header.attestation_key_type = kSimulatedKeyType;
  q.header.tee_type = kTeeTypeSgx;
  q.header.qe_vendor_id = kSimulatedQeVendorId;
  q.body = body;
  const crypto::Ed25519Signature sig = crypto::ed25519_sign(root_, q.signed_bytes());
  q.signature_data.assign(sig.begin(), sig.end());
  q.signature_data.insert(q.signature_data.end(), public_key_.begin(), public_key_.end());
  return q;
}

}  // namespace teesplit::attest
