// Graph passes: folding must not change what a graph computes.
#include <gtest/gtest.h>

#include "backends/reference/reference_backend.h"
#include "graph/passes.h"
#include "ops/op.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

int add(Graph& g, const std::string& name, std::optional<Tensor> c = std::nullopt) {
  Value v;
  v.name = name;
  if (c) {
    v.shape = c->shape();
    v.dtype = c->dtype();
    v.constant = c;
  }
  return g.add_value(v);
}

Node node(const std::string& op, const std::string& name, std::vector<int> in,
          std::vector<int> out) {
  Node n;
  n.op = op;
  n.name = name;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

// x -> Conv(w, b) -> BatchNormalization -> Identity -> Relu -> y
Graph conv_bn_graph(bool with_bias) {
  Graph g;
  int x = add(g, "x");
  g.value(x).shape = {-1, 3, 9, 7};
  g.inputs.push_back(x);
  int w = add(g, "w", testing::random_tensor({6, 3, 3, 3}, 1));
  int b = with_bias ? add(g, "b", testing::random_tensor({6}, 2)) : -1;
  int c = add(g, "c");
  Node conv =
      node("Conv", "conv", with_bias ? std::vector<int>{x, w, b} : std::vector<int>{x, w}, {c});
  conv.attrs.set("pads", std::vector<int64_t>{1, 0, 1, 2});
  g.nodes.push_back(conv);
  int gamma = add(g, "gamma", testing::random_tensor({6}, 3, 0.5f, 1.5f));
  int beta = add(g, "beta", testing::random_tensor({6}, 4));
  int mean = add(g, "mean", testing::random_tensor({6}, 5));
  int var = add(g, "var", testing::random_tensor({6}, 6, 0.2f, 2.f));
  int bn = add(g, "bn");
  Node bnn = node("BatchNormalization", "bn", {c, gamma, beta, mean, var}, {bn});
  bnn.attrs.set("epsilon", 1e-3f);
  g.nodes.push_back(bnn);
  int id = add(g, "id");
  g.nodes.push_back(node("Identity", "identity", {bn}, {id}));
  int y = add(g, "y");
  g.nodes.push_back(node("Relu", "relu", {id}, {y}));
  g.outputs.push_back(y);
  return g;
}

// Evaluates the graph node by node with the reference kernels, no passes.
Tensor run_unoptimised(const Graph& g, const Tensor& x) {
  std::vector<Tensor> vals(g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].constant) vals[i] = *g.values[i].constant;
  vals[static_cast<size_t>(g.inputs[0])] = x;
  for (const Node& n : g.nodes) {
    std::vector<const Tensor*> ins;
    for (int id : n.inputs) ins.push_back(id >= 0 ? &vals[static_cast<size_t>(id)] : nullptr);
    auto outs = find_op(n.op)->run(n.attrs, ins);
    for (size_t k = 0; k < n.outputs.size(); ++k) vals[static_cast<size_t>(n.outputs[k])] = outs[k];
  }
  return vals[static_cast<size_t>(g.outputs[0])];
}

TEST(Passes, BatchNormFoldsIntoConv) {
  for (bool bias : {true, false}) {
    Graph g = conv_bn_graph(bias);
    Graph s = specialize(g, {{2, 3, 9, 7}});
    ASSERT_EQ(s.nodes.size(), 2u) << "expected Conv, Relu after folding";
    EXPECT_EQ(s.nodes[0].op, "Conv");
    EXPECT_EQ(s.nodes[1].op, "Relu");
    Tensor x = testing::random_tensor({2, 3, 9, 7}, 11);
    Tensor want = run_unoptimised(g, x);
    Tensor got = run_reference_all(s, {x})[static_cast<size_t>(s.outputs[0])];
    EXPECT_LE(testing::rel_error(got, want), 1e-5);
    // The original graph's weights are untouched (specialize works on a copy).
    EXPECT_EQ(g.nodes.size(), 4u);
  }
}

TEST(Passes, BatchNormNotFoldedWhenConvOutputIsShared) {
  Graph g = conv_bn_graph(true);
  int c = g.find_value("c");
  int extra = add(g, "extra");
  g.nodes.push_back(node("Relu", "relu2", {c}, {extra}));
  g.outputs.push_back(extra);
  Graph s = specialize(g, {{1, 3, 9, 7}});
  int bns = 0;
  for (const Node& n : s.nodes) bns += n.op == "BatchNormalization";
  EXPECT_EQ(bns, 1);
  Tensor x = testing::random_tensor({1, 3, 9, 7}, 12);
  EXPECT_LE(testing::rel_error(run_reference_all(s, {x})[static_cast<size_t>(s.outputs[0])],
                               run_unoptimised(g, x)),
            1e-6);
}

TEST(Passes, SpecializeRejectsWrongShapes) {
  Graph g = conv_bn_graph(true);
  EXPECT_THROW(specialize(g, {{1, 4, 9, 7}}), Error);
  EXPECT_THROW(specialize(g, {{1, 3, 9}}), Error);
  EXPECT_THROW(specialize(g, {}), Error);
  try {
    specialize(g, {{1, 3, 9, 7}, {1}});
    FAIL() << "accepted two input shapes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("takes 1 input"), std::string::npos) << e.what();
  }
}

TEST(Passes, ShapeErrorNamesTheNode) {
  Graph g = conv_bn_graph(true);
  g.value(g.find_value("w")).constant = testing::random_tensor({6, 4, 3, 3}, 1);
  g.value(g.find_value("w")).shape = {6, 4, 3, 3};
  try {
    specialize(g, {{1, 3, 9, 7}});
    FAIL() << "channel mismatch accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 'conv' (Conv)"), std::string::npos) << e.what();
  }
}

TEST(Passes, DefaultInputShapes) {
  Graph g = conv_bn_graph(true);
  EXPECT_EQ(default_input_shapes(g, 4), (std::vector<Shape>{{4, 3, 9, 7}}));
  g.value(g.inputs[0]).shape = {1, 3, -1, 7};
  EXPECT_THROW(default_input_shapes(g, 1), Error);
}

TEST(Passes, FlopsOfConv) {
  Graph s = specialize(conv_bn_graph(true), {{1, 3, 9, 7}});
  // Conv: out [1,6,9,7] (pads 1,0,1,2: H 9+2-3+1=9, W 7+2-3+1=7), 3*3*3 MACs each.
  EXPECT_DOUBLE_EQ(node_flops(s, s.nodes[0]), 2.0 * 6 * 9 * 7 * 27);
}

}  // namespace
}  // namespace teesplit
