// Cut enumeration, explanations, names and statistics (graph/cuts.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "graph/cuts.h"
#include "graph/passes.h"
#include "onnx/onnx_import.h"
#include "support/test_support.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

// A graph built by hand: x -> Relu a -> Relu b; Add(a, b) c -> Relu d.
Graph residual_graph() {
  Graph g;
  g.name = "residual";
  auto val = [&](const std::string& n) { return g.add_value(Value{n, DType::F32, {1, 4}, {}}); };
  const int x = val("x"), a = val("a"), b = val("b"), c = val("c"), d = val("d");
  g.inputs = {x};
  g.nodes.push_back(Node{"relu_a", "Relu", {x}, {a}, {}});
  g.nodes.push_back(Node{"relu_b", "Relu", {a}, {b}, {}});
  g.nodes.push_back(Node{"add", "Add", {a, b}, {c}, {}});
  g.nodes.push_back(Node{"relu_d", "Relu", {c}, {d}, {}});
  g.outputs = {d};
  g.validate();
  return g;
}

Graph zoo_graph(const std::string& arch, int64_t size = 32, double width = 0.25) {
  ZooOptions o;
  o.arch = arch;
  o.input_size = size;
  o.width = width;
  o.classes = 10;
  auto g = parse_onnx(zoo_model_bytes(o), ".", "zoo:" + arch);
  EXPECT_TRUE(g.ok()) << g.error();
  Graph m = std::move(g).value();
  return specialize(m, default_input_shapes(m, 1));
}

std::vector<int> indices(const std::vector<Cut>& cuts) {
  std::vector<int> out;
  for (const Cut& c : cuts) out.push_back(c.index);
  return out;
}

bool contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

// Independent check of a cut: removing the feature map disconnects every back
// node and graph output from the graph input (no other path crosses).
bool separates(const Graph& g, const Cut& c) {
  std::vector<char> reach(g.values.size(), 0);
  for (int id : g.inputs) reach[static_cast<size_t>(id)] = 1;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    bool r = false;
    for (int in : g.nodes[k].inputs)
      if (in >= 0 && in != c.feature && reach[static_cast<size_t>(in)]) r = true;
    if (r && static_cast<int>(k) > c.index) return false;
    for (int out : g.nodes[k].outputs)
      if (out >= 0 && out != c.feature) reach[static_cast<size_t>(out)] = r;
  }
  for (int o : g.outputs)
    if (o != c.feature && reach[static_cast<size_t>(o)]) return false;
  return true;
}

TEST(Cuts, HandBuiltResidual) {
  Graph g = residual_graph();
  EXPECT_EQ(indices(enumerate_cuts(g)), (std::vector<int>{0, 2}));
  EXPECT_EQ(explain_cut(g, 0), "");
  const std::string why = explain_cut(g, 1);
  EXPECT_TRUE(contains(why, "2 tensors cross")) << why;
  EXPECT_TRUE(contains(why, "'a'") && contains(why, "'b'")) << why;
  EXPECT_TRUE(contains(why, "residual block")) << why;
  EXPECT_TRUE(contains(why, "'add'")) << why;
  EXPECT_TRUE(contains(explain_cut(g, 3), "last node")) << explain_cut(g, 3);
  EXPECT_TRUE(contains(explain_cut(g, -1), "no node")) << explain_cut(g, -1);
  EXPECT_TRUE(contains(explain_cut(g, 4), "no node")) << explain_cut(g, 4);
  // No scope in the node names: the cut is named by its node.
  EXPECT_EQ(enumerate_cuts(g)[0].name, "relu_a");
  EXPECT_EQ(enumerate_cuts(g)[0].feature, g.find_value("a"));
}

TEST(Cuts, GraphInputIsNeverTheFeature) {
  // x -> Relu a; Add(x, a) b -> Relu c: after node 0 both x and a cross.
  Graph g;
  auto val = [&](const std::string& n) { return g.add_value(Value{n, DType::F32, {2}, {}}); };
  const int x = val("x"), a = val("a"), b = val("b"), c = val("c");
  g.inputs = {x};
  g.nodes.push_back(Node{"r", "Relu", {x}, {a}, {}});
  g.nodes.push_back(Node{"add", "Add", {x, a}, {b}, {}});
  g.nodes.push_back(Node{"r2", "Relu", {b}, {c}, {}});
  g.outputs = {c};
  EXPECT_EQ(indices(enumerate_cuts(g)), (std::vector<int>{1}));
  EXPECT_TRUE(contains(explain_cut(g, 0), "'x' and 'a'")) << explain_cut(g, 0);
  // A node that ignores the input leaves only the input crossing.
  Graph h;
  const int y = h.add_value(Value{"y", DType::F32, {2}, {}});
  const int k = h.add_value(Value{"k", DType::F32, {2}, Tensor::from<float>({2}, {1, 2})});
  const int s = h.add_value(Value{"s", DType::F32, {2}, {}});
  const int t = h.add_value(Value{"t", DType::F32, {2}, {}});
  h.inputs = {y};
  h.nodes.push_back(Node{"relu_k", "Relu", {k}, {s}, {}});
  h.nodes.push_back(Node{"add", "Add", {y, s}, {t}, {}});
  h.outputs = {t};
  EXPECT_TRUE(contains(explain_cut(h, 0), "'y' and 's'")) << explain_cut(h, 0);
}

TEST(Cuts, VggIsAChain) {
  Graph g = zoo_graph("vgg16");
  std::vector<Cut> cuts = enumerate_cuts(g);
  // Every node but the last (VGG has no branches).
  ASSERT_EQ(cuts.size(), g.nodes.size() - 1);
  EXPECT_EQ(cuts[0].name, "features.0");
  EXPECT_EQ(cuts[4].name, "features.4");
  EXPECT_EQ(g.nodes[4].name, "/features/features.4/MaxPool");
  EXPECT_EQ(cuts[30].name, "features.30");
  for (const Cut& c : cuts) EXPECT_TRUE(separates(g, c)) << c.name;
}

TEST(Cuts, ResNetBlocksCannotBeCutThrough) {
  Graph g = zoo_graph("resnet50");
  std::vector<Cut> cuts = enumerate_cuts(g);
  std::set<std::string> names;
  for (const Cut& c : cuts) {
    names.insert(c.name);
    EXPECT_TRUE(separates(g, c)) << c.name;
    EXPECT_EQ(explain_cut(g, c.index), "");
  }
  for (const char* want :
       {"conv1", "maxpool", "layer1.0", "layer2.1", "layer3.5", "layer4.2", "avgpool"})
    EXPECT_TRUE(names.count(want)) << want;
  // The block's last Relu names the block.
  for (const Cut& c : cuts)
    if (c.name == "layer2.1") {
      EXPECT_EQ(g.nodes[c.index].name, "/layer2/layer2.1/relu_2/Relu");
    }
  // Inside a bottleneck: two tensors, a residual block.
  int inside = -1;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (g.nodes[k].name == "/layer2/layer2.1/conv2/Conv") inside = static_cast<int>(k);
  ASSERT_GE(inside, 0);
  const std::string why = explain_cut(g, inside);
  EXPECT_TRUE(contains(why, "2 tensors cross")) << why;
  EXPECT_TRUE(contains(why, "residual block that joins at node '/layer2/layer2.1/Add'")) << why;
  // 16 bottlenecks, each cut after its Add and after its Relu; 3 stem cuts; pooling, flatten.
  EXPECT_EQ(cuts.size(), 3u + 16 * 2 + 2);
}

TEST(Cuts, EfficientNetSqueezeExcitation) {
  Graph g = zoo_graph("efficientnet_b0");
  std::vector<Cut> cuts = enumerate_cuts(g);
  std::set<std::string> names;
  for (const Cut& c : cuts) {
    names.insert(c.name);
    EXPECT_TRUE(separates(g, c)) << c.name;
  }
  EXPECT_TRUE(names.count("features.2.0")) << "first block of stage 2 (no residual)";
  EXPECT_TRUE(names.count("features.2.1"));
  int se = -1;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (g.nodes[k].name == "/features/features.2/features.2.0/block/block.2/fc1/Conv")
      se = static_cast<int>(k);
  ASSERT_GE(se, 0);
  const std::string why = explain_cut(g, se);
  EXPECT_TRUE(contains(why, "squeeze-excitation block")) << why;
  int silu = -1;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (g.nodes[k].name == "/features/features.0/features.0.2/Sigmoid") silu = static_cast<int>(k);
  ASSERT_GE(silu, 0);
  EXPECT_TRUE(contains(explain_cut(g, silu), "x * sigmoid(x)")) << explain_cut(g, silu);
}

TEST(Cuts, NamesAreUniqueAndStable) {
  for (const std::string& arch : zoo_archs()) {
    std::vector<Cut> a = enumerate_cuts(zoo_graph(arch));
    std::vector<Cut> b = enumerate_cuts(zoo_graph(arch));
    ASSERT_EQ(a.size(), b.size());
    std::set<std::string> names;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].name, b[i].name);
      EXPECT_EQ(a[i].index, b[i].index);
      EXPECT_TRUE(names.insert(a[i].name).second) << arch << ": duplicate " << a[i].name;
      EXPECT_FALSE(a[i].name.find_first_not_of("0123456789") == std::string::npos) << a[i].name;
    }
  }
}

TEST(Cuts, ResolveByIndexOrName) {
  Graph g = zoo_graph("resnet50");
  Cut byname = resolve_cut(g, "layer2.1");
  Cut byindex = resolve_cut(g, std::to_string(byname.index));
  EXPECT_EQ(byname.index, byindex.index);
  EXPECT_EQ(byindex.name, "layer2.1");
  try {
    resolve_cut(g, "4");  // inside layer1.0
    FAIL() << "cut 4 accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "is not valid")) << e.what();
    EXPECT_TRUE(contains(e.what(), "residual block")) << e.what();
  }
  try {
    resolve_cut(g, "/layer1/layer1.0/conv1/Conv");
    FAIL() << "node inside a block accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "residual block")) << e.what();
  }
  EXPECT_THROW(resolve_cut(g, "no_such_cut"), Error);
  EXPECT_THROW(resolve_cut(g, "99999999999999"), Error);
  EXPECT_THROW(resolve_cut(g, ""), Error);
}

TEST(Cuts, StatsAddUp) {
  Graph g = zoo_graph("vgg16");
  const double total = graph_flops(g);
  for (const Cut& c : enumerate_cuts(g)) {
    CutStats s = cut_stats(g, c);
    EXPECT_NEAR(s.front_flops + s.back_flops, total, total * 1e-12);
    EXPECT_EQ(s.feature_bytes, static_cast<size_t>(shape_numel(s.feature_shape)) * 4);
    EXPECT_LE(s.front_param_bytes, g.constant_bytes());
  }
  // First conv of VGG-16 at width 0.25: 16 filters of 3x3x3 plus 16 biases, on a
  // 32x32 map: 2*16*32*32*27 multiply-add FLOPs.
  CutStats s0 = cut_stats(g, enumerate_cuts(g)[0]);
  EXPECT_EQ(s0.front_param_bytes, (16u * 3 * 3 * 3 + 16) * 4);
  EXPECT_EQ(s0.feature_shape, (Shape{1, 16, 32, 32}));
  EXPECT_DOUBLE_EQ(s0.front_flops, 2.0 * 16 * 32 * 32 * 27);
  // Front and back partitions hold every node exactly once.
  for (const Cut& c : enumerate_cuts(g)) {
    Graph f = front_partition(g, c), b = back_partition(g, c);
    EXPECT_EQ(f.nodes.size() + b.nodes.size(), g.nodes.size());
    EXPECT_EQ(f.value(f.outputs[0]).name, b.value(b.inputs[0]).name);
  }
}

TEST(Cuts, TorchvisionExportNames) {
  // The exports come from the CTest fixture torchvision_models, which this test requires.
  const std::string dir = testing::generated_dir() + "/torchvision";
  const std::pair<const char*, const char*> want[] = {
      {"vgg16", "features.4"}, {"resnet50", "layer2.1"}, {"efficientnet_b0", "features.2.1"}};
  for (const auto& [arch, name] : want) {
    const std::string path = dir + "/" + arch + ".onnx";
    TS_REQUIRE_ORACLE(std::filesystem::exists(path),
                      path << " is missing (tests/fixtures/make_torchvision_models.sh makes it)");
    auto m = load_onnx(path);
    ASSERT_TRUE(m.ok()) << m.error();
    Graph g = specialize(m.value(), default_input_shapes(m.value(), 1));
    std::set<std::string> names;
    for (const Cut& c : enumerate_cuts(g)) {
      names.insert(c.name);
      EXPECT_TRUE(separates(g, c)) << arch << " " << c.name;
    }
    EXPECT_TRUE(names.count(name)) << arch << " has no cut named " << name;
  }
}

}  // namespace
}  // namespace teesplit
