// manifest.json of a split directory: what was cut where, the SHA-256 of every
// file, and the fields the enclave, bf16 and signing work fill in. The format
// (version 2; version 1 still reads) is documented in docs/front-file-format.md,
// section 6. No protobuf: the enclave side reads this too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/shape.h"
#include "crypto/ed25519.h"
#include "partition/front_file.h"

namespace teesplit {

constexpr int kManifestVersion = 2;
constexpr size_t kManifestMaxBytes = 1 << 20;  // a manifest is a few KiB

// The partition kept in the enclave after the back partition (so that the host
// never sees the prediction). Reserved: written by the enclave issue's
// `split --protect-output`; this version refuses to run a split that has one.
struct TailPartition {
  std::string file = "tail.tsf";
  std::string sha256;
  bool encrypted = false;
};

// The model owner's Ed25519 signature over manifest_signed_bytes(): 32-byte
// public key and 64-byte signature, lower-case hex.
struct OwnerSignature {
  std::string algorithm = "ed25519";
  std::string public_key;
  std::string signature;
};

struct SplitManifest {
  int version = kManifestVersion;  // as read; always written as kManifestVersion
  std::string model_file;          // as given to split (informational)
  std::string model_sha256;
  int cut_index = -1;
  std::string cut_name;
  std::string cut_node;  // the ONNX node the cut follows
  std::string input_name;
  Shape input_shape;  // of the front partition (batch 1)
  std::string feature_name;
  Shape feature_shape;
  std::string front_sha256;
  bool encrypted = false;
  // 1 for an fp32 front, 2 for a bf16 one (front_file.h).
  uint32_t front_format_version = kFrontFormatVersionFp32;
  std::string precision = "fp32";  // "fp32" or "bf16": how the enclave runs the front
  std::string back_sha256;
  std::string back_backend;  // the backend whose capability split checked ("" in version 1)
  // The measurement a client must see in the enclave's quote (64 hex), when known.
  std::optional<std::string> enclave_measurement;
  std::optional<TailPartition> tail;
  std::optional<OwnerSignature> owner_signature;
};

// Pretty-printed JSON (2-space indent, keys sorted), version kManifestVersion.
std::string manifest_to_json(const SplitManifest& m);

// Parses and validates a manifest: the format tag, a known version, every
// required field with its type, hex digests of the right length, shapes of at
// most 8 non-negative dimensions, the fixed file names, no unknown field.
// Throws Error naming the field (or the byte offset of a syntax error).
SplitManifest manifest_from_json(const std::string& text);

// The bytes an owner signature covers: the manifest's JSON without the
// "owner_signature" field, compact (no whitespace), keys sorted.
std::string manifest_signed_bytes(const SplitManifest& m);

// Signs m with the model owner's key: sets m.owner_signature to the owner's
// public key and the Ed25519 signature over manifest_signed_bytes(m).
void sign_manifest(SplitManifest& m, const crypto::Ed25519PrivateKey& owner_key);

// Checks that m carries an owner signature by owner_public_key that verifies
// over manifest_signed_bytes(m). Throws Error saying which part fails: no
// signature (an unsigned manifest when one is required), signed by another key,
// or a signature that does not verify (the manifest was changed after signing).
void verify_manifest_signature(const SplitManifest& m, const crypto::Bytes32& owner_public_key);

// Equality of two lower-case hex digests in time independent of where they differ.
bool digest_equal(const std::string& a, const std::string& b);

}  // namespace teesplit
