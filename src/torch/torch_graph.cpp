#include "torch/torch_graph.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

#include "graph/passes.h"
#include "ops/conv.h"
#include "ops/pool.h"

namespace teesplit {
namespace {

const std::set<std::string>& supported_ops() {
  static const std::set<std::string> ops = {"Conv",
                                            "Gemm",
                                            "MatMul",
                                            "Relu",
                                            "LeakyRelu",
                                            "Tanh",
                                            "Sigmoid",
                                            "HardSigmoid",
                                            "HardSwish",
                                            "Clip",
                                            "Exp",
                                            "Sqrt",
                                            "Neg",
                                            "Add",
                                            "Sub",
                                            "Mul",
                                            "Div",
                                            "MaxPool",
                                            "AveragePool",
                                            "GlobalAveragePool",
                                            "GlobalMaxPool",
                                            "BatchNormalization",
                                            "Flatten",
                                            "Reshape",
                                            "Squeeze",
                                            "Unsqueeze",
                                            "Transpose",
                                            "Concat",
                                            "Identity",
                                            "Dropout",
                                            "Softmax",
                                            "ReduceMean",
                                            "Pad"};
  return ops;
}

torch::Dtype torch_dtype(DType t) {
  switch (t) {
    case DType::F32:
      return torch::kFloat32;
    case DType::I64:
      return torch::kInt64;
    case DType::I32:
      return torch::kInt32;
    case DType::U8:
      return torch::kUInt8;
    case DType::Bool:
      return torch::kBool;
  }
  fail("to_torch: unknown dtype");
}

Shape sizes_of(const torch::Tensor& t) {
  return Shape(t.sizes().begin(), t.sizes().end());
}

// Pads (positive) or crops (negative) the last two dims of an NCHW tensor.
torch::Tensor pad_or_crop(const torch::Tensor& x, int64_t left, int64_t right, int64_t top,
                          int64_t bottom, double value) {
  if (left == 0 && right == 0 && top == 0 && bottom == 0) return x;
  return at::constant_pad_nd(x, {left, right, top, bottom}, value);
}

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// Sorted, normalised axes (no duplicates) for a tensor of `rank` dims.
std::vector<int64_t> norm_axes(std::vector<int64_t> axes, int64_t rank) {
  for (int64_t& a : axes) a = normalize_axis(a, rank);
  std::sort(axes.begin(), axes.end());
  TS_CHECK(std::adjacent_find(axes.begin(), axes.end()) == axes.end(), "repeated axis");
  return axes;
}

std::string sanitize(const std::string& name) {
  std::string s = name.empty() ? std::string("w") : name;
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

}  // namespace

torch::Tensor to_torch(const Tensor& t) {
  TS_CHECK(t.defined(), "to_torch: undefined tensor");
  std::vector<int64_t> sizes(t.shape().begin(), t.shape().end());
  torch::Tensor out = torch::empty(sizes, torch::TensorOptions().dtype(torch_dtype(t.dtype())));
  if (t.nbytes() > 0) std::memcpy(out.data_ptr(), t.raw(), t.nbytes());
  return out;
}

Tensor from_torch(const torch::Tensor& src) {
  TS_CHECK(src.defined(), "from_torch: undefined tensor");
  const torch::Tensor c = src.detach().to(torch::kCPU).contiguous();
  DType d;
  switch (c.scalar_type()) {
    case torch::kFloat32:
      d = DType::F32;
      break;
    case torch::kInt64:
      d = DType::I64;
      break;
    case torch::kInt32:
      d = DType::I32;
      break;
    case torch::kUInt8:
      d = DType::U8;
      break;
    case torch::kBool:
      d = DType::Bool;
      break;
    default:
      fail("from_torch: unsupported scalar type ", c.scalar_type());
  }
  Tensor out(d, sizes_of(c));
  if (out.nbytes() > 0) std::memcpy(out.raw(), c.data_ptr(), out.nbytes());
  return out;
}

TorchGraph::TorchGraph(const Graph& g) : torch::nn::Module("TorchGraph"), g_(g) {
  for (int id : g_.inputs) {
    Value& v = g_.value(id);
    for (size_t d = 0; d < v.shape.size(); ++d) {
      if (v.shape[d] >= 0) continue;
      TS_CHECK(d == 0, "TorchGraph: input '", v.name, "' has an unknown dimension ", d, " in ",
               shape_str(v.shape), "; only the batch (dimension 0) may be dynamic");
      v.shape[0] = kTraceBatch;
      dynamic_batch_ = true;
    }
  }
  infer_shapes(g_, /*fold=*/true);
  g_.remove_dead();

  const auto consumers = g_.consumers();
  std::set<int> graph_outputs(g_.outputs.begin(), g_.outputs.end());
  for (const Node& n : g_.nodes) {
    TS_CHECK(supported_ops().count(n.op), "node '", n.name, "' (", n.op,
             "): not supported by the LibTorch lowering");
    TS_CHECK(!n.outputs.empty() && n.outputs[0] >= 0, "node '", n.name, "' (", n.op,
             "): has no first output");
    for (size_t i = 1; i < n.outputs.size(); ++i) {
      const int out = n.outputs[i];
      TS_CHECK(
          out < 0 || (consumers[static_cast<size_t>(out)].empty() && !graph_outputs.count(out)),
          "node '", n.name, "' (", n.op, "): output ", i,
          " is used; the LibTorch lowering computes only the first output");
    }
  }

  // Classify constants by their use: Constant < RunningStat < Parameter.
  kind_.assign(g_.values.size(), -1);
  for (const Node& n : g_.nodes) {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const int id = n.inputs[i];
      if (id < 0 || !g_.value(id).is_constant()) continue;
      Kind k = Kind::Constant;
      if (g_.value(id).dtype == DType::F32) {
        if ((n.op == "Conv" && i >= 1) || (n.op == "Gemm" && i >= 1) || n.op == "MatMul" ||
            (n.op == "BatchNormalization" && (i == 1 || i == 2)))
          k = Kind::Parameter;
        else if (n.op == "BatchNormalization" && (i == 3 || i == 4))
          k = Kind::RunningStat;
      }
      auto rank = [](Kind x) { return x == Kind::Parameter ? 2 : x == Kind::RunningStat ? 1 : 0; };
      int& cur = kind_[static_cast<size_t>(id)];
      if (cur < 0 || rank(static_cast<Kind>(cur)) < rank(k)) cur = static_cast<int>(k);
    }
  }
  constants_.resize(g_.values.size());
  std::set<std::string> keys;
  for (size_t id = 0; id < g_.values.size(); ++id) {
    if (kind_[id] < 0) continue;
    const Value& v = g_.values[id];
    const Kind k = static_cast<Kind>(kind_[id]);
    torch::Tensor t = to_torch(*v.constant);
    if (k == Kind::Constant && v.dtype != DType::F32) {
      constants_[id] = t;  // shapes, axes: read at lowering time, never moved
      continue;
    }
    std::string key = (k == Kind::Constant ? "const_" : "") + sanitize(v.name);
    for (int suffix = 1; keys.count(key); ++suffix)
      key = sanitize(v.name) + "_" + std::to_string(suffix);
    keys.insert(key);
    if (k == Kind::Parameter) {
      constants_[id] = register_parameter(key, t, /*requires_grad=*/true);
    } else {
      constants_[id] = register_buffer(key, t);
    }
    if (k != Kind::Constant) weight_order_.push_back(static_cast<int>(id));
  }
}

std::vector<std::pair<std::string, torch::Tensor>> TorchGraph::named_weights() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (int id : weight_order_)
    out.emplace_back(g_.value(id).name, constants_[static_cast<size_t>(id)]);
  return out;
}

std::vector<std::string> TorchGraph::parameter_names() const {
  std::vector<std::string> out;
  for (int id : weight_order_)
    if (kind_[static_cast<size_t>(id)] == static_cast<int>(Kind::Parameter))
      out.push_back(g_.value(id).name);
  return out;
}

std::vector<torch::Tensor> TorchGraph::forward(const std::vector<torch::Tensor>& inputs) {
  std::vector<std::string> names;
  for (int id : g_.outputs) names.push_back(g_.value(id).name);
  return forward_values(inputs, names);
}

torch::Tensor TorchGraph::forward(const torch::Tensor& input) {
  TS_CHECK(g_.inputs.size() == 1 && g_.outputs.size() == 1,
           "TorchGraph::forward(x): the graph has ", g_.inputs.size(), " inputs and ",
           g_.outputs.size(), " outputs");
  return forward(std::vector<torch::Tensor>{input})[0];
}

std::vector<torch::Tensor> TorchGraph::forward_values(const std::vector<torch::Tensor>& inputs,
                                                      const std::vector<std::string>& names) {
  TS_CHECK(inputs.size() == g_.inputs.size(), "TorchGraph: ", inputs.size(),
           " inputs given, the graph has ", g_.inputs.size());
  std::vector<torch::Tensor> env(g_.values.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = g_.value(g_.inputs[i]);
    const Shape got = sizes_of(inputs[i]);
    bool ok = got.size() == v.shape.size();
    for (size_t d = 0; ok && d < got.size(); ++d)
      ok = got[d] == v.shape[d] || (d == 0 && dynamic_batch_ && got[0] > 0);
    TS_CHECK(ok, "TorchGraph: input '", v.name, "' has shape ", shape_str(got),
             ", the model expects ", shape_str(v.shape), dynamic_batch_ ? " (any batch)" : "");
    TS_CHECK(inputs[i].scalar_type() == torch_dtype(v.dtype), "TorchGraph: input '", v.name,
             "' has type ", inputs[i].scalar_type(), ", the model expects ", dtype_name(v.dtype));
    env[static_cast<size_t>(g_.inputs[i])] = inputs[i];
  }
  for (size_t id = 0; id < constants_.size(); ++id)
    if (constants_[id].defined()) env[id] = constants_[id];

  const std::vector<int> producers = g_.producers();
  std::vector<int> want;
  int last = -1;
  for (const std::string& name : names) {
    const int id = g_.find_value(name);
    TS_CHECK(id >= 0, "TorchGraph: the graph has no value named '", name, "'");
    want.push_back(id);
    last = std::max(last, producers[static_cast<size_t>(id)]);
  }
  for (int k = 0; k <= last; ++k) run_node(static_cast<size_t>(k), env);
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < want.size(); ++i) {
    const torch::Tensor& t = env[static_cast<size_t>(want[i])];
    TS_CHECK(t.defined(), "TorchGraph: value '", names[i], "' was not computed");
    out.push_back(t);
  }
  return out;
}

void TorchGraph::run_node(size_t index, std::vector<torch::Tensor>& env) const {
  const Node& n = g_.nodes[index];
  try {
    env[static_cast<size_t>(n.outputs[0])] = run_op(n, env);
  } catch (const Error& e) {
    fail("node '", n.name, "' (", n.op, "): ", e.what());
  } catch (const c10::Error& e) {
    fail("node '", n.name, "' (", n.op, "): ", e.what_without_backtrace());
  }
}

torch::Tensor TorchGraph::run_op(const Node& n, std::vector<torch::Tensor>& env) const {
  auto has = [&](size_t i) { return i < n.inputs.size() && n.inputs[i] >= 0; };
  auto in = [&](size_t i) -> const torch::Tensor& {
    TS_CHECK(has(i), "required input ", i, " is absent");
    const torch::Tensor& t = env[static_cast<size_t>(n.inputs[i])];
    TS_CHECK(t.defined(), "input ", i, " ('", g_.value(n.inputs[i]).name, "') is not computed");
    return t;
  };
  // A constant input read at lowering time (shapes, axes, bounds), or nullptr.
  auto constant = [&](size_t i) -> const Tensor* {
    if (!has(i)) return nullptr;
    const Value& v = g_.value(n.inputs[i]);
    TS_CHECK(v.is_constant(), "input ", i, " ('", v.name,
             "') must be a constant for the LibTorch lowering");
    return &*v.constant;
  };
  auto const_ints = [&](size_t i) {
    const Tensor* t = constant(i);
    std::vector<int64_t> v;
    for (int64_t k = 0; k < t->numel(); ++k) v.push_back(t->as_int(k));
    return v;
  };
  const std::string& op = n.op;
  const Attrs& a = n.attrs;

  if (op == "Conv") {
    const torch::Tensor& x = in(0);
    const torch::Tensor& w = in(1);
    TS_CHECK(x.dim() == 4, "only 2-D convolution is supported, input has shape ",
             shape_str(sizes_of(x)));
    const ConvParams p = conv_params(a, sizes_of(x), sizes_of(w));
    torch::Tensor bias = has(2) ? in(2) : torch::Tensor();
    const std::vector<int64_t> stride = {p.stride_h, p.stride_w}, dil = {p.dil_h, p.dil_w};
    if (p.pad_top == p.pad_bottom && p.pad_left == p.pad_right) {
      const std::vector<int64_t> pad = {p.pad_top, p.pad_left};
      return at::conv2d(x, w, bias, stride, at::IntArrayRef(pad), dil, p.group);
    }
    const torch::Tensor xp = pad_or_crop(x, p.pad_left, p.pad_right, p.pad_top, p.pad_bottom, 0);
    const std::vector<int64_t> zero = {0, 0};
    return at::conv2d(xp, w, bias, stride, at::IntArrayRef(zero), dil, p.group);
  }
  if (op == "Gemm") {
    torch::Tensor x = in(0), w = in(1);
    TS_CHECK(x.dim() == 2 && w.dim() == 2, "A and B must be 2-D, got ", shape_str(sizes_of(x)),
             " and ", shape_str(sizes_of(w)));
    if (a.get_int("transA", 0)) x = x.t();
    if (a.get_int("transB", 0)) w = w.t();
    const double alpha = a.get_float("alpha", 1.f), beta = a.get_float("beta", 1.f);
    if (has(2)) return at::addmm(in(2), x, w, beta, alpha);
    torch::Tensor y = at::mm(x, w);
    return alpha == 1.0 ? y : y * alpha;
  }
  if (op == "MatMul") return at::matmul(in(0), in(1));
  if (op == "Relu") return at::relu(in(0));
  if (op == "LeakyRelu") return at::leaky_relu(in(0), a.get_float("alpha", 0.01f));
  if (op == "Tanh") return at::tanh(in(0));
  if (op == "Sigmoid") return at::sigmoid(in(0));
  if (op == "HardSigmoid")
    return at::clamp(in(0) * a.get_float("alpha", 0.2f) + a.get_float("beta", 0.5f), 0.0, 1.0);
  if (op == "HardSwish") return at::hardswish(in(0));
  if (op == "Exp") return at::exp(in(0));
  if (op == "Sqrt") return at::sqrt(in(0));
  if (op == "Neg") return at::neg(in(0));
  if (op == "Clip") {
    c10::optional<at::Scalar> lo, hi;
    if (a.has("min")) lo = a.get_float("min", 0.f);
    if (a.has("max")) hi = a.get_float("max", 0.f);
    for (size_t i = 1; i <= 2; ++i) {
      if (!has(i)) continue;
      const Tensor* t = constant(i);
      TS_CHECK(t->numel() == 1, "Clip bound ", i, " must be a scalar, got ", shape_str(t->shape()));
      (i == 1 ? lo : hi) = t->as_double(0);
    }
    return at::clamp(in(0), lo, hi);
  }
  if (op == "Add") return at::add(in(0), in(1));
  if (op == "Sub") return at::sub(in(0), in(1));
  if (op == "Mul") return at::mul(in(0), in(1));
  if (op == "Div") {
    if (at::isIntegralType(in(0).scalar_type(), false)) return at::div(in(0), in(1), "trunc");
    return at::div(in(0), in(1));
  }
  if (op == "MaxPool" || op == "AveragePool") {
    const torch::Tensor& x = in(0);
    const PoolParams p = pool_params(a, sizes_of(x));
    // Exact extent the output windows read; pad to it (crop rows nothing reads).
    const int64_t ext_h = (p.oh - 1) * p.stride_h + (p.kh - 1) * p.dil_h + 1;
    const int64_t ext_w = (p.ow - 1) * p.stride_w + (p.kw - 1) * p.dil_w + 1;
    const int64_t pb = ext_h - p.h - p.pad_top, pr = ext_w - p.w - p.pad_left;
    if (op == "MaxPool") {
      const torch::Tensor xp =
          pad_or_crop(x, p.pad_left, pr, p.pad_top, pb, -std::numeric_limits<double>::infinity());
      return at::max_pool2d(xp, {p.kh, p.kw}, {p.stride_h, p.stride_w}, {0, 0}, {p.dil_h, p.dil_w},
                            false);
    }
    TS_CHECK(p.dil_h == 1 && p.dil_w == 1, "AveragePool with dilations is not supported");
    const bool no_pad = p.pad_top == 0 && p.pad_left == 0 && p.pad_bottom == 0 &&
                        p.pad_right == 0 && pb <= 0 && pr <= 0;
    if (no_pad)
      return at::avg_pool2d(x, {p.kh, p.kw}, {p.stride_h, p.stride_w}, {0, 0}, false, true);
    // Sum over the window, divided by the taps counted per ONNX (see ops/pool.cpp).
    const torch::Tensor xp = pad_or_crop(x, p.pad_left, pr, p.pad_top, pb, 0);
    const torch::Tensor sum = at::avg_pool2d(xp, {p.kh, p.kw}, {p.stride_h, p.stride_w}, {0, 0},
                                             false, true, /*divisor_override=*/1);
    torch::Tensor mask;
    if (p.count_include_pad) {
      const int64_t ph = p.h + p.pad_top + p.pad_bottom, pw = p.w + p.pad_left + p.pad_right;
      mask = pad_or_crop(torch::ones({1, 1, ph, pw}, x.options()), 0, ext_w - pw, 0, ext_h - ph, 0);
    } else {
      mask =
          pad_or_crop(torch::ones({1, 1, p.h, p.w}, x.options()), p.pad_left, pr, p.pad_top, pb, 0);
    }
    const torch::Tensor count =
        at::avg_pool2d(mask, {p.kh, p.kw}, {p.stride_h, p.stride_w}, {0, 0}, false, true, 1);
    return sum / count.clamp_min(1);
  }
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    const torch::Tensor& x = in(0);
    TS_CHECK(x.dim() >= 3, "input must have rank >= 3, got ", shape_str(sizes_of(x)));
    std::vector<int64_t> dims;
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    return op == "GlobalAveragePool" ? x.mean(dims, true) : x.amax(dims, true);
  }
  if (op == "BatchNormalization") {
    const torch::Tensor& x = in(0);
    TS_CHECK(x.dim() >= 2, "input must have rank >= 2, got ", shape_str(sizes_of(x)));
    const double eps = a.get_float("epsilon", 1e-5f);
    const double momentum = 1.0 - a.get_float("momentum", 0.9f);
    return at::batch_norm(x, in(1), in(2), in(3), in(4), is_training(), momentum, eps, true);
  }
  if (op == "Flatten") {
    const torch::Tensor& x = in(0);
    const Shape s = sizes_of(x);
    const auto r = static_cast<int64_t>(s.size());
    int64_t axis = a.get_int("axis", 1);
    TS_CHECK(axis >= -r && axis <= r, "axis ", axis, " is out of range for rank ", r);
    if (axis < 0) axis += r;
    const auto ax = static_cast<size_t>(axis);
    return x.reshape({product(s, 0, ax), product(s, ax, s.size())});
  }
  if (op == "Reshape") {
    const torch::Tensor& x = in(0);
    std::vector<int64_t> dims = const_ints(1);
    const bool allow_zero = a.get_int("allowzero", 0) != 0;
    const Shape& traced = g_.value(n.inputs[0]).shape;
    bool batch_done = !(dynamic_batch_ && !traced.empty() && traced[0] == kTraceBatch);
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] == 0 && !allow_zero) {
        TS_CHECK(static_cast<int64_t>(i) < x.dim(), "shape entry ", i,
                 " is 0 (copy) but the input has rank ", x.dim());
        dims[i] = x.size(static_cast<int64_t>(i));
      } else if (!batch_done && dims[i] == kTraceBatch) {
        dims[i] = x.size(0);
        batch_done = true;
      }
    }
    return x.reshape(dims);
  }
  if (op == "Squeeze") {
    torch::Tensor x = in(0);
    std::vector<int64_t> axes = has(1) ? const_ints(1) : a.get_ints("axes");
    if (axes.empty()) {  // every dimension of size 1 (known from the traced shape)
      const Shape& traced = g_.value(n.inputs[0]).shape;
      for (size_t d = 0; d < traced.size(); ++d)
        if (traced[d] == 1) axes.push_back(static_cast<int64_t>(d));
    }
    axes = norm_axes(axes, x.dim());
    for (size_t i = axes.size(); i-- > 0;) {
      TS_CHECK(x.size(axes[i]) == 1, "cannot squeeze axis ", axes[i], " of shape ",
               shape_str(sizes_of(x)));
      x = x.squeeze(axes[i]);
    }
    return x;
  }
  if (op == "Unsqueeze") {
    torch::Tensor x = in(0);
    std::vector<int64_t> axes = has(1) ? const_ints(1) : a.get_ints("axes");
    axes = norm_axes(axes, x.dim() + static_cast<int64_t>(axes.size()));
    for (int64_t ax : axes) x = x.unsqueeze(ax);
    return x;
  }
  if (op == "Transpose") {
    const torch::Tensor& x = in(0);
    std::vector<int64_t> perm = a.get_ints("perm");
    if (perm.empty())
      for (int64_t d = x.dim(); d-- > 0;) perm.push_back(d);
    TS_CHECK(static_cast<int64_t>(perm.size()) == x.dim(), "perm has ", perm.size(),
             " entries for rank ", x.dim());
    return x.permute(perm);
  }
  if (op == "Concat") {
    std::vector<torch::Tensor> parts;
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (has(i)) parts.push_back(in(i));
    TS_CHECK(!parts.empty(), "no inputs");
    return at::cat(parts, normalize_axis(a.get_int("axis"), parts[0].dim()));
  }
  if (op == "Identity") return in(0);
  if (op == "Dropout") {
    double ratio = a.get_float("ratio", 0.5f);
    if (has(1)) {
      const Tensor* t = constant(1);
      TS_CHECK(t->numel() == 1, "ratio must be a scalar");
      ratio = t->as_double(0);
    }
    TS_CHECK(ratio >= 0 && ratio < 1, "ratio ", ratio, " is outside [0, 1)");
    return is_training() && ratio > 0 ? at::dropout(in(0), ratio, true) : in(0);
  }
  if (op == "Softmax") {
    const torch::Tensor& x = in(0);
    if (a.get_int("_legacy_flatten", 0) != 0) {
      const Shape s = sizes_of(x);
      const auto axis = static_cast<size_t>(normalize_axis(a.get_int("axis", 1), x.dim()));
      return at::softmax(x.reshape({product(s, 0, axis), product(s, axis, s.size())}), 1)
          .reshape(s);
    }
    return at::softmax(x, normalize_axis(a.get_int("axis", -1), x.dim()));
  }
  if (op == "ReduceMean") {
    const torch::Tensor& x = in(0);
    std::vector<int64_t> axes = has(1) ? const_ints(1) : a.get_ints("axes");
    if (axes.empty())
      for (int64_t d = 0; d < x.dim(); ++d) axes.push_back(d);
    return x.mean(norm_axes(axes, x.dim()), a.get_int("keepdims", 1) != 0);
  }
  if (op == "Pad") {
    const torch::Tensor& x = in(0);
    TS_CHECK(a.get_string("mode", "constant") == "constant", "only mode 'constant' is supported");
    TS_CHECK(!has(3), "the axes input is not supported");
    const std::vector<int64_t> pads = has(1) ? const_ints(1) : a.get_ints("pads");
    const int64_t r = x.dim();
    TS_CHECK(static_cast<int64_t>(pads.size()) == 2 * r, "pads has ", pads.size(),
             " entries for rank ", r);
    double value = a.get_float("value", 0.f);
    if (has(2)) value = constant(2)->as_double(0);
    std::vector<int64_t> tp;  // torch order: last dim first, (begin, end) pairs
    for (int64_t d = r; d-- > 0;) {
      tp.push_back(pads[static_cast<size_t>(d)]);
      tp.push_back(pads[static_cast<size_t>(d + r)]);
    }
    return at::constant_pad_nd(x, tp, value);
  }
  fail("not supported by the LibTorch lowering");
}

}  // namespace teesplit
