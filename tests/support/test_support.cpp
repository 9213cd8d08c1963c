#include "support/test_support.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "onnx/onnx_import.h"
#include "zoo/zoo.h"

namespace teesplit::testing {

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t(DType::F32, shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  float* d = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = dist(rng);
  return t;
}

double rel_error(const Tensor& a, const Tensor& b) {
  return max_relative_error(a, b);
}

std::string generated_dir() {
  std::filesystem::path p = std::filesystem::path(TEESPLIT_BINARY_DIR) / "test-generated";
  std::filesystem::create_directories(p);
  return p.string();
}

std::string source_path(const std::string& rel) {
  return (std::filesystem::path(TEESPLIT_SOURCE_DIR) / rel).string();
}

Graph zoo_graph(const std::string& arch, int64_t input_size, double width, int64_t classes,
                int64_t channels, uint64_t seed) {
  ZooOptions o;
  o.arch = arch;
  o.input_size = input_size;
  o.width = width;
  o.classes = classes;
  o.channels = channels;
  o.seed = seed;
  o.randomize_bn = true;
  return parse_onnx(zoo_model_bytes(o), ".", arch).value();
}

Graph single_node_graph(const std::string& op, const Attrs& attrs,
                        const std::vector<Tensor>& inputs, const std::vector<bool>& constant,
                        int num_outputs) {
  Graph g;
  g.name = op + "_test";
  Node n;
  n.name = op + "_0";
  n.op = op;
  n.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      n.inputs.push_back(-1);
      continue;
    }
    Value v;
    v.name = "in" + std::to_string(i);
    v.dtype = inputs[i].dtype();
    v.shape = inputs[i].shape();
    bool is_const = i < constant.size() && constant[i];
    if (is_const) v.constant = inputs[i];
    int id = g.add_value(v);
    if (!is_const) g.inputs.push_back(id);
    n.inputs.push_back(id);
  }
  for (int k = 0; k < num_outputs; ++k) {
    Value v;
    v.name = "out" + std::to_string(k);
    v.shape = {-1};
    int id = g.add_value(v);
    n.outputs.push_back(id);
    if (k == 0) g.outputs.push_back(id);
  }
  g.nodes.push_back(n);
  return g;
}

}  // namespace teesplit::testing
