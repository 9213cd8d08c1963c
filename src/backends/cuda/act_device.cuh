// Device-side evaluation of an ActSpec (included by the .cu files only).
#pragma once

#include "backends/cuda/act.h"

namespace teesplit::cuda {

__device__ __forceinline__ float apply_act(Act kind, float a, float b, float x) {
  switch (kind) {
    case Act::None:
      return x;
    case Act::Relu:
      return x > 0.f ? x : 0.f;
    case Act::LeakyRelu:
      return x < 0.f ? a * x : x;
    case Act::Clip:
      return x != x ? x : fminf(fmaxf(x, a), b);
    case Act::Sigmoid:
      return 1.f / (1.f + expf(-x));
    case Act::HardSigmoid:
      return fmaxf(0.f, fminf(1.f, a * x + b));
    case Act::HardSwish:
      return x * fmaxf(0.f, fminf(1.f, x * (1.f / 6.f) + 0.5f));
    case Act::SiLU:
      return x / (1.f + expf(-x));
    case Act::Tanh:
      return tanhf(x);
    case Act::Exp:
      return expf(x);
    case Act::Neg:
      return -x;
    case Act::Sqrt:
      return sqrtf(x);
  }
  return x;
}

// Grid size for a grid-stride loop over n elements with `threads` per block.
inline unsigned grid_for(long long n, int threads) {
  long long blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > (1LL << 20)) blocks = 1LL << 20;
  return static_cast<unsigned>(blocks);
}

}  // namespace teesplit::cuda
