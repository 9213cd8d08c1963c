// Add, Sub, Mul, Div with numpy broadcasting (strides of 0) and an optional
// fused activation. The planner collapses dims first, so the common cases are
// 1-D (same shapes) and 2-D (the squeeze-excitation channel scale, a bias row).
#include "backends/cuda/act_device.cuh"
#include "backends/cuda/kernels.h"

namespace teesplit::cuda {
namespace {

__device__ __forceinline__ float binop(BinOp op, float a, float b) {
  switch (op) {
    case BinOp::Add:
      return a + b;
    case BinOp::Sub:
      return a - b;
    case BinOp::Mul:
      return a * b;
    case BinOp::Div:
      return a / b;
  }
  return a;
}

template <class Index>
__global__ void binary_same_kernel(const float* a, const float* b, float* y, Index n, BinOp op,
                                   Act kind, float p, float q) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x)
    y[i] = apply_act(kind, p, q, binop(op, a[i], b[i]));
}

// Output [rows, cols]: a and b indexed by (row * s0 + col * s1).
template <class Index>
__global__ void binary_2d_kernel(const float* a, const float* b, float* y, Index rows, Index cols,
                                 Index as0, Index as1, Index bs0, Index bs1, BinOp op, Act kind,
                                 float p, float q) {
  const Index n = rows * cols;
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x) {
    const Index r = i / cols, c = i - r * cols;
    y[i] = apply_act(kind, p, q, binop(op, a[r * as0 + c * as1], b[r * bs0 + c * bs1]));
  }
}

template <class Index>
__global__ void binary_nd_kernel(const float* a, const float* b, float* y, Index n,
                                 BinaryShape shape, BinOp op, Act kind, float p, float q) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x) {
    Index rest = i, ia = 0, ib = 0;
    for (int d = shape.ndim - 1; d >= 0; --d) {
      const Index dim = static_cast<Index>(shape.dims[d]);
      const Index k = rest % dim;
      rest /= dim;
      ia += k * static_cast<Index>(shape.a_stride[d]);
      ib += k * static_cast<Index>(shape.b_stride[d]);
    }
    y[i] = apply_act(kind, p, q, binop(op, a[ia], b[ib]));
  }
}

constexpr int kThreads = 256;
constexpr long long kInt32Limit = 0x7fffffffLL - 2LL * (1LL << 20) * kThreads;

template <class Index>
void launch_typed(const float* a, const float* b, float* y, const BinaryShape& s, long long n,
                  BinOp op, ActSpec act, cudaStream_t stream) {
  const unsigned grid = grid_for(n, kThreads);
  bool same = s.ndim == 1 && s.a_stride[0] == 1 && s.b_stride[0] == 1;
  if (same) {
    binary_same_kernel<Index>
        <<<grid, kThreads, 0, stream>>>(a, b, y, static_cast<Index>(n), op, act.kind, act.a, act.b);
  } else if (s.ndim <= 2) {
    const int o = s.ndim == 2 ? 1 : 0;  // 1-D: rows = 1
    const Index rows = s.ndim == 2 ? static_cast<Index>(s.dims[0]) : 1;
    const Index cols = static_cast<Index>(s.dims[o]);
    binary_2d_kernel<Index><<<grid, kThreads, 0, stream>>>(
        a, b, y, rows, cols, s.ndim == 2 ? static_cast<Index>(s.a_stride[0]) : 0,
        static_cast<Index>(s.a_stride[o]), s.ndim == 2 ? static_cast<Index>(s.b_stride[0]) : 0,
        static_cast<Index>(s.b_stride[o]), op, act.kind, act.a, act.b);
  } else {
    binary_nd_kernel<Index><<<grid, kThreads, 0, stream>>>(a, b, y, static_cast<Index>(n), s, op,
                                                           act.kind, act.a, act.b);
  }
}

}  // namespace

cudaError_t launch_binary(const float* a, const float* b, float* y, const BinaryShape& shape,
                          BinOp op, ActSpec act, cudaStream_t stream) {
  if (shape.ndim < 1 || shape.ndim > kMaxBinaryDims) return cudaErrorInvalidValue;
  long long n = 1;
  for (int d = 0; d < shape.ndim; ++d) n *= shape.dims[d];
  if (n <= 0) return cudaSuccess;
  if (n < kInt32Limit)
    launch_typed<int>(a, b, y, shape, n, op, act, stream);
  else
    launch_typed<long long>(a, b, y, shape, n, op, act, stream);
  return cudaGetLastError();
}

}  // namespace teesplit::cuda
