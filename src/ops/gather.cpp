// Gather: output = data[:axis] + indices.shape + data[axis+1:]; any data type,
// int64 or int32 indices, negative indices count from the end; every index is
// bounds-checked.
#include <cstring>

#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {
// Checks one index and returns it normalised to [0, dim).
int64_t gather_index(int64_t idx, int64_t dim, int64_t axis) {
  TS_CHECK(idx >= -dim && idx < dim, "Gather: index ", idx, " is out of range for axis ", axis,
           " of size ", dim);
  return idx < 0 ? idx + dim : idx;
}
}  // namespace

std::vector<TensorInfo> infer_gather(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& data = ops::required("Gather", in, 0, "data");
  const ValueInfo& idx = ops::required("Gather", in, 1, "indices");
  ops::expect_known("Gather", "data", data);
  ops::expect_known("Gather", "indices", idx);
  ops::expect_dtype("Gather", "indices", idx, {DType::I64, DType::I32});
  const auto r = static_cast<int64_t>(data.shape.size());
  TS_CHECK(r >= 1, "Gather: data must have rank >= 1");
  const auto axis = ops::norm_axis("Gather", attrs.get_int("axis", 0), r);
  const int64_t dim = data.shape[static_cast<size_t>(axis)];
  if (idx.value && idx.value->defined())
    for (int64_t i = 0; i < idx.value->numel(); ++i) gather_index(idx.value->as_int(i), dim, axis);
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  return {{data.dtype, out}};
}

std::vector<Tensor> run_gather(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  auto info = infer_gather(attrs, ops::infos_of(in));  // also checks every index
  const Tensor& data = *in[0];
  const Tensor& idx = *in[1];
  const auto axis =
      static_cast<size_t>(ops::norm_axis("Gather", attrs.get_int("axis", 0), data.rank()));
  const int64_t dim = data.shape()[axis];
  const size_t elem = dtype_size(data.dtype());
  const int64_t outer = ops::dims_product(data.shape(), 0, axis);
  const int64_t inner = ops::dims_product(data.shape(), axis + 1, data.shape().size());
  const int64_t n = idx.numel();
  Tensor out(data.dtype(), info[0].shape);
  auto* dst = static_cast<unsigned char*>(out.raw());
  const auto* src = static_cast<const unsigned char*>(data.raw());
  const size_t chunk = static_cast<size_t>(inner) * elem;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = gather_index(idx.as_int(j), dim, static_cast<int64_t>(axis));
      std::memcpy(dst + static_cast<size_t>(o * n + j) * chunk,
                  src + static_cast<size_t>(o * dim + k) * chunk, chunk);
    }
  return {out};
}

}  // namespace teesplit
