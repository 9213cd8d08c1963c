// Concat along `axis` (required); any dtype, all inputs of one dtype and rank.
#include <cstring>

#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {

std::vector<TensorInfo> infer_concat(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& first = ops::required("Concat", in, 0, "inputs[0]");
  TS_CHECK(attrs.has("axis"), "Concat: required attribute axis is missing");
  const auto r = static_cast<int64_t>(first.shape.size());
  TS_CHECK(r >= 1, "Concat: inputs must have rank >= 1");
  const auto axis = static_cast<size_t>(ops::norm_axis("Concat", attrs.get_int("axis"), r));
  Shape out = first.shape;
  out[axis] = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    TS_CHECK(in[i].present, "Concat: input ", i, " is missing");
    ops::expect_known("Concat", "inputs", in[i]);
    TS_CHECK(in[i].dtype == first.dtype, "Concat: input ", i, " has type ", dtype_name(in[i].dtype),
             ", input 0 has ", dtype_name(first.dtype));
    TS_CHECK(in[i].shape.size() == first.shape.size(), "Concat: input ", i, " has shape ",
             shape_str(in[i].shape), ", input 0 has ", shape_str(first.shape));
    for (size_t d = 0; d < out.size(); ++d)
      TS_CHECK(d == axis || in[i].shape[d] == first.shape[d], "Concat: input ", i, " has shape ",
               shape_str(in[i].shape), " which differs from input 0 ", shape_str(first.shape),
               " outside axis ", axis);
    out[axis] += in[i].shape[axis];
  }
  return {{first.dtype, out}};
}

std::vector<Tensor> run_concat(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  auto info = infer_concat(attrs, ops::infos_of(in));
  const Shape& s = info[0].shape;
  const auto axis = static_cast<size_t>(
      ops::norm_axis("Concat", attrs.get_int("axis"), static_cast<int64_t>(s.size())));
  const size_t elem = dtype_size(info[0].dtype);
  const int64_t outer = ops::dims_product(s, 0, axis);
  const int64_t out_row = ops::dims_product(s, axis, s.size());
  Tensor out(info[0].dtype, s);
  auto* dst = static_cast<unsigned char*>(out.raw());
  int64_t col = 0;  // element offset of this input inside an output row
  for (const Tensor* t : in) {
    const int64_t row = ops::dims_product(t->shape(), axis, s.size());
    const auto* src = static_cast<const unsigned char*>(t->raw());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + static_cast<size_t>(o * out_row + col) * elem,
                  src + static_cast<size_t>(o * row) * elem, static_cast<size_t>(row) * elem);
    col += row;
  }
  return {out};
}

}  // namespace teesplit
