// The enclave's measurement (MRENCLAVE of a simulated quote): SHA-256 over the
// enclave binary, the front partition file and the worker's configuration,
// domain-separated and length-prefixed (docs/attestation.md, "Measurement"):
//
//   SHA-256( "teesplit measurement v1" (23 bytes)
//            ‖ u64 n ‖ the binary's n bytes
//            ‖ u64 m ‖ the front file's m bytes
//            ‖ u64 k ‖ the configuration as canonical JSON (k bytes)
//            [‖ u64 t ‖ the tail partition file's t bytes] )
//
// The tail field is there exactly when the configuration says "tail":true
// (split --protect-output), so the fields parse one way only.
// with u64 little endian (crypto::Sha256::update_field). Canonical JSON is
// compact, keys sorted, UTF-8, as nlohmann::json dumps it. The same sources built
// reproducibly give the same binary, hence the same measurement.
//
// MRSIGNER in simulation: there is no enclave signing key (SGX's MRSIGNER is the
// hash of the key that signed the enclave). A simulated quote carries
// simulated_mrsigner(root) = SHA-256("teesplit simulated mrsigner v1" ‖ root's
// Ed25519 public key): it names the simulated root that vouches for the quote,
// which the verifier already pins; it says nothing about who built the binary.
#pragma once

#include <span>
#include <string>

#include "crypto/primitives.h"

namespace teesplit::attest {

using crypto::Bytes32;

// Compact, sorted-key JSON of json_text; throws Error when it is not JSON.
std::string canonical_json(const std::string& json_text);

// Streams both files (their sizes come first in the hash; a file that changes
// size while being read is an Error). Throws Error naming the file.
// tail_path: the tail partition's file, or "" when the split has none.
Bytes32 compute_measurement(const std::string& binary_path, const std::string& front_path,
                            const std::string& config_json, const std::string& tail_path = "");

// The same over bytes in memory (config_json is canonicalised here too); tail
// is null when the split has no tail partition.
Bytes32 compute_measurement_bytes(std::span<const uint8_t> binary, std::span<const uint8_t> front,
                                  const std::string& config_json,
                                  const std::span<const uint8_t>* tail = nullptr);

Bytes32 simulated_mrsigner(const Bytes32& sim_root_public_key);

}  // namespace teesplit::attest
