// Operators that only move or relabel data: Flatten, Reshape, Squeeze,
// Unsqueeze, Identity, Dropout (inference), Shape, Size. Kernels return fresh
// tensors (never an alias of an input).
#include <algorithm>
#include <cstring>
#include <set>

#include "ops/kernels.h"
#include "ops/op_util.h"

namespace teesplit {
namespace {

std::string ints_str(const std::vector<int64_t>& v) {
  std::string r = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) r += ',';
    r += std::to_string(v[i]);
  }
  return r + "]";
}

// Axes of Squeeze/Unsqueeze: the optional second input (opset 13) or the
// attribute "axes" (older opsets). `found` tells whether either was given.
std::vector<int64_t> axes_input_or_attr(const char* op, const Attrs& attrs,
                                        const std::vector<ValueInfo>& in, bool* found) {
  if (ops::has_input(in, 1)) {
    *found = true;
    return ops::const_ints(op, "axes", in[1]);
  }
  *found = attrs.has("axes");
  return attrs.get_ints("axes");
}

// Normalises axes for `rank` and rejects duplicates.
std::vector<int64_t> normalize_axes(const char* op, std::vector<int64_t> axes, int64_t rank) {
  std::set<int64_t> seen;
  for (int64_t& a : axes) {
    a = ops::norm_axis(op, a, rank);
    TS_CHECK(seen.insert(a).second, op, ": axis ", a, " is listed twice");
  }
  return axes;
}

std::vector<Tensor> copy_as(const Tensor& x, const Shape& shape) {
  return {x.clone().reshaped(shape)};
}

}  // namespace

// ---- Flatten ----
std::vector<TensorInfo> infer_flatten(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Flatten", in, 0, "input");
  ops::expect_known("Flatten", "input", x);
  const auto r = static_cast<int64_t>(x.shape.size());
  int64_t axis = attrs.get_int("axis", 1);
  TS_CHECK(axis >= -r && axis <= r, "Flatten: axis ", axis, " is out of range for rank ", r);
  if (axis < 0) axis += r;
  const auto ax = static_cast<size_t>(axis);
  return {{x.dtype,
           {ops::dims_product(x.shape, 0, ax), ops::dims_product(x.shape, ax, x.shape.size())}}};
}

std::vector<Tensor> run_flatten(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  Shape out = infer_flatten(attrs, ops::infos_of(in))[0].shape;  // validates first
  return copy_as(*in[0], out);
}

// ---- Reshape ----
std::vector<TensorInfo> infer_reshape(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Reshape", in, 0, "data");
  ops::expect_known("Reshape", "data", x);
  auto spec = ops::const_ints("Reshape", "shape", ops::required("Reshape", in, 1, "shape"));
  const bool allow_zero = attrs.get_int("allowzero", 0) != 0;
  const int64_t total = shape_numel(x.shape);
  Shape out(spec.size());
  int64_t infer_at = -1, known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t v = spec[i];
    if (v == 0 && !allow_zero) {
      TS_CHECK(i < x.shape.size(), "Reshape: shape ", ints_str(spec), " copies dimension ", i,
               " (0) but the input ", shape_str(x.shape), " has rank ", x.shape.size());
      v = x.shape[i];
    } else if (v == -1) {
      TS_CHECK(infer_at < 0, "Reshape: shape ", ints_str(spec), " has more than one -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    TS_CHECK(v >= 0, "Reshape: shape ", ints_str(spec), " has an invalid dimension ", v);
    out[i] = v;
    TS_CHECK(v == 0 || known <= (int64_t{1} << 62) / v, "Reshape: shape ", ints_str(spec),
             " is too large");
    known *= v;
  }
  if (infer_at >= 0) {
    TS_CHECK(!(allow_zero && std::find(spec.begin(), spec.end(), 0) != spec.end()),
             "Reshape: shape ", ints_str(spec), " has both 0 and -1 with allowzero = 1");
    TS_CHECK(known != 0 && total % known == 0, "Reshape: cannot reshape ", shape_str(x.shape), " (",
             total, " elements) to ", ints_str(spec));
    out[static_cast<size_t>(infer_at)] = total / known;
  } else {
    TS_CHECK(known == total, "Reshape: cannot reshape ", shape_str(x.shape), " (", total,
             " elements) to ", ints_str(spec), " (", known, " elements)");
  }
  return {{x.dtype, out}};
}

std::vector<Tensor> run_reshape(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  Shape out = infer_reshape(attrs, ops::infos_of(in))[0].shape;  // validates first
  return copy_as(*in[0], out);
}

// ---- Squeeze ----
std::vector<TensorInfo> infer_squeeze(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Squeeze", in, 0, "data");
  ops::expect_known("Squeeze", "data", x);
  const auto r = static_cast<int64_t>(x.shape.size());
  bool found = false;
  auto axes = axes_input_or_attr("Squeeze", attrs, in, &found);
  std::vector<bool> drop(x.shape.size(), false);
  if (axes.empty()) {
    for (size_t i = 0; i < x.shape.size(); ++i) drop[i] = x.shape[i] == 1;
  } else {
    for (int64_t a : normalize_axes("Squeeze", axes, r)) {
      TS_CHECK(x.shape[static_cast<size_t>(a)] == 1, "Squeeze: axis ", a, " of ",
               shape_str(x.shape), " has size ", x.shape[static_cast<size_t>(a)], ", not 1");
      drop[static_cast<size_t>(a)] = true;
    }
  }
  Shape out;
  for (size_t i = 0; i < x.shape.size(); ++i)
    if (!drop[i]) out.push_back(x.shape[i]);
  return {{x.dtype, out}};
}

std::vector<Tensor> run_squeeze(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  Shape out = infer_squeeze(attrs, ops::infos_of(in))[0].shape;  // validates first
  return copy_as(*in[0], out);
}

// ---- Unsqueeze ----
std::vector<TensorInfo> infer_unsqueeze(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Unsqueeze", in, 0, "data");
  ops::expect_known("Unsqueeze", "data", x);
  bool found = false;
  auto axes = axes_input_or_attr("Unsqueeze", attrs, in, &found);
  TS_CHECK(found, "Unsqueeze: axes are required (attribute before opset 13, input since)");
  const auto out_rank = static_cast<int64_t>(x.shape.size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : normalize_axes("Unsqueeze", axes, out_rank))
    inserted[static_cast<size_t>(a)] = true;
  Shape out;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i)
    out.push_back(inserted[static_cast<size_t>(i)] ? 1 : x.shape[next++]);
  return {{x.dtype, out}};
}

std::vector<Tensor> run_unsqueeze(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  Shape out = infer_unsqueeze(attrs, ops::infos_of(in))[0].shape;  // validates first
  return copy_as(*in[0], out);
}

// ---- Identity ----
std::vector<TensorInfo> infer_identity(const Attrs&, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Identity", in, 0, "input");
  return {{x.dtype, x.shape}};
}

std::vector<Tensor> run_identity(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  infer_identity(attrs, ops::infos_of(in));
  return {in[0]->clone()};
}

// ---- Dropout (inference) ----
std::vector<TensorInfo> infer_dropout(const Attrs&, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Dropout", in, 0, "data");
  if (ops::has_input(in, 2) && in[2].value && in[2].value->defined() && in[2].value->numel() == 1)
    TS_CHECK(in[2].value->as_int(0) == 0,
             "Dropout: training_mode = true is not supported (inference only)");
  return {{x.dtype, x.shape}, {DType::Bool, x.shape}};
}

std::vector<Tensor> run_dropout(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  auto info = infer_dropout(attrs, ops::infos_of(in));
  Tensor mask(DType::Bool, info[1].shape);
  std::memset(mask.raw(), 1, mask.nbytes());
  return {in[0]->clone(), mask};
}

// ---- Shape (opset 15: start, end) ----
namespace {
std::pair<int64_t, int64_t> shape_range(const Attrs& attrs, int64_t r) {
  int64_t start = attrs.get_int("start", 0), end = attrs.get_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  return {start, std::max(start, end)};
}
}  // namespace

std::vector<TensorInfo> infer_shape(const Attrs& attrs, const std::vector<ValueInfo>& in) {
  const ValueInfo& x = ops::required("Shape", in, 0, "data");
  auto [start, end] = shape_range(attrs, static_cast<int64_t>(x.shape.size()));
  return {{DType::I64, {end - start}}};
}

Tensor shape_of_dims(const Attrs& attrs, const Shape& dims) {
  auto [start, end] = shape_range(attrs, static_cast<int64_t>(dims.size()));
  return Tensor::from<int64_t>({end - start},
                               std::vector<int64_t>(dims.begin() + start, dims.begin() + end));
}

std::vector<Tensor> run_shape(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  infer_shape(attrs, ops::infos_of(in));
  return {shape_of_dims(attrs, in[0]->shape())};
}

// ---- Size ----
std::vector<TensorInfo> infer_size(const Attrs&, const std::vector<ValueInfo>& in) {
  ops::required("Size", in, 0, "data");
  return {{DType::I64, {}}};
}

std::vector<Tensor> run_size(const Attrs& attrs, const std::vector<const Tensor*>& in) {
  infer_size(attrs, ops::infos_of(in));
  return {Tensor::from<int64_t>({}, {in[0]->numel()})};
}

}  // namespace teesplit
