#include "enclave/messages.h"

#include <cstring>

#include "core/secret.h"

namespace teesplit::enclave {

const char* msg_type_name(uint8_t type) {
  switch (static_cast<MsgType>(type)) {
    case MsgType::kAttest:
      return "attest";
    case MsgType::kInfer:
      return "infer";
    case MsgType::kTail:
      return "tail";
    case MsgType::kProvision:
      return "provision";
    case MsgType::kShutdown:
      return "shutdown";
    case MsgType::kReady:
      return "ready";
    case MsgType::kAttestReply:
      return "attest reply";
    case MsgType::kFeature:
      return "feature";
    case MsgType::kTailReply:
      return "tail reply";
    case MsgType::kProvisionReply:
      return "provision reply";
    case MsgType::kError:
      return "error";
  }
  return "unknown";
}

namespace {

constexpr int kMaxRank = 8;

void write_shape(ByteWriter& w, const Shape& s) {
  TS_CHECK(s.size() <= kMaxRank, "rank ", s.size(), " is too large for a frame");
  w.u8(static_cast<uint8_t>(s.size()));
  for (int64_t d : s) w.u64(static_cast<uint64_t>(d));
}

Shape read_shape(ByteReader& r, const char* field) {
  const int rank = r.u8(field);
  if (rank > kMaxRank) fail(field, ": rank ", rank, " exceeds ", kMaxRank);
  Shape s;
  for (int i = 0; i < rank; ++i) {
    const uint64_t d = r.u64(field);
    if (d > (uint64_t{1} << 32)) fail(field, ": dimension ", d, " is out of range");
    s.push_back(static_cast<int64_t>(d));
  }
  return s;
}

Tensor read_tensor_body(ByteReader& r, const Shape& shape, const char* field) {
  Tensor t(DType::F32, shape);
  auto data = r.raw(t.nbytes(), field);
  if (t.nbytes()) std::memcpy(t.raw(), data.data(), t.nbytes());
  return t;
}

}  // namespace

void write_tensor(ByteWriter& w, const Tensor& t) {
  TS_CHECK(t.dtype() == DType::F32, "only float32 tensors cross the enclave boundary");
  w.u8(static_cast<uint8_t>(t.dtype()));
  write_shape(w, t.shape());
  w.raw(t.raw(), t.nbytes());
}

namespace {

// write_tensor's bytes before the data: dtype, rank, dimensions.
size_t tensor_header_bytes(const Shape& s) {
  return 2 + 8 * s.size();
}

}  // namespace

size_t tensor_wire_bytes(const Tensor& t) {
  return tensor_header_bytes(t.shape()) + t.nbytes();
}

std::vector<uint8_t> seal_tensor(channel::SecureChannel& channel, const Tensor& t,
                                 std::span<const uint8_t> aad) {
  ByteWriter w;
  w.reserve(tensor_wire_bytes(t));  // one buffer: no reallocation leaves a copy behind
  write_tensor(w, t);
  std::vector<uint8_t> sealed = channel.seal(w.data(), aad);
  secure_wipe(w.data().data(), w.data().size());
  return sealed;
}

Tensor read_tensor(ByteReader& r, const Shape& expect, const char* field) {
  const uint8_t dtype = r.u8(field);
  if (dtype != static_cast<uint8_t>(DType::F32))
    fail(field, ": dtype ", int(dtype), " is not float32");
  const Shape s = read_shape(r, field);
  if (s != expect)
    fail(field, ": shape ", shape_str(s), " does not match the partition's ", shape_str(expect));
  return read_tensor_body(r, s, field);
}

Tensor read_any_tensor(ByteReader& r, int64_t max_elements, const char* field) {
  const uint8_t dtype = r.u8(field);
  if (dtype != static_cast<uint8_t>(DType::F32))
    fail(field, ": dtype ", int(dtype), " is not float32");
  const Shape s = read_shape(r, field);
  int64_t n = 1;
  for (int64_t d : s) {
    if (d != 0 && n > max_elements / d) fail(field, ": ", shape_str(s), " is too large");
    n *= d;
  }
  if (n > max_elements) fail(field, ": ", shape_str(s), " is too large");
  return read_tensor_body(r, s, field);
}

std::vector<uint8_t> encode(const WorkerInfo& m) {
  ByteWriter w;
  w.raw(m.measurement);
  w.u8(uint8_t(m.provisioned) | uint8_t(m.insecure) << 1 | uint8_t(m.gramine) << 2 |
       uint8_t(m.has_tail) << 3);
  w.str(m.secret_memory).str(m.lockdown);
  write_shape(w, m.input_shape);
  write_shape(w, m.feature_shape);
  write_shape(w, m.output_shape);
  return w.take();
}

WorkerInfo decode_worker_info(std::span<const uint8_t> p) {
  ByteReader r(p, "worker ready message");
  WorkerInfo m;
  r.fixed(m.measurement, "measurement");
  const uint8_t flags = r.u8("flags");
  if (flags >> 4) fail("worker ready message: unknown flags ", int(flags));
  m.provisioned = flags & 1;
  m.insecure = flags & 2;
  m.gramine = flags & 4;
  m.has_tail = flags & 8;
  m.secret_memory = r.str(kMaxTextBytes, "secret memory");
  m.lockdown = r.str(kMaxTextBytes, "lockdown");
  m.input_shape = read_shape(r, "input shape");
  m.feature_shape = read_shape(r, "feature shape");
  m.output_shape = read_shape(r, "output shape");
  r.finish();
  return m;
}

std::vector<uint8_t> encode(const AttestRequest& m) {
  ByteWriter w;
  w.raw(m.nonce).raw(m.client_public);
  return w.take();
}
AttestRequest decode_attest_request(std::span<const uint8_t> p) {
  ByteReader r(p, "attest request");
  AttestRequest m;
  r.fixed(m.nonce, "nonce");
  r.fixed(m.client_public, "client public key");
  r.finish();
  return m;
}

std::vector<uint8_t> encode(const AttestReply& m) {
  ByteWriter w;
  w.u64(m.session).raw(m.enclave_public).bytes(m.quote);
  return w.take();
}
AttestReply decode_attest_reply(std::span<const uint8_t> p) {
  ByteReader r(p, "attest reply");
  AttestReply m;
  m.session = r.u64("session");
  r.fixed(m.enclave_public, "enclave public key");
  auto q = r.bytes(kMaxQuoteBytes, "quote");
  m.quote.assign(q.begin(), q.end());
  r.finish();
  return m;
}

std::vector<uint8_t> encode(const SealedRequest& m) {
  ByteWriter w;
  w.u64(m.session).bytes(m.message);
  return w.take();
}
SealedRequest decode_sealed_request(std::span<const uint8_t> p, const char* what) {
  ByteReader r(p, what);
  SealedRequest m;
  m.session = r.u64("session");
  auto b = r.bytes(kMaxWorkerFrame, "message");
  m.message.assign(b.begin(), b.end());
  r.finish();
  return m;
}

std::vector<uint8_t> encode(const FeatureReply& m) {
  ByteWriter w;
  w.reserve(feature_reply_layout(m.feature.shape()).total());  // one buffer for megabytes
  w.u64(m.session);
  write_tensor(w, m.feature);
  w.u64(m.times.crypto_ns).u64(m.times.run_ns);
  return w.take();
}

namespace {

// The feature reply around its feature map: session, dtype and shape before it,
// the two stage times after it.
void read_feature_prefix(ByteReader& r, FeatureView& m, const Shape& feature_shape) {
  m.session = r.u64("session");
  const uint8_t dtype = r.u8("feature map");
  if (dtype != static_cast<uint8_t>(DType::F32))
    fail("feature map: dtype ", int(dtype), " is not float32");
  const Shape s = read_shape(r, "feature map");
  if (s != feature_shape)
    fail("feature map: shape ", shape_str(s), " does not match the partition's ",
         shape_str(feature_shape));
}

void read_feature_trailer(ByteReader& r, FeatureView& m) {
  m.times.crypto_ns = r.u64("decrypt time");
  m.times.run_ns = r.u64("front time");
}

}  // namespace

FeatureView decode_feature_view(std::span<const uint8_t> p, const Shape& feature_shape) {
  ByteReader r(p, "feature reply");
  FeatureView m;
  read_feature_prefix(r, m, feature_shape);
  m.feature = r.raw(static_cast<size_t>(shape_numel(feature_shape)) * sizeof(float), "feature map");
  read_feature_trailer(r, m);
  r.finish();
  return m;
}

FeatureReplyLayout feature_reply_layout(const Shape& feature_shape) {
  FeatureReplyLayout l;
  l.prefix_bytes = 8 + tensor_header_bytes(feature_shape);  // session, then the tensor's header
  l.feature_bytes = static_cast<size_t>(shape_numel(feature_shape)) * sizeof(float);
  l.trailer_bytes = kFeatureReplyTrailerBytes;
  return l;
}

FeatureView decode_feature_prefix(std::span<const uint8_t> prefix, const Shape& feature_shape) {
  FeatureView m;
  ByteReader r(prefix, "feature reply");
  read_feature_prefix(r, m, feature_shape);
  r.finish();
  return m;
}

void decode_feature_trailer(std::span<const uint8_t> trailer, FeatureView& m) {
  ByteReader r(trailer, "feature reply");
  read_feature_trailer(r, m);
  r.finish();
}

FeatureReply decode_feature_reply(std::span<const uint8_t> p, const Shape& feature_shape) {
  const FeatureView v = decode_feature_view(p, feature_shape);
  FeatureReply m;
  m.session = v.session;
  m.feature = Tensor(DType::F32, feature_shape);
  if (!v.feature.empty()) std::memcpy(m.feature.raw(), v.feature.data(), v.feature.size());
  m.times = v.times;
  return m;
}

std::vector<uint8_t> encode(const TailRequest& m) {
  ByteWriter w;
  w.reserve(8 + tensor_wire_bytes(m.back_output));
  w.u64(m.session);
  write_tensor(w, m.back_output);
  return w.take();
}
TailRequest decode_tail_request(std::span<const uint8_t> p, const Shape& back_output_shape) {
  ByteReader r(p, "tail request");
  TailRequest m;
  m.session = r.u64("session");
  m.back_output = read_tensor(r, back_output_shape, "back output");
  r.finish();
  return m;
}

std::vector<uint8_t> encode(const TailReply& m) {
  ByteWriter w;
  w.u64(m.session).bytes(m.message);
  w.u64(m.times.crypto_ns).u64(m.times.run_ns);
  return w.take();
}
TailReply decode_tail_reply(std::span<const uint8_t> p) {
  ByteReader r(p, "tail reply");
  TailReply m;
  m.session = r.u64("session");
  auto b = r.bytes(kMaxWorkerFrame, "message");
  m.message.assign(b.begin(), b.end());
  m.times.crypto_ns = r.u64("seal time");
  m.times.run_ns = r.u64("tail time");
  r.finish();
  return m;
}

std::vector<uint8_t> encode(const ProvisionReply& m) {
  ByteWriter w;
  w.bytes(m.sealed_key);
  return w.take();
}
ProvisionReply decode_provision_reply(std::span<const uint8_t> p) {
  ByteReader r(p, "provision reply");
  ProvisionReply m;
  auto b = r.bytes(kMaxTextBytes, "sealed key");
  m.sealed_key.assign(b.begin(), b.end());
  r.finish();
  return m;
}

std::vector<uint8_t> encode(const ErrorReply& m) {
  ByteWriter w;
  w.u8(static_cast<uint8_t>(m.code))
      .u8(m.retryable ? 1 : 0)
      .str(m.message.substr(0, kMaxTextBytes));
  return w.take();
}
ErrorReply decode_error_reply(std::span<const uint8_t> p) {
  ByteReader r(p, "error reply");
  ErrorReply m;
  const uint8_t code = r.u8("code");
  if (code < 1 || code > 5) fail("error reply: unknown code ", int(code));
  m.code = static_cast<ErrorCode>(code);
  const uint8_t retry = r.u8("retryable");
  if (retry > 1) fail("error reply: retryable flag ", int(retry));
  m.retryable = retry;
  m.message = r.str(kMaxTextBytes, "message");
  r.finish();
  return m;
}

std::vector<uint8_t> channel_aad(const char* purpose, uint64_t session) {
  ByteWriter w;
  w.str(std::string("teesplit/") + purpose).u64(session);
  return w.take();
}

}  // namespace teesplit::enclave
