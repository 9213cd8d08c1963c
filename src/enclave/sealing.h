// Sealing the front partition's key to the enclave's measurement, so that a
// restarted worker gets it back without the model owner.
//
// SIMULATED: under SGX, Gramine derives the sealing key from the CPU and
// MRENCLAVE (/dev/attestation/keys/_sgx_mrenclave). Here the root of sealing is
// a 32-byte file readable only by the worker's user (created by the host,
// mode 0600); whoever can read that file, root included, can unseal. The
// derived key still binds the blob to one measurement: a changed binary, front
// file or configuration cannot unseal it.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/secret.h"
#include "crypto/primitives.h"
#include "partition/front_file.h"

namespace teesplit::enclave {

constexpr size_t kSealRootBytes = 32;

// blob = "TSSEAL1\0" | 12-byte nonce | AES-256-GCM(front key, aad = measurement) | tag;
// key = HKDF-SHA256(seal root, salt "teesplit seal v1", info = measurement).
// The seal root is kSealRootBytes bytes; another size is an Error.
std::vector<uint8_t> seal_front_key(std::span<const uint8_t> seal_root, const FrontKey& key,
                                    const crypto::Bytes32& measurement);
// Throws Error (no secret in it) for a wrong root, another measurement, or a damaged blob.
FrontKey unseal_front_key(std::span<const uint8_t> seal_root, const std::string& blob,
                          const crypto::Bytes32& measurement);

// Reads the sealing root at path straight into secret memory (memfd_secret in
// the worker; no copy on the ordinary heap). Throws Error unless the file
// holds exactly kSealRootBytes bytes.
SecretBytes read_seal_root(const std::string& path);

// Creates the simulated sealing root at path (0600, parents 0700) when it does not exist.
void ensure_seal_root(const std::string& path);

}  // namespace teesplit::enclave
