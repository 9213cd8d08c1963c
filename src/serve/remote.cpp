#include "serve/remote.h"

#include <grpcpp/grpcpp.h>

#include <cstring>

#include "core/bytes.h"
#include "serve/status_name.h"
#include "teesplit/v1/serving.grpc.pb.h"

namespace teesplit::serve {

namespace pb = ::teesplit::v1;

struct RemoteEnclave::Impl {
  std::string address;
  std::unique_ptr<pb::Enclave::Stub> stub;
};

namespace {

[[noreturn]] void raise(const std::string& address, const char* call, const grpc::Status& s) {
  const bool retryable = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
  const std::string code = status_code_name(s.error_code());
  throw RemoteError(std::string(call) + " at " + address + ": " + code + ": " + s.error_message() +
                        (retryable ? " (retryable)" : ""),
                    retryable, code);
}

std::unique_ptr<grpc::ClientContext> context(std::chrono::milliseconds timeout) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + timeout);
  return c;
}
std::unique_ptr<grpc::ClientContext> context(int seconds) {
  return context(std::chrono::milliseconds(std::chrono::seconds(seconds)));
}

}  // namespace

RemoteEnclave::RemoteEnclave(const std::string& address, size_t max_message_bytes)
    : impl_(std::make_unique<Impl>()) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(max_message_bytes, INT32_MAX)));
  args.SetMaxSendMessageSize(static_cast<int>(std::min<size_t>(max_message_bytes, INT32_MAX)));
  impl_->address = address;
  impl_->stub = pb::Enclave::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

RemoteEnclave::~RemoteEnclave() = default;

RemoteInfo RemoteEnclave::info() {
  pb::InfoRequest q;
  pb::InfoReply r;
  auto c = context(30);
  if (auto s = impl_->stub->Info(c.get(), q, &r); !s.ok()) raise(impl_->address, "info", s);
  RemoteInfo i;
  TS_CHECK(r.measurement().size() == 32, "info: the server's measurement is not 32 bytes");
  std::memcpy(i.measurement.data(), r.measurement().data(), 32);
  i.provisioned = r.provisioned();
  i.insecure = r.insecure();
  i.lockdown = r.lockdown();
  i.input_shape.assign(r.input_shape().begin(), r.input_shape().end());
  i.output_shape.assign(r.output_shape().begin(), r.output_shape().end());
  i.workers = r.workers();
  i.back_backend = r.back_backend();
  i.protect_output = r.protect_output();
  return i;
}

attest::Verdict RemoteEnclave::attest(client::Attestation& a, const attest::Policy& policy) {
  const enclave::AttestRequest req = a.request();
  pb::AttestRequest q;
  q.set_nonce(std::string(req.nonce.begin(), req.nonce.end()));
  q.set_client_public_key(std::string(req.client_public.begin(), req.client_public.end()));
  pb::AttestReply r;
  auto c = context(60);
  if (auto s = impl_->stub->Attest(c.get(), q, &r); !s.ok()) raise(impl_->address, "attest", s);
  TS_CHECK(r.enclave_public_key().size() == 32, "attest: the enclave's key is not 32 bytes");
  TS_CHECK(r.quote().size() <= enclave::kMaxQuoteBytes, "attest: the quote is too large");
  enclave::AttestReply rep;
  rep.session = r.session();
  std::memcpy(rep.enclave_public.data(), r.enclave_public_key().data(), 32);
  rep.quote.assign(r.quote().begin(), r.quote().end());
  return a.finish(rep, policy);
}

Tensor RemoteEnclave::infer(client::Attestation& a, const Tensor& input, RemoteResult* timings) {
  const enclave::SealedRequest sr = client::seal_input(a, input);
  pb::SealedMessage q;
  q.set_session(sr.session);
  q.set_message(std::string(sr.message.begin(), sr.message.end()));
  pb::InferReply r;
  auto c = context(infer_deadline_);
  if (auto s = impl_->stub->Infer(c.get(), q, &r); !s.ok()) raise(impl_->address, "infer", s);
  if (timings) {
    timings->front_us = r.front_us();
    timings->back_us = r.back_us();
    timings->tail_us = r.tail_us();
    timings->sealed = !r.sealed_output().empty();
  }
  if (!r.sealed_output().empty()) {
    TS_CHECK(r.output().empty() && r.shape().empty(),
             "infer: the reply holds a sealed result and a clear one");
    const std::string& m = r.sealed_output();
    return client::open_result(a, byte_span(m));
  }
  TS_CHECK(!require_sealed_, "infer: ", impl_->address,
           " sent the result in clear, but this split keeps its last layers in the enclave "
           "(--protect-output): a clear result is not the enclave's; refused");
  Shape shape(r.shape().begin(), r.shape().end());
  TS_CHECK(shape.size() <= 8, "infer: the result's rank is ", shape.size());
  int64_t n = 1;
  for (int64_t d : shape) {
    TS_CHECK(d >= 0 && d <= (int64_t{1} << 31) && (d == 0 || n <= (int64_t{1} << 40) / d),
             "infer: the result's shape is out of range");
    n *= d;
  }
  TS_CHECK(static_cast<uint64_t>(n) * 4 == r.output().size(), "infer: the result holds ",
           r.output().size(), " bytes, its shape ", shape_str(shape), " needs ", n * 4);
  Tensor out(DType::F32, shape);
  if (n) std::memcpy(out.raw(), r.output().data(), out.nbytes());
  return out;
}

std::string RemoteEnclave::provision(client::Attestation& a, std::span<const uint8_t> front_key) {
  const enclave::SealedRequest sr = client::seal_front_key(a, front_key);
  pb::SealedMessage q;
  q.set_session(sr.session);
  q.set_message(std::string(sr.message.begin(), sr.message.end()));
  pb::ProvisionReply r;
  auto c = context(300);
  if (auto s = impl_->stub->Provision(c.get(), q, &r); !s.ok())
    raise(impl_->address, "provision", s);
  return r.note();
}

}  // namespace teesplit::serve
