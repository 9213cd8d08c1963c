#include "ops/op_util.h"

#include <algorithm>

#include "core/limits.h"

namespace teesplit::ops {

const ValueInfo& required(const char* op, const std::vector<ValueInfo>& in, size_t i,
                          const char* name) {
  TS_CHECK(has_input(in, i), op, ": required input ", i, " (", name, ") is missing");
  return in[i];
}

void expect_dtype(const char* op, const char* name, const ValueInfo& info,
                  std::initializer_list<DType> allowed) {
  if (std::find(allowed.begin(), allowed.end(), info.dtype) != allowed.end()) return;
  std::string list;
  for (DType d : allowed) {
    if (!list.empty()) list += ", ";
    list += dtype_name(d);
  }
  fail(op, ": input ", name, " has type ", dtype_name(info.dtype), ", expected ", list);
}

void expect_rank(const char* op, const char* name, const ValueInfo& info, int64_t rank,
                 int64_t max_rank) {
  auto r = static_cast<int64_t>(info.shape.size());
  if (max_rank < 0) {
    TS_CHECK(r == rank, op, ": input ", name, " must have rank ", rank, ", got shape ",
             shape_str(info.shape));
  } else {
    TS_CHECK(r >= rank && r <= max_rank, op, ": input ", name, " must have rank ", rank, " to ",
             max_rank, ", got shape ", shape_str(info.shape));
  }
  expect_known(op, name, info);
}

void expect_known(const char* op, const char* name, const ValueInfo& info) {
  TS_CHECK(shape_known(info.shape), op, ": input ", name, " has unknown dimensions ",
           shape_str(info.shape), " (specialise the input shapes first)");
}

std::vector<int64_t> const_ints(const char* op, const char* name, const ValueInfo& info) {
  TS_CHECK(info.value && info.value->defined(), op, ": input ", name,
           " must be a constant (an initializer or a folded value); it is computed at run time");
  const Tensor& t = *info.value;
  TS_CHECK(t.dtype() == DType::I64 || t.dtype() == DType::I32, op, ": input ", name,
           " must be int64 or int32, got ", dtype_name(t.dtype()));
  TS_CHECK(t.rank() <= 1, op, ": input ", name, " must be a 1-D tensor, got shape ",
           shape_str(t.shape()));
  TS_CHECK(t.numel() <= limits::kMaxShapeList, op, ": input ", name, " holds ", t.numel(),
           " values, more than the ", limits::kMaxShapeList,
           " a list of dimensions, axes or pads may have");
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.as_int(i);
  return v;
}

std::vector<ValueInfo> infos_of(const std::vector<const Tensor*>& in) {
  std::vector<ValueInfo> r(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i] || !in[i]->defined()) continue;
    r[i].present = true;
    r[i].dtype = in[i]->dtype();
    r[i].shape = in[i]->shape();
    r[i].value = in[i];
  }
  return r;
}

int64_t norm_axis(const char* op, int64_t axis, int64_t rank) {
  TS_CHECK(axis >= -rank && axis < rank, op, ": axis ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

int64_t dims_product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < s.size(); ++i) p *= s[i];
  return p;
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

}  // namespace teesplit::ops

namespace teesplit::ops {

namespace {
constexpr int64_t kMaxWindow = int64_t{1} << 30;
std::string pair_str(const int64_t* v) {
  return std::to_string(v[0]) + "x" + std::to_string(v[1]);
}
}  // namespace

Window2d resolve_window(const char* op, const Attrs& attrs, int64_t in_h, int64_t in_w, int64_t k_h,
                        int64_t k_w, bool ceil_mode) {
  Window2d win;
  const int64_t in[2] = {in_h, in_w};
  const int64_t k[2] = {k_h, k_w};
  TS_CHECK(k_h > 0 && k_w > 0, op, ": kernel size must be positive, got ", k_h, "x", k_w);
  auto strides = attrs.get_ints("strides", {1, 1});
  auto dils = attrs.get_ints("dilations", {1, 1});
  TS_CHECK(strides.size() == 2, op, ": strides must have 2 values for 2-D, got ", strides.size());
  TS_CHECK(dils.size() == 2, op, ": dilations must have 2 values for 2-D, got ", dils.size());
  for (int i = 0; i < 2; ++i) {
    TS_CHECK(strides[i] > 0, op, ": strides must be positive, got ", strides[i]);
    TS_CHECK(dils[i] > 0, op, ": dilations must be positive, got ", dils[i]);
    TS_CHECK(strides[i] <= kMaxWindow && dils[i] <= kMaxWindow && k[i] <= kMaxWindow, op,
             ": stride, dilation or kernel size is implausibly large");
    win.stride[i] = strides[i];
    win.dil[i] = dils[i];
  }
  int64_t keff[2];
  for (int i = 0; i < 2; ++i) keff[i] = (k[i] - 1) * win.dil[i] + 1;

  std::string auto_pad = attrs.get_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    auto pads = attrs.get_ints("pads", {0, 0, 0, 0});
    TS_CHECK(pads.size() == 4, op, ": pads must have 4 values for 2-D, got ", pads.size());
    for (int i = 0; i < 2; ++i) {
      win.pad_begin[i] = pads[static_cast<size_t>(i)];
      win.pad_end[i] = pads[static_cast<size_t>(i) + 2];
      TS_CHECK(win.pad_begin[i] >= 0 && win.pad_end[i] >= 0, op,
               ": pads must be non-negative, got [", pads[0], ",", pads[1], ",", pads[2], ",",
               pads[3], "]");
      TS_CHECK(win.pad_begin[i] <= kMaxWindow && win.pad_end[i] <= kMaxWindow, op,
               ": pads are implausibly large");
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (int i = 0; i < 2; ++i) {
      int64_t out = (in[i] + win.stride[i] - 1) / win.stride[i];
      int64_t total = std::max<int64_t>(0, (out - 1) * win.stride[i] + keff[i] - in[i]);
      int64_t small = total / 2, large = total - total / 2;
      win.pad_begin[i] = auto_pad == "SAME_UPPER" ? small : large;
      win.pad_end[i] = auto_pad == "SAME_UPPER" ? large : small;
    }
  } else if (auto_pad != "VALID") {
    fail(op, ": unknown auto_pad '", auto_pad, "'");
  }

  for (int i = 0; i < 2; ++i) {
    int64_t span = in[i] + win.pad_begin[i] + win.pad_end[i] - keff[i];
    TS_CHECK(span >= 0, op, ": output size would be non-positive (input ", pair_str(in),
             ", kernel ", pair_str(k), " with dilation ", pair_str(win.dil), ", pads [",
             win.pad_begin[0], ",", win.pad_begin[1], ",", win.pad_end[0], ",", win.pad_end[1],
             "])");
    int64_t out =
        (ceil_mode ? (span + win.stride[i] - 1) / win.stride[i] : span / win.stride[i]) + 1;
    if (ceil_mode && (out - 1) * win.stride[i] >= in[i] + win.pad_begin[i]) --out;
    win.out[i] = out;
  }
  return win;
}

}  // namespace teesplit::ops
