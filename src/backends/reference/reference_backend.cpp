#include "backends/reference/reference_backend.h"

#include <algorithm>

#include "ops/op.h"

namespace teesplit {
namespace {

// Executes node `n` with its reference kernel on the tensors in `vals`.
void run_node(const Node& n, std::vector<Tensor>& vals, const Graph& g) {
  const OpSchema* op = find_op(n.op);
  TS_CHECK(op, "node '", n.name, "': operator ", n.op, " is not supported");
  std::vector<const Tensor*> ins;
  for (int id : n.inputs) {
    if (id < 0) {
      ins.push_back(nullptr);
      continue;
    }
    const Tensor& t = vals[static_cast<size_t>(id)];
    TS_CHECK(t.defined(), "node '", n.name, "' reads '", g.value(id).name,
             "' before it is computed");
    ins.push_back(&t);
  }
  std::vector<Tensor> outs;
  try {
    outs = op->run(n.attrs, ins);
  } catch (const Error& e) {
    fail("node '", n.name, "' (", n.op, "): ", e.what());
  }
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    if (n.outputs[k] < 0) continue;
    TS_CHECK(k < outs.size(), "node '", n.name, "' (", n.op, ") did not produce output ", k);
    vals[static_cast<size_t>(n.outputs[k])] = std::move(outs[k]);
  }
}

// One slot per value: constants and graph inputs filled, the rest empty.
std::vector<Tensor> initial_values(const Graph& g, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> vals(g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].constant) vals[i] = *g.values[i].constant;
  for (size_t i = 0; i < inputs.size(); ++i) vals[static_cast<size_t>(g.inputs[i])] = inputs[i];
  return vals;
}

class ReferenceExecutable : public Executable {
 public:
  explicit ReferenceExecutable(const Graph& g) : g_(g) {
    // Peak activation memory of a simple sequential run that frees each value
    // after its last reader.
    auto cons = g_.consumers();
    std::vector<int> last(g_.values.size(), -1);
    for (size_t v = 0; v < cons.size(); ++v)
      for (int c : cons[v]) last[v] = std::max(last[v], c);
    for (int o : g_.outputs) last[static_cast<size_t>(o)] = static_cast<int>(g_.nodes.size());
    size_t live = 0;
    for (int id : g_.inputs) live += bytes_of(id);
    peak_ = live;
    for (size_t k = 0; k < g_.nodes.size(); ++k) {
      for (int out : g_.nodes[k].outputs)
        if (out >= 0) live += bytes_of(out);
      peak_ = std::max(peak_, live);
      free_after_.emplace_back();
      for (int in : g_.nodes[k].inputs)
        if (in >= 0 && !g_.value(in).constant &&
            last[static_cast<size_t>(in)] == static_cast<int>(k) &&
            std::find(free_after_[k].begin(), free_after_[k].end(), in) == free_after_[k].end()) {
          live -= bytes_of(in);
          free_after_[k].push_back(in);
        }
      for (int out : g_.nodes[k].outputs)
        if (out >= 0 && last[static_cast<size_t>(out)] < 0) {
          live -= bytes_of(out);
          free_after_[k].push_back(out);
        }
    }
  }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    check_run_inputs(g_, inputs);
    std::vector<Tensor> vals = initial_values(g_, inputs);
    for (size_t k = 0; k < g_.nodes.size(); ++k) {
      run_node(g_.nodes[k], vals, g_);
      for (int id : free_after_[k]) vals[static_cast<size_t>(id)] = Tensor();
    }
    std::vector<Tensor> outs;
    for (int id : g_.outputs) outs.push_back(vals[static_cast<size_t>(id)]);
    return outs;
  }

  RunStats stats() const override { return {peak_, g_.constant_bytes()}; }

 private:
  size_t bytes_of(int id) const {
    const Value& v = g_.value(id);
    if (!shape_known(v.shape)) return 0;
    return static_cast<size_t>(shape_numel(v.shape)) * dtype_size(v.dtype);
  }
  Graph g_;
  size_t peak_ = 0;
  std::vector<std::vector<int>> free_after_;  // values whose last reader is node k
};

class ReferenceBackend : public Backend {
 public:
  std::string name() const override { return "reference"; }
  std::string unsupported_reason(const Graph&, const Node& n) const override {
    return find_op(n.op) ? std::string() : "operator " + n.op + " has no reference kernel";
  }
  std::unique_ptr<Executable> compile(const Graph& g, const CompileOptions& opts) override {
    TS_CHECK(opts.precision == Precision::F32,
             "the reference backend computes in fp32 only; precision ",
             precision_name(opts.precision), " needs the onednn backend");
    for (const Node& n : g.nodes) {
      std::string why = unsupported_reason(g, n);
      TS_CHECK(why.empty(), "node '", n.name, "': ", why);
    }
    return std::make_unique<ReferenceExecutable>(g);
  }
};

}  // namespace

std::vector<Tensor> run_reference_all(const Graph& g, const std::vector<Tensor>& inputs) {
  TS_CHECK(inputs.size() == g.inputs.size(), "the model takes ", g.inputs.size(), " input(s), got ",
           inputs.size());
  std::vector<Tensor> vals = initial_values(g, inputs);
  for (const Node& n : g.nodes) run_node(n, vals, g);
  return vals;
}

std::unique_ptr<Backend> make_reference_backend() {
  return std::make_unique<ReferenceBackend>();
}

}  // namespace teesplit
