// Global average / max pooling, and 2-D pooling with ONNX window semantics for
// the cases cuDNN's symmetric-padding pooling cannot express.
#include "backends/cuda/act_device.cuh"
#include "backends/cuda/kernels.h"

namespace teesplit::cuda {
namespace {

constexpr int kWarp = 32;

// One warp per plane (EfficientNet's squeeze-excitation pools 7x7..112x112 maps
// of up to 1152 channels: many small planes).
__global__ void global_pool_kernel(const float* __restrict__ x, float* y, long long planes,
                                   long long area, bool is_max) {
  const long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (warp >= planes) return;
  const float* p = x + warp * area;
  float acc = is_max ? -INFINITY : 0.f;
  bool nan = false;
  for (long long i = lane; i < area; i += kWarp) {
    const float v = p[i];
    if (is_max) {
      nan |= v != v;
      acc = fmaxf(acc, v);
    } else {
      acc += v;
    }
  }
  for (int off = kWarp / 2; off > 0; off /= 2) {
    const float o = __shfl_down_sync(0xffffffffu, acc, off);
    acc = is_max ? fmaxf(acc, o) : acc + o;
  }
  const unsigned any_nan = __any_sync(0xffffffffu, nan);
  if (lane == 0) {
    if (is_max)
      y[warp] = any_nan ? NAN : acc;
    else
      y[warp] = area > 0 ? acc / static_cast<float>(area) : 0.f;
  }
}

__global__ void pool2d_kernel(const float* __restrict__ x, float* y, Pool2dShape p,
                              long long total) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(blockDim.x) * gridDim.x) {
    const long long ox = i % p.ow;
    const long long oy = (i / p.ow) % p.oh;
    const long long plane = i / (p.ow * p.oh);
    const float* xp = x + plane * p.h * p.w;
    const long long y0 = oy * p.sh - p.pt, x0 = ox * p.sw - p.pl;
    float best = -INFINITY, sum = 0.f;
    long long inside = 0, padded = 0;
    for (long long ky = 0; ky < p.kh; ++ky) {
      const long long iy = y0 + ky * p.dh;
      const bool row_in = iy >= 0 && iy < p.h;
      const bool row_pad = iy >= -p.pt && iy < p.h + p.pb;
      for (long long kx = 0; kx < p.kw; ++kx) {
        const long long ix = x0 + kx * p.dw;
        if (row_in && ix >= 0 && ix < p.w) {
          const float v = xp[iy * p.w + ix];
          if (v > best || v != v) best = (best != best) ? best : v;
          sum += v;
          ++inside;
        } else if (row_pad && ix >= -p.pl && ix < p.w + p.pr) {
          ++padded;
        }
      }
    }
    float r;
    if (p.max) {
      r = best;
    } else {
      const long long div = p.count_include_pad ? inside + padded : inside;
      r = div > 0 ? sum / static_cast<float>(div) : 0.f;
    }
    y[i] = r;
  }
}

}  // namespace

cudaError_t launch_global_pool(const float* x, float* y, int64_t planes, int64_t area, bool max,
                               cudaStream_t stream) {
  if (planes <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const long long blocks = (planes * kWarp + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
  global_pool_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(x, y, planes, area,
                                                                             max);
  return cudaGetLastError();
}

cudaError_t launch_pool2d(const float* x, float* y, const Pool2dShape& p, cudaStream_t stream) {
  const long long total = p.n * p.c * p.oh * p.ow;
  if (total <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  pool2d_kernel<<<grid_for(total, kThreads), kThreads, 0, stream>>>(x, y, p, total);
  return cudaGetLastError();
}

}  // namespace teesplit::cuda
