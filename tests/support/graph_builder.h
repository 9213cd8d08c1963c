// Builds small graphs by hand for backend tests: inputs, seeded random
// constants, nodes with fresh output values, outputs.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "support/test_support.h"

namespace teesplit::testing {

struct GraphBuilder {
  Graph g;
  int counter = 0;
  uint64_t seed = 1;

  int input(const Shape& s) {
    Value v;
    v.name = "x";  // (not "x" + std::to_string(): GCC 12's -Wrestrict false positive)
    v.name += std::to_string(counter++);
    v.shape = s;
    int id = g.add_value(v);
    g.inputs.push_back(id);
    return id;
  }
  int constant(const Tensor& t) {
    Value v;
    v.name = "c";
    v.name += std::to_string(counter++);
    v.dtype = t.dtype();
    v.shape = t.shape();
    v.constant = t;
    return g.add_value(v);
  }
  // Uniform in [-scale, scale), a fresh seed each call.
  int rand_const(const Shape& s, float scale = 1.f) {
    return constant(random_tensor(s, seed++, -scale, scale));
  }
  // Appends a node with `nout` fresh outputs; returns the first.
  int node(const std::string& op, const std::vector<int>& ins, const Attrs& attrs = {},
           int nout = 1) {
    Node n;
    n.name = op + "_" + std::to_string(counter++);
    n.op = op;
    n.inputs = ins;
    n.attrs = attrs;
    for (int k = 0; k < nout; ++k) {
      Value v;
      v.name = n.name + "_out" + std::to_string(k);
      v.shape = {-1};
      n.outputs.push_back(g.add_value(v));
    }
    g.nodes.push_back(n);
    return n.outputs[0];
  }
  // Conv with random weights (scaled for O(1) outputs) and, optionally, bias.
  int conv(int x, int64_t c, int64_t oc, int64_t k, Attrs a = {}, bool bias = true) {
    const int64_t group = a.get_int("group", 1);
    const float scale = 1.f / std::sqrt(static_cast<float>(c / group * k * k));
    std::vector<int> ins{x, rand_const({oc, c / group, k, k}, scale)};
    if (bias) ins.push_back(rand_const({oc}, 0.5f));
    return node("Conv", ins, a);
  }
  void output(int v) { g.outputs.push_back(v); }
};

}  // namespace teesplit::testing
