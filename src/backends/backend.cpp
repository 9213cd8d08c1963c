#include "backends/backend.h"

#include <algorithm>
#include <cstdio>

namespace teesplit {

const char* precision_name(Precision p) {
  return p == Precision::BF16 ? "bf16" : "fp32";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32" || name == "f32" || name == "float32") return Precision::F32;
  if (name == "bf16" || name == "bfloat16") return Precision::BF16;
  fail("unknown precision '", name, "'; expected fp32 or bf16");
}

std::shared_ptr<std::byte> Backend::host_buffer(size_t bytes) {
  return aligned_buffer(bytes);
}

std::string first_unsupported(const Backend& backend, const Graph& g) {
  for (const Node& n : g.nodes) {
    std::string why = backend.unsupported_reason(g, n);
    if (!why.empty()) return "node '" + n.name + "' (" + n.op + "): " + why;
  }
  return {};
}

void check_run_inputs(const Graph& g, const std::vector<Tensor>& inputs) {
  TS_CHECK(inputs.size() == g.inputs.size(), "the model takes ", g.inputs.size(), " input(s), got ",
           inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = g.value(g.inputs[i]);
    TS_CHECK(inputs[i].dtype() == v.dtype, "input '", v.name, "' has type ",
             dtype_name(inputs[i].dtype()), ", the model expects ", dtype_name(v.dtype));
    TS_CHECK(inputs[i].shape() == v.shape, "input '", v.name, "' has shape ",
             shape_str(inputs[i].shape()), ", the model expects ", shape_str(v.shape));
  }
}

void print_step_profile(const char* backend, const std::vector<std::string>& labels,
                        const std::vector<double>& total_ms, int runs, size_t top) {
  if (runs <= 0 || labels.size() != total_ms.size()) return;
  std::vector<size_t> order(total_ms.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return total_ms[a] > total_ms[b]; });
  double total = 0;
  for (double t : total_ms) total += t;
  std::fprintf(stderr, "%s profile: %zu steps, %.3f ms per run in steps\n", backend,
               total_ms.size(), total / runs);
  for (size_t k = 0; k < order.size() && k < top; ++k)
    std::fprintf(stderr, "  %8.3f ms  %s\n", total_ms[order[k]] / runs, labels[order[k]].c_str());
}

}  // namespace teesplit
