// The LibTorch lowering (src/torch): every operator against the reference kernels
// on random inputs, training-mode BatchNormalization and Dropout against hand
// computations, the dynamic batch, and zoo models against Session (oneDNN and
// reference).
#include <gtest/gtest.h>

#include "support/test_support.h"

#ifdef TEESPLIT_HAVE_TORCH

#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include "io/npy.h"
#include "onnx/onnx_import.h"
#include "ops/kernels.h"
#include "runtime/session.h"
#include "torch/torch_graph.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

using testing::random_tensor;
using testing::rel_error;

Attr ints(std::vector<int64_t> v) {
  return v;
}
Tensor i64(const std::vector<int64_t>& v) {
  return Tensor::from<int64_t>({static_cast<int64_t>(v.size())}, v);
}

class TorchThreads : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(1); }  // 2 OpenMP threads crawl on shared cores
};

// Runs one node through the lowering (eval mode) and through run_op; inputs
// marked constant become initializers, the others graph inputs.
void expect_like_reference(const std::string& op, const Attrs& attrs,
                           const std::vector<Tensor>& inputs, const std::vector<bool>& constant,
                           double tol = 1e-5) {
  SCOPED_TRACE(op);
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(t.defined() ? &t : nullptr);
  const Tensor ref = run_op(op, attrs, ptrs)[0];

  Graph g = testing::single_node_graph(op, attrs, inputs, constant);
  TorchGraph m(g);
  m.eval();
  ASSERT_EQ(m.graph().nodes.size(), 1u) << "the node was folded; give it a non-constant input";
  std::vector<torch::Tensor> xs;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && !(i < constant.size() && constant[i]))
      xs.push_back(to_torch(inputs[i]));
  const Tensor got = from_torch(m.forward(xs)[0]);
  ASSERT_EQ(shape_str(got.shape()), shape_str(ref.shape()));
  EXPECT_LE(rel_error(got, ref), tol);
}

TEST_F(TorchThreads, TensorConversionRoundTrips) {
  const Tensor f = random_tensor({2, 3, 4}, 1);
  EXPECT_EQ(rel_error(from_torch(to_torch(f)), f), 0.0);
  const Tensor l = i64({5, -7, 1LL << 40});
  const Tensor back = from_torch(to_torch(l));
  ASSERT_EQ(back.dtype(), DType::I64);
  EXPECT_EQ(back.as_int(2), 1LL << 40);
  EXPECT_THROW(from_torch(torch::zeros({2}, torch::kFloat64)), Error);
}

TEST_F(TorchThreads, Conv) {
  Attrs a;
  a.set("kernel_shape", ints({3, 3}));
  a.set("pads", ints({1, 1, 1, 1}));
  expect_like_reference(
      "Conv", a,
      {random_tensor({2, 3, 7, 9}, 1), random_tensor({4, 3, 3, 3}, 2), random_tensor({4}, 3)},
      {false, true, true});
  // Groups, dilations, strides, asymmetric pads (top, left, bottom, right).
  Attrs b;
  b.set("group", int64_t{2});
  b.set("dilations", ints({2, 1}));
  b.set("strides", ints({2, 2}));
  b.set("pads", ints({0, 1, 2, 1}));
  expect_like_reference(
      "Conv", b, {random_tensor({1, 4, 10, 11}, 4), random_tensor({6, 2, 3, 3}, 5)}, {false, true});
  // Depthwise with auto_pad SAME_UPPER at stride 2 (odd size: asymmetric padding).
  Attrs c;
  c.set("group", int64_t{6});
  c.set("strides", ints({2, 2}));
  c.set("auto_pad", std::string("SAME_UPPER"));
  expect_like_reference(
      "Conv", c,
      {random_tensor({2, 6, 9, 8}, 6), random_tensor({6, 1, 3, 3}, 7), random_tensor({6}, 8)},
      {false, true, true});
  // Weights as a graph input (not a parameter) work too.
  expect_like_reference(
      "Conv", a, {random_tensor({1, 3, 5, 5}, 9), random_tensor({2, 3, 3, 3}, 10)}, {false, false});
}

TEST_F(TorchThreads, GemmAndMatMul) {
  Attrs a;
  a.set("transB", int64_t{1});
  a.set("alpha", 0.5f);
  a.set("beta", 2.0f);
  expect_like_reference("Gemm", a,
                        {random_tensor({3, 5}, 1), random_tensor({4, 5}, 2), random_tensor({4}, 3)},
                        {false, true, true});
  Attrs b;
  b.set("transA", int64_t{1});
  expect_like_reference(
      "Gemm", b, {random_tensor({5, 3}, 4), random_tensor({5, 4}, 5), random_tensor({3, 4}, 6)},
      {false, true, true});
  expect_like_reference("Gemm", Attrs(), {random_tensor({2, 6}, 7), random_tensor({6, 3}, 8)},
                        {false, true});
  expect_like_reference("MatMul", Attrs(), {random_tensor({2, 3, 4}, 9), random_tensor({4, 5}, 10)},
                        {false, true});
  expect_like_reference("MatMul", Attrs(),
                        {random_tensor({2, 3, 4}, 11), random_tensor({2, 4, 2}, 12)},
                        {false, false});
}

TEST_F(TorchThreads, UnaryOperators) {
  const Tensor x = random_tensor({2, 3, 4, 5}, 1, -4.f, 4.f);
  for (const char* op : {"Relu", "Sigmoid", "HardSwish", "Tanh", "Exp", "Neg", "Identity"})
    expect_like_reference(op, Attrs(), {x}, {false});
  expect_like_reference("Sqrt", Attrs(), {random_tensor({7}, 2, 0.f, 3.f)}, {false});
  Attrs hs;
  hs.set("alpha", 0.3f);
  hs.set("beta", 0.4f);
  expect_like_reference("HardSigmoid", hs, {x}, {false});
  expect_like_reference("HardSigmoid", Attrs(), {x}, {false});
  Attrs lr;
  lr.set("alpha", 0.2f);
  expect_like_reference("LeakyRelu", lr, {x}, {false});
  expect_like_reference("Clip", Attrs(),
                        {x, Tensor::from<float>({}, {-1.f}), Tensor::from<float>({}, {2.5f})},
                        {false, true, true});
  expect_like_reference("Clip", Attrs(), {x, Tensor(), Tensor::from<float>({}, {0.f})},
                        {false, false, true});
}

TEST_F(TorchThreads, BinaryOperatorsBroadcast) {
  const Tensor x = random_tensor({2, 3, 4, 5}, 1);
  const Tensor c = random_tensor({3, 1, 1}, 2, 0.5f, 1.5f);
  const Tensor s = random_tensor({2, 3, 1, 1}, 3, 0.5f, 1.5f);
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    expect_like_reference(op, Attrs(), {x, c}, {false, true});
    expect_like_reference(op, Attrs(), {s, x}, {false, false});
  }
}

TEST_F(TorchThreads, Pooling) {
  const Tensor x = random_tensor({2, 3, 7, 7}, 1);
  struct Case {
    std::vector<int64_t> k, s, pads, dil;
    int64_t ceil, include;
  };
  const std::vector<Case> cases = {
      {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 0, 0}, {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 0, 1},
      {{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, 0}, {{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, 1},
      {{3, 2}, {2, 1}, {0, 0, 1, 1}, {1, 1}, 0, 0}, {{3, 3}, {2, 2}, {1, 0, 0, 1}, {1, 1}, 1, 1},
      {{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 0, 0},
  };
  for (const Case& c : cases) {
    Attrs a;
    a.set("kernel_shape", ints(c.k));
    a.set("strides", ints(c.s));
    a.set("pads", ints(c.pads));
    a.set("ceil_mode", c.ceil);
    Attrs avg = a;
    avg.set("count_include_pad", c.include);
    expect_like_reference("AveragePool", avg, {x}, {false});
    expect_like_reference("MaxPool", a, {x}, {false});
  }
  Attrs d;
  d.set("kernel_shape", ints({2, 2}));
  d.set("dilations", ints({2, 2}));
  d.set("pads", ints({1, 1, 1, 1}));
  expect_like_reference("MaxPool", d, {x}, {false});
  expect_like_reference("GlobalAveragePool", Attrs(), {x}, {false});
  expect_like_reference("GlobalMaxPool", Attrs(), {x}, {false});
}

TEST_F(TorchThreads, BatchNormEvalUsesRunningStats) {
  Attrs a;
  a.set("epsilon", 1e-3f);
  expect_like_reference(
      "BatchNormalization", a,
      {random_tensor({2, 4, 3, 5}, 1), random_tensor({4}, 2, 0.5f, 1.5f), random_tensor({4}, 3),
       random_tensor({4}, 4), random_tensor({4}, 5, 0.5f, 2.f)},
      {false, true, true, true, true});
}

TEST_F(TorchThreads, ShapeOperators) {
  const Tensor x = random_tensor({2, 3, 4, 5}, 1);
  for (int64_t axis : {0, 1, 2, -1}) {
    Attrs a;
    a.set("axis", axis);
    expect_like_reference("Flatten", a, {x}, {false});
  }
  expect_like_reference("Reshape", Attrs(), {x, i64({0, -1, 5})}, {false, true});
  expect_like_reference("Reshape", Attrs(), {x, i64({6, 20})}, {false, true});
  const Tensor y = random_tensor({2, 1, 3, 1}, 2);
  expect_like_reference("Squeeze", Attrs(), {y, i64({1})}, {false, true});
  expect_like_reference("Squeeze", Attrs(), {y}, {false});
  expect_like_reference("Unsqueeze", Attrs(), {x, i64({0, 5})}, {false, true});
  Attrs t;
  t.set("perm", ints({0, 2, 3, 1}));
  expect_like_reference("Transpose", t, {x}, {false});
  expect_like_reference("Transpose", Attrs(), {x}, {false});
  Attrs c;
  c.set("axis", int64_t{1});
  expect_like_reference("Concat", c, {x, random_tensor({2, 2, 4, 5}, 3)}, {false, false});
  c.set("axis", int64_t{-1});
  expect_like_reference("Concat", c, {x, random_tensor({2, 3, 4, 1}, 4)}, {false, true});
  Attrs p;
  p.set("mode", std::string("constant"));
  expect_like_reference("Pad", p,
                        {x, i64({0, 0, 1, 2, 0, 0, 3, 1}), Tensor::from<float>({}, {0.5f})},
                        {false, true, true});
}

TEST_F(TorchThreads, SoftmaxReduceMeanDropout) {
  const Tensor x = random_tensor({2, 3, 4}, 1, -3.f, 3.f);
  Attrs s;
  s.set("axis", int64_t{1});
  expect_like_reference("Softmax", s, {x}, {false});
  expect_like_reference("Softmax", Attrs(), {x}, {false});
  Attrs legacy = s;
  legacy.set("_legacy_flatten", int64_t{1});
  expect_like_reference("Softmax", legacy, {x}, {false});
  Attrs r;
  r.set("axes", ints({1, 2}));
  expect_like_reference("ReduceMean", r, {x}, {false});
  r.set("keepdims", int64_t{0});
  expect_like_reference("ReduceMean", r, {x}, {false});
  expect_like_reference("Dropout", Attrs(), {x}, {false});  // eval: identity
}

TEST_F(TorchThreads, BatchNormTrainingUsesBatchStatsAndUpdatesRunningStats) {
  const int64_t n = 4, c = 3, hw = 6;
  const Tensor x = random_tensor({n, c, 2, 3}, 1, -2.f, 3.f);
  const Tensor scale = random_tensor({c}, 2, 0.5f, 1.5f), bias = random_tensor({c}, 3);
  const Tensor mean = random_tensor({c}, 4), var = random_tensor({c}, 5, 0.5f, 2.f);
  Attrs a;
  a.set("epsilon", 1e-5f);
  a.set("momentum", 0.9f);
  Graph g = testing::single_node_graph("BatchNormalization", a, {x, scale, bias, mean, var},
                                       {false, true, true, true, true});
  TorchGraph m(g);
  m.train();
  const Tensor y = from_torch(m.forward(to_torch(x)));
  auto weights = m.named_weights();
  ASSERT_EQ(weights.size(), 4u);
  EXPECT_EQ(weights[0].first, "in1");
  EXPECT_EQ(m.parameter_names(), (std::vector<std::string>{"in1", "in2"}));
  const Tensor new_mean = from_torch(weights[2].second), new_var = from_torch(weights[3].second);
  const float* xd = x.data<float>();
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0, s2 = 0;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < hw; ++i) s += xd[(b * c + ch) * hw + i];
    const double mu = s / (n * hw);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < hw; ++i) s2 += std::pow(xd[(b * c + ch) * hw + i] - mu, 2);
    const double var_b = s2 / (n * hw), var_u = s2 / (n * hw - 1);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < hw; ++i) {
        const int64_t k = (b * c + ch) * hw + i;
        const double want = (xd[k] - mu) / std::sqrt(var_b + 1e-5) * scale.data<float>()[ch] +
                            bias.data<float>()[ch];
        EXPECT_NEAR(y.data<float>()[k], want, 1e-4);
      }
    EXPECT_NEAR(new_mean.data<float>()[ch], 0.9 * mean.data<float>()[ch] + 0.1 * mu, 1e-5);
    EXPECT_NEAR(new_var.data<float>()[ch], 0.9 * var.data<float>()[ch] + 0.1 * var_u, 1e-5);
  }
}

TEST_F(TorchThreads, DropoutIsActiveOnlyInTraining) {
  const Tensor x = random_tensor({100, 100}, 1, 1.f, 2.f);
  Graph g = testing::single_node_graph("Dropout", Attrs(), {x, Tensor::from<float>({}, {0.25f})},
                                       {false, true});
  TorchGraph m(g);
  torch::manual_seed(3);
  m.train();
  const Tensor y = from_torch(m.forward(to_torch(x)));
  int64_t zeros = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const float v = y.data<float>()[i];
    if (v == 0.f) {
      ++zeros;
    } else {
      EXPECT_NEAR(v, x.data<float>()[i] / 0.75f, 1e-5);
    }
  }
  EXPECT_NEAR(zeros / 10000.0, 0.25, 0.03);
  m.eval();
  EXPECT_EQ(rel_error(from_torch(m.forward(to_torch(x))), x), 0.0);
}

// A zoo model shaped for Fashion-MNIST: 1x32x32 input, 10 classes, width 0.25.
ZooOptions fashion_zoo(const std::string& arch) {
  ZooOptions zo;
  zo.arch = arch;
  zo.input_size = 32;
  zo.channels = 1;
  zo.classes = 10;
  zo.width = 0.25;
  return zo;
}

// The zoo's EfficientNet-B0 carries torchvision's drop probability (0.2) as a
// Constant input; training mode must use it.
TEST_F(TorchThreads, ZooEfficientNetDropsOneFifth) {
  const ZooOptions zo = fashion_zoo("efficientnet_b0");
  auto g = parse_onnx(zoo_model_bytes(zo), "", "efficientnet_b0.onnx");
  ASSERT_TRUE(g.ok()) << g.error();
  TorchGraph m(g.value());
  std::string dropped;
  for (const Node& n : m.graph().nodes)
    if (n.op == "Dropout") dropped = m.graph().value(n.outputs[0]).name;
  ASSERT_FALSE(dropped.empty());
  torch::NoGradGuard no_grad;
  const torch::Tensor x = to_torch(random_tensor({64, 1, 32, 32}, 3, 0.f, 1.f));
  m.train();
  const torch::Tensor y = m.forward_values({x}, {dropped})[0];
  const double zeros = y.eq(0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(zeros, 0.2, 0.03) << "over " << y.numel() << " values";
  m.eval();
  EXPECT_EQ(m.forward_values({x}, {dropped})[0].eq(0).sum().item<int64_t>(), 0);
}

TEST_F(TorchThreads, GradientsReachEveryParameter) {
  Attrs a;
  a.set("kernel_shape", ints({3, 3}));
  Graph g = testing::single_node_graph(
      "Conv", a,
      {random_tensor({2, 3, 5, 5}, 1), random_tensor({4, 3, 3, 3}, 2), random_tensor({4}, 3)},
      {false, true, true});
  TorchGraph m(g);
  EXPECT_EQ(m.parameters().size(), 2u);
  torch::Tensor x = to_torch(random_tensor({2, 3, 5, 5}, 1)).requires_grad_(true);
  m.forward(x).square().sum().backward();
  for (const auto& p : m.parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0);
  }
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);  // white-box attacks need this
}

// input [N,4,3,3] -> Shape -> Gather(0) -> Unsqueeze -> Concat(., [36]) -> Reshape.
Graph reshape_chain_graph() {
  Graph g;
  auto val = [&](const std::string& name, DType t, Shape s, std::optional<Tensor> c = {}) {
    return g.add_value(Value{name, t, std::move(s), std::move(c)});
  };
  const int x = val("x", DType::F32, {-1, 4, 3, 3});
  g.inputs.push_back(x);
  const int shape = val("shape", DType::I64, {4});
  const int idx = val("idx", DType::I64, {}, Tensor::from<int64_t>({}, {0}));
  const int n = val("n", DType::I64, {});
  const int axes = val("axes", DType::I64, {1}, i64({0}));
  const int n1 = val("n1", DType::I64, {1});
  const int rest = val("rest", DType::I64, {1}, i64({36}));
  const int target = val("target", DType::I64, {2});
  const int y = val("y", DType::F32, {-1, 36});
  auto node = [&](const std::string& op, std::vector<int> in, int out, Attrs attrs = {}) {
    g.nodes.push_back(Node{
        op + "_" + std::to_string(g.nodes.size()), op, std::move(in), {out}, std::move(attrs)});
  };
  node("Shape", {x}, shape);
  Attrs ga;
  ga.set("axis", int64_t{0});
  node("Gather", {shape, idx}, n, ga);
  node("Unsqueeze", {n, axes}, n1);
  Attrs ca;
  ca.set("axis", int64_t{0});
  node("Concat", {n1, rest}, target, ca);
  node("Reshape", {x, target}, y);
  g.outputs.push_back(y);
  g.validate();
  return g;
}

TEST_F(TorchThreads, ShapeChainsKeepTheBatchDynamic) {
  TorchGraph m(reshape_chain_graph());
  ASSERT_EQ(m.graph().nodes.size(), 1u);  // folded down to the Reshape
  for (int64_t batch : {int64_t{1}, int64_t{5}, kTraceBatch}) {
    const Tensor x = random_tensor({batch, 4, 3, 3}, static_cast<uint64_t>(batch));
    const Tensor y = from_torch(m.forward(to_torch(x)));
    ASSERT_EQ(shape_str(y.shape()), shape_str({batch, 36}));
    EXPECT_EQ(rel_error(y, x.reshaped({batch, 36})), 0.0);
  }
  EXPECT_THROW(m.forward(torch::zeros({2, 4, 3, 4})), Error);  // wrong non-batch dims
}

TEST_F(TorchThreads, UnsupportedNodeIsNamed) {
  Attrs a;
  a.set("to", int64_t{7});
  Graph g = testing::single_node_graph("Cast", a, {random_tensor({2}, 1)}, {false});
  try {
    TorchGraph m(g);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Cast_0"), std::string::npos) << e.what();
  }
  // A run-time problem names the node too: two dynamic-batch inputs that differ.
  Graph add = testing::single_node_graph(
      "Add", Attrs(), {random_tensor({2, 3}, 1), random_tensor({2, 3}, 2)}, {false, false});
  for (int id : add.inputs) add.value(id).shape[0] = -1;
  TorchGraph m(add);
  EXPECT_EQ(m.forward({torch::ones({2, 3}), torch::ones({2, 3})})[0].sum().item<float>(), 12.f);
  try {
    m.forward({torch::zeros({2, 3}), torch::zeros({3, 3})});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Add_0"), std::string::npos) << e.what();
  }
}

// The three zoo architectures (random BN statistics so that BN matters): the
// lowering in eval mode against Session on oneDNN and on the reference kernels.
TEST_F(TorchThreads, ZooModelsMatchTheEngine) {
  for (const std::string arch : {"vgg16", "resnet50", "efficientnet_b0"}) {
    SCOPED_TRACE(arch);
    ZooOptions zo = fashion_zoo(arch);
    zo.seed = 7;
    zo.randomize_bn = true;
    auto g = parse_onnx(zoo_model_bytes(zo), "", arch + ".onnx");
    ASSERT_TRUE(g.ok()) << g.error();
    TorchGraph m(g.value());
    m.eval();
    torch::NoGradGuard no_grad;
    for (int64_t batch : {1, 3}) {
      const Tensor x = random_tensor({batch, 1, 32, 32}, 11, 0.f, 1.f);
      const Tensor want = from_torch(m.forward(to_torch(x)));
      for (BackendKind kind : {BackendKind::OneDnn, BackendKind::Reference}) {
        Session s(g.value(), SessionOptions{kind, 1});
        const Tensor got = s.run({x})[0];
        ASSERT_EQ(shape_str(got.shape()), shape_str(want.shape()));
        EXPECT_LE(rel_error(got, want), 1e-4);
        for (int64_t b = 0; b < batch; ++b) {
          const float* gr = got.data<float>() + b * 10;
          const float* wr = want.data<float>() + b * 10;
          EXPECT_EQ(std::max_element(gr, gr + 10) - gr, std::max_element(wr, wr + 10) - wr);
        }
      }
    }
  }
}

// Reads "name numel" lines and slices the flat tensor accordingly.
std::map<std::string, Tensor> split_flat(const std::string& stem) {
  const Tensor flat = read_npy(stem + ".npy");
  std::ifstream names(stem + ".txt");
  std::map<std::string, Tensor> out;
  std::string name;
  int64_t n = 0, offset = 0;
  while (names >> name >> n) {
    EXPECT_LE(offset + n, flat.numel()) << name;
    if (offset + n > flat.numel()) break;
    std::vector<float> v(flat.data<float>() + offset, flat.data<float>() + offset + n);
    out.emplace(name, Tensor::from<float>({n}, v));
    offset += n;
  }
  EXPECT_EQ(offset, flat.numel()) << stem;
  return out;
}

// The oracle for training: one training-mode step of the lowering against
// torchvision's own module with the same weights (export_torchvision.py
// --train-step): logits, loss, every parameter's gradient and the BatchNorm
// running statistics after the forward pass. Dropout and stochastic depth are
// off on both sides (they are random).
TEST_F(TorchThreads, TrainingStepMatchesTorchvision) {
  TS_REQUIRE_ORACLE(
      std::system("/usr/bin/python3 -c 'import torch, torchvision, onnx' >/dev/null 2>&1") == 0,
      "/usr/bin/python3 cannot import torch/torchvision/onnx");
  // ResNet-50 is left out: with ReLU, a 1e-6 difference in the forward pass (other
  // convolution algorithms) flips activations at zero, and training-mode BN over
  // 2x2 maps of 4 samples turns such flips into percent-level gradient differences.
  // EfficientNet's SiLU and sigmoid are smooth, so its gradients agree to ~3e-5.
  const std::string arch = "efficientnet_b0";
  ZooOptions zo = fashion_zoo(arch);
  zo.input_size = 64;
  zo.channels = 3;  // torchvision's stem
  zo.seed = 5;
  zo.randomize_bn = true;
  const std::string dir = testing::generated_dir() + "/train-step";
  std::filesystem::create_directories(dir);
  const std::string model = dir + "/" + arch + ".onnx";
  write_zoo_model(zo, model);
  const std::string cmd =
      "/usr/bin/python3 " + testing::source_path("tests/fixtures/export_torchvision.py") + " " +
      arch + " " + dir + " --weights-from " + model + " --train-step --batch 4 --seed 2 >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string stem = dir + "/" + arch + ".zoo.train";

  auto g = load_onnx(model);
  ASSERT_TRUE(g.ok()) << g.error();
  Graph graph = std::move(g).value();
  for (Node& n : graph.nodes)
    if (n.op == "Dropout") {  // ratio 0, as on the Python side
      n.inputs.resize(1);
      n.attrs.set("ratio", 0.0f);
    }
  TorchGraph m(graph);
  m.train();
  const torch::Tensor x = to_torch(read_npy(stem + ".input.npy"));
  const torch::Tensor labels = torch::arange(x.size(0), torch::kLong).remainder(zo.classes);
  const torch::Tensor logits = m.forward(x);
  const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, labels);
  loss.backward();

  EXPECT_LE(rel_error(from_torch(logits), read_npy(stem + ".logits.npy")), 1e-4);
  EXPECT_NEAR(loss.item<double>(), read_npy(stem + ".loss.npy").data<float>()[0], 1e-4);
  const auto grads = split_flat(stem + ".grads");
  const auto running = split_flat(stem + ".running");
  size_t checked_grads = 0, checked_stats = 0;
  for (const auto& [name, t] : m.named_weights()) {
    SCOPED_TRACE(name);
    const Tensor mine = from_torch(t.requires_grad() ? t.grad().reshape({-1}) : t.reshape({-1}));
    const auto& expect = t.requires_grad() ? grads : running;
    const auto it = expect.find(name);
    ASSERT_NE(it, expect.end()) << "torchvision has no " << name;
    ASSERT_EQ(mine.numel(), it->second.numel());
    // Gradients that are zero in exact arithmetic (a BN bias followed by another
    // training-mode BN) come out as ~1e-7 noise on both sides: an absolute floor.
    const Tensor& want = it->second;
    double diff = 0, scale = 0.05;  // the largest gradients here are 0.02 to 20
    for (int64_t k = 0; k < want.numel(); ++k) {
      diff = std::max(diff, double{std::abs(mine.data<float>()[k] - want.data<float>()[k])});
      scale = std::max(scale, double{std::abs(want.data<float>()[k])});
    }
    EXPECT_LE(diff / scale, 2e-4);
    ++(t.requires_grad() ? checked_grads : checked_stats);
  }
  EXPECT_EQ(checked_grads, grads.size());
  EXPECT_EQ(checked_stats, running.size());
}

}  // namespace
}  // namespace teesplit

#else

TEST(TorchGraph, RequiresLibTorch) {
  TS_REQUIRE_ORACLE(false,
                    "built without LibTorch (libtorch-dev; TEESPLIT_TORCH): the LibTorch "
                    "lowering and its oracles are not tested");
}

#endif
