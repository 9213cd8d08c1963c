// Elementwise operators: float activations (Relu, Clip, Sigmoid, HardSigmoid,
// HardSwish, LeakyRelu, Tanh, Exp, Sqrt, Neg) and the broadcasting binary
// arithmetic operators Add, Sub, Mul, Div for float32, int64 and int32.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/broadcast.h"
#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {

std::vector<TensorInfo> infer_unary_float(const Attrs&, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("elementwise operator", in, 0, "X");
  ops::expect_dtype("elementwise operator", "X", x, {DType::F32});
  ops::expect_known("elementwise operator", "X", x);
  return {{DType::F32, x.shape}};
}

namespace {

template <class F>
std::vector<Tensor> unary_float(const std::vector<const Tensor*>& in, F f) {
  infer_unary_float(Attrs(), ops::infos_of(in));
  const Tensor& x = *in[0];
  Tensor out(DType::F32, x.shape());
  const float* a = x.data<float>();
  float* y = out.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > (1 << 18))
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i]);
  return {out};
}

// Wrapping integer arithmetic (no undefined behaviour on overflow).
template <class T>
T wrap_add(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <class T>
T wrap_sub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <class T>
T wrap_mul(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}

enum class BinOp { kAdd, kSub, kMul, kDiv, kMax, kMin };

template <class T>
Tensor binary_typed(const Tensor& a, const Tensor& b, const Shape& out_shape, BinOp op,
                    const char* name) {
  Tensor out(a.dtype(), out_shape);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* y = out.data<T>();
  std::array<std::vector<int64_t>, 2> st = {broadcast_strides(a.shape(), out_shape, name),
                                            broadcast_strides(b.shape(), out_shape, name)};
  broadcast_loop<2>(
      out_shape, st,
      [&](int64_t o, const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& inner,
          int64_t len) {
        const T* xa = pa + off[0];
        const T* xb = pb + off[1];
        T* yo = y + o;
        const int64_t sa = inner[0], sb = inner[1];
        switch (op) {
          case BinOp::kAdd:
            for (int64_t i = 0; i < len; ++i) {
              if constexpr (std::is_floating_point_v<T>) {
                yo[i] = xa[i * sa] + xb[i * sb];
              } else {
                yo[i] = wrap_add(xa[i * sa], xb[i * sb]);
              }
            }
            break;
          case BinOp::kSub:
            for (int64_t i = 0; i < len; ++i) {
              if constexpr (std::is_floating_point_v<T>) {
                yo[i] = xa[i * sa] - xb[i * sb];
              } else {
                yo[i] = wrap_sub(xa[i * sa], xb[i * sb]);
              }
            }
            break;
          case BinOp::kMul:
            for (int64_t i = 0; i < len; ++i) {
              if constexpr (std::is_floating_point_v<T>) {
                yo[i] = xa[i * sa] * xb[i * sb];
              } else {
                yo[i] = wrap_mul(xa[i * sa], xb[i * sb]);
              }
            }
            break;
          case BinOp::kDiv:
            for (int64_t i = 0; i < len; ++i) {
              if constexpr (std::is_floating_point_v<T>) {
                yo[i] = xa[i * sa] / xb[i * sb];
              } else {
                // Integer division truncates toward zero, as in C and ONNX Runtime.
                const T num = xa[i * sa], den = xb[i * sb];
                TS_CHECK(den != 0, name, ": integer division by zero");
                yo[i] = (num == std::numeric_limits<T>::min() && den == -1) ? num : num / den;
              }
            }
            break;
          case BinOp::kMax:
          case BinOp::kMin:
            // NaN propagates, as in numpy.maximum and torch.maximum.
            for (int64_t i = 0; i < len; ++i) {
              const T va = xa[i * sa], vb = xb[i * sb];
              if constexpr (std::is_floating_point_v<T>) {
                if (va != va || vb != vb) {
                  yo[i] = std::numeric_limits<T>::quiet_NaN();
                  continue;
                }
              }
              yo[i] = op == BinOp::kMax ? std::max(va, vb) : std::min(va, vb);
            }
            break;
        }
      });
  return out;
}

std::vector<Tensor> run_binary(const std::vector<const Tensor*>& in, BinOp op, const char* name) {
  Attrs none;
  std::vector<TensorInfo> info = infer_binary_arith(none, ops::infos_of(in));
  const Tensor& a = *in[0];
  const Tensor& b = *in[1];
  switch (a.dtype()) {
    case DType::F32:
      return {binary_typed<float>(a, b, info[0].shape, op, name)};
    case DType::I64:
      return {binary_typed<int64_t>(a, b, info[0].shape, op, name)};
    case DType::I32:
      return {binary_typed<int32_t>(a, b, info[0].shape, op, name)};
    default:
      fail(name, ": unsupported type ", dtype_name(a.dtype()));
  }
}

}  // namespace

std::vector<Tensor> run_relu(const Attrs&, const std::vector<const Tensor*>& in) {
  return unary_float(in, [](float v) { return v > 0.f ? v : 0.f; });
}

std::vector<Tensor> run_sigmoid(const Attrs&, const std::vector<const Tensor*>& in) {
  return unary_float(in, [](float v) { return 1.f / (1.f + std::exp(-v)); });
}

std::vector<Tensor> run_hard_sigmoid(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  const float alpha = attrs.get_float("alpha", 0.2f), beta = attrs.get_float("beta", 0.5f);
  return unary_float(in, [=](float v) { return std::clamp(alpha * v + beta, 0.f, 1.f); });
}

std::vector<Tensor> run_hard_swish(const Attrs&, const std::vector<const Tensor*>& in) {
  return unary_float(in, [](float v) { return v * std::clamp(v / 6.f + 0.5f, 0.f, 1.f); });
}

std::vector<Tensor> run_leaky_relu(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  const float alpha = attrs.get_float("alpha", 0.01f);
  return unary_float(in, [=](float v) { return v >= 0.f ? v : alpha * v; });
}

std::vector<Tensor> run_tanh(const Attrs&, const std::vector<const Tensor*>& in) {
  return unary_float(in, [](float v) { return std::tanh(v); });
}

std::vector<Tensor> run_exp(const Attrs&, const std::vector<const Tensor*>& in) {
  return unary_float(in, [](float v) { return std::exp(v); });
}

std::vector<Tensor> run_sqrt(const Attrs&, const std::vector<const Tensor*>& in) {
  return unary_float(in, [](float v) { return std::sqrt(v); });
}

std::vector<Tensor> run_neg(const Attrs&, const std::vector<const Tensor*>& in) {
  return unary_float(in, [](float v) { return -v; });
}

// Clip: bounds from the optional inputs min and max (opset 11+), else from the
// attributes min and max (opset 6 models); absent bounds are infinite.
std::vector<TensorInfo> infer_clip(const Attrs&, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Clip", in, 0, "input");
  ops::expect_dtype("Clip", "input", x, {DType::F32});
  ops::expect_known("Clip", "input", x);
  for (size_t i = 1; i < 3; ++i) {
    if (!ops::has_input(in, i)) continue;
    const char* name = i == 1 ? "min" : "max";
    ops::expect_dtype("Clip", name, in[i], {DType::F32});
    ops::expect_known("Clip", name, in[i]);
  }
  return {{DType::F32, x.shape}};
}

std::vector<Tensor> run_clip(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  infer_clip(attrs, ops::infos_of(in));
  float lo = attrs.get_float("min", -std::numeric_limits<float>::infinity());
  float hi = attrs.get_float("max", std::numeric_limits<float>::infinity());
  for (size_t i = 1; i < 3 && i < in.size(); ++i) {
    if (!in[i]) continue;
    TS_CHECK(in[i]->numel() == 1, "Clip: ", i == 1 ? "min" : "max", " must be a scalar, got shape ",
             shape_str(in[i]->shape()));
    (i == 1 ? lo : hi) = in[i]->data<float>()[0];
  }
  return unary_float(in, [=](float v) { return std::min(std::max(v, lo), hi); });
}

std::vector<TensorInfo> infer_binary_arith(const Attrs&, const std::vector<ValueInfo>& in) {
  const ValueInfo& a = ops::required("binary operator", in, 0, "A");
  const ValueInfo& b = ops::required("binary operator", in, 1, "B");
  ops::expect_dtype("binary operator", "A", a, {DType::F32, DType::I64, DType::I32});
  TS_CHECK(a.dtype == b.dtype, "binary operator: inputs have different types ", dtype_name(a.dtype),
           " and ", dtype_name(b.dtype));
  return {{a.dtype, broadcast_shapes(a.shape, b.shape, "binary operator")}};
}

std::vector<Tensor> run_add(const Attrs&, const std::vector<const Tensor*>& in) {
  return run_binary(in, BinOp::kAdd, "Add");
}
std::vector<Tensor> run_sub(const Attrs&, const std::vector<const Tensor*>& in) {
  return run_binary(in, BinOp::kSub, "Sub");
}
std::vector<Tensor> run_mul(const Attrs&, const std::vector<const Tensor*>& in) {
  return run_binary(in, BinOp::kMul, "Mul");
}
std::vector<Tensor> run_div(const Attrs&, const std::vector<const Tensor*>& in) {
  return run_binary(in, BinOp::kDiv, "Div");
}

// Max, Min: one or more inputs of one type, broadcast together.
std::vector<TensorInfo> infer_min_max(const Attrs&, const std::vector<ValueInfo>& in) {
  const ValueInfo& first = ops::required("Max/Min", in, 0, "data_0");
  ops::expect_dtype("Max/Min", "data_0", first, {DType::F32, DType::I64, DType::I32});
  Shape shape = first.shape;
  for (size_t i = 1; i < in.size(); ++i) {
    const ValueInfo& x = ops::required("Max/Min", in, i, "data_i");
    TS_CHECK(x.dtype == first.dtype, "Max/Min: inputs have different types ",
             dtype_name(first.dtype), " and ", dtype_name(x.dtype));
    shape = broadcast_shapes(shape, x.shape, "Max/Min");
  }
  return {{first.dtype, shape}};
}

namespace {

std::vector<Tensor> run_variadic(const std::vector<const Tensor*>& in, BinOp op, const char* name) {
  Attrs none;
  infer_min_max(none, ops::infos_of(in));
  Tensor acc = in[0]->clone();
  for (size_t i = 1; i < in.size(); ++i) acc = run_binary({&acc, in[i]}, op, name)[0];
  return {std::move(acc)};
}

}  // namespace

std::vector<Tensor> run_max(const Attrs&, const std::vector<const Tensor*>& in) {
  return run_variadic(in, BinOp::kMax, "Max");
}
std::vector<Tensor> run_min(const Attrs&, const std::vector<const Tensor*>& in) {
  return run_variadic(in, BinOp::kMin, "Min");
}

}  // namespace teesplit
