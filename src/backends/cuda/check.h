// Internal to the CUDA backend: checks for every CUDA, cuDNN and cuBLAS call
// (the failing call's text, file:line and the library's error string become a
// teesplit::Error), and RAII owners of device resources.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>
#include <string>

#include "core/numbers.h"

namespace teesplit::cuda {

[[noreturn]] void fail_cuda(cudaError_t e, const char* call, const char* file, int line);
[[noreturn]] void fail_cudnn(cudnnStatus_t s, const char* call, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t s, const char* call, const char* file, int line);

#define TS_CUDA(call)                                                                        \
  do {                                                                                       \
    const cudaError_t ts_e_ = (call);                                                        \
    if (ts_e_ != cudaSuccess) ::teesplit::cuda::fail_cuda(ts_e_, #call, __FILE__, __LINE__); \
  } while (0)
#define TS_CUDNN(call)                                                \
  do {                                                                \
    const cudnnStatus_t ts_s_ = (call);                               \
    if (ts_s_ != CUDNN_STATUS_SUCCESS)                                \
      ::teesplit::cuda::fail_cudnn(ts_s_, #call, __FILE__, __LINE__); \
  } while (0)
#define TS_CUBLAS(call)                                                \
  do {                                                                 \
    const cublasStatus_t ts_s_ = (call);                               \
    if (ts_s_ != CUBLAS_STATUS_SUCCESS)                                \
      ::teesplit::cuda::fail_cublas(ts_s_, #call, __FILE__, __LINE__); \
  } while (0)

// "1.5 GiB"

// Device memory; throws Error("cuda: out of device memory allocating 1.5 GiB for
// <what> (...)") when cudaMalloc fails. Never throws from the destructor.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(size_t bytes, const std::string& what);
  ~DeviceMemory();
  DeviceMemory(DeviceMemory&& o) noexcept : p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; }
  DeviceMemory& operator=(DeviceMemory&& o) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* get() const { return p_; }
  std::byte* bytes_ptr() const { return static_cast<std::byte*>(p_); }
  size_t size() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory (cudaHostAlloc), for asynchronous copies.
class PinnedMemory {
 public:
  PinnedMemory() = default;
  PinnedMemory(size_t bytes, const std::string& what);
  ~PinnedMemory();
  PinnedMemory(PinnedMemory&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  PinnedMemory& operator=(PinnedMemory&& o) noexcept;
  PinnedMemory(const PinnedMemory&) = delete;
  PinnedMemory& operator=(const PinnedMemory&) = delete;
  std::byte* get() const { return static_cast<std::byte*>(p_); }

 private:
  void* p_ = nullptr;
};

// Owners of cuDNN descriptors (created in the constructor, checked).
class TensorDesc {
 public:
  TensorDesc();
  ~TensorDesc();
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  // Dense float NCHW.
  void set(int64_t n, int64_t c, int64_t h, int64_t w);
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

}  // namespace teesplit::cuda
