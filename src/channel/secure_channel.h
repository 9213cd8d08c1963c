// The encrypted channel between a client and the enclave worker
// (docs/protocol.md, Channel): X25519, then HKDF-SHA256 over a transcript of
// the protocol version, both public keys and the client's nonce, then
// AES-256-GCM with one key per direction and counter nonces. Messages must
// arrive exactly in order; a session expires after a lifetime and a count.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "channel/frame.h"
#include "core/error.h"
#include "core/secret.h"
#include "crypto/primitives.h"
#include "crypto/x25519.h"

namespace teesplit::channel {

using crypto::Bytes32;

constexpr uint32_t ProtocolVersion = 1;
// HKDF info prefix; the transcript hash follows it.
constexpr char kChannelInfoLabel[] = "teesplit channel v1";
// The first 4 bytes of every GCM nonce, one per direction.
constexpr std::array<uint8_t, 4> kClientToEnclaveLabel = {'c', '2', 'e', 0};
constexpr std::array<uint8_t, 4> kEnclaveToClientLabel = {'e', '2', 'c', 0};
// A sealed message: u64 sequence number (LE) | ciphertext | 16-byte tag.
constexpr size_t kMessageHeaderBytes = 8;
constexpr size_t kMessageOverhead = kMessageHeaderBytes + 16;

struct SessionKeys {
  SecretBytes client_to_enclave;  // 32 bytes each
  SecretBytes enclave_to_client;
};

// SHA-256 of u32 version (LE) | client_pub | enclave_pub | nonce (100 bytes).
Bytes32 transcript_hash(uint32_t version, const Bytes32& client_pub, const Bytes32& enclave_pub,
                        const Bytes32& nonce);

// HKDF-SHA256(ikm = shared, salt = nonce, info = kChannelInfoLabel |
// transcript_hash(...), 64 bytes): the first 32 bytes are client_to_enclave,
// the last 32 enclave_to_client. Throws Error for a version other than
// ProtocolVersion or a shared secret that is not 32 bytes.
SessionKeys derive_session_keys(const SecretBytes& shared, const Bytes32& client_pub,
                                const Bytes32& enclave_pub, const Bytes32& nonce,
                                uint32_t version = ProtocolVersion);

enum class Role { client, enclave };

struct Limits {
  // The largest sealed message (header, ciphertext and tag) open() accepts
  // and seal() produces; by default what fits in one frame.
  size_t max_message_bytes = kMaxFramePayload;
  // A session's lifetime, from the SecureChannel's construction.
  std::chrono::steady_clock::duration lifetime = std::chrono::hours(1);
  // Messages per direction; the next one is refused as expired.
  uint64_t max_messages = uint64_t{1} << 32;
};

// Why open() refused a message. None of these carries key or plaintext bytes.
class Rejected : public Error {
 public:
  enum class Reason { tampered, replayed, reordered, truncated, too_large, expired };
  Rejected(Reason reason, const std::string& detail);
  Reason reason() const { return reason_; }

 private:
  Reason reason_;
};
const char* reason_name(Rejected::Reason reason);

using Clock = std::function<std::chrono::steady_clock::time_point()>;

// One side of a session. Not thread-safe; move-only, since a copy would reuse
// its nonces. A rejected message changes nothing: the channel still expects
// the same sequence number (the caller decides whether to drop the session).
class SecureChannel {
 public:
  // `clock` (steady_clock::now by default) is read at construction and at
  // every seal/open; tests inject their own.
  SecureChannel(SessionKeys keys, Role role, Limits limits = {}, Clock clock = {});
  SecureChannel(SecureChannel&&) = default;
  SecureChannel& operator=(SecureChannel&&) = default;
  SecureChannel(const SecureChannel&) = delete;
  SecureChannel& operator=(const SecureChannel&) = delete;

  // u64 sequence number (LE) | AES-256-GCM(plaintext) | tag, under this side's
  // sending key, nonce = direction label | sequence number (LE), GCM's
  // associated data = the 8-byte header | aad. Throws Rejected(expired) once
  // the session is expired, Rejected(too_large) over max_message_bytes.
  std::vector<uint8_t> seal(std::span<const uint8_t> plaintext, std::span<const uint8_t> aad = {});
  // The plaintext of the next message from the peer, in secret memory. Throws
  // Rejected: expired, too_large (over max_message_bytes), truncated (under
  // header and tag), replayed (a sequence number already received), reordered
  // (one ahead of the next expected), tampered (the tag does not verify, e.g.
  // changed bytes, another aad, another key).
  SecretBytes open(std::span<const uint8_t> message, std::span<const uint8_t> aad = {});

  Role role() const { return role_; }
  uint64_t sent() const { return sent_; }          // messages sealed
  uint64_t received() const { return received_; }  // messages opened
  bool expired() const;

 private:
  void check_alive(uint64_t count, const char* verb) const;
  SecretBytes send_key_, recv_key_;
  std::array<uint8_t, 4> send_label_, recv_label_;
  Role role_;
  Limits limits_;
  Clock clock_;
  std::chrono::steady_clock::time_point start_;
  uint64_t sent_ = 0, received_ = 0;
};

// The client's side of the handshake: a fresh nonce and X25519 key pair; it
// sends both, checks the enclave's quote (which binds the enclave's public key
// and this nonce), then finish()es with the enclave's public key.
class ClientHandshake {
 public:
  ClientHandshake();
  ClientHandshake(crypto::X25519KeyPair key_pair, const Bytes32& nonce);  // tests
  const Bytes32& nonce() const { return nonce_; }
  const Bytes32& public_key() const { return key_pair_.public_key; }
  // Derives the session; once only (the private key is wiped afterwards).
  SecureChannel finish(const Bytes32& enclave_public_key, Limits limits = {}, Clock clock = {});

 private:
  crypto::X25519KeyPair key_pair_;
  Bytes32 nonce_{};
};

// The enclave's side: an ephemeral X25519 key pair whose public key goes into
// the quote's report data with the client's nonce; accept() derives the session.
class EnclaveHandshake {
 public:
  EnclaveHandshake();
  explicit EnclaveHandshake(crypto::X25519KeyPair key_pair);  // tests
  const Bytes32& public_key() const { return key_pair_.public_key; }
  // Once only (the private key is wiped afterwards).
  SecureChannel accept(const Bytes32& client_public_key, const Bytes32& client_nonce,
                       Limits limits = {}, Clock clock = {});

 private:
  crypto::X25519KeyPair key_pair_;
};

}  // namespace teesplit::channel
