// The oneDNN backend against the reference backend: every mapped operator and
// every fused pattern on random inputs with odd shapes, plus the memory plan.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/memory_plan.h"
#include "backends/onednn/onednn_backend.h"
#include "backends/reference/reference_backend.h"
#include "graph/passes.h"
#include "support/graph_builder.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

using testing::random_tensor;
using testing::rel_error;

using Builder = testing::GraphBuilder;

Attrs attrs(std::initializer_list<std::pair<std::string, Attr>> kv) {
  Attrs a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}
using Ints = std::vector<int64_t>;

struct Compared {
  double max_err = 0;
  RunStats stats;
};

// Specialises g, runs it on both backends and returns the worst relative error.
Compared compare(const Graph& g, const std::vector<Tensor>& inputs, int threads = 0) {
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) shapes.push_back(t.shape());
  Graph spec = specialize(g, shapes);
  auto ref = make_reference_backend()->compile(spec, {});
  auto exe = make_onednn_backend()->compile(spec, {threads});
  std::vector<Tensor> want = ref->run(inputs);
  std::vector<Tensor> got = exe->run(inputs);
  EXPECT_EQ(want.size(), got.size());
  Compared c;
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    EXPECT_EQ(shape_str(got[i].shape()), shape_str(want[i].shape())) << "output " << i;
    if (got[i].shape() != want[i].shape()) return {INFINITY, {}};
    c.max_err = std::max(c.max_err, rel_error(got[i], want[i]));
  }
  // A second run on other data must not see state from the first.
  std::vector<Tensor> in2;
  for (size_t i = 0; i < inputs.size(); ++i)
    in2.push_back(random_tensor(inputs[i].shape(), 999 + i, -2.f, 2.f));
  std::vector<Tensor> want2 = ref->run(in2), got2 = exe->run(in2);
  for (size_t i = 0; i < want2.size() && i < got2.size(); ++i)
    c.max_err = std::max(c.max_err, rel_error(got2[i], want2[i]));
  c.stats = exe->stats();
  return c;
}

constexpr double kTol = 1e-4;

void expect_close(const Builder& b, const std::vector<Shape>& in_shapes, double tol = kTol) {
  std::vector<Tensor> ins;
  uint64_t s = 100;
  for (const Shape& sh : in_shapes) ins.push_back(random_tensor(sh, s++, -1.f, 1.f));
  Compared c = compare(b.g, ins);
  EXPECT_LT(c.max_err, tol);
}

// ---- Conv ----

TEST(OneDnn, ConvSmallPlain) {
  Builder b;
  int x = b.input({1, 3, 7, 9});
  b.output(b.conv(x, 3, 5, 3, attrs({{"pads", Ints{1, 1, 1, 1}}})));
  expect_close(b, {{1, 3, 7, 9}});
}

TEST(OneDnn, ConvStride2AsymmetricPads) {
  Builder b;
  int x = b.input({2, 5, 13, 11});
  b.output(b.conv(x, 5, 7, 3, attrs({{"strides", Ints{2, 2}}, {"pads", Ints{0, 1, 2, 0}}})));
  expect_close(b, {{2, 5, 13, 11}});
}

TEST(OneDnn, ConvDilation2NoBias) {
  Builder b;
  int x = b.input({1, 20, 13, 11});
  b.output(
      b.conv(x, 20, 24, 3, attrs({{"dilations", Ints{2, 2}}, {"pads", Ints{2, 2, 2, 2}}}), false));
  expect_close(b, {{1, 20, 13, 11}});
}

TEST(OneDnn, ConvAutoPadSame) {
  Builder b;
  int x = b.input({1, 16, 13, 11});
  b.output(b.conv(x, 16, 32, 3,
                  attrs({{"auto_pad", std::string("SAME_UPPER")}, {"strides", Ints{2, 2}}})));
  expect_close(b, {{1, 16, 13, 11}});
}

TEST(OneDnn, ConvGroup2) {
  Builder b;
  int x = b.input({2, 6, 9, 7});
  b.output(b.conv(x, 6, 8, 3, attrs({{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}})));
  expect_close(b, {{2, 6, 9, 7}});
}

TEST(OneDnn, ConvGroup2Blocked) {
  Builder b;
  int x = b.input({1, 64, 9, 7});
  b.output(b.conv(x, 64, 32, 3, attrs({{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}})));
  expect_close(b, {{1, 64, 9, 7}});
}

TEST(OneDnn, DepthwiseC24) {
  Builder b;
  int x = b.input({1, 24, 15, 13});
  int y = b.conv(x, 24, 24, 3, attrs({{"group", int64_t{24}}, {"pads", Ints{1, 1, 1, 1}}}));
  int z =
      b.conv(y, 24, 24, 5,
             attrs({{"group", int64_t{24}}, {"strides", Ints{2, 2}}, {"pads", Ints{2, 1, 2, 2}}}));
  b.output(z);
  expect_close(b, {{1, 24, 15, 13}});
}

TEST(OneDnn, PointwiseChainOddChannels) {
  Builder b;
  int x = b.input({1, 24, 11, 9});
  int y = b.conv(x, 24, 40, 1);
  int z = b.conv(y, 40, 112, 1);
  b.output(b.conv(z, 112, 24, 1));
  expect_close(b, {{1, 24, 11, 9}});
}

TEST(OneDnn, WinogradEligible3x3) {
  Builder b;
  int x = b.input({1, 64, 14, 14});
  int y = b.node("Relu", {b.conv(x, 64, 64, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))});
  b.output(b.conv(y, 64, 64, 3, attrs({{"pads", Ints{1, 1, 1, 1}}})));
  expect_close(b, {{1, 64, 14, 14}}, 1e-4);
}

TEST(OneDnn, FirstLayerStride2) {
  Builder b;
  int x = b.input({1, 3, 33, 31});
  int y = b.node(
      "Relu", {b.conv(x, 3, 32, 7, attrs({{"strides", Ints{2, 2}}, {"pads", Ints{3, 3, 3, 3}}}))});
  b.output(y);
  expect_close(b, {{1, 3, 33, 31}});
}

// ---- fused activations ----

class ConvActivation : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvActivation, MatchesReference) {
  Builder b;
  int x = b.input({1, 20, 9, 11});
  int y = b.conv(x, 20, 32, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}));
  const std::string act = GetParam();
  int z;
  if (act == "Clip") {
    z = b.node("Clip",
               {y, b.constant(Tensor::scalar_f32(0.f)), b.constant(Tensor::scalar_f32(0.5f))});
  } else if (act == "SiLU") {
    z = b.node("Mul", {y, b.node("Sigmoid", {y})});
  } else if (act == "SiLU_swapped") {
    z = b.node("Mul", {b.node("Sigmoid", {y}), y});
  } else if (act == "HardSigmoid") {
    z = b.node("HardSigmoid", {y}, attrs({{"alpha", 0.3f}, {"beta", 0.4f}}));
  } else if (act == "LeakyRelu") {
    z = b.node("LeakyRelu", {y}, attrs({{"alpha", 0.1f}}));
  } else {
    z = b.node(act, {y});
  }
  b.output(z);
  expect_close(b, {{1, 20, 9, 11}});
}

INSTANTIATE_TEST_SUITE_P(OneDnn, ConvActivation,
                         ::testing::Values("Relu", "Clip", "Sigmoid", "Tanh", "HardSigmoid",
                                           "HardSwish", "LeakyRelu", "SiLU", "SiLU_swapped"));

TEST(OneDnn, IntermediateWithTwoReadersIsNotFused) {
  Builder b;
  int x = b.input({1, 16, 7, 7});
  int y = b.conv(x, 16, 16, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}));
  int r = b.node("Relu", {y});
  b.output(r);
  b.output(y);  // the pre-activation value is an output too
  expect_close(b, {{1, 16, 7, 7}});
}

// ---- residual ----

TEST(OneDnn, ResidualAddRelu) {
  Builder b;
  int x = b.input({1, 32, 10, 9});
  int stem = b.node("Relu", {b.conv(x, 32, 32, 1)});
  int y = b.node("Relu", {b.conv(stem, 32, 32, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))});
  int z = b.conv(y, 32, 32, 1);
  int s = b.node("Relu", {b.node("Add", {z, stem})});
  // A second block whose shortcut is the in-place result of the first.
  int z2 = b.conv(b.node("Relu", {b.conv(s, 32, 32, 1)}), 32, 32, 1);
  b.output(b.node("Relu", {b.node("Add", {s, z2})}));
  expect_close(b, {{1, 32, 10, 9}});
}

TEST(OneDnn, ResidualDownsampleBothConvs) {
  Builder b;
  int x = b.input({1, 16, 12, 10});
  int main = b.conv(
      b.node("Relu",
             {b.conv(x, 16, 24, 3, attrs({{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}))}),
      24, 48, 1);
  int down = b.conv(x, 16, 48, 1, attrs({{"strides", Ints{2, 2}}}));
  b.output(b.node("Relu", {b.node("Add", {main, down})}));
  expect_close(b, {{1, 16, 12, 10}});
}

TEST(OneDnn, ResidualShortcutStillNeededLater) {
  Builder b;
  int x = b.input({1, 16, 8, 8});
  int a = b.node("Relu", {b.conv(x, 16, 16, 1)});
  int s = b.node("Add", {b.conv(a, 16, 16, 3, attrs({{"pads", Ints{1, 1, 1, 1}}})), a});
  // `a` is read again after the Add: the sum must not overwrite it.
  b.output(b.node("Mul", {s, a}));
  expect_close(b, {{1, 16, 8, 8}});
}

TEST(OneDnn, ResidualShortcutViewedElsewhere) {
  Builder b;
  int x = b.input({1, 6, 5, 4});
  int a = b.node("Relu", {x});       // plain layout
  b.output(b.node("Flatten", {a}));  // a zero-copy view of a's storage
  // A grouped conv with 3 channels per group runs in plain layout, like `a`.
  int c = b.conv(a, 6, 6, 3, attrs({{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}}));
  b.output(b.node("Add", {c, a}));
  expect_close(b, {{1, 6, 5, 4}});
}

TEST(OneDnn, InputIsOutput) {
  Builder b;
  int x = b.input({2, 3});
  b.output(x);
  b.output(b.node("Relu", {x}));
  expect_close(b, {{2, 3}});
}

// ---- squeeze-excitation ----

void se_block(int64_t c, int64_t red, int64_t hw) {
  Builder b;
  int x = b.input({1, c, hw, hw});
  int e = b.conv(x, c, c, 3, attrs({{"group", c}, {"pads", Ints{1, 1, 1, 1}}}));
  e = b.node("Mul", {e, b.node("Sigmoid", {e})});
  int p = b.node("GlobalAveragePool", {e});
  int r = b.conv(p, c, red, 1);
  r = b.node("Mul", {r, b.node("Sigmoid", {r})});
  int s = b.node("Sigmoid", {b.conv(r, red, c, 1)});
  int m = b.node("Mul", {e, s});
  b.output(b.conv(m, c, 24, 1));
  expect_close(b, {{1, c, hw, hw}});
}

TEST(OneDnn, SqueezeExcitationC32) {
  se_block(32, 8, 9);
}
TEST(OneDnn, SqueezeExcitationC144) {
  se_block(144, 6, 7);
}
TEST(OneDnn, SqueezeExcitationC24Binary) {
  se_block(24, 6, 7);
}

TEST(OneDnn, ChannelScaleBatch2) {
  Builder b;
  int x = b.input({2, 32, 5, 6});
  int s = b.input({2, 32, 1, 1});
  b.output(b.node("Mul", {b.node("Relu", {b.conv(x, 32, 32, 1)}), s}));
  expect_close(b, {{2, 32, 5, 6}, {2, 32, 1, 1}});
}

// ---- binary ----

TEST(OneDnn, BinaryBroadcasts) {
  Builder b;
  int x = b.input({2, 5, 4, 3});
  int y = b.input({5, 1, 1});
  int a = b.node("Add", {x, y});
  int m = b.node("Mul", {a, b.rand_const({1, 5, 4, 3})});
  int s = b.node("Sub", {m, b.rand_const({3})});
  int d = b.node("Div", {s, b.constant(Tensor::from<float>({1}, {1.7f}))});
  int r = b.node("Add", {b.rand_const({4, 3}), d});  // broadcast operand first
  b.output(b.node("Relu", {r}));
  expect_close(b, {{2, 5, 4, 3}, {5, 1, 1}});
}

// Max/Min with two inputs lower to oneDNN binary primitives; three inputs fall
// back to the reference kernels. Both must match the reference.
TEST(OneDnn, MaxMinLoweredAndVariadic) {
  Builder b;
  int x = b.input({2, 5, 4, 3});
  int y = b.input({5, 1, 1});
  int mx = b.node("Max", {x, y});
  int mn = b.node("Min", {mx, b.rand_const({4, 3})});
  b.output(b.node("Max", {mn, x, b.rand_const({3})}));
  expect_close(b, {{2, 5, 4, 3}, {5, 1, 1}});
}

TEST(OneDnn, BinaryOnBlockedConvOutputs) {
  Builder b;
  int x = b.input({1, 24, 7, 5});
  int p = b.conv(x, 24, 24, 1);
  int q = b.node("Relu", {b.conv(x, 24, 24, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))});
  int m = b.node("Mul", {p, q});
  int bias = b.node("Add", {m, b.rand_const({1, 24, 1, 1})});
  b.output(b.node("Sub", {bias, p}));
  b.output(m);
  expect_close(b, {{1, 24, 7, 5}});
}

// ---- eltwise standalone ----

TEST(OneDnn, EltwiseStandalone) {
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Exp", "Neg", "HardSwish", "HardSigmoid"}) {
    Builder b;
    int x = b.input({2, 3, 5});
    b.output(b.node(op, {x}));
    SCOPED_TRACE(op);
    expect_close(b, {{2, 3, 5}});
  }
  Builder b;
  int x = b.input({3, 7});
  b.output(b.node("Sqrt", {b.node("Clip", {x, b.constant(Tensor::scalar_f32(0.1f))})}));
  expect_close(b, {{3, 7}});
}

// Activation chains (up to three post-ops, the rest standalone), Clip with
// attribute bounds or none, and SiLU whose operands have other readers
// (backends/activation.h).
TEST(OneDnn, ActivationChainsAndSiluReaders) {
  const Attrs pad1 = attrs({{"pads", Ints{1, 1, 1, 1}}});
  {
    Builder b;  // four activations: three fuse, the fourth runs on its own
    int x = b.input({1, 16, 7, 6});
    int y = b.node("Relu", {b.conv(x, 16, 16, 3, pad1)});
    y = b.node("Clip",
               {y, b.constant(Tensor::scalar_f32(0.1f)), b.constant(Tensor::scalar_f32(0.9f))});
    y = b.node("Tanh", {b.node("Sigmoid", {y})});
    b.output(y);
    expect_close(b, {{1, 16, 7, 6}});
  }
  {
    Builder b;  // SiLU then Neg; Clip with attribute bounds, and with none
    int x = b.input({1, 16, 7, 6});
    int y = b.conv(x, 16, 16, 3, pad1);
    y = b.node("Neg", {b.node("Mul", {y, b.node("Sigmoid", {y})})});
    b.output(y);
    b.output(b.node("Clip", {b.conv(y, 16, 16, 1)}, attrs({{"min", -0.2f}, {"max", 0.3f}})));
    b.output(
        b.node("Clip", {b.node("Conv", {y, b.rand_const({8, 16, 1, 1}, 3.f)})}));  // beyond +-1
    expect_close(b, {{1, 16, 7, 6}});
  }
  {
    Builder b;  // Gemm + LeakyRelu + HardSigmoid
    int x = b.input({3, 37});
    int y = b.node("Gemm", {x, b.rand_const({11, 37}), b.rand_const({11})},
                   attrs({{"transB", int64_t{1}}}));
    b.output(b.node("HardSigmoid", {b.node("LeakyRelu", {y}, attrs({{"alpha", 0.2f}}))}));
    expect_close(b, {{3, 37}});
  }
  {
    Builder b;  // standalone SiLU whose x has a third reader; a SiLU whose sigmoid is an output
    int x = b.input({2, 16, 5, 5});
    b.output(b.node("Mul", {x, b.node("Sigmoid", {x})}));
    b.output(b.node("Neg", {x}));
    int y = b.conv(x, 16, 16, 3, pad1);
    int s = b.node("Sigmoid", {y});
    b.output(b.node("Mul", {s, y}));
    b.output(s);
    expect_close(b, {{2, 16, 5, 5}});
  }
}

// ---- pooling ----

TEST(OneDnn, MaxPoolCeilMode) {
  Builder b;
  int x = b.input({1, 5, 13, 11});
  b.output(b.node(
      "MaxPool", {x},
      attrs({{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}})));
  expect_close(b, {{1, 5, 13, 11}});
}

TEST(OneDnn, MaxPoolBlockedPadded) {
  Builder b;
  int x = b.input({1, 16, 14, 13});
  int y = b.node("Relu", {b.conv(x, 16, 32, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))});
  b.output(b.node(
      "MaxPool", {y},
      attrs({{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}})));
  expect_close(b, {{1, 16, 14, 13}});
}

TEST(OneDnn, AveragePoolVariants) {
  for (int64_t include : {0, 1}) {
    for (int64_t ceil : {0, 1}) {
      Builder b;
      int x = b.input({2, 5, 13, 11});
      b.output(b.node("AveragePool", {x},
                      attrs({{"kernel_shape", Ints{3, 3}},
                             {"strides", Ints{2, 2}},
                             {"pads", Ints{1, 0, 1, 1}},
                             {"count_include_pad", include},
                             {"ceil_mode", ceil}})));
      SCOPED_TRACE("include_pad " + std::to_string(include) + " ceil " + std::to_string(ceil));
      expect_close(b, {{2, 5, 13, 11}});
    }
  }
}

TEST(OneDnn, GlobalPools) {
  Builder b;
  int x = b.input({2, 20, 7, 6});
  int y = b.conv(x, 20, 32, 1);
  b.output(b.node("GlobalAveragePool", {y}));
  b.output(b.node("GlobalMaxPool", {y}));
  b.output(b.node("GlobalAveragePool", {x}));
  expect_close(b, {{2, 20, 7, 6}});
}

// ---- Gemm, MatMul, Softmax, Flatten ----

TEST(OneDnn, GemmTransBBiasRelu) {
  Builder b;
  int x = b.input({3, 37});
  int y = b.node("Gemm", {x, b.rand_const({11, 37}), b.rand_const({11})},
                 attrs({{"transB", int64_t{1}}}));
  b.output(b.node("Relu", {y}));
  expect_close(b, {{3, 37}});
}

TEST(OneDnn, GemmAlphaBetaNoTrans) {
  Builder b;
  int x = b.input({2, 13});
  b.output(b.node("Gemm", {x, b.rand_const({13, 9}), b.rand_const({1, 9})},
                  attrs({{"alpha", 0.5f}, {"beta", 2.0f}})));
  expect_close(b, {{2, 13}});
}

TEST(OneDnn, GemmFallbackShapes) {
  Builder b;
  int x = b.input({13, 2});
  b.output(b.node("Gemm", {x, b.rand_const({13, 9}), b.rand_const({2, 9})},
                  attrs({{"transA", int64_t{1}}})));
  expect_close(b, {{13, 2}});
}

TEST(OneDnn, MatMulAddBias) {
  Builder b;
  int x = b.input({4, 10});
  int y = b.node("MatMul", {x, b.rand_const({10, 6})});
  b.output(b.node("Add", {y, b.rand_const({6})}));
  expect_close(b, {{4, 10}});
}

TEST(OneDnn, SoftmaxAxes) {
  {
    Builder b;
    int x = b.input({3, 10});
    b.output(b.node("Softmax", {x}));
    expect_close(b, {{3, 10}});
  }
  {
    Builder b;
    int x = b.input({2, 3, 4});
    b.output(b.node("Softmax", {x}, attrs({{"axis", int64_t{1}}})));
    expect_close(b, {{2, 3, 4}});
  }
  {
    Builder b;
    int x = b.input({2, 3, 4});  // opset < 13: coerced to 2-D at axis 1
    b.output(
        b.node("Softmax", {x}, attrs({{"axis", int64_t{1}}, {"_legacy_flatten", int64_t{1}}})));
    expect_close(b, {{2, 3, 4}});
  }
}

TEST(OneDnn, FlattenGemmClassifierHead) {
  Builder b;
  int x = b.input({2, 16, 9, 9});
  int y = b.node("Relu", {b.conv(x, 16, 32, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))});
  int p = b.node("MaxPool", {y}, attrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}));
  int f = b.node("Flatten", {p});
  int h =
      b.node("Relu", {b.node("Gemm", {f, b.rand_const({20, 32 * 4 * 4}, 0.05f), b.rand_const({20})},
                             attrs({{"transB", int64_t{1}}}))});
  b.output(b.node("Softmax", {b.node("Gemm", {h, b.rand_const({20, 7}), b.rand_const({7})})}));
  expect_close(b, {{2, 16, 9, 9}});
}

// ---- Concat, views, fallbacks ----

TEST(OneDnn, ConcatChannelsBlockedAndPlain) {
  Builder b;
  int x = b.input({1, 16, 6, 7});
  int p = b.conv(x, 16, 16, 1);
  int q = b.conv(x, 16, 32, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}));
  b.output(b.conv(b.node("Concat", {p, q}, attrs({{"axis", int64_t{1}}})), 48, 16, 1));
  int r = b.conv(x, 16, 5, 1);
  b.output(b.node("Concat", {p, r, x}, attrs({{"axis", int64_t{1}}})));
  b.output(b.node("Concat", {x, p}, attrs({{"axis", int64_t{2}}})));
  expect_close(b, {{1, 16, 6, 7}});
}

TEST(OneDnn, ReferenceFallbackAndViews) {
  Builder b;
  int x = b.input({2, 3, 4, 5});
  int t = b.node("Transpose", {x}, attrs({{"perm", Ints{0, 2, 3, 1}}}));  // reference kernel
  int r = b.node("Reshape", {t, b.constant(Tensor::from<int64_t>({2}, {2, 60}))});
  int u = b.node("Unsqueeze", {b.node("Relu", {r}), b.constant(Tensor::from<int64_t>({1}, {1}))});
  b.output(b.node("Squeeze", {u, b.constant(Tensor::from<int64_t>({1}, {1}))}));
  expect_close(b, {{2, 3, 4, 5}});
}

TEST(OneDnn, StandaloneBatchNorm) {
  Builder b;
  int x = b.input({1, 5, 4, 3});
  int y = b.node("Relu", {x});  // not a Conv output: the BN stays
  Tensor var = random_tensor({5}, 7, 0.5f, 1.5f);
  b.output(b.node("BatchNormalization",
                  {y, b.rand_const({5}), b.rand_const({5}), b.rand_const({5}), b.constant(var)}));
  expect_close(b, {{1, 5, 4, 3}});
}

TEST(OneDnn, StandaloneBatchNormReluBlocked) {
  Builder b;
  int x = b.input({2, 32, 6, 5});
  int y = b.node("MaxPool", {b.conv(x, 32, 32, 1)}, attrs({{"kernel_shape", Ints{2, 2}}}));
  Tensor var = random_tensor({32}, 8, 0.5f, 1.5f);
  int bn = b.node("BatchNormalization",
                  {y, b.rand_const({32}), b.rand_const({32}), b.rand_const({32}), b.constant(var)},
                  attrs({{"epsilon", 1e-3f}}));
  b.output(b.node("Relu", {bn}));
  expect_close(b, {{2, 32, 6, 5}});
}

TEST(OneDnn, SmallResNetLikeNetwork) {
  Builder b;
  int x = b.input({1, 3, 32, 32});
  int y = b.node(
      "Relu", {b.conv(x, 3, 16, 3, attrs({{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}))});
  y = b.node(
      "MaxPool", {y},
      attrs({{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}));
  for (int blk = 0; blk < 2; ++blk) {
    int a = b.node("Relu", {b.conv(y, 16, 16, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))});
    int c = b.conv(a, 16, 16, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}));
    y = b.node("Relu", {b.node("Add", {c, y})});
  }
  int f = b.node("Flatten", {b.node("GlobalAveragePool", {y})});
  b.output(b.node("Softmax", {b.node("Gemm", {f, b.rand_const({10, 16}), b.rand_const({10})},
                                     attrs({{"transB", int64_t{1}}}))}));
  std::vector<Tensor> ins{random_tensor({1, 3, 32, 32}, 5)};
  EXPECT_LT(compare(b.g, ins, 1).max_err, kTol);
  EXPECT_LT(compare(b.g, ins, 2).max_err, kTol);
}

// ---- memory plan ----

TEST(OneDnn, ArenaReusesBuffersInConvChain) {
  Builder b;
  const Shape s{1, 32, 20, 20};
  int x = b.input(s);
  int y = x;
  for (int i = 0; i < 6; ++i) y = b.conv(y, 32, 32, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}));
  b.output(y);
  std::vector<Tensor> ins{random_tensor(s, 3)};
  Compared c = compare(b.g, ins);
  EXPECT_LT(c.max_err, kTol);
  const size_t one = 32 * 20 * 20 * 4;
  EXPECT_GT(c.stats.peak_activation_bytes, 0u);
  // Input + 6 conv outputs would be 7 buffers without reuse.
  EXPECT_LT(c.stats.peak_activation_bytes, 7 * one);
  EXPECT_GE(c.stats.weight_bytes, 6u * 32 * 32 * 9 * 4);
}

TEST(OneDnnPlan, NoOverlapWhileAlive) {
  std::vector<BufferRequest> r{{100, 0, 2}, {200, 1, 3}, {50, 3, 4}, {300, 4, 5},
                               {10, 0, 5},  {100, 2, 2}, {64, 5, 5}};
  auto plan = plan_arena(r, 64);
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_EQ(plan.offsets[i] % 64, 0u);
    EXPECT_LE(plan.offsets[i] + r[i].bytes, plan.total);
    for (size_t j = i + 1; j < r.size(); ++j) {
      bool live_together = !(r[i].last < r[j].first || r[j].last < r[i].first);
      bool overlap = plan.offsets[i] < plan.offsets[j] + r[j].bytes &&
                     plan.offsets[j] < plan.offsets[i] + r[i].bytes;
      EXPECT_FALSE(live_together && overlap) << i << " and " << j;
    }
  }
  size_t sum = 0;
  for (auto& q : r) sum += (q.bytes + 63) / 64 * 64;
  EXPECT_LT(plan.total, sum);
  EXPECT_THROW(plan_arena({{10, 3, 2}}), Error);
}

// ---- errors ----

TEST(OneDnn, ErrorsAreReported) {
  Builder b;
  int x = b.input({1, 4, 5, 5});
  b.output(b.conv(x, 4, 8, 3));
  Graph spec = specialize(b.g, {{1, 4, 5, 5}});
  auto exe = make_onednn_backend()->compile(spec, {});
  EXPECT_THROW(exe->run({random_tensor({1, 4, 5, 6}, 1)}), Error);
  EXPECT_THROW(exe->run({}), Error);

  Graph bad = spec;
  bad.nodes[0].op = "NoSuchOp";
  auto be = make_onednn_backend();
  EXPECT_FALSE(be->unsupported_reason(bad, bad.nodes[0]).empty());
  EXPECT_TRUE(be->unsupported_reason(spec, spec.nodes[0]).empty());
  EXPECT_THROW(be->compile(bad, {}), Error);
}

}  // namespace
}  // namespace teesplit
