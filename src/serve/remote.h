// The client's transport to `teesplit serve`: gRPC calls carrying the
// messages of client/client.h. Errors are RemoteError, whose retryable() says
// whether attesting again and retrying can succeed (a restarted worker).
#pragma once

#include <memory>
#include <string>

#include "client/client.h"
#include "core/error.h"

namespace teesplit::serve {

class RemoteError : public Error {
 public:
  RemoteError(const std::string& msg, bool retryable) : Error(msg), retryable_(retryable) {}
  bool retryable() const { return retryable_; }

 private:
  bool retryable_;
};

struct RemoteInfo {
  crypto::Bytes32 measurement{};
  bool provisioned = false;
  bool insecure = false;
  std::string lockdown;
  Shape input_shape, output_shape;
  unsigned workers = 0;
  std::string back_backend;
};

struct RemoteResult {
  Tensor output;
  uint64_t front_us = 0, back_us = 0;  // the server's stage times
};

class RemoteEnclave {
 public:
  // address: HOST:PORT; max_message_bytes bounds what the client accepts.
  explicit RemoteEnclave(const std::string& address, size_t max_message_bytes = size_t{256} << 20);
  ~RemoteEnclave();
  RemoteInfo info();
  // Attests a fresh session; the verdict says whether it was accepted.
  attest::Verdict attest(client::Attestation& a, const attest::Policy& policy);
  Tensor infer(client::Attestation& a, const Tensor& input, RemoteResult* timings = nullptr);
  std::string provision(client::Attestation& a, std::span<const uint8_t> front_key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace teesplit::serve
