// The KServe v2 gRPC inference protocol (proto/kserve/v2/inference.proto) on
// both sides: a client that runs the back partition on a remote model (NVIDIA
// Triton's ONNX Runtime backend, deploy/triton/, or `teesplit serve-back`), and
// the server behind `teesplit serve-back`, which serves a split's back
// partition. Only FP32 tensors are used: the feature map in, the back
// partition's output (logits) out.
//
// Wire choices (docs/deploy.md): the client sends the feature map as
// raw_input_contents (row-major little-endian bytes, what Triton recommends;
// no per-element encoding) and accepts outputs either as raw_output_contents or
// as contents.fp32_contents. The server accepts both forms of input and answers
// with raw_output_contents.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "partition/manifest.h"
#include "runtime/session.h"
#include "serve/back_endpoint.h"

namespace teesplit::serve {

// kserve://HOST:PORT/MODEL, with an optional /VERSION after the model.
struct KServeAddress {
  std::string target;  // HOST:PORT (a bracketed IPv6 host is kept as written)
  std::string model;
  std::string version;  // "": the server's choice
  std::string url() const;
};
// Throws Error saying what is wrong with the address.
KServeAddress parse_kserve_address(const std::string& url);

struct KServeTensor {
  std::string name, datatype;
  Shape shape;  // -1: a dimension of variable size
};

struct KServeModelMetadata {
  std::string name, platform;
  std::vector<std::string> versions;
  std::vector<KServeTensor> inputs, outputs;
};

struct KServeClientOptions {
  size_t max_message_bytes = size_t{1} << 30;
  int timeout_ms = 60000;  // per call
};

// A client of one model on one server. Failures throw serve::RemoteError
// naming the address, the call and the server's status; retryable() for
// UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED.
class KServeClient {
 public:
  explicit KServeClient(KServeAddress address, const KServeClientOptions& opts = {});
  ~KServeClient();
  const KServeAddress& address() const { return address_; }
  bool server_live();
  bool server_ready();
  bool model_ready();
  KServeModelMetadata model_metadata();
  // One FP32 input tensor to one named FP32 output: the output's shape as the
  // server gives it (checked against its bytes).
  Tensor infer(const std::string& input_name, const Tensor& input, const std::string& output_name);

 private:
  struct Impl;
  KServeAddress address_;
  std::unique_ptr<Impl> impl_;
};

// The back partition on a remote model. Opening checks that the server is live,
// the model ready, and that its metadata has one FP32 input named like the
// manifest's feature, of the feature's shape (the batch dimension may be -1),
// and one FP32 output; errors say which.
std::unique_ptr<BackEndpoint> open_kserve_back(const KServeAddress& address,
                                               const SplitManifest& manifest,
                                               const KServeClientOptions& opts = {});

struct BackServerOptions {
  std::string split_dir;
  std::string listen = "127.0.0.1:8001";  // port 0: any free port
  std::string model_name = "back";
  SessionOptions session;
  int64_t max_batch = 64;      // the largest batch one request may carry
  std::string server_version;  // ServerMetadata's version
};

// `teesplit serve-back`: the split's back partition (every file checked
// against the manifest) served as model `model_name`, version "1", over the
// KServe v2 gRPC protocol. ModelInfer checks the input's name, datatype and
// shape (INVALID_ARGUMENT saying which is wrong); an unknown model or version
// is NOT_FOUND.
class BackServer {
 public:
  explicit BackServer(const BackServerOptions& opts);  // loads, warms up, listens
  ~BackServer();
  const std::string& address() const;  // "HOST:PORT" as bound
  void wait();
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace teesplit::serve
