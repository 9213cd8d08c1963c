// The messages between the untrusted host and the enclave worker, carried in
// frames (channel/frame.h: u32 length | u8 type | payload). What the client
// sends to the enclave travels inside them as the encrypted channel's
// ciphertext; the host sees only that, the feature map at the cut, and, without
// a tail partition, the result. Layouts: docs/protocol.md, "Host and worker".
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "channel/secure_channel.h"
#include "core/bytes.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace teesplit::enclave {

enum class MsgType : uint8_t {
  // host -> worker
  kAttest = 0x01,     // AttestRequest
  kInfer = 0x02,      // InferRequest
  kTail = 0x03,       // TailRequest
  kProvision = 0x04,  // ProvisionRequest
  kShutdown = 0x05,   // empty
  // worker -> host
  kReady = 0x80,           // WorkerInfo, once, after lockdown
  kAttestReply = 0x81,     // AttestReply
  kFeature = 0x82,         // FeatureReply
  kTailReply = 0x83,       // TailReply
  kProvisionReply = 0x84,  // ProvisionReply
  kError = 0xFF,           // ErrorReply
};
const char* msg_type_name(uint8_t type);

// Largest payload of any host<->worker frame: a feature map or an input of the
// largest split allowed (1 GiB), plus headers.
constexpr size_t kMaxWorkerFrame = (size_t{1} << 30) + 4096;
constexpr size_t kMaxQuoteBytes = 64 * 1024;
constexpr size_t kMaxTextBytes = 4096;

struct WorkerInfo {
  std::array<uint8_t, 32> measurement{};
  bool provisioned = false;  // the front's key is present (or the front is not sealed)
  bool insecure = false;     // a lockdown step was skipped (--insecure) or a dev key given
  bool gramine = false;      // isolation by SGX under Gramine
  bool has_tail = false;
  std::string secret_memory;  // "memfd_secret", "heap"
  std::string lockdown;       // one line: the steps taken
  Shape input_shape, feature_shape, output_shape;
};

struct AttestRequest {
  std::array<uint8_t, 32> nonce{};
  std::array<uint8_t, 32> client_public{};
};
struct AttestReply {
  uint64_t session = 0;
  std::array<uint8_t, 32> enclave_public{};
  std::vector<uint8_t> quote;
};
// An encrypted channel message for one session: the client's input (InferRequest)
// or the model owner's front key (ProvisionRequest).
struct SealedRequest {
  uint64_t session = 0;
  std::vector<uint8_t> message;
};
// Where the worker's time went on one request, nanoseconds, measured inside
// the worker (for profiling and bench/bench_privacy: the host could time the
// round trip to the microsecond anyway, so they reveal nothing new).
struct StageTimes {
  uint64_t crypto_ns = 0;  // opening the input, or sealing the result
  uint64_t run_ns = 0;     // the partition's compute (front or tail)
};
struct FeatureReply {
  uint64_t session = 0;
  Tensor feature;
  StageTimes times;  // crypto_ns: the input's decryption; run_ns: the front
};
// A feature reply read in place: `feature` points into the payload (float32
// bytes of the feature shape), so that the host copies it once, into its batch.
struct FeatureView {
  uint64_t session = 0;
  std::span<const uint8_t> feature;
  StageTimes times;
};
struct TailRequest {
  uint64_t session = 0;
  Tensor back_output;
};
struct TailReply {
  uint64_t session = 0;
  std::vector<uint8_t> message;  // the result, encrypted to the client
  StageTimes times;              // run_ns: the tail; crypto_ns: sealing the result
};
struct ProvisionReply {
  std::vector<uint8_t> sealed_key;  // bound to the measurement; the host stores it
};

enum class ErrorCode : uint8_t {
  kBadRequest = 1,  // malformed message (the host's fault)
  kRejected = 2,    // a channel message refused: tampered, replayed, ... (the client's)
  kNoSession = 3,   // unknown or expired session: attest again (retryable)
  kNotProvisioned = 4,
  kInternal = 5,
};
struct ErrorReply {
  ErrorCode code = ErrorCode::kInternal;
  bool retryable = false;
  std::string message;  // one line, never secret bytes
};

// Tensors in frames: u8 dtype, u8 rank, u64 dims, raw little-endian data.
void write_tensor(ByteWriter& w, const Tensor& t);
// The bytes write_tensor writes for t (to reserve them at once).
size_t tensor_wire_bytes(const Tensor& t);
// t written as above and sealed on the channel (the client's input, the
// enclave's result); the clear bytes are in one buffer, wiped before returning.
std::vector<uint8_t> seal_tensor(channel::SecureChannel& channel, const Tensor& t,
                                 std::span<const uint8_t> aad);
// Refuses any tensor whose dtype is not F32 or whose shape is not `expect`.
Tensor read_tensor(ByteReader& r, const Shape& expect, const char* field);
// Any F32 tensor of at most `max_elements` (for the client's result).
Tensor read_any_tensor(ByteReader& r, int64_t max_elements, const char* field);

std::vector<uint8_t> encode(const WorkerInfo& m);
std::vector<uint8_t> encode(const AttestRequest& m);
std::vector<uint8_t> encode(const AttestReply& m);
std::vector<uint8_t> encode(const SealedRequest& m);
std::vector<uint8_t> encode(const FeatureReply& m);
std::vector<uint8_t> encode(const TailRequest& m);
std::vector<uint8_t> encode(const TailReply& m);
std::vector<uint8_t> encode(const ProvisionReply& m);
std::vector<uint8_t> encode(const ErrorReply& m);

WorkerInfo decode_worker_info(std::span<const uint8_t> p);
AttestRequest decode_attest_request(std::span<const uint8_t> p);
AttestReply decode_attest_reply(std::span<const uint8_t> p);
SealedRequest decode_sealed_request(std::span<const uint8_t> p, const char* what);
FeatureReply decode_feature_reply(std::span<const uint8_t> p, const Shape& feature_shape);
FeatureView decode_feature_view(std::span<const uint8_t> p, const Shape& feature_shape);
// A feature reply for feature_shape, laid out as prefix | feature map | trailer:
// the byte counts, for a reader that places the feature map itself.
constexpr size_t kFeatureReplyTrailerBytes = 16;  // the decrypt and front times
struct FeatureReplyLayout {
  size_t prefix_bytes = 0, feature_bytes = 0, trailer_bytes = 0;
  size_t total() const { return prefix_bytes + feature_bytes + trailer_bytes; }
};
FeatureReplyLayout feature_reply_layout(const Shape& feature_shape);
// The reply's prefix and trailer, read apart from its feature map (to which
// the result's `feature` does not point): the checks of decode_feature_view.
FeatureView decode_feature_prefix(std::span<const uint8_t> prefix, const Shape& feature_shape);
void decode_feature_trailer(std::span<const uint8_t> trailer, FeatureView& m);
TailRequest decode_tail_request(std::span<const uint8_t> p, const Shape& back_output_shape);
TailReply decode_tail_reply(std::span<const uint8_t> p);
ProvisionReply decode_provision_reply(std::span<const uint8_t> p);
ErrorReply decode_error_reply(std::span<const uint8_t> p);

// The additional authenticated data of a channel message: its purpose and the
// session, so that a ciphertext cannot be replayed into another role or session.
std::vector<uint8_t> channel_aad(const char* purpose, uint64_t session);

}  // namespace teesplit::enclave
