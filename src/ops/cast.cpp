// Cast between float32, int64, int32, uint8 and bool. "to" is an ONNX
// TensorProto data type code. Float to integer truncates toward zero; NaN
// becomes 0 and out-of-range values saturate (C++ would be undefined there).
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {

namespace {
template <class T>
T float_to_int(double v) {
  if (std::isnan(v)) return 0;
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::min());
  constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
  if (v <= lo) return std::numeric_limits<T>::min();
  if (v >= hi) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

template <class T>
void cast_to(const Tensor& x, T* y) {
  const int64_t n = x.numel();
  if (x.dtype() == DType::F32) {
    const float* a = x.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, float>) {
        y[i] = a[i];
      } else {
        y[i] = float_to_int<T>(a[i]);
      }
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = x.as_int(i);
    y[i] = static_cast<T>(v);  // integer narrowing wraps (two's complement)
  }
}
}  // namespace

std::vector<TensorInfo> infer_cast(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Cast", in, 0, "input");
  TS_CHECK(attrs.has("to"), "Cast: required attribute to is missing");
  const int64_t to = attrs.get_int("to");
  const std::optional<DType> dt = dtype_from_onnx(to);
  TS_CHECK(dt, "ONNX data type ", to, " is not supported (float, uint8, int32, int64, bool)");
  return {{*dt, x.shape}};
}

std::vector<Tensor> run_cast(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  auto info = infer_cast(attrs, ops::infos_of(in));
  const Tensor& x = *in[0];
  Tensor out(info[0].dtype, info[0].shape);
  switch (info[0].dtype) {
    case DType::F32: {
      float* y = out.data<float>();
      for (int64_t i = 0; i < x.numel(); ++i) y[i] = static_cast<float>(x.as_double(i));
      break;
    }
    case DType::I64:
      cast_to<int64_t>(x, out.data<int64_t>());
      break;
    case DType::I32:
      cast_to<int32_t>(x, out.data<int32_t>());
      break;
    case DType::U8:
      cast_to<uint8_t>(x, out.data<uint8_t>());
      break;
    case DType::Bool: {
      auto* y = static_cast<uint8_t*>(out.raw());
      for (int64_t i = 0; i < x.numel(); ++i) y[i] = x.as_double(i) != 0.0 ? 1 : 0;
      break;
    }
  }
  return {out};
}

}  // namespace teesplit
