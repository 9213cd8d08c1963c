// Zero padding of NCHW maps, for convolutions with asymmetric pads (cuDNN's
// legacy convolution takes one pad per side pair).
#include "backends/cuda/act_device.cuh"
#include "backends/cuda/kernels.h"

namespace teesplit::cuda {
namespace {

__global__ void pad2d_kernel(const float* __restrict__ x, float* y, long long planes, long long h,
                             long long w, long long pt, long long pl, long long oh, long long ow) {
  const long long total = planes * oh * ow;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(blockDim.x) * gridDim.x) {
    const long long ox = i % ow, oy = (i / ow) % oh, plane = i / (ow * oh);
    const long long iy = oy - pt, ix = ox - pl;
    y[i] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[(plane * h + iy) * w + ix] : 0.f;
  }
}

}  // namespace

cudaError_t launch_pad2d(const float* x, float* y, int64_t n, int64_t c, int64_t h, int64_t w,
                         int64_t pt, int64_t pl, int64_t pb, int64_t pr, cudaStream_t stream) {
  const long long oh = h + pt + pb, ow = w + pl + pr, total = n * c * oh * ow;
  if (total <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  pad2d_kernel<<<grid_for(total, kThreads), kThreads, 0, stream>>>(x, y, n * c, h, w, pt, pl, oh,
                                                                   ow);
  return cudaGetLastError();
}

}  // namespace teesplit::cuda
