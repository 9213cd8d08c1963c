// MaxPool, AveragePool (NCHW, 2-D) and GlobalAveragePool / GlobalMaxPool (any
// rank >= 3). Windows follow ONNX Runtime and PyTorch: with ceil_mode a last
// window that would start in the end padding is dropped; AveragePool divides by
// the taps inside the input, or, with count_include_pad, by the taps inside the
// padded input.
#include "ops/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {

PoolParams pool_params_for(const char* op, const Attrs& attrs, const Shape& x) {
  TS_CHECK(x.size() == 4, op, ": only 2-D pooling is supported; input X must be 4-D NCHW, got ",
           shape_str(x));
  TS_CHECK(shape_known(x), op, ": input X has unknown dimensions ", shape_str(x));
  TS_CHECK(attrs.has("kernel_shape"), op, ": required attribute kernel_shape is missing");
  auto ks = attrs.get_ints("kernel_shape");
  TS_CHECK(ks.size() == 2, op, ": kernel_shape must have 2 values for 2-D, got ", ks.size());
  PoolParams p;
  p.n = x[0];
  p.c = x[1];
  p.h = x[2];
  p.w = x[3];
  p.kh = ks[0];
  p.kw = ks[1];
  p.ceil_mode = attrs.get_int("ceil_mode", 0) != 0;
  p.count_include_pad = attrs.get_int("count_include_pad", 0) != 0;
  ops::Window2d win = ops::resolve_window(op, attrs, p.h, p.w, p.kh, p.kw, p.ceil_mode);
  ops::apply_window(p, win);
  return p;
}

std::vector<TensorInfo> infer_pool(const char* op, const Attrs& attrs,
                                   const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required(op, in, 0, "X");
  ops::expect_dtype(op, "X", x, {DType::F32});
  return {{DType::F32, pool_params_for(op, attrs, x.shape).out_shape()}};
}

// Runs a 2-D pooling with `max` or average semantics.
Tensor pool2d(const PoolParams& p, const Tensor& x, bool is_max) {
  Tensor out(DType::F32, p.out_shape());
  const float* xd = x.data<float>();
  float* yd = out.data<float>();
  const int64_t planes = p.n * p.c;
#pragma omp parallel for schedule(static) if (planes * p.oh * p.ow * p.kh * p.kw > (1 << 18))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = xd + pl * p.h * p.w;
    float* yp = yd + pl * p.oh * p.ow;
    for (int64_t oy = 0; oy < p.oh; ++oy) {
      for (int64_t ox = 0; ox < p.ow; ++ox) {
        const int64_t y0 = oy * p.stride_h - p.pad_top, x0 = ox * p.stride_w - p.pad_left;
        float best = -std::numeric_limits<float>::infinity();
        double sum = 0;
        int64_t inside = 0, padded = 0;  // taps in the input / in the padded input
        for (int64_t ky = 0; ky < p.kh; ++ky) {
          const int64_t iy = y0 + ky * p.dil_h;
          const bool row_in = iy >= 0 && iy < p.h;
          const bool row_pad = iy >= -p.pad_top && iy < p.h + p.pad_bottom;
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t ix = x0 + kx * p.dil_w;
            if (row_in && ix >= 0 && ix < p.w) {
              const float v = xp[iy * p.w + ix];
              best = std::max(best, v);
              if (std::isnan(v)) best = v;
              sum += v;
              ++inside;
            } else if (row_pad && ix >= -p.pad_left && ix < p.w + p.pad_right) {
              ++padded;
            }
          }
        }
        float r;
        if (is_max) {
          r = best;
        } else {
          const int64_t div = p.count_include_pad ? inside + padded : inside;
          r = div > 0 ? static_cast<float>(sum / static_cast<double>(div)) : 0.f;
        }
        yp[oy * p.ow + ox] = r;
      }
    }
  }
  return out;
}

}  // namespace

PoolParams pool_params(const Attrs& attrs, const Shape& x) {
  return pool_params_for("pooling", attrs, x);
}

std::vector<TensorInfo> infer_max_pool(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  return infer_pool("MaxPool", attrs, in);
}

std::vector<Tensor> run_max_pool(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  infer_pool("MaxPool", attrs, ops::infos_of(in));
  return {pool2d(pool_params_for("MaxPool", attrs, in[0]->shape()), *in[0], true)};
}

std::vector<TensorInfo> infer_average_pool(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  return infer_pool("AveragePool", attrs, in);
}

std::vector<Tensor> run_average_pool(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  infer_pool("AveragePool", attrs, ops::infos_of(in));
  return {pool2d(pool_params_for("AveragePool", attrs, in[0]->shape()), *in[0], false)};
}

std::vector<TensorInfo> infer_global_pool(const Attrs&, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("global pooling", in, 0, "X");
  ops::expect_dtype("global pooling", "X", x, {DType::F32});
  TS_CHECK(x.shape.size() >= 3,
           "global pooling: input X must have rank >= 3 (N, C, spatial...), got ",
           shape_str(x.shape));
  ops::expect_known("global pooling", "X", x);
  Shape out = x.shape;
  for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  return {{DType::F32, out}};
}

namespace {
std::vector<Tensor> global_pool(const std::vector<const Tensor*>& in, bool is_max) {
  auto info = infer_global_pool(Attrs(), ops::infos_of(in));
  const Tensor& x = *in[0];
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const int64_t area = ops::dims_product(x.shape(), 2, x.shape().size());
  TS_CHECK(area > 0 || !is_max, "GlobalMaxPool: the spatial size is zero");
  Tensor out(DType::F32, info[0].shape);
  const float* xd = x.data<float>();
  float* yd = out.data<float>();
#pragma omp parallel for schedule(static) if (planes * area > (1 << 16))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = xd + pl * area;
    if (is_max) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < area; ++i) best = std::isnan(xp[i]) ? xp[i] : std::max(best, xp[i]);
      yd[pl] = best;
    } else {
      double sum = 0;
      for (int64_t i = 0; i < area; ++i) sum += xp[i];
      yd[pl] = area > 0 ? static_cast<float>(sum / static_cast<double>(area)) : 0.f;
    }
  }
  return {out};
}
}  // namespace

std::vector<Tensor> run_global_average_pool(const Attrs&, const std::vector<const Tensor*>& in) {
  return global_pool(in, false);
}

std::vector<Tensor> run_global_max_pool(const Attrs&, const std::vector<const Tensor*>& in) {
  return global_pool(in, true);
}

}  // namespace teesplit
