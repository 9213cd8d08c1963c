// Conv (2-D, NCHW, grouped and depthwise): a direct convolution. Each OpenMP
// task owns one (image, output channel) plane; the innermost loop runs along a
// contiguous output row so that the compiler vectorizes it. Partial sums are
// float over a block of input channels and double across blocks.
#include "ops/conv.h"

#include <algorithm>
#include <vector>

#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {

ConvParams conv_params(const Attrs& attrs, const Shape& x, const Shape& w) {
  TS_CHECK(x.size() == 4, "Conv: only 2-D convolution is supported; input X must be 4-D NCHW, got ",
           shape_str(x));
  TS_CHECK(w.size() == 4, "Conv: weights W must be 4-D [M, C/group, kH, kW], got ", shape_str(w));
  TS_CHECK(shape_known(x) && shape_known(w), "Conv: unknown dimensions in X ", shape_str(x),
           " or W ", shape_str(w));
  ConvParams p;
  p.n = x[0];
  p.c = x[1];
  p.h = x[2];
  p.w = x[3];
  p.oc = w[0];
  p.kh = w[2];
  p.kw = w[3];
  p.group = attrs.get_int("group", 1);
  TS_CHECK(p.group >= 1, "Conv: group must be >= 1, got ", p.group);
  TS_CHECK(p.c % p.group == 0, "Conv: input channels ", p.c, " are not divisible by group ",
           p.group);
  TS_CHECK(w[1] * p.group == p.c, "Conv: input has ", p.c, " channels but weights expect ",
           w[1] * p.group, " (group ", p.group, ")");
  TS_CHECK(p.oc > 0 && p.oc % p.group == 0, "Conv: output channels ", p.oc,
           " must be a positive multiple of group ", p.group);
  if (attrs.has("kernel_shape")) {
    auto ks = attrs.get_ints("kernel_shape");
    TS_CHECK(ks.size() == 2 && ks[0] == p.kh && ks[1] == p.kw, "Conv: kernel_shape attribute [",
             ks.size() > 0 ? ks[0] : 0, ks.size() > 1 ? "," : "", ks.size() > 1 ? ks[1] : 0,
             "] does not match weights ", shape_str(w));
  }
  ops::Window2d win = ops::resolve_window("Conv", attrs, p.h, p.w, p.kh, p.kw, false);
  ops::apply_window(p, win);
  return p;
}

namespace {

// One output plane (image b, output channel o) of job = b * oc + o. `acc` and
// `total` are scratch of oh * ow elements. Compiled for AVX-512, AVX2 and the
// baseline, picked at load time, since the build targets the baseline ISA.
__attribute__((target_clones("avx512f", "avx2", "default"))) void conv_plane(
    const ConvParams& p, const float* x, const float* w, const float* bias, int64_t job, float* acc,
    double* total, float* yo) {
  constexpr int64_t kBlock = 8;       // input channels summed in float before a double flush
  const int64_t cg = p.c / p.group;   // input channels per group
  const int64_t og = p.oc / p.group;  // output channels per group
  const int64_t plane = p.oh * p.ow;
  const int64_t b = job / p.oc, o = job % p.oc, g = o / og;
  std::fill(total, total + plane, bias ? static_cast<double>(bias[o]) : 0.0);
  for (int64_t ic0 = 0; ic0 < cg; ic0 += kBlock) {
    std::fill(acc, acc + plane, 0.f);
    for (int64_t ic = ic0; ic < std::min(cg, ic0 + kBlock); ++ic) {
      const float* xin = x + ((b * p.c) + g * cg + ic) * p.h * p.w;
      const float* wk = w + (o * cg + ic) * p.kh * p.kw;
      for (int64_t ky = 0; ky < p.kh; ++ky) {
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          const float wv = wk[ky * p.kw + kx];
          // Output columns whose input column ox*sw + off is inside [0, w).
          const int64_t off = kx * p.dil_w - p.pad_left;
          const int64_t lo = off >= 0 ? 0 : (-off + p.stride_w - 1) / p.stride_w;
          const int64_t hi =
              p.w - 1 - off < 0 ? 0 : std::min(p.ow, (p.w - 1 - off) / p.stride_w + 1);
          if (lo >= hi) continue;
          const int64_t cnt = hi - lo;
          for (int64_t oy = 0; oy < p.oh; ++oy) {
            const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dil_h;
            if (iy < 0 || iy >= p.h) continue;
            float* a = acc + oy * p.ow + lo;
            const float* xr = xin + iy * p.w + off + lo * p.stride_w;
            if (p.stride_w == 1) {
#pragma omp simd
              for (int64_t i = 0; i < cnt; ++i) a[i] += wv * xr[i];
            } else {
              const int64_t sw = p.stride_w;
#pragma omp simd
              for (int64_t i = 0; i < cnt; ++i) a[i] += wv * xr[i * sw];
            }
          }
        }
      }
    }
    for (int64_t i = 0; i < plane; ++i) total[i] += acc[i];
  }
  for (int64_t i = 0; i < plane; ++i) yo[i] = static_cast<float>(total[i]);
}

}  // namespace

std::vector<TensorInfo> infer_conv(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Conv", in, 0, "X");
  const ValueInfo& w = ops::required("Conv", in, 1, "W");
  ops::expect_dtype("Conv", "X", x, {DType::F32});
  ops::expect_dtype("Conv", "W", w, {DType::F32});
  ConvParams p = conv_params(attrs, x.shape, w.shape);
  if (ops::has_input(in, 2)) {
    ops::expect_dtype("Conv", "B", in[2], {DType::F32});
    TS_CHECK(in[2].shape == Shape{p.oc}, "Conv: bias B must have shape [", p.oc, "], got ",
             shape_str(in[2].shape));
  }
  return {{DType::F32, p.out_shape()}};
}

std::vector<Tensor> run_conv(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  infer_conv(attrs, ops::infos_of(in));
  const ConvParams p = conv_params(attrs, in[0]->shape(), in[1]->shape());
  const float* x = in[0]->data<float>();
  const float* w = in[1]->data<float>();
  const float* bias = in.size() > 2 && in[2] ? in[2]->data<float>() : nullptr;
  Tensor out(DType::F32, p.out_shape());
  float* y = out.data<float>();

  const int64_t plane = p.oh * p.ow;
  // Tiny convolutions run on the calling thread: waking the team costs more.
#pragma omp parallel if (p.flops() > 1e6)
  {
    std::vector<float> acc(static_cast<size_t>(plane));
    std::vector<double> total(static_cast<size_t>(plane));
#pragma omp for schedule(dynamic)
    for (int64_t job = 0; job < p.n * p.oc; ++job)
      conv_plane(p, x, w, bias, job, acc.data(), total.data(), y + job * plane);
  }
  return {out};
}

}  // namespace teesplit
