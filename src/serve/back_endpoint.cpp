#include "serve/back_endpoint.h"

#include <algorithm>
#include <mutex>

#include "host/split_io.h"
#include "partition/split_dir.h"
#include "serve/kserve.h"

namespace teesplit::serve {

namespace {

// A Session is not thread-safe: one run at a time.
class LocalBack final : public BackEndpoint {
 public:
  LocalBack(std::unique_ptr<Session> s, BackendKind kind) : session_(std::move(s)), kind_(kind) {}
  Tensor run(const Tensor& features) override {
    TS_CHECK(features.dtype() == DType::F32, "the back partition takes FP32 feature maps");
    std::lock_guard<std::mutex> lock(mu_);
    return session_->run({features})[0];
  }
  Tensor batch_tensor(const Shape& shape) override {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t bytes = static_cast<size_t>(shape_numel(shape)) * sizeof(float);
    // One buffer, grown to the largest batch asked for; smaller batches use its start.
    if (!batch_buffer_ || batch_bytes_ < bytes) {
      batch_buffer_ = session_->host_buffer(bytes);
      batch_bytes_ = bytes;
    }
    return Tensor::adopt(DType::F32, shape, batch_buffer_);
  }
  int64_t padded_batch(int64_t n, int64_t max_batch) const override {
    int64_t p = 1;
    while (p < n) p *= 2;
    return std::min(p, std::max(n, max_batch));
  }
  std::string describe() const override { return backend_kind_name(kind_); }

 private:
  std::mutex mu_;
  std::shared_ptr<std::byte> batch_buffer_;  // batch_tensor()'s memory
  size_t batch_bytes_ = 0;
  std::unique_ptr<Session> session_;
  BackendKind kind_;
};

}  // namespace

std::unique_ptr<BackEndpoint> open_local_back(const std::string& split_dir,
                                              const SessionOptions& opts, SplitManifest* manifest) {
  auto opened = open_split_back(split_dir, opts);
  if (!opened) fail(opened.error());
  if (manifest) *manifest = opened->manifest;
  return std::make_unique<LocalBack>(std::move(opened->session), opts.backend);
}

std::unique_ptr<BackEndpoint> open_back(const std::string& back, const std::string& split_dir,
                                        const SessionOptions& opts, SplitManifest* manifest) {
  if (back.empty()) return open_local_back(split_dir, opts, manifest);
  // The host does not load back.onnx: the manifest (checked with the front) says
  // what the remote model must take.
  const SplitFiles files = read_split_files(split_dir, /*with_back=*/false);
  if (manifest) *manifest = files.manifest;
  return open_kserve_back(parse_kserve_address(back), files.manifest);
}

}  // namespace teesplit::serve
