#include "backends/cuda/check.h"

#include <climits>
#include <cstring>

#include "core/error.h"

namespace teesplit::cuda {
namespace {

// "src/backends/cuda/conv.cpp" from a full path; the call text cut at 160 chars.
std::string site(const char* call, const char* file, int line) {
  const char* f = std::strstr(file, "src/backends/");
  std::string c = call;
  if (c.size() > 160) c = c.substr(0, 157) + "...";
  return detail::concat(c, " failed at ", f ? f : file, ":", line);
}

}  // namespace

void fail_cuda(cudaError_t e, const char* call, const char* file, int line) {
  // A failed runtime call also sets the thread's last error; unless it is taken
  // here, the next kernel launch's cudaGetLastError() reports it as its own
  // (a device check saw cudaSetDevice(9999)'s "invalid device ordinal" come back
  // from an activation launch). Sticky errors stay: the context is lost then.
  cudaGetLastError();
  fail("cuda: ", site(call, file, line), ": ", cudaGetErrorString(e), " (", cudaGetErrorName(e),
       ")");
}

void fail_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) {
  char detail_msg[512] = {0};
  cudnnGetLastErrorString(detail_msg, sizeof(detail_msg));
  fail("cuda: ", site(call, file, line), ": ", cudnnGetErrorString(s),
       detail_msg[0] ? std::string(" (") + detail_msg + ")" : std::string());
}

void fail_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  fail("cuda: ", site(call, file, line), ": ", cublasGetStatusName(s), " (",
       cublasGetStatusString(s), ")");
}

DeviceMemory::DeviceMemory(size_t bytes, const std::string& what) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t e = cudaMalloc(&p_, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the (non-sticky) error
    p_ = nullptr;
    size_t free_b = 0, total_b = 0;
    std::string mem;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
      mem = " (" + human_bytes(free_b) + " free of " + human_bytes(total_b) + ")";
    fail("cuda: out of device memory allocating ", human_bytes(bytes), " (", bytes, " bytes) for ",
         what, mem);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    p_ = nullptr;
    fail("cuda: cudaMalloc of ", human_bytes(bytes), " for ", what,
         " failed: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
  }
}

DeviceMemory::~DeviceMemory() {
  if (p_) cudaFree(p_);
}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& o) noexcept {
  if (this != &o) {
    if (p_) cudaFree(p_);
    p_ = o.p_;
    bytes_ = o.bytes_;
    o.p_ = nullptr;
  }
  return *this;
}

PinnedMemory::PinnedMemory(size_t bytes, const std::string& what) {
  if (bytes == 0) return;
  const cudaError_t e = cudaHostAlloc(&p_, bytes, cudaHostAllocDefault);
  if (e != cudaSuccess) {
    cudaGetLastError();
    p_ = nullptr;
    fail("cuda: cannot allocate ", human_bytes(bytes), " of pinned host memory for ", what, ": ",
         cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
  }
}

PinnedMemory::~PinnedMemory() {
  if (p_) cudaFreeHost(p_);
}

PinnedMemory& PinnedMemory::operator=(PinnedMemory&& o) noexcept {
  if (this != &o) {
    if (p_) cudaFreeHost(p_);
    p_ = o.p_;
    o.p_ = nullptr;
  }
  return *this;
}

TensorDesc::TensorDesc() {
  TS_CUDNN(cudnnCreateTensorDescriptor(&d_));
}

TensorDesc::~TensorDesc() {
  if (d_) cudnnDestroyTensorDescriptor(d_);
}

void TensorDesc::set(int64_t n, int64_t c, int64_t h, int64_t w) {
  TS_CHECK(n <= INT_MAX && c <= INT_MAX && h <= INT_MAX && w <= INT_MAX && n * c * h * w <= INT_MAX,
           "cuda: tensor [", n, ",", c, ",", h, ",", w, "] is too large for cuDNN");
  TS_CUDNN(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(n),
                                      static_cast<int>(c), static_cast<int>(h),
                                      static_cast<int>(w)));
}

}  // namespace teesplit::cuda
