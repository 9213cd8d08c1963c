#include "backends/cuda/plan.h"

#include <algorithm>
#include <climits>
#include <limits>
#include <optional>
#include <sstream>

#include "backends/activation.h"
#include "core/error.h"

namespace teesplit::cuda {
namespace {

constexpr size_t kAlign = 256;  // cudaMalloc's alignment; cuDNN likes aligned operands

bool is_view_op(const std::string& op) {
  return op == "Flatten" || op == "Reshape" || op == "Squeeze" || op == "Unsqueeze" ||
         op == "Identity" || op == "Dropout";
}

bool is_binary_op(const std::string& op) {
  return op == "Add" || op == "Sub" || op == "Mul" || op == "Div";
}

bool fits_int(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0 || d > INT_MAX) return false;
    n *= d;
    if (n > INT_MAX) return false;
  }
  return true;
}

// An activation as the CUDA kernels' ActSpec.
ActSpec act_spec(const Activation& a) {
  ActSpec s;
  switch (a.kind) {
    case ActKind::Relu:
      s.kind = Act::Relu;
      break;
    case ActKind::LeakyRelu:
      s.kind = Act::LeakyRelu;
      s.a = a.alpha;
      break;
    case ActKind::Sigmoid:
      s.kind = Act::Sigmoid;
      break;
    case ActKind::HardSigmoid:
      s.kind = Act::HardSigmoid;
      s.a = a.alpha;
      s.b = a.beta;
      break;
    case ActKind::HardSwish:
      s.kind = Act::HardSwish;
      break;
    case ActKind::Tanh:
      s.kind = Act::Tanh;
      break;
    case ActKind::Exp:
      s.kind = Act::Exp;
      break;
    case ActKind::Neg:
      s.kind = Act::Neg;
      break;
    case ActKind::Sqrt:
      s.kind = Act::Sqrt;
      break;
    case ActKind::Clip:  // an absent bound is infinite
      s.kind = Act::Clip;
      s.a = a.min.value_or(-std::numeric_limits<float>::infinity());
      s.b = a.max.value_or(std::numeric_limits<float>::infinity());
      break;
    case ActKind::SiLU:
      s.kind = Act::SiLU;
      break;
  }
  return s;
}

// The activation a single-input node computes, or nullopt.
std::optional<ActSpec> unary_spec(const Graph& g, const Node& n) {
  auto a = activation_of(g, n);
  if (!a) return std::nullopt;
  return act_spec(*a);
}

const char* act_name(Act k) {
  switch (k) {
    case Act::None:
      return "none";
    case Act::Relu:
      return "Relu";
    case Act::LeakyRelu:
      return "LeakyRelu";
    case Act::Clip:
      return "Clip";
    case Act::Sigmoid:
      return "Sigmoid";
    case Act::HardSigmoid:
      return "HardSigmoid";
    case Act::HardSwish:
      return "HardSwish";
    case Act::SiLU:
      return "SiLU";
    case Act::Tanh:
      return "Tanh";
    case Act::Exp:
      return "Exp";
    case Act::Neg:
      return "Neg";
    case Act::Sqrt:
      return "Sqrt";
  }
  return "?";
}

// A ReduceMean whose reduced axes are the input's last ones (or all of them) is
// GlobalAveragePool's per-plane mean, whatever keepdims says (it only changes
// the shape): torch.export writes ResNet's average pool so. Its {planes, area},
// or nothing for other axes, non-constant axes, or noop_with_empty_axes.
std::optional<std::pair<int64_t, int64_t>> reduce_mean_planes(const Graph& g, const Node& n) {
  const Shape& xs = g.value(n.inputs[0]).shape;
  const auto rank = static_cast<int64_t>(xs.size());
  std::vector<int64_t> axes;
  if (n.inputs.size() > 1 && n.inputs[1] >= 0) {  // opset 18: an input
    const Value& a = g.value(n.inputs[1]);
    if (!a.constant || a.constant->dtype() != DType::I64) return std::nullopt;
    const int64_t* d = a.constant->data<int64_t>();
    axes.assign(d, d + a.constant->numel());
  } else {
    axes = n.attrs.get_ints("axes");
  }
  if (axes.empty()) {
    if (n.attrs.get_int("noop_with_empty_axes", 0) != 0) return std::nullopt;
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank) return std::nullopt;
    if (a < 0) a += rank;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) return std::nullopt;
  const int64_t first = rank - static_cast<int64_t>(axes.size());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != first + static_cast<int64_t>(i)) return std::nullopt;
  int64_t planes = 1, area = 1;
  for (int64_t i = 0; i < rank; ++i) (i < first ? planes : area) *= xs[static_cast<size_t>(i)];
  return std::make_pair(planes, area);
}

const char* kind_name(StepKind k) {
  switch (k) {
    case StepKind::Conv:
      return "conv";
    case StepKind::Pad:
      return "pad";
    case StepKind::Pool:
      return "pool";
    case StepKind::GlobalPool:
      return "global_pool";
    case StepKind::Unary:
      return "unary";
    case StepKind::Binary:
      return "binary";
    case StepKind::Gemm:
      return "gemm";
    case StepKind::Softmax:
      return "softmax";
  }
  return "?";
}

std::string where(const Node& n) {
  return detail::concat("node '", n.name, "' (", n.op, ")");
}

class Planner {
 public:
  explicit Planner(const Graph& graph) : g(graph) {
    consumers = g.consumers();
    is_output.assign(g.values.size(), 0);
    for (int v : g.outputs) is_output[static_cast<size_t>(v)] = 1;
    consumed.assign(g.nodes.size(), 0);
    value_buf.assign(g.values.size(), -1);
    const_buf.assign(g.values.size(), -1);
  }

  Plan run() {
    for (int v : g.inputs) {
      const Value& vv = g.value(v);
      TS_CHECK(vv.dtype == DType::F32, "cuda: input '", vv.name, "' is ", dtype_name(vv.dtype),
               "; the CUDA backend takes float32 inputs only");
      TS_CHECK(shape_known(vv.shape), "cuda: input '", vv.name, "' has unknown shape ",
               shape_str(vv.shape), " (compile a specialised graph)");
      int b = new_buf(vv.name, vv.shape);
      value_buf[static_cast<size_t>(v)] = b;
      p.inputs.push_back(b);
    }
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (consumed[i]) continue;
      const Node& n = g.nodes[i];
      std::string why = unsupported_reason(g, n);
      TS_CHECK(why.empty(), "cuda: ", where(n), ": ", why);
      consumed[i] = 1;
      try {
        lower(static_cast<int>(i));
      } catch (const Error& e) {
        const std::string msg = e.what();
        if (msg.rfind("cuda: ", 0) == 0) throw;
        fail("cuda: ", where(n), ": ", msg);
      }
    }
    for (int v : g.outputs) {
      int b = value_buf[static_cast<size_t>(v)];
      if (b < 0 && g.value(v).constant) {
        p.outputs.push_back(-1);
        p.constant_outputs.push_back(*g.value(v).constant);
        continue;
      }
      TS_CHECK(b >= 0, "cuda: graph output '", g.value(v).name, "' is never computed");
      p.outputs.push_back(b);
      p.constant_outputs.emplace_back();
    }
    plan_memory();
    return std::move(p);
  }

 private:
  const Graph& g;
  Plan p;
  std::vector<std::vector<int>> consumers;
  std::vector<char> is_output, consumed;
  std::vector<int> value_buf, const_buf;

  int new_buf(const std::string& name, const Shape& s) {
    Buf b;
    b.name = name;
    b.shape = s;
    p.bufs.push_back(std::move(b));
    return static_cast<int>(p.bufs.size()) - 1;
  }

  // The buffer holding value v: computed earlier, or a float32 constant uploaded once.
  int buf_of(int v) {
    int b = value_buf[static_cast<size_t>(v)];
    if (b >= 0) return b;
    const Value& vv = g.value(v);
    TS_CHECK(vv.constant, "cuda: value '", vv.name, "' is read before any node computes it");
    TS_CHECK(vv.constant->dtype() == DType::F32, "cuda: constant '", vv.name, "' is ",
             dtype_name(vv.constant->dtype()), " where float32 is needed");
    b = constant_buf(vv.name, *vv.constant);
    value_buf[static_cast<size_t>(v)] = b;
    return b;
  }

  int constant_buf(const std::string& name, const Tensor& t) {
    int b = new_buf(name, t.shape());
    p.bufs[static_cast<size_t>(b)].constant = static_cast<int>(p.constants.size());
    p.constants.push_back(t);
    return b;
  }

  // Output buffer for value v (fresh arena storage).
  int out_buf(int v) {
    const Value& vv = g.value(v);
    TS_CHECK(shape_known(vv.shape), "cuda: value '", vv.name, "' has unknown shape ",
             shape_str(vv.shape), " (compile a specialised graph)");
    int b = new_buf(vv.name, vv.shape);
    value_buf[static_cast<size_t>(v)] = b;
    return b;
  }

  const Shape& shape(int v) const { return g.value(v).shape; }

  Readers readers() const { return Readers{g, consumers, is_output, consumed}; }

  int sole_consumer(int v) const { return readers().sole_reader(v); }

  // Fuses one activation reading v (fusable_activation(): a single-reader
  // activation node that unsupported_reason() accepts, or the x*sigmoid(x)
  // pair). Marks the fused nodes consumed; returns the value the fused step
  // writes (v when nothing was fused).
  int match_activation(int v, ActSpec* act, std::string* label) {
    auto m = fusable_activation(readers(), v);
    if (!m) return v;
    const Node& n = g.nodes[static_cast<size_t>(m->node)];
    if (m->mul < 0 && !unsupported_reason(g, n).empty()) return v;
    consumed[static_cast<size_t>(m->node)] = 1;
    if (m->mul >= 0) consumed[static_cast<size_t>(m->mul)] = 1;
    *act = act_spec(m->act);
    *label += m->mul >= 0 ? std::string(" + SiLU") : " + " + n.op;
    return m->out;
  }

  Step& add_step(StepKind kind, const std::string& label) {
    Step s;
    s.kind = kind;
    s.label = label;
    p.steps.push_back(std::move(s));
    return p.steps.back();
  }

  void lower(int ni) {
    const Node& n = g.nodes[static_cast<size_t>(ni)];
    const std::string& op = n.op;
    if (op == "Conv") return lower_conv(n);
    if (op == "MaxPool" || op == "AveragePool") return lower_pool(n);
    if (op == "GlobalAveragePool" || op == "GlobalMaxPool") return lower_global_pool(n);
    if (op == "ReduceMean") return lower_reduce_mean(n);
    if (is_binary_op(op)) return lower_binary(n);
    if (op == "Gemm" || op == "MatMul") return lower_gemm(n);
    if (op == "Softmax") return lower_softmax(n);
    if (is_view_op(op)) return lower_view(n);
    if (unary_spec(g, n)) return lower_unary(ni);
    fail("no CUDA lowering");  // unsupported_reason() let it through: a bug
  }

  void lower_conv(const Node& n) {
    const int xv = n.inputs[0], wv = n.inputs[1];
    ConvParams cp = conv_params(n.attrs, shape(xv), shape(wv));
    int x = buf_of(xv);
    std::string label = where(n);
    if (cp.pad_top != cp.pad_bottom || cp.pad_left != cp.pad_right) {
      // cuDNN's convolution pads both sides alike: zero-pad into a temporary first.
      Shape ps{cp.n, cp.c, cp.h + cp.pad_top + cp.pad_bottom, cp.w + cp.pad_left + cp.pad_right};
      TS_CHECK(fits_int(ps), "padded input ", shape_str(ps), " is too large for cuDNN");
      int padded = new_buf(g.value(xv).name + ".padded", ps);
      Step& s = add_step(StepKind::Pad, where(n) + ": asymmetric pads");
      s.conv = cp;
      s.in = {x};
      s.out = padded;
      x = padded;
      cp.h = ps[2];
      cp.w = ps[3];
      cp.pad_top = cp.pad_bottom = cp.pad_left = cp.pad_right = 0;
    }
    const int w = buf_of(wv);
    const int bias = n.inputs.size() > 2 && n.inputs[2] >= 0 ? buf_of(n.inputs[2]) : -1;
    int v = n.outputs[0];
    int residual = -1;
    // Residual: Add(conv, z) with z already computed and of the same shape.
    const int k = sole_consumer(v);
    if (k >= 0) {
      const Node& a = g.nodes[static_cast<size_t>(k)];
      if (a.op == "Add" && a.inputs.size() == 2 && unsupported_reason(g, a).empty()) {
        const int z = a.inputs[0] == v ? a.inputs[1] : a.inputs[0];
        if (z >= 0 && z != v && !g.value(z).constant && value_buf[static_cast<size_t>(z)] >= 0 &&
            shape(z) == shape(v) && shape(a.outputs[0]) == shape(v)) {
          residual = buf_of(z);
          consumed[static_cast<size_t>(k)] = 1;
          label += " + Add";
          v = a.outputs[0];
        }
      }
    }
    ActSpec act;
    v = match_activation(v, &act, &label);
    Step& s = add_step(StepKind::Conv, label);
    s.conv = cp;
    s.act = act;
    s.in = {x, w, bias, residual};
    s.out = out_buf(v);
  }

  void lower_pool(const Node& n) {
    Step& s = add_step(StepKind::Pool, where(n));
    s.pool = pool_params(n.attrs, shape(n.inputs[0]));
    s.pool_max = n.op == "MaxPool";
    s.in = {buf_of(n.inputs[0])};
    s.out = out_buf(n.outputs[0]);
  }

  void lower_global_pool(const Node& n) {
    const Shape& xs = shape(n.inputs[0]);
    Step& s = add_step(StepKind::GlobalPool, where(n));
    s.pool_max = n.op == "GlobalMaxPool";
    s.planes = xs[0] * xs[1];
    s.area = 1;
    for (size_t i = 2; i < xs.size(); ++i) s.area *= xs[i];
    s.in = {buf_of(n.inputs[0])};
    s.out = out_buf(n.outputs[0]);
  }

  void lower_reduce_mean(const Node& n) {
    const auto pa = reduce_mean_planes(g, n);
    TS_CHECK(pa, "ReduceMean: unsupported axes");  // unsupported_reason() let it through: a bug
    Step& s = add_step(StepKind::GlobalPool, where(n));
    s.pool_max = false;
    s.planes = pa->first;
    s.area = pa->second;
    s.in = {buf_of(n.inputs[0])};
    s.out = out_buf(n.outputs[0]);
  }

  void lower_unary(int ni) {
    const Node& n = g.nodes[static_cast<size_t>(ni)];
    ActSpec act = *unary_spec(g, n);
    const int x = n.inputs[0];
    int v = n.outputs[0];
    std::string label = where(n);
    if (n.op == "Sigmoid") {
      // Only when x has no other reader, as for a SiLU fused into x's producer.
      const int m = silu_mul(readers(), ni);
      if (m >= 0 && readers().read_only_by(x, ni, m)) {
        consumed[static_cast<size_t>(m)] = 1;
        act.kind = Act::SiLU;
        label += " + Mul (SiLU)";
        v = g.nodes[static_cast<size_t>(m)].outputs[0];
      }
    }
    Step& s = add_step(StepKind::Unary, label);
    s.act = act;
    s.count = shape_numel(shape(x));
    s.in = {buf_of(x)};
    s.out = out_buf(v);
  }

  void lower_binary(const Node& n) {
    const int av = n.inputs[0], bv = n.inputs[1];
    const Shape& os = shape(n.outputs[0]);
    const int r = static_cast<int>(os.size());
    TS_CHECK(r <= 6, "rank ", r, " is above the CUDA binary kernel's 6");
    int64_t dims[6], as[6], bs[6];
    auto strides = [&](const Shape& s, int64_t* st) {
      const int rs = static_cast<int>(s.size());
      TS_CHECK(rs <= r, "operand ", shape_str(s), " has a higher rank than the output ",
               shape_str(os));
      int64_t acc = 1;
      for (int d = r - 1; d >= 0; --d) {
        const int sd = d - (r - rs);
        const int64_t dim = sd >= 0 ? s[static_cast<size_t>(sd)] : 1;
        TS_CHECK(dim == os[static_cast<size_t>(d)] || dim == 1, "operand ", shape_str(s),
                 " does not broadcast to ", shape_str(os));
        st[d] = (dim == 1 && os[static_cast<size_t>(d)] != 1) ? 0 : acc;
        acc *= dim;
      }
    };
    for (int d = 0; d < r; ++d) dims[d] = os[static_cast<size_t>(d)];
    strides(shape(av), as);
    strides(shape(bv), bs);
    // Collapse: drop size-1 dims, merge neighbours that are contiguous (or both
    // broadcast) in both operands.
    int nd = 0;
    int64_t cd[6], ca[6], cb[6];
    for (int d = 0; d < r; ++d) {
      if (dims[d] == 1) continue;
      if (nd > 0) {
        const int l = nd - 1;
        auto mergeable = [&](const int64_t* src, const int64_t* col) {
          return (col[l] == 0 && src[d] == 0) ||
                 (col[l] != 0 && src[d] != 0 && col[l] == src[d] * dims[d]);
        };
        if (mergeable(as, ca) && mergeable(bs, cb)) {
          cd[l] *= dims[d];
          ca[l] = as[d];
          cb[l] = bs[d];
          continue;
        }
      }
      cd[nd] = dims[d];
      ca[nd] = as[d];
      cb[nd] = bs[d];
      ++nd;
    }
    if (nd == 0) {  // a single element
      cd[0] = 1;
      ca[0] = cb[0] = 1;
      nd = 1;
    }
    std::string label = where(n);
    int v = n.outputs[0];
    ActSpec act;
    v = match_activation(v, &act, &label);
    Step& s = add_step(StepKind::Binary, label);
    const std::string& op = n.op;
    s.bin_op = op == "Add" ? 0 : op == "Sub" ? 1 : op == "Mul" ? 2 : 3;
    s.bin_ndim = nd;
    for (int d = 0; d < nd; ++d) {
      s.bin_dims[d] = cd[d];
      s.bin_a_stride[d] = ca[d];
      s.bin_b_stride[d] = cb[d];
    }
    s.act = act;
    s.in = {buf_of(av), buf_of(bv)};
    s.out = out_buf(v);
  }

  void lower_gemm(const Node& n) {
    const Shape& a = shape(n.inputs[0]);
    const Shape& b = shape(n.inputs[1]);
    int64_t m, k, nn;
    bool ta = false, tb = false;
    float alpha = 1.f, beta = 1.f;
    int c = -1;
    if (n.op == "Gemm") {
      ta = n.attrs.get_int("transA", 0) != 0;
      tb = n.attrs.get_int("transB", 0) != 0;
      alpha = n.attrs.get_float("alpha", 1.f);
      beta = n.attrs.get_float("beta", 1.f);
      m = ta ? a[1] : a[0];
      k = ta ? a[0] : a[1];
      nn = tb ? b[0] : b[1];
      TS_CHECK((tb ? b[1] : b[0]) == k, "A ", shape_str(a), " and B ", shape_str(b),
               " do not multiply");
      if (n.inputs.size() > 2 && n.inputs[2] >= 0 && beta != 0.f) {
        const Tensor& ct = *g.value(n.inputs[2]).constant;
        const Shape& cs = ct.shape();
        TS_CHECK(cs.size() <= 2, "C has rank ", cs.size());
        const int64_t cr = cs.size() == 2 ? cs[0] : 1;
        const int64_t cc = cs.empty() ? 1 : cs.back();
        TS_CHECK((cr == 1 || cr == m) && (cc == 1 || cc == nn), "C ", shape_str(cs),
                 " does not broadcast to [", m, ",", nn, "]");
        Tensor full(DType::F32, {m, nn});
        const float* src = ct.data<float>();
        float* dst = full.data<float>();
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < nn; ++j)
            dst[i * nn + j] = beta * src[(cr == 1 ? 0 : i) * cc + (cc == 1 ? 0 : j)];
        c = constant_buf(g.value(n.inputs[2]).name + ".full", full);
      }
    } else {  // MatMul: A [..., M, K] x B [K, N]
      k = a.back();
      m = 1;
      for (size_t i = 0; i + 1 < a.size(); ++i) m *= a[i];
      TS_CHECK(b[0] == k, "A ", shape_str(a), " and B ", shape_str(b), " do not multiply");
      nn = b[1];
    }
    // Each operand (not the product of all three sizes) must be int-addressable.
    TS_CHECK(fits_int({m, k}) && fits_int({k, nn}) && fits_int({m, nn}), "GEMM [", m, "x", k,
             "] x [", k, "x", nn, "] is too large for cuBLAS's int sizes");
    std::string label = where(n);
    int v = n.outputs[0];
    ActSpec act;
    v = match_activation(v, &act, &label);
    Step& s = add_step(StepKind::Gemm, label);
    s.m = m;
    s.n = nn;
    s.k = k;
    s.trans_a = ta;
    s.trans_b = tb;
    s.alpha = alpha;
    s.act = act;
    s.in = {buf_of(n.inputs[0]), buf_of(n.inputs[1]), c};
    s.out = out_buf(v);
  }

  void lower_softmax(const Node& n) {
    const Shape& s = shape(n.inputs[0]);
    const int64_t r = static_cast<int64_t>(s.size());
    const bool legacy = n.attrs.get_int("_legacy_flatten", 0) != 0;
    int64_t axis = n.attrs.get_int("axis", legacy ? 1 : -1);
    TS_CHECK(axis >= -r && axis < std::max<int64_t>(r, 1), "axis ", axis, " out of range for ",
             shape_str(s));
    if (axis < 0) axis += r;
    int64_t outer = 1, len = 1, inner = 1;
    for (int64_t i = 0; i < r; ++i) {
      const int64_t d = s[static_cast<size_t>(i)];
      if (i < axis)
        outer *= d;
      else if (i == axis || legacy)
        len *= d;
      else
        inner *= d;
    }
    TS_CHECK(fits_int({outer, len, inner}), "softmax dims too large for cuDNN");
    Step& st = add_step(StepKind::Softmax, where(n));
    st.outer = outer;
    st.axis_len = len;
    st.inner = inner;
    st.in = {buf_of(n.inputs[0])};
    st.out = out_buf(n.outputs[0]);
  }

  void lower_view(const Node& n) {
    const int x = buf_of(n.inputs[0]);
    const int out = n.outputs[0];
    TS_CHECK(shape_known(shape(out)), "output has unknown shape");
    TS_CHECK(shape_numel(shape(out)) == shape_numel(p.bufs[static_cast<size_t>(x)].shape), "view ",
             shape_str(shape(out)), " of ", shape_str(p.bufs[static_cast<size_t>(x)].shape),
             " changes the element count");
    int b = new_buf(g.value(out).name, shape(out));
    Buf& bb = p.bufs[static_cast<size_t>(b)];
    bb.root = p.root_of(x);
    value_buf[static_cast<size_t>(out)] = b;
  }

  void plan_memory() {
    const int nsteps = static_cast<int>(p.steps.size());
    auto touch = [&](int b, int k) {
      if (b < 0) return;
      Buf& r = p.bufs[static_cast<size_t>(p.root_of(b))];
      if (r.constant >= 0) return;
      r.first = r.first < 0 ? k : std::min(r.first, k);
      r.last = std::max(r.last, k);
    };
    for (int b : p.inputs) touch(b, 0);
    for (int k = 0; k < nsteps; ++k) {
      for (int b : p.steps[static_cast<size_t>(k)].in) touch(b, k);
      touch(p.steps[static_cast<size_t>(k)].out, k);
    }
    for (int b : p.outputs) touch(b, nsteps);
    std::vector<BufferRequest> reqs;
    std::vector<int> which;
    for (size_t i = 0; i < p.bufs.size(); ++i) {
      const Buf& b = p.bufs[i];
      if (b.root >= 0 || b.constant >= 0 || b.first < 0) continue;
      reqs.push_back({b.bytes(), b.first, b.last});
      which.push_back(static_cast<int>(i));
    }
    const ArenaPlan arena = plan_arena(reqs, kAlign);
    p.arena_bytes = arena.total;
    for (size_t i = 0; i < which.size(); ++i)
      p.bufs[static_cast<size_t>(which[i])].offset = arena.offsets[i];
    // Constants: one allocation, each aligned.
    size_t off = 0;
    for (Buf& b : p.bufs) {
      if (b.constant < 0 || b.root >= 0) continue;
      b.offset = off;
      off += (b.bytes() + kAlign - 1) / kAlign * kAlign;
    }
    p.constant_bytes = off;
  }
};

}  // namespace

size_t Buf::bytes() const {
  return static_cast<size_t>(shape_numel(shape)) * sizeof(float);
}

std::string unsupported_reason(const Graph& g, const Node& n) {
  const std::string& op = n.op;
  const bool view = is_view_op(op);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const int v = n.inputs[i];
    if (v < 0) continue;
    const Value& vv = g.value(v);
    if (vv.constant) continue;  // checked per operator below
    if (vv.dtype != DType::F32)
      return detail::concat("input '", vv.name, "' is ", dtype_name(vv.dtype),
                            "; the CUDA backend computes float32 only");
    if (!shape_known(vv.shape))
      return detail::concat("input '", vv.name, "' has unknown shape ", shape_str(vv.shape));
    if (view && i > 0)
      return detail::concat("the shape operand '", vv.name, "' is computed at run time");
  }
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    const int v = n.outputs[i];
    if (v < 0) continue;
    const Value& vv = g.value(v);
    if (i > 0) {
      // Optional extra outputs (MaxPool Indices, Dropout mask) must be unused.
      bool used = false;
      for (int o : g.outputs) used |= o == v;
      for (const Node& m : g.nodes)
        for (int in : m.inputs) used |= in == v;
      if (used) return detail::concat("output ", i, " ('", vv.name, "') is not supported");
      continue;
    }
    if (vv.dtype != DType::F32)
      return detail::concat("output '", vv.name, "' is ", dtype_name(vv.dtype),
                            "; the CUDA backend computes float32 only");
    if (!shape_known(vv.shape))
      return detail::concat("output '", vv.name, "' has unknown shape ", shape_str(vv.shape),
                            " (compile a specialised graph)");
  }
  if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty() || n.outputs[0] < 0)
    return "missing input or output";
  const Value& x = g.value(n.inputs[0]);
  auto f32_const = [&](size_t i) {
    return i < n.inputs.size() && n.inputs[i] >= 0 && g.value(n.inputs[i]).constant &&
           g.value(n.inputs[i]).constant->dtype() == DType::F32;
  };
  if (x.constant && !view && !is_binary_op(op))
    return "the first input is a constant (fold it first)";
  if (op == "Conv") {
    if (x.shape.size() != 4) return "only 2-D convolution (4-D NCHW input) is supported";
    if (!f32_const(1)) return "the weights must be a float32 constant";
    if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !f32_const(2))
      return "the bias must be a float32 constant";
    if (!fits_int(x.shape) || !fits_int(g.value(n.outputs[0]).shape))
      return "tensor too large for cuDNN's int dimensions";
    return {};
  }
  if (op == "MaxPool" || op == "AveragePool") {
    if (x.shape.size() != 4) return "only 2-D pooling (4-D NCHW input) is supported";
    return {};
  }
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool") {
    if (x.shape.size() < 3) return "input rank below 3";
    return {};
  }
  if (op == "ReduceMean") {
    if (x.dtype != DType::F32) return "the input is not float32";
    if (!reduce_mean_planes(g, n))
      return "only ReduceMean over the input's last axes (a global average pool: axes [2, 3] "
             "of NCHW) is supported, with constant axes";
    return {};
  }
  if (is_binary_op(op)) {
    if (n.inputs.size() != 2 || n.inputs[1] < 0) return "needs two inputs";
    const Value& b = g.value(n.inputs[1]);
    if (b.dtype != DType::F32 || x.dtype != DType::F32) return "an operand is not float32";
    if (x.constant && b.constant) return "both operands are constants (fold them first)";
    if (g.value(n.outputs[0]).shape.size() > 6) return "rank above 6";
    return {};
  }
  if (op == "Gemm") {
    if (x.shape.size() != 2 || g.value(n.inputs[1]).shape.size() != 2) return "A and B must be 2-D";
    if (n.inputs[1] >= 0 && g.value(n.inputs[1]).dtype != DType::F32) return "B is not float32";
    if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !f32_const(2))
      return "C must be a float32 constant";
    return {};
  }
  if (op == "MatMul") {
    if (n.inputs.size() != 2 || n.inputs[1] < 0) return "needs two inputs";
    if (x.shape.size() < 2 || g.value(n.inputs[1]).shape.size() != 2)
      return "only A [..., M, K] x B [K, N] (2-D B) is supported";
    if (g.value(n.inputs[1]).dtype != DType::F32) return "B is not float32";
    return {};
  }
  if (op == "Softmax") return {};
  if (view) {
    if (x.constant) return "views of constants are folded";
    return {};
  }
  if (op == "Clip") {
    if (!activation_of(g, n)) return "Clip bounds must be float32 scalar constants";
    return {};
  }
  if (unary_spec(g, n)) return {};
  if (op == "BatchNormalization")
    return "BatchNormalization that is not folded into a Conv has no CUDA kernel";
  return "operator " + op +
         " has no CUDA kernel (after constant folding the back partition should hold only "
         "compute operators)";
}

Plan make_plan(const Graph& g) {
  g.validate();
  Planner pl(g);
  return pl.run();
}

std::string describe(const Plan& p) {
  std::ostringstream os;
  for (const Step& s : p.steps) {
    os << kind_name(s.kind) << " " << s.label;
    if (s.act.kind != Act::None) os << " [act " << act_name(s.act.kind) << "]";
    os << ":";
    for (int b : s.in)
      if (b >= 0) os << " " << shape_str(p.bufs[static_cast<size_t>(b)].shape);
    os << " -> " << shape_str(p.bufs[static_cast<size_t>(s.out)].shape) << "\n";
  }
  os << "arena " << p.arena_bytes << " bytes, constants " << p.constant_bytes << " bytes\n";
  return os.str();
}

}  // namespace teesplit::cuda
