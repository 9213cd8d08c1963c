// The activation rules that the oneDNN compiler and the CUDA planner share
// (backends/activation.h): which node is which activation with which
// parameters, and which readers of a value form one activation that can be
// fused into the step writing it. test_onednn and test_cuda check the fused
// kernels against the reference; these tests pin the decisions themselves.
#include <gtest/gtest.h>

#include "backends/activation.h"
#include "graph/passes.h"
// GCC 12 at -O3 reports a bogus -Wrestrict inside std::string's operator+ as
// inlined into GraphBuilder here (GCC bug 105329).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#include "support/graph_builder.h"
#pragma GCC diagnostic pop

namespace teesplit {
namespace {

using Builder = testing::GraphBuilder;

Attrs attrs(std::initializer_list<std::pair<std::string, Attr>> kv) {
  Attrs a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

// The last node of b's graph (the one just added).
const Node& last(const Builder& b) {
  return b.g.nodes.back();
}

std::optional<Activation> act_of_last(const Builder& b) {
  return activation_of(b.g, last(b));
}

TEST(Activation, RecognisesEachOperator) {
  const std::pair<const char*, ActKind> plain[] = {
      {"Relu", ActKind::Relu}, {"Sigmoid", ActKind::Sigmoid}, {"HardSwish", ActKind::HardSwish},
      {"Tanh", ActKind::Tanh}, {"Exp", ActKind::Exp},         {"Sqrt", ActKind::Sqrt},
      {"Neg", ActKind::Neg}};
  for (const auto& [op, kind] : plain) {
    Builder b;
    b.node(op, {b.input({2, 3})});
    auto a = act_of_last(b);
    ASSERT_TRUE(a) << op;
    EXPECT_EQ(a->kind, kind) << op;
  }
  for (const char* op : {"Softmax", "Mul", "Add", "Conv", "Abs", "Erf"}) {
    Builder b;
    b.node(op, {b.input({2, 3})});
    EXPECT_FALSE(act_of_last(b)) << op;
  }
  Builder b;  // the first input absent
  b.node("Relu", {-1});
  EXPECT_FALSE(act_of_last(b));
}

TEST(Activation, ParametersAndOnnxDefaults) {
  Builder b;
  int x = b.input({2, 3});
  b.node("LeakyRelu", {x});
  EXPECT_FLOAT_EQ(act_of_last(b)->alpha, 0.01f);
  b.node("LeakyRelu", {x}, attrs({{"alpha", 0.25f}}));
  EXPECT_FLOAT_EQ(act_of_last(b)->alpha, 0.25f);
  b.node("HardSigmoid", {x});
  EXPECT_FLOAT_EQ(act_of_last(b)->alpha, 0.2f);
  EXPECT_FLOAT_EQ(act_of_last(b)->beta, 0.5f);
  b.node("HardSigmoid", {x}, attrs({{"alpha", 0.3f}, {"beta", 0.4f}}));
  EXPECT_FLOAT_EQ(act_of_last(b)->alpha, 0.3f);
  EXPECT_FLOAT_EQ(act_of_last(b)->beta, 0.4f);
}

TEST(Activation, ClipBoundsFromAttributesOrConstantInputs) {
  Builder b;
  int x = b.input({2, 3});
  auto scalar = [&](float v) { return b.constant(Tensor::scalar_f32(v)); };
  b.node("Clip", {x});  // no bounds at all
  auto a = act_of_last(b);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, ActKind::Clip);
  EXPECT_FALSE(a->min);
  EXPECT_FALSE(a->max);
  b.node("Clip", {x}, attrs({{"max", 6.f}}));  // opset < 11: attributes
  a = act_of_last(b);
  EXPECT_FALSE(a->min);
  EXPECT_EQ(a->max, 6.f);
  b.node("Clip", {x, scalar(-1.f)});  // opset >= 11: inputs
  a = act_of_last(b);
  EXPECT_EQ(a->min, -1.f);
  EXPECT_FALSE(a->max);
  b.node("Clip", {x, -1, scalar(2.f)});  // min absent
  a = act_of_last(b);
  EXPECT_FALSE(a->min);
  EXPECT_EQ(a->max, 2.f);
  b.node("Clip", {x, scalar(0.5f)}, attrs({{"min", -3.f}, {"max", 3.f}}));  // the input wins
  a = act_of_last(b);
  EXPECT_EQ(a->min, 0.5f);
  EXPECT_EQ(a->max, 3.f);
  // Bounds the planners cannot bake in: computed at run time, not float32, not one element.
  b.node("Clip", {x, b.input({})});
  EXPECT_FALSE(act_of_last(b));
  b.node("Clip", {x, b.constant(Tensor::from<int64_t>({}, {0}))});
  EXPECT_FALSE(act_of_last(b));
  b.node("Clip", {x, -1, b.constant(Tensor::from<float>({2}, {0.f, 1.f}))});
  EXPECT_FALSE(act_of_last(b));
}

// A specialised graph and the reader tables a planner keeps.
struct Planned {
  Graph g;
  std::vector<std::vector<int>> readers;
  std::vector<char> is_output, consumed;

  Planned(const Builder& b, const std::vector<Shape>& shapes) : g(specialize(b.g, shapes)) {
    readers = g.consumers();
    is_output.assign(g.values.size(), 0);
    for (int v : g.outputs) is_output[static_cast<size_t>(v)] = 1;
    consumed.assign(g.nodes.size(), 0);
  }
  Readers r() const { return Readers{g, readers, is_output, consumed}; }
  // The k-th node of type op.
  int node(const std::string& op, int k = 0) const {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].op == op && k-- == 0) return static_cast<int>(i);
    ADD_FAILURE() << "no " << op;
    return -1;
  }
  int out(const std::string& op, int k = 0) const {
    return g.nodes[static_cast<size_t>(node(op, k))].outputs[0];
  }
};

const Shape kX{1, 4, 5, 5};

// x -> Conv -> y, then `readers` adds the nodes that read y.
template <class F>
Planned after_conv(F readers) {
  Builder b;
  const int y = b.conv(b.input(kX), 4, 4, 3);
  readers(b, y);
  return Planned(b, {kX});
}

TEST(Activation, FusesTheSoleReader) {
  Planned p = after_conv([](Builder& b, int y) { b.output(b.node("Relu", {y})); });
  auto m = fusable_activation(p.r(), p.out("Conv"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->act.kind, ActKind::Relu);
  EXPECT_EQ(m->node, p.node("Relu"));
  EXPECT_EQ(m->mul, -1);
  EXPECT_EQ(m->out, p.out("Relu"));
  p.consumed[static_cast<size_t>(p.node("Relu"))] = 1;  // lowered already
  EXPECT_FALSE(fusable_activation(p.r(), p.out("Conv")));
}

TEST(Activation, NothingFusesWhenTheValueIsStillNeeded) {
  Planned out = after_conv([](Builder& b, int y) {
    b.output(b.node("Relu", {y}));
    b.output(y);
  });
  EXPECT_FALSE(fusable_activation(out.r(), out.out("Conv")));
  Planned two = after_conv([](Builder& b, int y) {
    b.output(b.node("Relu", {y}));
    b.output(b.node("Tanh", {y}));
  });
  EXPECT_FALSE(fusable_activation(two.r(), two.out("Conv")));
  Planned twice = after_conv([](Builder& b, int y) { b.output(b.node("Add", {y, y})); });
  EXPECT_FALSE(fusable_activation(twice.r(), twice.out("Conv")));
  Planned other = after_conv([](Builder& b, int y) { b.output(b.node("Softmax", {y})); });
  EXPECT_FALSE(fusable_activation(other.r(), other.out("Conv")));
}

TEST(Activation, SiluInEitherOperandOrder) {
  for (bool swapped : {false, true}) {
    Planned p = after_conv([&](Builder& b, int y) {
      const int s = b.node("Sigmoid", {y});
      b.output(swapped ? b.node("Mul", {s, y}) : b.node("Mul", {y, s}));
    });
    const int y = p.out("Conv");
    auto m = fusable_activation(p.r(), y);
    ASSERT_TRUE(m) << swapped;
    EXPECT_EQ(m->act.kind, ActKind::SiLU);
    EXPECT_EQ(m->node, p.node("Sigmoid"));
    EXPECT_EQ(m->mul, p.node("Mul"));
    EXPECT_EQ(m->out, p.out("Mul"));
    EXPECT_EQ(silu_mul(p.r(), p.node("Sigmoid")), p.node("Mul"));
    EXPECT_TRUE(p.r().read_only_by(y, p.node("Sigmoid"), p.node("Mul")));
    p.consumed[static_cast<size_t>(p.node("Mul"))] = 1;
    EXPECT_FALSE(fusable_activation(p.r(), y));
    EXPECT_EQ(silu_mul(p.r(), p.node("Sigmoid")), -1);
  }
}

TEST(Activation, SiluOnlyFusesIntoTheProducerWhenXHasNoOtherReader) {
  // A third reader keeps x: no fusion into x's producer, but the pair is still
  // a SiLU for a backend that lowers it standalone (it reads x anyway).
  Planned third = after_conv([](Builder& b, int y) {
    b.output(b.node("Mul", {y, b.node("Sigmoid", {y})}));
    b.output(b.node("Neg", {y}));
  });
  const int y = third.out("Conv");
  EXPECT_FALSE(fusable_activation(third.r(), y));
  EXPECT_EQ(silu_mul(third.r(), third.node("Sigmoid")), third.node("Mul"));
  EXPECT_FALSE(third.r().read_only_by(y, third.node("Sigmoid"), third.node("Mul")));
  Planned kept = after_conv([](Builder& b, int y) {
    b.output(b.node("Mul", {y, b.node("Sigmoid", {y})}));
    b.output(y);
  });
  EXPECT_FALSE(fusable_activation(kept.r(), kept.out("Conv")));
  EXPECT_EQ(silu_mul(kept.r(), kept.node("Sigmoid")), kept.node("Mul"));
  EXPECT_FALSE(kept.r().read_only_by(kept.out("Conv"), kept.node("Sigmoid"), kept.node("Mul")));
}

TEST(Activation, NotSiluWhenTheSigmoidIsNeededElsewhereOrTheMulDiffers) {
  Planned read = after_conv([](Builder& b, int y) {
    const int s = b.node("Sigmoid", {y});
    b.output(b.node("Mul", {y, s}));
    b.output(b.node("Neg", {s}));
  });
  EXPECT_EQ(silu_mul(read.r(), read.node("Sigmoid")), -1);
  EXPECT_FALSE(fusable_activation(read.r(), read.out("Conv")));
  Planned out = after_conv([](Builder& b, int y) {
    const int s = b.node("Sigmoid", {y});
    b.output(b.node("Mul", {y, s}));
    b.output(s);
  });
  EXPECT_EQ(silu_mul(out.r(), out.node("Sigmoid")), -1);
  EXPECT_FALSE(fusable_activation(out.r(), out.out("Conv")));
  Planned add = after_conv([](Builder& b, int y) {
    b.output(b.node("Add", {y, b.node("Sigmoid", {y})}));
  });
  EXPECT_EQ(silu_mul(add.r(), add.node("Sigmoid")), -1);
  EXPECT_FALSE(fusable_activation(add.r(), add.out("Conv")));
  Builder b;  // Mul(z, Sigmoid(y)): another operand
  const int x = b.input(kX), z = b.input(kX);
  const int y = b.conv(x, 4, 4, 3, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  b.output(b.node("Mul", {z, b.node("Sigmoid", {y})}));
  Planned other(b, {kX, kX});
  EXPECT_EQ(silu_mul(other.r(), other.node("Sigmoid")), -1);
  // Sigmoid(y)^2: y's only reader is the Sigmoid, which fuses on its own.
  Planned square = after_conv([](Builder& b, int y) {
    const int s = b.node("Sigmoid", {y});
    b.output(b.node("Mul", {s, s}));
  });
  EXPECT_EQ(silu_mul(square.r(), square.node("Sigmoid")), -1);
  auto m = fusable_activation(square.r(), square.out("Conv"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->act.kind, ActKind::Sigmoid);
  EXPECT_EQ(m->mul, -1);
}

}  // namespace
}  // namespace teesplit
