// Constant: exactly one of the attributes value (a tensor), value_float,
// value_floats, value_int, value_ints.
#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {
// The constant; `copy` = false returns the attribute tensor itself.
Tensor constant_value(const Attrs& attrs, bool copy) {
  const char* names[] = {"value", "value_float", "value_floats", "value_int", "value_ints"};
  int count = 0;
  for (const char* n : names) count += attrs.has(n) ? 1 : 0;
  for (const char* n : {"value_string", "value_strings", "sparse_value"})
    TS_CHECK(!attrs.has(n), "Constant: attribute ", n, " is not supported");
  TS_CHECK(count == 1, "Constant: needs exactly one of value, value_float, value_floats, ",
           "value_int, value_ints; got ", count);
  if (attrs.has("value")) {
    const Tensor& t = attrs.get_tensor("value");
    TS_CHECK(t.defined(), "Constant: attribute value holds no tensor");
    return copy ? t.clone() : t;
  }
  if (attrs.has("value_float")) return Tensor::scalar_f32(attrs.get_float("value_float", 0.f));
  if (attrs.has("value_floats")) {
    auto v = attrs.get_floats("value_floats");
    return Tensor::from<float>({static_cast<int64_t>(v.size())}, v);
  }
  if (attrs.has("value_int")) return Tensor::from<int64_t>({}, {attrs.get_int("value_int")});
  auto v = attrs.get_ints("value_ints");
  return Tensor::from<int64_t>({static_cast<int64_t>(v.size())}, v);
}
}  // namespace

std::vector<TensorInfo> infer_constant(const Attrs& attrs, const std::vector<ValueInfo>&) {
  Tensor t = constant_value(attrs, false);
  return {{t.dtype(), t.shape()}};
}

std::vector<Tensor> run_constant(const Attrs& attrs, const std::vector<const Tensor*>&) {
  return {constant_value(attrs, true)};
}

}  // namespace teesplit
