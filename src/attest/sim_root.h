// The simulated attestation root: one Ed25519 key per machine that signs the
// quotes of teesplit-enclave workers when there is no SGX. It stands in for
// Intel's quoting enclave and proves only that the quote was made by a process
// that could read this key file (docs/attestation.md, "What simulated does not
// prove"). Clients pin its public key (--sim-root FILE); without --sim-root they
// use this machine's own, from the default path:
//
//   root (euid 0):  /var/lib/teesplit/sim-root/attestation-key.pem
//   otherwise:      $XDG_DATA_HOME/teesplit/sim-root/attestation-key.pem, or
//                   $HOME/.local/share/teesplit/sim-root/attestation-key.pem
//
// beside it attestation-key.pub.pem (the public key to copy to clients). The
// directory is created 0700 and the key 0600, once: concurrent first users race
// safely (the key is linked into place, never replaced).
#pragma once

#include <string>

#include "attest/quote.h"
#include "crypto/ed25519.h"

namespace teesplit::attest {

constexpr const char* kSimRootKeyFile = "attestation-key.pem";
constexpr const char* kSimRootPublicFile = "attestation-key.pub.pem";

// The default private key path described above; throws Error when neither
// XDG_DATA_HOME nor HOME is set for a non-root user.
std::string default_sim_root_path();

// The public key file's path for a private key path ("x.pem" -> "x.pub.pem").
std::string sim_root_public_path(const std::string& private_path);

// Loads the key at path (default_sim_root_path() when empty), creating it, its
// public file and its directory first when it does not exist.
crypto::Ed25519PrivateKey load_or_create_sim_root(const std::string& path = "");

// What a client pins: the public key from FILE (a public or private PEM), or,
// when path is empty, from this machine's default root (created if missing, so
// that one machine works as written).
Bytes32 sim_root_public_key(const std::string& path = "");

// Makes simulated quotes: header with kSimulatedQeVendorId and
// kSimulatedKeyType, the given report body, and as signature data the Ed25519
// signature over header ‖ body then the root's public key (96 bytes).
class SimulatedQuoteSigner {
 public:
  explicit SimulatedQuoteSigner(crypto::Ed25519PrivateKey root);
  Quote sign(const ReportBody& body) const;
  std::vector<uint8_t> quote_bytes(const ReportBody& body) const { return sign(body).serialize(); }
  Bytes32 public_key() const { return public_key_; }

 private:
  crypto::Ed25519PrivateKey root_;
  Bytes32 public_key_;
};

}  // namespace teesplit::attest
