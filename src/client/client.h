// The client's side of private inference: attest the enclave (verify its quote
// against a policy, bound to this session's nonce and the enclave's channel
// key), then encrypt inputs to it and read the results. Transport-agnostic:
// the caller moves the bytes (gRPC in `teesplit infer`, a socketpair in tests).
// Image preprocessing happens here, on the client, since the enclave links no
// image codecs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "attest/verifier.h"
#include "channel/secure_channel.h"
#include "core/tensor.h"
#include "enclave/messages.h"

namespace teesplit::client {

// The first half of attestation: a fresh nonce and key pair.
class Attestation {
 public:
  Attestation();
  // What the host forwards to the enclave.
  enclave::AttestRequest request() const;
  // Verifies the enclave's reply under policy (whose binding is filled in
  // here: this nonce, the enclave key in the reply, the protocol version).
  // Returns the verdict; on acceptance, session() is ready.
  attest::Verdict finish(const enclave::AttestReply& reply, attest::Policy policy);
  bool ready() const { return channel_.has_value(); }
  uint64_t session_id() const { return session_; }
  channel::SecureChannel& channel();

 private:
  std::optional<channel::ClientHandshake> handshake_;
  uint64_t session_ = 0;
  std::optional<channel::SecureChannel> channel_;
};

// The sealed request carrying one input tensor (the front's input shape).
enclave::SealedRequest seal_input(Attestation& a, const Tensor& input);
// The sealed request carrying the front's 32-byte key (teesplit provision).
enclave::SealedRequest seal_front_key(Attestation& a, std::span<const uint8_t> key);
// A result the enclave encrypted (tail partitions, --protect-output).
Tensor open_result(Attestation& a, std::span<const uint8_t> message);

// The policy from a split's manifest: its enclave measurement (required), and
// the owner's signature when owner_public_key is given.
attest::Policy policy_from_manifest(const std::string& manifest_path,
                                    const std::optional<crypto::Bytes32>& owner_public_key);

}  // namespace teesplit::client
