#include "client/client.h"

#include "core/bytes.h"
#include "core/error.h"
#include "core/file.h"
#include "partition/manifest.h"

namespace teesplit::client {

Attestation::Attestation() : handshake_(std::in_place) {}

enclave::AttestRequest Attestation::request() const {
  TS_CHECK(handshake_, "this attestation is finished; start a new one");
  enclave::AttestRequest r;
  r.nonce = handshake_->nonce();
  r.client_public = handshake_->public_key();
  return r;
}

attest::Verdict Attestation::finish(const enclave::AttestReply& reply, attest::Policy policy) {
  TS_CHECK(handshake_, "this attestation is finished; start a new one");
  attest::ReportBinding b;
  b.enclave_public_key = reply.enclave_public;
  b.nonce = handshake_->nonce();
  b.protocol_version = channel::ProtocolVersion;
  policy.binding = b;
  attest::Verdict v = attest::verify_quote(reply.quote, policy);
  if (!v.accepted) return v;
  channel::Limits limits;
  limits.max_message_bytes = enclave::kMaxWorkerFrame;
  channel_.emplace(handshake_->finish(reply.enclave_public, limits));
  handshake_.reset();
  session_ = reply.session;
  return v;
}

channel::SecureChannel& Attestation::channel() {
  TS_CHECK(channel_, "no attested session: the enclave's quote was not accepted");
  return *channel_;
}

enclave::SealedRequest seal_input(Attestation& a, const Tensor& input) {
  enclave::SealedRequest r;
  r.session = a.session_id();
  r.message = enclave::seal_tensor(a.channel(), input, enclave::channel_aad("input", r.session));
  return r;
}

enclave::SealedRequest seal_front_key(Attestation& a, std::span<const uint8_t> key) {
  TS_CHECK(key.size() == kFrontKeySize, "a front key has ", kFrontKeySize, " bytes, not ",
           key.size());
  enclave::SealedRequest r;
  r.session = a.session_id();
  r.message = a.channel().seal(key, enclave::channel_aad("provision", r.session));
  return r;
}

Tensor open_result(Attestation& a, std::span<const uint8_t> message) {
  const SecretBytes plain =
      a.channel().open(message, enclave::channel_aad("result", a.session_id()));
  ByteReader r(plain, "result");
  Tensor t = enclave::read_any_tensor(r, int64_t{1} << 28, "result");
  r.finish();
  return t;
}

attest::Policy policy_from_manifest(const std::string& manifest_path,
                                    const std::optional<crypto::Bytes32>& owner_public_key) {
  const SplitManifest m = manifest_from_json(read_file(manifest_path, kManifestMaxBytes));
  if (owner_public_key) {
    try {
      verify_manifest_signature(m, *owner_public_key);
    } catch (const Error& e) {
      fail(manifest_path, ": ", e.what());
    }
  }
  TS_CHECK(m.enclave_measurement, manifest_path,
           ": no enclave measurement (split it again with this build's teesplit-enclave "
           "beside teesplit, or give --mrenclave HEX)");
  attest::Policy p;
  crypto::Bytes32 mr{};
  TS_CHECK(crypto::from_hex(*m.enclave_measurement, mr), manifest_path,
           ": enclave.measurement is not 64 hex digits");
  p.mr_enclave = mr;
  return p;
}

}  // namespace teesplit::client
