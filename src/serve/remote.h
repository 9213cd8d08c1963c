// The client's transport to `teesplit serve`: gRPC calls carrying the
// messages of client/client.h. Errors are RemoteError, whose retryable() says
// whether attesting again and retrying can succeed (a restarted worker, a full
// queue), and whose code() names the gRPC status. A failed Infer leaves the
// session's message count behind the client's, so a retry attests again.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "client/client.h"
#include "core/error.h"

namespace teesplit::serve {

class RemoteError : public Error {
 public:
  RemoteError(const std::string& msg, bool retryable, std::string code = {})
      : Error(msg), retryable_(retryable), code_(std::move(code)) {}
  bool retryable() const { return retryable_; }
  // The gRPC status code's name ("UNAVAILABLE", "RESOURCE_EXHAUSTED", ...), or "".
  const std::string& code() const { return code_; }

 private:
  bool retryable_;
  std::string code_;
};

struct RemoteInfo {
  crypto::Bytes32 measurement{};
  bool provisioned = false;
  bool insecure = false;
  std::string lockdown;
  Shape input_shape, output_shape;
  unsigned workers = 0;
  std::string back_backend;
  bool protect_output = false;  // results come back sealed to the client
};

struct RemoteResult {
  Tensor output;
  uint64_t front_us = 0, back_us = 0, tail_us = 0;  // the server's stage times
  bool sealed = false;  // the result came sealed by the enclave (--protect-output)
};

class RemoteEnclave {
 public:
  // address: HOST:PORT; max_message_bytes bounds what the client accepts.
  explicit RemoteEnclave(const std::string& address, size_t max_message_bytes = size_t{256} << 20);
  ~RemoteEnclave();
  RemoteInfo info();
  // Attests a fresh session; the verdict says whether it was accepted.
  attest::Verdict attest(client::Attestation& a, const attest::Policy& policy);
  // The result: opened here when the enclave sealed it (a tail partition),
  // else the host's back partition output as sent.
  Tensor infer(client::Attestation& a, const Tensor& input, RemoteResult* timings = nullptr);
  // Each later infer() asks the server to answer within this time (gRPC
  // deadline; the server does not compute a request past it). Default 300 s.
  void set_infer_deadline(std::chrono::milliseconds d) { infer_deadline_ = d; }
  // Refuse results the host sends in clear (the split keeps its tail in the
  // enclave, so a clear result can only be the host's own).
  void require_sealed_output(bool on) { require_sealed_ = on; }
  std::string provision(client::Attestation& a, std::span<const uint8_t> front_key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool require_sealed_ = false;
  std::chrono::milliseconds infer_deadline_{std::chrono::seconds(300)};
};

}  // namespace teesplit::serve
