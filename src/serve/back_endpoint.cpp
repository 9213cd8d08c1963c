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
  // The backend's fastest input memory; Session::host_buffer touches no session
  // state, so it needs no lock (and must not wait for a running batch).
  std::shared_ptr<std::byte> batch_memory(size_t bytes) override {
    return session_->host_buffer(bytes);
  }
  int64_t padded_batch(int64_t n, int64_t max_batch) const override {
    int64_t p = 1;
    while (p < n) p *= 2;
    return std::min(p, std::max(n, max_batch));
  }
  std::string describe() const override { return backend_kind_name(kind_); }

 private:
  std::mutex mu_;
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
