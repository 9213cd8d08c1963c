#include "graph/passes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/limits.h"
#include "ops/conv.h"
#include "ops/kernels.h"
#include "ops/op.h"
#include "ops/pool.h"

namespace teesplit {
namespace {

[[noreturn]] void node_fail(const Node& n, const std::string& msg) {
  fail("node '", n.name, "' (", n.op, "): ", msg);
}

int64_t sat_add(int64_t a, int64_t b) {
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}
int64_t sat_mul(int64_t a, int64_t b) {
  return b != 0 && a > INT64_MAX / b ? INT64_MAX : a * b;
}
int64_t sat_from_double(double v) {
  return v >= 9.0e18 ? INT64_MAX : static_cast<int64_t>(v);
}

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// shape_str, shortened past 16 dimensions: a message must stay one line.
std::string shape_brief(const Shape& s) {
  if (s.size() <= 16) return shape_str(s);
  std::string r = "[";
  for (size_t i = 0; i < 16; ++i) r += std::to_string(s[i]) + ",";
  return r + "...] (rank " + std::to_string(s.size()) + ")";
}

// Rule 1 of core/limits.h for one tensor of node n.
void check_shape_limits(const Node& n, const std::string& role, const std::string& name,
                        const Shape& s) {
  const std::string has = role == "output" ? "' would have " : "' has ";
  if (static_cast<int64_t>(s.size()) > limits::kMaxRank)
    node_fail(n, role + " '" + name + has + "rank " + std::to_string(s.size()) +
                     "; teesplit allows at most " + std::to_string(limits::kMaxRank) +
                     " dimensions");
  if (limits::shape_extent(s) > limits::kMaxElements)
    node_fail(n, role + " '" + name + has + "shape " + shape_brief(s) + ", more than the " +
                     std::to_string(limits::kMaxElements) +
                     " elements teesplit allows for one tensor (zero dimensions counted as 1)");
}

// The model's own bytes: its constants and attribute payloads as loaded.
int64_t model_bytes(const Graph& g) {
  int64_t total = 0;
  for (const Value& v : g.values)
    if (v.constant) total = sat_add(total, static_cast<int64_t>(v.constant->nbytes()));
  for (const Node& n : g.nodes)
    for (const auto& [name, a] : n.attrs.all()) {
      if (const auto* t = std::get_if<Tensor>(&a))
        total = sat_add(total, static_cast<int64_t>(t->nbytes()));
      else if (const auto* iv = std::get_if<std::vector<int64_t>>(&a))
        total = sat_add(total, static_cast<int64_t>(iv->size() * 8));
      else if (const auto* fv = std::get_if<std::vector<float>>(&a))
        total = sat_add(total, static_cast<int64_t>(fv->size() * 4));
    }
  return total;
}

// Rules 3 and 4 of core/limits.h for one infer_shapes call: what constant folding
// may create and do, relative to the model's own bytes.
class FoldBudget {
 public:
  explicit FoldBudget(const Graph& g)
      : model_bytes_(model_bytes(g)),
        max_bytes_(
            std::max(limits::kFoldFloorBytes, sat_mul(limits::kFoldPerModelByte, model_bytes_))),
        max_work_(
            std::max(limits::kFoldFloorWork, sat_mul(limits::kFoldPerModelByte, model_bytes_))) {}

  // Element operations (reads, writes, multiply-adds) of node n.
  void charge_work(const Node& n, int64_t work, const std::string& what) {
    work_ = sat_add(work_, work);
    if (work_ <= max_work_) return;
    node_fail(n, what + " would bring shape inference and constant folding to " +
                     std::to_string(work_) + " element operations, more than the limit of " +
                     std::to_string(max_work_) + " (the larger of " +
                     std::to_string(limits::kFoldFloorWork) + " and " + per_model_byte() +
                     "; docs/usage.md, Limits)");
  }

  // The constants node n's folding creates (outputs of these shapes).
  void charge_outputs(const Node& n, const std::vector<const Shape*>& shapes) {
    int64_t add = 0;
    for (const Shape* s : shapes)
      add = sat_add(add, sat_mul(limits::shape_extent(*s), limits::kFoldBytesPerElement));
    bytes_ = sat_add(bytes_, add);
    if (bytes_ <= max_bytes_) return;
    node_fail(n, "folding it would create a constant of shape " + shape_brief(*shapes.front()) +
                     ", bringing folded constants to " + mib(bytes_) + " (at " +
                     std::to_string(limits::kFoldBytesPerElement) +
                     " bytes per element), more than the limit of " + mib(max_bytes_) +
                     " (the larger of " + mib(limits::kFoldFloorBytes) + " and " +
                     per_model_byte() + "; docs/usage.md, Limits)");
  }

 private:
  std::string per_model_byte() const {
    return std::to_string(limits::kFoldPerModelByte) + " x the model's " +
           std::to_string(model_bytes_) + " bytes of constants";
  }
  int64_t model_bytes_, max_bytes_, max_work_;
  int64_t bytes_ = 0, work_ = 0;
};

// Element operations the reference kernel of a foldable node n performs: every
// input read and every output written once per input (broadcasting, variadic
// Max), each times the largest rank (the kernels step an index per dimension),
// plus the multiply-adds of Conv/Gemm/MatMul and the windows of pooling.
int64_t fold_work(const Graph& g, const Node& n) {
  int64_t in = 0, out = 0, present = 0, rank = 1;
  for (int id : n.inputs)
    if (id >= 0) {
      in = sat_add(in, limits::shape_extent(g.value(id).shape));
      rank = std::max(rank, static_cast<int64_t>(g.value(id).shape.size()));
      ++present;
    }
  for (int id : n.outputs)
    if (id >= 0) {
      out = sat_add(out, limits::shape_extent(g.value(id).shape));
      rank = std::max(rank, static_cast<int64_t>(g.value(id).shape.size()));
    }
  int64_t work = sat_mul(sat_add(in, sat_mul(out, std::max<int64_t>(1, present))), rank);
  if (n.op == "Conv" || n.op == "Gemm" || n.op == "MatMul")
    work = sat_add(work, sat_from_double(node_flops(g, n) / 2));
  if ((n.op == "MaxPool" || n.op == "AveragePool") && n.inputs[0] >= 0) {
    const PoolParams p = pool_params(n.attrs, g.value(n.inputs[0]).shape);
    work = sat_add(work, sat_mul(out, sat_mul(p.kh, p.kw)));
  }
  return work;
}

bool all_inputs_constant(const Graph& g, const Node& n) {
  for (int id : n.inputs)
    if (id >= 0 && !g.value(id).is_constant()) return false;
  return true;
}

}  // namespace

void infer_shapes(Graph& g, bool fold) {
  FoldBudget budget(g);
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (Node& n : g.nodes) {
    const OpSchema* op = find_op(n.op);
    if (!op) node_fail(n, "operator " + n.op + " is not supported");
    const int nin = static_cast<int>(n.inputs.size());
    if (nin < op->min_inputs || nin > op->max_inputs)
      node_fail(n, "takes " + std::to_string(op->min_inputs) + " to " +
                       std::to_string(op->max_inputs) + " inputs, got " + std::to_string(nin));
    if (static_cast<int>(n.outputs.size()) > op->max_outputs)
      node_fail(n, "has " + std::to_string(n.outputs.size()) + " outputs, at most " +
                       std::to_string(op->max_outputs) + " allowed");
    std::vector<ValueInfo> infos(n.inputs.size());
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (n.inputs[i] < 0) continue;
      const Value& v = g.value(n.inputs[i]);
      check_shape_limits(n, "input", v.name, v.shape);
      if (!shape_known(v.shape))
        node_fail(n, "input '" + v.name + "' has unknown shape " + shape_str(v.shape));
      infos[i] = {true, v.dtype, v.shape, v.constant ? &*v.constant : nullptr};
    }
    // Gather's shape function checks every constant index.
    if (n.op == "Gather" && infos.size() > 1 && infos[1].value)
      budget.charge_work(n, infos[1].value->numel(), "checking its constant indices");
    std::vector<TensorInfo> outs;
    try {
      outs = op->infer(n.attrs, infos);
    } catch (const Error& e) {
      node_fail(n, e.what());
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k] < 0) continue;
      if (k >= outs.size()) node_fail(n, "output " + std::to_string(k) + " is not produced");
      Value& v = g.value(n.outputs[k]);
      check_shape_limits(n, "output", v.name, outs[k].shape);
      v.dtype = outs[k].dtype;
      v.shape = outs[k].shape;
    }
    const bool foldable = all_inputs_constant(g, n) || n.op == "Shape" || n.op == "Size";
    if (!fold || !foldable) {
      kept.push_back(std::move(n));
      continue;
    }
    if (n.op != "Shape" && n.op != "Size") {  // those two fold from the shape alone
      std::vector<const Shape*> shapes;
      for (int id : n.outputs)
        if (id >= 0) shapes.push_back(&g.value(id).shape);
      if (!shapes.empty()) budget.charge_outputs(n, shapes);
      budget.charge_work(n, fold_work(g, n), "folding it");
    }
    std::vector<const Tensor*> ins;
    for (int id : n.inputs)
      ins.push_back(id >= 0 && g.value(id).constant ? &*g.value(id).constant : nullptr);
    std::vector<Tensor> vals;
    if (n.op == "Shape" || n.op == "Size") {
      // Evaluate from the known shape without materialising the input.
      const Value& in = g.value(n.inputs[0]);
      std::vector<int64_t> dims = in.shape;
      if (n.op == "Size") {
        vals.push_back(Tensor::from<int64_t>({}, {shape_numel(dims)}));
      } else {
        vals.push_back(shape_of_dims(n.attrs, dims));
      }
    } else {
      try {
        vals = op->run(n.attrs, ins);
      } catch (const Error& e) {
        node_fail(n, e.what());
      }
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k] < 0) continue;
      if (k >= vals.size()) node_fail(n, "output " + std::to_string(k) + " is not produced");
      Value& v = g.value(n.outputs[k]);
      if (vals[k].shape() != v.shape)
        node_fail(n, "kernel produced shape " + shape_str(vals[k].shape()) + ", inference said " +
                         shape_str(v.shape));
      v.constant = std::move(vals[k]);
    }
  }
  g.nodes = std::move(kept);
}

void remove_noops(Graph& g) {
  std::vector<char> is_output(g.values.size(), 0);
  for (int id : g.outputs) is_output[static_cast<size_t>(id)] = 1;
  std::vector<int> alias(g.values.size());
  for (size_t i = 0; i < alias.size(); ++i) alias[i] = static_cast<int>(i);
  std::vector<Node> kept;
  for (Node& n : g.nodes) {
    for (int& id : n.inputs)
      if (id >= 0) id = alias[static_cast<size_t>(id)];
    bool noop =
        n.op == "Identity" || (n.op == "Dropout" && (n.outputs.size() < 2 || n.outputs[1] < 0));
    if (noop && n.op == "Dropout" && n.inputs.size() >= 3 && n.inputs[2] >= 0) {
      const Value& mode = g.value(n.inputs[2]);
      if (!mode.constant || mode.constant->as_int(0) != 0) noop = false;  // training mode
    }
    if (noop && !n.inputs.empty() && n.inputs[0] >= 0 && !n.outputs.empty() && n.outputs[0] >= 0 &&
        !is_output[static_cast<size_t>(n.outputs[0])]) {
      alias[static_cast<size_t>(n.outputs[0])] = n.inputs[0];
      continue;
    }
    kept.push_back(std::move(n));
  }
  g.nodes = std::move(kept);
}

void fold_batchnorm(Graph& g) {
  auto producers = g.producers();
  auto consumers = g.consumers();
  std::vector<char> is_output(g.values.size(), 0);
  for (int id : g.outputs) is_output[static_cast<size_t>(id)] = 1;
  std::vector<char> drop(g.nodes.size(), 0);
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    Node& bn = g.nodes[k];
    if (bn.op != "BatchNormalization" || bn.inputs.size() != 5 || bn.outputs.size() != 1) continue;
    int x = bn.inputs[0];
    if (x < 0 || is_output[static_cast<size_t>(x)]) continue;
    int p = producers[static_cast<size_t>(x)];
    if (p < 0 || consumers[static_cast<size_t>(x)].size() != 1) continue;
    Node& conv = g.nodes[static_cast<size_t>(p)];
    if (conv.op != "Conv" || conv.inputs.size() < 2) continue;
    bool params_const = true;
    for (int i = 1; i < 5; ++i)
      if (bn.inputs[i] < 0 || !g.value(bn.inputs[i]).constant) params_const = false;
    const int w_id = conv.inputs[1];
    const int b_id = conv.inputs.size() > 2 ? conv.inputs[2] : -1;
    if (!params_const || !g.value(w_id).constant || (b_id >= 0 && !g.value(b_id).constant))
      continue;
    const Tensor& w = *g.value(w_id).constant;
    if (w.dtype() != DType::F32 || w.rank() < 2) continue;
    const int64_t oc = w.dim(0);
    const Tensor* gamma = &*g.value(bn.inputs[1]).constant;
    const Tensor* beta = &*g.value(bn.inputs[2]).constant;
    const Tensor* mean = &*g.value(bn.inputs[3]).constant;
    const Tensor* var = &*g.value(bn.inputs[4]).constant;
    bool ok = true;
    for (const Tensor* t : {gamma, beta, mean, var})
      if (t->dtype() != DType::F32 || t->numel() != oc) ok = false;
    if (!ok) continue;
    const float eps = bn.attrs.get_float("epsilon", 1e-5f);
    Tensor nw(DType::F32, w.shape());
    Tensor nb(DType::F32, {oc});
    const int64_t per = w.numel() / oc;
    const float* wd = w.data<float>();
    for (int64_t o = 0; o < oc; ++o) {
      const double scale = gamma->data<float>()[o] / std::sqrt(double(var->data<float>()[o]) + eps);
      for (int64_t i = 0; i < per; ++i)
        nw.data<float>()[o * per + i] = static_cast<float>(wd[o * per + i] * scale);
      const double b0 = b_id >= 0 ? g.value(b_id).constant->data<float>()[o] : 0.0;
      nb.data<float>()[o] =
          static_cast<float>((b0 - mean->data<float>()[o]) * scale + beta->data<float>()[o]);
    }
    Value vw{g.value(w_id).name + "/bn_folded", DType::F32, w.shape(), nw};
    Value vb{conv.name + "/bn_folded_bias", DType::F32, {oc}, nb};
    // Names may already exist if the same weights were folded twice; make unique.
    for (Value* v : {&vw, &vb})
      while (g.find_value(v->name) >= 0) v->name += "_";
    int nw_id = g.add_value(std::move(vw));
    int nb_id = g.add_value(std::move(vb));
    conv.inputs[1] = nw_id;
    if (conv.inputs.size() > 2)
      conv.inputs[2] = nb_id;
    else
      conv.inputs.push_back(nb_id);
    conv.outputs[0] = bn.outputs[0];
    drop[k] = 1;
  }
  std::vector<Node> kept;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (!drop[k]) kept.push_back(std::move(g.nodes[k]));
  g.nodes = std::move(kept);
}

std::vector<Shape> default_input_shapes(const Graph& g, int64_t batch) {
  std::vector<Shape> shapes;
  for (int id : g.inputs) {
    Shape s = g.value(id).shape;
    for (size_t d = 0; d < s.size(); ++d) {
      if (s[d] >= 0) continue;
      TS_CHECK(d == 0, "input '", g.value(id).name, "' has unknown dimension ", d, " in ",
               shape_str(s), "; only the batch dimension may be dynamic");
      s[d] = batch;
    }
    shapes.push_back(s);
  }
  return shapes;
}

Graph specialize(const Graph& src, const std::vector<Shape>& input_shapes) {
  Graph g = src;
  TS_CHECK(input_shapes.size() == g.inputs.size(), "the model takes ", g.inputs.size(),
           " input(s), got shapes for ", input_shapes.size());
  for (size_t i = 0; i < input_shapes.size(); ++i) {
    Value& v = g.value(g.inputs[i]);
    const Shape& s = input_shapes[i];
    bool match = s.size() == v.shape.size();
    for (size_t d = 0; match && d < s.size(); ++d)
      if (s[d] < 0 || (v.shape[d] >= 0 && v.shape[d] != s[d])) match = false;
    TS_CHECK(match, "input '", v.name, "' has shape ", shape_str(s), ", the model expects ",
             shape_str(v.shape));
    v.shape = s;
  }
  // Forget imported intermediate shapes: inference recomputes them for these inputs.
  std::vector<char> is_input(g.values.size(), 0);
  for (int id : g.inputs) is_input[static_cast<size_t>(id)] = 1;
  for (size_t i = 0; i < g.values.size(); ++i)
    if (!is_input[i] && !g.values[i].constant) g.values[i].shape.clear();
  g.validate();
  infer_shapes(g, true);
  remove_noops(g);
  fold_batchnorm(g);
  g.remove_dead();
  g.validate();
  return g;
}

double node_flops(const Graph& g, const Node& n) {
  auto shape_of = [&](int id) -> const Shape& { return g.value(id).shape; };
  if (n.op == "Conv" && n.inputs.size() >= 2)
    return conv_params(n.attrs, shape_of(n.inputs[0]), shape_of(n.inputs[1])).flops();
  if ((n.op == "Gemm" || n.op == "MatMul") && n.inputs.size() >= 2) {
    const Shape& a = shape_of(n.inputs[0]);
    const Shape& out = shape_of(n.outputs[0]);
    if (a.empty() || out.empty()) return 0;
    int64_t k = a.back();
    if (n.op == "Gemm" && n.attrs.get_int("transA", 0)) k = a[0];
    return 2.0 * static_cast<double>(shape_numel(out)) * static_cast<double>(k);
  }
  double total = 0;
  for (int id : n.outputs)
    if (id >= 0 && shape_known(shape_of(id)))
      total += static_cast<double>(shape_numel(shape_of(id)));
  return total;
}

double graph_flops(const Graph& g) {
  double total = 0;
  for (const Node& n : g.nodes) total += node_flops(g, n);
  return total;
}

}  // namespace teesplit
