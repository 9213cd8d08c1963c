// Transpose: output dim i is input dim perm[i]; perm defaults to reversed.
#include "ops/copy_util.h"
#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {
std::vector<int64_t> transpose_perm(const Attrs& attrs, size_t rank) {
  std::vector<int64_t> rev(rank);
  for (size_t i = 0; i < rank; ++i) rev[i] = static_cast<int64_t>(rank - 1 - i);
  auto perm = attrs.get_ints("perm", rev);
  TS_CHECK(perm.size() == rank, "Transpose: perm has ", perm.size(), " entries for rank ", rank);
  std::vector<bool> used(rank, false);
  for (int64_t p : perm) {
    TS_CHECK(p >= 0 && p < static_cast<int64_t>(rank) && !used[static_cast<size_t>(p)],
             "Transpose: perm is not a permutation of 0..", rank - 1);
    used[static_cast<size_t>(p)] = true;
  }
  return perm;
}
}  // namespace

std::vector<TensorInfo> infer_transpose(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Transpose", in, 0, "data");
  ops::expect_known("Transpose", "data", x);
  auto perm = transpose_perm(attrs, x.shape.size());
  Shape out(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = x.shape[static_cast<size_t>(perm[i])];
  return {{x.dtype, out}};
}

std::vector<Tensor> run_transpose(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  auto info = infer_transpose(attrs, ops::infos_of(in));
  const Tensor& x = *in[0];
  auto perm = transpose_perm(attrs, x.shape().size());
  auto in_st = ops::strides_of(x.shape());
  std::vector<int64_t> st(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) st[i] = in_st[static_cast<size_t>(perm[i])];
  Tensor out(x.dtype(), info[0].shape);
  ops::strided_copy(out.raw(), x.raw(), dtype_size(x.dtype()), out.shape(), st);
  return {out};
}

}  // namespace teesplit
