// Where the host runs the back partition: in this process on a local backend,
// or on a server that speaks the KServe v2 gRPC inference protocol (NVIDIA
// Triton, or `teesplit serve-back`; serve/kserve.h). The serving loop sees only
// this interface, so that a batching stage can hand it a batch of feature maps.
#pragma once

#include <memory>
#include <string>

#include "core/tensor.h"
#include "partition/manifest.h"
#include "runtime/session.h"

namespace teesplit::serve {

class BackEndpoint {
 public:
  virtual ~BackEndpoint() = default;
  // The back partition on a batch of feature maps: `features` is FP32
  // [N, d1, ...] (N >= 1, the rest the split's feature shape without its batch
  // dimension); the result is the back partition's output [N, ...]. Safe to
  // call from several threads. Throws Error, or serve::RemoteError (retryable()
  // for a server that is down or overloaded) for a remote endpoint.
  virtual Tensor run(const Tensor& features) = 0;
  // Memory to assemble batches of feature maps in before run(): the local
  // backend's fastest input memory (page-locked for CUDA: uploaded without a
  // staging copy). The batching stage holds a few such buffers and fills one
  // while run() works on another. Safe to call from several threads.
  virtual std::shared_ptr<std::byte> batch_memory(size_t bytes) { return aligned_buffer(bytes); }
  // The batch size to run n feature maps at (n <= max_batch), the rest rows of
  // zeros: a local backend compiles one executable per batch size, so batches
  // are padded to a power of two (or max_batch), which bounds the executables
  // to log2(max_batch) + 1; a remote server takes any size (n).
  virtual int64_t padded_batch(int64_t n, int64_t max_batch) const {
    (void)max_batch;
    return n;
  }
  // For logs and `info`: "onednn" or "kserve://HOST:PORT/MODEL".
  virtual std::string describe() const = 0;
};

// The back partition of the split in `split_dir` on opts.backend, in this
// process (every file checked against the manifest; the manifest is returned
// in *manifest when not null).
std::unique_ptr<BackEndpoint> open_local_back(const std::string& split_dir,
                                              const SessionOptions& opts,
                                              SplitManifest* manifest = nullptr);

// `back`: "" for open_local_back, else a kserve://HOST:PORT/MODEL address
// (serve/kserve.h: open_kserve_back), checked against the split's manifest.
std::unique_ptr<BackEndpoint> open_back(const std::string& back, const std::string& split_dir,
                                        const SessionOptions& opts, SplitManifest* manifest);

}  // namespace teesplit::serve
