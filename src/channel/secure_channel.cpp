#include "channel/secure_channel.h"

#include <cstring>
#include <string>

#include "crypto/aead.h"
#include "crypto/hkdf.h"

namespace teesplit::channel {

namespace {

void store_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

std::array<uint8_t, 12> make_nonce(const std::array<uint8_t, 4>& label, uint64_t seq) {
  std::array<uint8_t, 12> n{};
  std::memcpy(n.data(), label.data(), 4);
  store_u64(n.data() + 4, seq);
  return n;
}

// GCM's associated data: the 8-byte header, then the caller's aad.
std::vector<uint8_t> gcm_aad(const uint8_t* header, std::span<const uint8_t> aad) {
  std::vector<uint8_t> a(kMessageHeaderBytes + aad.size());
  std::memcpy(a.data(), header, kMessageHeaderBytes);
  if (!aad.empty()) std::memcpy(a.data() + kMessageHeaderBytes, aad.data(), aad.size());
  return a;
}

using Reason = Rejected::Reason;

}  // namespace

Bytes32 transcript_hash(uint32_t version, const Bytes32& client_pub, const Bytes32& enclave_pub,
                        const Bytes32& nonce) {
  uint8_t v[4];
  for (int i = 0; i < 4; ++i) v[i] = static_cast<uint8_t>(version >> (8 * i));
  crypto::Sha256 h;
  h.update(v, 4).update(client_pub).update(enclave_pub).update(nonce);
  return h.finish();
}

SessionKeys derive_session_keys(const SecretBytes& shared, const Bytes32& client_pub,
                                const Bytes32& enclave_pub, const Bytes32& nonce,
                                uint32_t version) {
  TS_CHECK(version == ProtocolVersion, "channel: protocol version ", version,
           " is not supported (this build speaks version ", ProtocolVersion, ")");
  TS_CHECK(shared.size() == 32, "channel: the shared secret has 32 bytes, not ", shared.size());
  const Bytes32 t = transcript_hash(version, client_pub, enclave_pub, nonce);
  std::vector<uint8_t> info(kChannelInfoLabel, kChannelInfoLabel + sizeof(kChannelInfoLabel) - 1);
  info.insert(info.end(), t.begin(), t.end());
  const SecretBytes okm = crypto::hkdf_sha256(shared, nonce, info, 64);
  SessionKeys keys;
  keys.client_to_enclave.assign(okm.begin(), okm.begin() + 32);
  keys.enclave_to_client.assign(okm.begin() + 32, okm.end());
  return keys;
}

const char* reason_name(Rejected::Reason reason) {
  switch (reason) {
    case Reason::tampered:
      return "tampered";
    case Reason::replayed:
      return "replayed";
    case Reason::reordered:
      return "reordered";
    case Reason::truncated:
      return "truncated";
    case Reason::too_large:
      return "too large";
    case Reason::expired:
      return "expired";
  }
  return "?";
}

Rejected::Rejected(Reason reason, const std::string& detail)
    : Error(detail::concat("channel: message rejected (", reason_name(reason), "): ", detail)),
      reason_(reason) {}

SecureChannel::SecureChannel(SessionKeys keys, Role role, Limits limits, Clock clock)
    : role_(role), limits_(limits), clock_(std::move(clock)) {
  TS_CHECK(keys.client_to_enclave.size() == 32 && keys.enclave_to_client.size() == 32,
           "channel: session keys have 32 bytes each");
  TS_CHECK(limits_.max_message_bytes >= kMessageOverhead,
           "channel: max_message_bytes must leave room for the header and the tag (",
           kMessageOverhead, " bytes)");
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
  start_ = clock_();
  if (role == Role::client) {
    send_key_ = std::move(keys.client_to_enclave);
    recv_key_ = std::move(keys.enclave_to_client);
    send_label_ = kClientToEnclaveLabel;
    recv_label_ = kEnclaveToClientLabel;
  } else {
    send_key_ = std::move(keys.enclave_to_client);
    recv_key_ = std::move(keys.client_to_enclave);
    send_label_ = kEnclaveToClientLabel;
    recv_label_ = kClientToEnclaveLabel;
  }
}

bool SecureChannel::expired() const {
  return clock_() - start_ >= limits_.lifetime;
}

void SecureChannel::check_alive(uint64_t count, const char* verb) const {
  if (expired())
    throw Rejected(
        Reason::expired,
        detail::concat("the session is older than its lifetime of ",
                       std::chrono::duration_cast<std::chrono::seconds>(limits_.lifetime).count(),
                       " s; attest again"));
  if (count >= limits_.max_messages)
    throw Rejected(Reason::expired,
                   detail::concat("the session has ", verb, " its limit of ", limits_.max_messages,
                                  " messages; attest again"));
}

std::vector<uint8_t> SecureChannel::seal(std::span<const uint8_t> plaintext,
                                         std::span<const uint8_t> aad) {
  check_alive(sent_, "sent");
  if (plaintext.size() > limits_.max_message_bytes - kMessageOverhead)
    throw Rejected(
        Reason::too_large,
        detail::concat("cannot seal ", plaintext.size(), " bytes: a message holds at most ",
                       limits_.max_message_bytes - kMessageOverhead, " bytes of plaintext (limit ",
                       limits_.max_message_bytes, " bytes sealed)"));
  std::vector<uint8_t> out(kMessageOverhead + plaintext.size());
  store_u64(out.data(), sent_);
  const auto nonce = make_nonce(send_label_, sent_);
  crypto::aes256gcm_seal_into(send_key_, nonce, gcm_aad(out.data(), aad), plaintext,
                              out.data() + kMessageHeaderBytes);
  ++sent_;
  return out;
}

SecretBytes SecureChannel::open(std::span<const uint8_t> message, std::span<const uint8_t> aad) {
  check_alive(received_, "received");
  if (message.size() > limits_.max_message_bytes)
    throw Rejected(Reason::too_large,
                   detail::concat("a message of ", message.size(), " bytes exceeds the limit of ",
                                  limits_.max_message_bytes));
  if (message.size() < kMessageOverhead)
    throw Rejected(Reason::truncated, detail::concat("a message of ", message.size(),
                                                     " bytes is shorter than its header and tag (",
                                                     kMessageOverhead, " bytes)"));
  const uint64_t seq = load_u64(message.data());
  if (seq < received_)
    throw Rejected(Reason::replayed, detail::concat("sequence number ", seq,
                                                    " was already received; expected ", received_));
  if (seq > received_)
    throw Rejected(Reason::reordered,
                   detail::concat("sequence number ", seq, " arrived before ", received_,
                                  " (messages must arrive in order)"));
  const auto nonce = make_nonce(recv_label_, seq);
  SecretBytes plaintext;
  if (!crypto::aes256gcm_open(recv_key_, nonce, gcm_aad(message.data(), aad),
                              message.subspan(kMessageHeaderBytes), plaintext))
    throw Rejected(Reason::tampered,
                   detail::concat("message ", seq, " of ", message.size(),
                                  " bytes does not authenticate (changed bytes, other "
                                  "associated data or another session's key)"));
  ++received_;
  return plaintext;
}

ClientHandshake::ClientHandshake() : key_pair_(crypto::X25519KeyPair::generate()) {
  crypto::random_bytes(nonce_.data(), nonce_.size());
}

ClientHandshake::ClientHandshake(crypto::X25519KeyPair key_pair, const Bytes32& nonce)
    : key_pair_(std::move(key_pair)), nonce_(nonce) {}

SecureChannel ClientHandshake::finish(const Bytes32& enclave_public_key, Limits limits,
                                      Clock clock) {
  TS_CHECK(key_pair_.private_key.size() == 32,
           "channel: ClientHandshake::finish was already called (a handshake is used once)");
  SessionKeys keys;
  {
    const SecretBytes shared = crypto::x25519(key_pair_.private_key, enclave_public_key);
    keys = derive_session_keys(shared, key_pair_.public_key, enclave_public_key, nonce_);
  }
  SecretBytes().swap(key_pair_.private_key);  // wiped as it is freed
  return SecureChannel(std::move(keys), Role::client, limits, std::move(clock));
}

EnclaveHandshake::EnclaveHandshake() : key_pair_(crypto::X25519KeyPair::generate()) {}

EnclaveHandshake::EnclaveHandshake(crypto::X25519KeyPair key_pair)
    : key_pair_(std::move(key_pair)) {}

SecureChannel EnclaveHandshake::accept(const Bytes32& client_public_key,
                                       const Bytes32& client_nonce, Limits limits, Clock clock) {
  TS_CHECK(key_pair_.private_key.size() == 32,
           "channel: EnclaveHandshake::accept was already called (a handshake is used once)");
  SessionKeys keys;
  {
    const SecretBytes shared = crypto::x25519(key_pair_.private_key, client_public_key);
    keys = derive_session_keys(shared, client_public_key, key_pair_.public_key, client_nonce);
  }
  SecretBytes().swap(key_pair_.private_key);
  return SecureChannel(std::move(keys), Role::enclave, limits, std::move(clock));
}

}  // namespace teesplit::channel
