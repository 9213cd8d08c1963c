// Activations and the conv epilogue (bias + residual + activation) as CUDA kernels.
#include "backends/cuda/act_device.cuh"
#include "backends/cuda/kernels.h"

namespace teesplit::cuda {
namespace {

template <class Index>
__global__ void activation_kernel(const float* __restrict__ x, float* y, Index n, Act kind, float a,
                                  float b) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x)
    y[i] = apply_act(kind, a, b, x[i]);
}

// y [n, c, inner]: y = act(y + bias[ch] + z).
template <class Index>
__global__ void bias_act_kernel(float* y, const float* __restrict__ bias,
                                const float* __restrict__ z, Index total, Index c, Index inner,
                                Act kind, float a, float b) {
  for (Index i = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<Index>(blockDim.x) * gridDim.x) {
    float v = y[i];
    if (bias) v += bias[(i / inner) % c];
    if (z) v += z[i];
    y[i] = apply_act(kind, a, b, v);
  }
}

constexpr int kThreads = 256;
constexpr long long kInt32Limit = 0x7fffffffLL - 2LL * (1LL << 20) * kThreads;

}  // namespace

cudaError_t launch_activation(const float* x, float* y, int64_t n, ActSpec act,
                              cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const unsigned grid = grid_for(n, kThreads);
  if (n < kInt32Limit)
    activation_kernel<int>
        <<<grid, kThreads, 0, stream>>>(x, y, static_cast<int>(n), act.kind, act.a, act.b);
  else
    activation_kernel<long long><<<grid, kThreads, 0, stream>>>(x, y, n, act.kind, act.a, act.b);
  return cudaGetLastError();
}

cudaError_t launch_bias_act(float* y, const float* bias, const float* z, int64_t n, int64_t c,
                            int64_t inner, ActSpec act, cudaStream_t stream) {
  const long long total = n * c * inner;
  if (total <= 0) return cudaSuccess;
  const unsigned grid = grid_for(total, kThreads);
  if (total < kInt32Limit)
    bias_act_kernel<int>
        <<<grid, kThreads, 0, stream>>>(y, bias, z, static_cast<int>(total), static_cast<int>(c),
                                        static_cast<int>(inner), act.kind, act.a, act.b);
  else
    bias_act_kernel<long long>
        <<<grid, kThreads, 0, stream>>>(y, bias, z, total, c, inner, act.kind, act.a, act.b);
  return cudaGetLastError();
}

}  // namespace teesplit::cuda
