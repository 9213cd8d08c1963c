// Graph passes: folding must not change what a graph computes.
#include <gtest/gtest.h>

#include "backends/reference/reference_backend.h"
#include "core/limits.h"
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

// ---- Limits on what a model may make inference and folding do (core/limits.h) ----

// A graph with one input x of `x_shape` (F32) and the nodes that `build` adds;
// its last node's first output is the graph output.
template <class Build>
Graph limits_graph(const Shape& x_shape, Build&& build) {
  Graph g;
  const int x = add(g, "x");
  g.value(x).shape = x_shape;
  g.inputs.push_back(x);
  build(g, x);
  g.outputs.push_back(g.nodes.back().outputs[0]);
  return g;
}

int i64(Graph& g, const std::string& name, std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return add(g, name, Tensor::from<int64_t>({n}, v));
}

// "name" followed by i (a helper: GCC 12 warns, wrongly, on "literal" + std::to_string).
std::string numbered(const char* name, int i) {
  std::string s = name;
  s += std::to_string(i);
  return s;
}

std::string specialize_error(const Graph& g) {
  return testing::error_of([&] { specialize(g, default_input_shapes(g, 1)); });
}

TEST(Limits, ShapeExtentCountsZeroDimsAsOne) {
  EXPECT_EQ(limits::shape_extent({}), 1);
  EXPECT_EQ(limits::shape_extent({0, 5, 7}), 35);
  EXPECT_EQ(limits::shape_extent({int64_t{1} << 40, int64_t{1} << 40}), INT64_MAX);
}

// An inferred (not folded) tensor beyond kMaxElements is refused, zero dims or not.
TEST(Limits, InferredShapeBeyondTheElementLimit) {
  for (const int64_t first : {int64_t{1}, int64_t{0}}) {  // [2^20, 2^20] and [2^20 - 1, 2^20]
    Graph g = limits_graph({first, 1 << 20}, [](Graph& g, int x) {
      const int pads = i64(g, "pads", {0, 0, (int64_t{1} << 20) - 1, 0});
      g.nodes.push_back(node("Pad", "pad", {x, pads}, {add(g, "y")}));
    });
    const std::string e = specialize_error(g);
    const std::string dim0 = std::to_string(first + (1 << 20) - 1);
    EXPECT_NE(e.find("node 'pad' (Pad): output 'y' would have shape [" + dim0 + ",1048576]"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("more than the 17179869184 elements"), std::string::npos) << e;
  }
  // Exactly at the limit is fine: [2^17, 2^17] = 2^34 elements, never allocated.
  Graph ok = limits_graph({1, 1 << 17}, [](Graph& g, int x) {
    const int pads = i64(g, "pads", {0, 0, (1 << 17) - 1, 0});
    g.nodes.push_back(node("Pad", "pad", {x, pads}, {add(g, "y")}));
  });
  EXPECT_EQ(specialize_error(ok), "");
}

TEST(Limits, GraphInputBeyondTheElementLimit) {
  Graph g = limits_graph({1, int64_t{1} << 40}, [](Graph& g, int x) {
    g.nodes.push_back(node("Relu", "relu", {x}, {add(g, "y")}));
  });
  const std::string e = specialize_error(g);
  EXPECT_NE(e.find("node 'relu' (Relu): input 'x' has shape [1,1099511627776]"), std::string::npos)
      << e;
}

TEST(Limits, RankAndShapeLists) {
  Graph deep = limits_graph({1}, [](Graph& g, int x) {
    const int shape = i64(g, "shape", std::vector<int64_t>(65, 1));
    g.nodes.push_back(node("Reshape", "reshape", {x, shape}, {add(g, "y")}));
  });
  std::string e = specialize_error(deep);
  EXPECT_NE(e.find("node 'reshape' (Reshape): output 'y' would have rank 65; teesplit allows at "
                   "most 64 dimensions"),
            std::string::npos)
      << e;
  Graph rank64 = limits_graph({1}, [](Graph& g, int x) {
    const int shape = i64(g, "shape", std::vector<int64_t>(64, 1));
    g.nodes.push_back(node("Reshape", "reshape", {x, shape}, {add(g, "y")}));
  });
  EXPECT_EQ(specialize_error(rank64), "");
  Graph list = limits_graph({1}, [](Graph& g, int x) {
    const int shape = i64(g, "shape", std::vector<int64_t>(200, 1));
    g.nodes.push_back(node("Reshape", "reshape", {x, shape}, {add(g, "y")}));
  });
  e = specialize_error(list);
  EXPECT_NE(e.find("node 'reshape' (Reshape): Reshape: input shape holds 200 values, more than "
                   "the 128"),
            std::string::npos)
      << e;
}

// The finding of fuzz/corpus/fuzz_onnx_import/regress_pad_fold_2gib.onnx at the
// graph level: Pad of a 4-element constant to 2^28 int64 values (2 GiB) is refused
// before anything is allocated, whatever reads it next.
TEST(Limits, FoldedConstantBeyondTheBudget) {
  Graph g = limits_graph({1}, [](Graph& g, int x) {
    const int data = i64(g, "data", {1, 2, 1, 2});
    const int pads = i64(g, "pads", {0, (int64_t{1} << 28) - 4});
    const int p = add(g, "p");
    g.nodes.push_back(node("Pad", "pad", {data, pads}, {p}));
    g.nodes.push_back(node("Add", "add", {x, p}, {add(g, "y")}));
  });
  const std::string e = specialize_error(g);
  EXPECT_NE(e.find("node 'pad' (Pad): folding it would create a constant of shape [268435456], "
                   "bringing folded constants to 2048.0 MiB"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("more than the limit of 256.0 MiB (the larger of 256.0 MiB and 8 x the "
                   "model's 48 bytes of constants"),
            std::string::npos)
      << e;
}

// The budget is cumulative, and grows with the model: 5 folded Relus of a 64 MiB
// weight charge 5 x 128 MiB (8 bytes per element); the first four fit 8 x 64 MiB.
TEST(Limits, FoldingBudgetIsCumulativeAndRelativeToTheModel) {
  Graph g = limits_graph({1}, [](Graph& g, int x) {
    int prev = add(g, "w", Tensor(DType::F32, {1 << 24}));
    for (int i = 1; i <= 5; ++i) {
      const int r = add(g, numbered("r", i));
      g.nodes.push_back(node("Relu", numbered("relu", i), {prev}, {r}));
      prev = r;
    }
    g.nodes.push_back(node("Add", "add", {x, prev}, {add(g, "y")}));
  });
  const std::string e = specialize_error(g);
  EXPECT_NE(e.find("node 'relu5' (Relu): folding it"), std::string::npos) << e;
  EXPECT_NE(e.find("bringing folded constants to 640.0 MiB"), std::string::npos) << e;
  EXPECT_NE(e.find("limit of 512.0 MiB"), std::string::npos) << e;
}

// Work the reference kernels would do is bounded before they run: multiply-adds
// of a constant MatMul, pooling windows, and repeated reads of one constant.
TEST(Limits, FoldingWorkBeyondTheBudget) {
  Graph mm = limits_graph({1}, [](Graph& g, int x) {
    const int a = add(g, "a", Tensor(DType::F32, {1024, 1024}));
    const int p = add(g, "p");
    g.nodes.push_back(node("MatMul", "matmul", {a, a}, {p}));
    g.nodes.push_back(node("Add", "add", {x, p}, {add(g, "y")}));
  });
  std::string e = specialize_error(mm);
  // 2^30 multiply-adds + rank 2 x (2 x 2^20 read + 2^20 written once per input).
  EXPECT_NE(e.find("node 'matmul' (MatMul): folding it would bring shape inference and constant "
                   "folding to 1082130432 element operations, more than the limit of 67108864 "
                   "(the larger of 67108864 and 8 x the model's 4194304 bytes"),
            std::string::npos)
      << e;

  Graph pool = limits_graph({1}, [](Graph& g, int x) {
    const int c = add(g, "c", Tensor(DType::F32, {1, 1, 1, 1}));
    const int p = add(g, "p");
    Node n = node("MaxPool", "pool", {c}, {p});
    n.attrs.set("kernel_shape", std::vector<int64_t>{1 << 16, 1 << 16});
    n.attrs.set("pads", std::vector<int64_t>{1 << 15, 1 << 15, 1 << 15, 1 << 15});
    g.nodes.push_back(n);
    g.nodes.push_back(node("Add", "add", {x, p}, {add(g, "y")}));
  });
  e = specialize_error(pool);
  EXPECT_NE(e.find("node 'pool' (MaxPool): folding it would bring"), std::string::npos) << e;

  // 2^20 floats (4 MiB) read by one ReduceMean each: 2^20 + 1 operations per
  // node, so the 64th crosses 2^26.
  Graph reads = limits_graph({1}, [](Graph& g, int x) {
    const int c = add(g, "c", Tensor(DType::F32, {1 << 20}));
    int sum = x;
    for (int i = 1; i <= 64; ++i) {
      const int m = add(g, numbered("m", i)), s = add(g, numbered("s", i));
      g.nodes.push_back(node("ReduceMean", numbered("mean", i), {c}, {m}));
      g.nodes.push_back(node("Add", numbered("add", i), {sum, m}, {s}));
      sum = s;
    }
  });
  e = specialize_error(reads);
  EXPECT_NE(e.find("node 'mean64' (ReduceMean): folding it would bring"), std::string::npos) << e;
}

// Shape inference's own full reads of a constant count too: Gather checks every
// constant index even when its data is computed at run time. 2^20 int64 indices
// (8 MiB: a budget of 8 x 8 MiB = 2^26): the 65th Gather crosses it.
TEST(Limits, GatherIndexChecksCountAsWork) {
  Graph g = limits_graph({4}, [](Graph& g, int x) {
    const int idx = add(g, "idx", Tensor(DType::I64, {1 << 20}));
    for (int i = 1; i <= 65; ++i)
      g.nodes.push_back(
          node("Gather", numbered("gather", i), {x, idx}, {add(g, numbered("g", i))}));
  });
  const std::string e = specialize_error(g);
  EXPECT_NE(e.find("node 'gather65' (Gather): checking its constant indices would bring"),
            std::string::npos)
      << e;
}

}  // namespace
}  // namespace teesplit
