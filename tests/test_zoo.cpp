// Model zoo: structure against torchvision's own exports and state_dicts,
// parameter counts against torchvision's, determinism, option checks, the CLI,
// and numerics against PyTorch running the zoo's weights
// (tests/fixtures/export_torchvision.py --weights-from).
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "io/npy.h"
#include "onnx/onnx_import.h"
#include "runtime/session.h"
#include "support/test_support.h"
#include "tools/teesplit/cli.h"
#include "zoo/zoo.h"
#include "zoo/zoo_proto.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;

// Small but with torchvision's topology: at width 0.25 EfficientNet's first stage
// becomes 8 -> 8 channels and gains a residual Add (as torchvision's would).
ZooOptions small(const std::string& arch) {
  ZooOptions o;
  o.arch = arch;
  o.input_size = 32;
  o.width = arch == "efficientnet_b0" ? 0.5 : 0.25;
  o.classes = 10;
  return o;
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

std::map<std::string, int> op_counts(const onnx::ModelProto& m) {
  std::map<std::string, int> c;
  for (const auto& n : m.graph().node()) ++c[n.op_type()];
  return c;
}

const onnx::TensorProto* find_init(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

std::vector<int64_t> dims(const onnx::TensorProto& t) {
  return {t.dims().begin(), t.dims().end()};
}

std::vector<float> floats(const onnx::TensorProto& t) {
  std::vector<float> v(t.raw_data().size() / sizeof(float));
  std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(float));
  return v;
}

// Independent of count_parameters(): element counts of all initializers except BN buffers.
int64_t trainable(const onnx::ModelProto& m) {
  int64_t total = 0;
  for (const auto& t : m.graph().initializer()) {
    if (t.name().find("running_") != std::string::npos) continue;
    int64_t n = 1;
    for (int64_t d : t.dims()) n *= d;
    EXPECT_EQ(static_cast<int64_t>(t.raw_data().size()), n * 4) << t.name();
    total += n;
  }
  return total;
}

std::string meta(const onnx::ModelProto& m, const std::string& key) {
  for (const auto& p : m.metadata_props())
    if (p.key() == key) return p.value();
  return "<absent>";
}

// Shape of a graph input/output as strings ("batch" for a symbolic dim).
std::vector<std::string> io_shape(const onnx::ValueInfoProto& v) {
  std::vector<std::string> s;
  for (const auto& d : v.type().tensor_type().shape().dim())
    s.push_back(d.has_dim_param() ? d.dim_param() : std::to_string(d.dim_value()));
  return s;
}

bool have_torch() {
  static const bool ok =
      std::system("/usr/bin/python3 -c 'import torch, torchvision, onnx' >/dev/null 2>&1") == 0;
  return ok;
}

std::string fixture_script() {
  return testing::source_path("tests/fixtures/export_torchvision.py");
}

std::string zoo_dir() {
  fs::path p = fs::path(testing::generated_dir()) / "zoo";
  fs::create_directories(p);
  return p.string();
}

// Expected node counts by op type and torchvision's parameter counts. Both are
// checked against torchvision on every run (DefaultModelMatchesTorchvision): node
// counts against its own ONNX export, BatchNormalization one per BatchNorm2d
// module (the exporter folds them) and Dropout one per nn.Dropout (from its
// state_dict and modules), parameters against sum(p.numel()) there.
struct ArchCase {
  std::string arch;
  std::map<std::string, int> ops;
  int64_t torchvision_params;  // sum(p.numel() for p in model.parameters()), torchvision 0.14
};

// For the test names ctest shows (GoogleTest would print the object's bytes).
void PrintTo(const ArchCase& c, std::ostream* os) {
  *os << c.arch;
}

const ArchCase kCases[] = {
    {"vgg16",
     {{"Conv", 13}, {"Relu", 15}, {"MaxPool", 5}, {"Flatten", 1}, {"Gemm", 3}, {"Dropout", 2}},
     138357544},
    {"resnet50",
     {{"Conv", 53},
      {"BatchNormalization", 53},
      {"Relu", 49},
      {"MaxPool", 1},
      {"Add", 16},
      {"GlobalAveragePool", 1},
      {"Flatten", 1},
      {"Gemm", 1}},
     25557032},
    {"efficientnet_b0",
     {{"Conv", 81},
      {"BatchNormalization", 49},
      {"Sigmoid", 65},
      {"Mul", 65},
      {"GlobalAveragePool", 17},
      {"Add", 9},
      {"Flatten", 1},
      {"Dropout", 1},
      {"Constant", 1},  // the Dropout ratio (0.2)
      {"Gemm", 1}},
     5288548},
};

class ZooArch : public ::testing::TestWithParam<ArchCase> {};

TEST_P(ZooArch, SmallModelIsValidOnnxWithTorchvisionTopology) {
  const ArchCase& c = GetParam();
  ZooOptions o = small(c.arch);
  onnx::ModelProto m = parse(zoo_model_bytes(o));
  EXPECT_NO_THROW(onnx::checker::check_model(m));
  EXPECT_EQ(op_counts(m), c.ops);
  EXPECT_EQ(m.ir_version(), 8);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).domain(), "");
  EXPECT_EQ(m.opset_import(0).version(), 13);
  ASSERT_EQ(m.graph().input_size(), 1);
  ASSERT_EQ(m.graph().output_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "input");
  EXPECT_EQ(m.graph().output(0).name(), "logits");
  EXPECT_EQ(io_shape(m.graph().input(0)), (std::vector<std::string>{"batch", "3", "32", "32"}));
  EXPECT_EQ(io_shape(m.graph().output(0)), (std::vector<std::string>{"batch", "10"}));
  EXPECT_EQ(meta(m, "arch"), c.arch);
  EXPECT_EQ(meta(m, "input_size"), "32");
  EXPECT_EQ(meta(m, "width"), c.arch == "efficientnet_b0" ? "0.5" : "0.25");
  EXPECT_EQ(meta(m, "seed"), "0");
  EXPECT_EQ(meta(m, "teesplit.zoo"), "2");
  // Names are unique and every node name is a torchvision-style scope path.
  std::set<std::string> names;
  for (const auto& n : m.graph().node()) {
    EXPECT_TRUE(names.insert(n.name()).second) << "duplicate node name " << n.name();
    EXPECT_EQ(n.name().rfind("/", 0), 0u) << n.name();
  }
  EXPECT_EQ(count_parameters(m), trainable(m));
  EXPECT_EQ(zoo_parameter_count(o), trainable(m));
}

// The expectations in kCases are checked against torchvision itself: its
// state_dict (export_torchvision.py --spec) and its own ONNX export (the CTest
// fixture torchvision_models, which this test requires).
TEST_P(ZooArch, DefaultModelMatchesTorchvision) {
  const ArchCase& c = GetParam();
  ZooOptions o;
  o.arch = c.arch;
  // The ModelProto, not bytes: VGG-16 is ~550 MB and one copy is enough.
  onnx::ModelProto m = zoo_model_proto(o);
  EXPECT_EQ(op_counts(m), c.ops);
  EXPECT_EQ(trainable(m), c.torchvision_params);
  EXPECT_EQ(zoo_parameter_count(o), c.torchvision_params);
  EXPECT_EQ(io_shape(m.graph().output(0)), (std::vector<std::string>{"batch", "1000"}));

  // Initializer names and shapes, and the parameter count, against torchvision's state_dict.
  TS_REQUIRE_ORACLE(have_torch(), "/usr/bin/python3 cannot import torch/torchvision/onnx");
  const std::string cmd = "/usr/bin/python3 " + fixture_script() + " " + c.arch + " " + zoo_dir() +
                          " --spec >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(zoo_dir() + "/" + c.arch + ".spec.txt");
  ASSERT_TRUE(f) << "no spec file";
  std::map<std::string, std::string> expect, got;
  int64_t spec_params = -1, spec_dropouts = -1;
  int bn_modules = 0;
  std::string name, value;
  while (f >> name >> value) {
    if (name == "params") {
      spec_params = std::stoll(value);
    } else if (name == "dropout") {
      spec_dropouts = std::stoll(value);
    } else {
      expect[name] = value;
      bn_modules += name.ends_with(".running_mean");
    }
  }
  for (const auto& t : m.graph().initializer()) {
    std::ostringstream s;
    for (int i = 0; i < t.dims_size(); ++i) s << (i ? "x" : "") << t.dims(i);
    got[t.name()] = s.str();
  }
  EXPECT_EQ(got, expect);
  EXPECT_EQ(spec_params, c.torchvision_params);
  ASSERT_GE(spec_dropouts, 0) << "the spec has no dropout line";

  // Node counts against torchvision's export, with the differences zoo.h documents.
  const std::string exported = testing::generated_dir() + "/torchvision/" + c.arch + ".onnx";
  TS_REQUIRE_ORACLE(fs::exists(exported), exported << " is missing (the fixture "
                                                   << "tests/fixtures/make_torchvision_models.sh)");
  std::map<std::string, int> want;
  std::map<std::string, std::string> zoo_nodes;  // name -> op type
  for (const auto& n : m.graph().node()) zoo_nodes[n.name()] = n.op_type();
  {
    std::ifstream in(exported, std::ios::binary);
    const onnx::ModelProto tv =
        parse(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
    for (const auto& n : tv.graph().node()) {
      if (n.op_type() == "Identity") continue;  // the exporter's copies of shared weights
      if (n.op_type() == "AveragePool") {       // AdaptiveAvgPool2d(7) on a 7x7 map: identity
        bool identity = true;
        for (const auto& a : n.attribute())
          if (a.name() == "kernel_shape" || a.name() == "strides")
            for (int64_t v : a.ints()) identity = identity && v == 1;
        if (identity) continue;
      }
      ++want[n.op_type()];
      // Node names are the exporter's scope paths (zoo.h): each of its nodes is
      // a zoo node of the same name and type.
      const auto it = zoo_nodes.find(n.name());
      EXPECT_TRUE(it != zoo_nodes.end() && it->second == n.op_type())
          << "torchvision's node " << n.name() << " (" << n.op_type() << ") is not in the zoo";
    }
  }
  // An eval-mode export folds BatchNorm into the convs and drops Dropout; the
  // zoo keeps one node per module.
  if (bn_modules > 0) want["BatchNormalization"] = bn_modules;
  if (spec_dropouts > 0) want["Dropout"] = static_cast<int>(spec_dropouts);
  // A Dropout ratio other than ONNX's default 0.5 is a Constant input (opset 12+).
  int ratio_inputs = 0;
  for (const auto& n : m.graph().node())
    ratio_inputs += n.op_type() == "Dropout" && n.input_size() > 1 && !n.input(1).empty();
  if (ratio_inputs > 0) want["Constant"] = ratio_inputs;
  EXPECT_EQ(op_counts(m), want);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooArch, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.arch; });

TEST(Zoo, ArchList) {
  EXPECT_EQ(zoo_archs(), (std::vector<std::string>{"vgg16", "resnet50", "efficientnet_b0"}));
}

TEST(Zoo, TorchvisionNamesForCuts) {
  onnx::ModelProto r = parse(zoo_model_bytes(small("resnet50")));
  std::set<std::string> nodes;
  for (const auto& n : r.graph().node()) nodes.insert(n.name());
  EXPECT_TRUE(nodes.count("/layer2/layer2.1/conv1/Conv"));
  EXPECT_TRUE(nodes.count("/layer2/layer2.0/downsample/downsample.1/BatchNormalization"));
  EXPECT_TRUE(nodes.count("/layer4/layer4.2/relu_2/Relu"));
  EXPECT_TRUE(nodes.count("/fc/Gemm"));
  ASSERT_TRUE(find_init(r, "layer2.1.conv1.weight"));
  // v1.5: the stride sits on the 3x3 conv.
  for (const auto& n : r.graph().node()) {
    if (n.name() != "/layer2/layer2.0/conv2/Conv" && n.name() != "/layer2/layer2.0/conv1/Conv")
      continue;
    for (const auto& a : n.attribute()) {
      if (a.name() == "strides") {
        EXPECT_EQ(a.ints(0), n.name().find("conv2") != std::string::npos ? 2 : 1) << n.name();
      }
    }
  }
  onnx::ModelProto v = parse(zoo_model_bytes(small("vgg16")));
  EXPECT_EQ(v.graph().node(0).name(), "/features/features.0/Conv");
  EXPECT_EQ(v.graph().node(0).input(1), "features.0.weight");
  EXPECT_EQ(v.graph().node(0).output(0), "/features/features.0/Conv_output_0");
  onnx::ModelProto e = parse(zoo_model_bytes(small("efficientnet_b0")));
  nodes.clear();
  for (const auto& n : e.graph().node()) nodes.insert(n.name());
  EXPECT_TRUE(nodes.count("/features/features.1/features.1.0/block/block.1/fc1/Conv"));
  EXPECT_TRUE(nodes.count("/features/features.2/features.2.1/Add"));
  EXPECT_TRUE(nodes.count("/features/features.0/features.0.2/Sigmoid"));
}

TEST(Zoo, WidthScalesChannels) {
  // ResNet-50 at width 0.25: 64 -> 16 stem, bottleneck widths 16..128, expansion 4.
  onnx::ModelProto r = parse(zoo_model_bytes(small("resnet50")));
  EXPECT_EQ(dims(*find_init(r, "conv1.weight")), (std::vector<int64_t>{16, 3, 7, 7}));
  EXPECT_EQ(dims(*find_init(r, "layer4.2.conv3.weight")), (std::vector<int64_t>{512, 128, 1, 1}));
  EXPECT_EQ(dims(*find_init(r, "fc.weight")), (std::vector<int64_t>{10, 512}));
  // VGG-16 at 32x32: F = 1 < 7, so the classifier reads the 1x1 map directly.
  onnx::ModelProto v = parse(zoo_model_bytes(small("vgg16")));
  EXPECT_EQ(dims(*find_init(v, "classifier.0.weight")), (std::vector<int64_t>{1024, 128}));
  EXPECT_EQ(op_counts(v).count("AveragePool"), 0u);
  // At 448 (F = 14) AdaptiveAvgPool2d(7) is a 2x2 stride-2 AveragePool.
  ZooOptions o = small("vgg16");
  o.input_size = 448;
  o.width = 0.125;
  onnx::ModelProto v2 = parse(zoo_model_bytes(o));
  EXPECT_EQ(op_counts(v2)["AveragePool"], 1);
  EXPECT_EQ(dims(*find_init(v2, "classifier.0.weight")), (std::vector<int64_t>{512, 64 * 49}));
  // EfficientNet uses _make_divisible: 32 * 0.25 = 8 stem channels, last conv 4 * 80;
  // features.1.0 is then 8 -> 8 at stride 1 and has a residual connection.
  o = small("efficientnet_b0");
  o.width = 0.25;
  onnx::ModelProto e = parse(zoo_model_bytes(o));
  EXPECT_EQ(op_counts(e)["Add"], 10);
  EXPECT_EQ(dims(*find_init(e, "features.0.0.weight")), (std::vector<int64_t>{8, 3, 3, 3}));
  EXPECT_EQ(dims(*find_init(e, "features.8.0.weight")), (std::vector<int64_t>{320, 80, 1, 1}));
}

TEST(Zoo, ChannelsClassesAndStaticBatch) {
  ZooOptions o = small("efficientnet_b0");
  o.channels = 1;
  o.classes = 7;
  o.dynamic_batch = false;
  o.input_size = 40;
  onnx::ModelProto m = parse(zoo_model_bytes(o));
  EXPECT_EQ(io_shape(m.graph().input(0)), (std::vector<std::string>{"1", "1", "40", "40"}));
  EXPECT_EQ(io_shape(m.graph().output(0)), (std::vector<std::string>{"1", "7"}));
  EXPECT_EQ(dims(*find_init(m, "features.0.0.weight"))[1], 1);
}

TEST(Zoo, SameSeedSameBytesOtherSeedOtherWeights) {
  ZooOptions o = small("resnet50");
  o.seed = 42;
  const std::string a = zoo_model_bytes(o), b = zoo_model_bytes(o);
  EXPECT_EQ(a, b);
  o.seed = 43;
  onnx::ModelProto ma = parse(a), mc = parse(zoo_model_bytes(o));
  ASSERT_EQ(ma.graph().initializer_size(), mc.graph().initializer_size());
  for (int i = 0; i < ma.graph().initializer_size(); ++i) {
    const auto &ta = ma.graph().initializer(i), &tc = mc.graph().initializer(i);
    ASSERT_EQ(ta.name(), tc.name());
    ASSERT_EQ(dims(ta), dims(tc));
    if (ta.name().ends_with("conv1.weight")) {
      EXPECT_NE(ta.raw_data(), tc.raw_data()) << ta.name();
    }
    if (ta.name().find("bn") != std::string::npos) {  // constant BN without randomize_bn
      EXPECT_EQ(ta.raw_data(), tc.raw_data()) << ta.name();
    }
  }
}

// Pins the weight stream (trained weights and fixtures rely on it) against
// tests/fixtures/zoo_weight_stream.py, an independent implementation of the
// algorithm zoo.h documents (MT19937-64 seeded with splitmix64(seed ^
// splitmix64(fnv1a(name))), Box-Muller on 53-bit uniforms, u1 = 1 - u), which
// checks its generator against the value the C++ standard gives std::mt19937_64.
// The distributions' parameters are derived here from the shapes, as zoo.h
// states them: Kaiming normal with fan_out for convs, U(+-1/sqrt(in)) for ResNet's fc.
TEST(Zoo, WeightStreamMatchesTheReferenceScript) {
  TS_REQUIRE_ORACLE(fs::exists("/usr/bin/python3"), "/usr/bin/python3 is missing");
  struct Case {
    ZooOptions o;
    std::string name;
  };
  ZooOptions r123 = small("resnet50");
  r123.seed = 123;
  const Case cases[] = {{small("vgg16"), "features.0.weight"},   // 432 values
                        {small("vgg16"), "features.28.weight"},  // 147456: past a 4096 chunk
                        {r123, "layer1.0.conv1.weight"},
                        {r123, "fc.weight"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const onnx::ModelProto m = parse(zoo_model_bytes(c.o));
    const onnx::TensorProto* t = find_init(m, c.name);
    ASSERT_TRUE(t);
    const std::vector<int64_t> d = dims(*t);
    const std::vector<float> w = floats(*t);
    const int64_t n = static_cast<int64_t>(w.size());
    char params[80];
    if (d.size() == 4) {  // conv: N(0, sqrt(2 / (out * kh * kw)))
      std::snprintf(params, sizeof params, "normal 0 %.17g",
                    std::sqrt(2.0 / double(d[0] * d[2] * d[3])));
    } else {  // Linear [out, in]: U(-1/sqrt(in), 1/sqrt(in))
      const double b = 1.0 / std::sqrt(double(d[1]));
      std::snprintf(params, sizeof params, "uniform %.17g %.17g", -b, b);
    }
    std::vector<int64_t> idx;
    for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4095}, int64_t{4096},
                      int64_t{4097}, n / 2 + 1, n - 1})
      if (i < n && (idx.empty() || i > idx.back())) idx.push_back(i);
    const std::string out = zoo_dir() + "/stream_" + std::to_string(c.o.seed) + "_" + c.name;
    std::string cmd = "/usr/bin/python3 '" +
                      testing::source_path("tests/fixtures/zoo_weight_stream.py") + "' " +
                      std::to_string(c.o.seed) + " " + c.name + " " + params;
    for (int64_t i : idx) cmd += " " + std::to_string(i);
    cmd += " > '" + out + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream f(out);
    for (int64_t i : idx) {
      double want = 0;
      ASSERT_TRUE(f >> want) << "no value " << i << " from " << cmd;
      EXPECT_FLOAT_EQ(w[static_cast<size_t>(i)], static_cast<float>(want)) << "element " << i;
    }
  }
}

TEST(Zoo, InitStatisticsFollowTorchvision) {
  ZooOptions o = small("resnet50");
  o.randomize_bn = true;
  onnx::ModelProto m = parse(zoo_model_bytes(o));
  // Kaiming normal, fan_out: layer4.0.conv2 is [128,128,3,3], std sqrt(2/(128*9)).
  std::vector<float> w = floats(*find_init(m, "layer4.0.conv2.weight"));
  double s1 = 0, s2 = 0;
  for (float x : w) s1 += x, s2 += double(x) * x;
  const double mean = s1 / w.size(), sd = std::sqrt(s2 / w.size() - mean * mean);
  const double want = std::sqrt(2.0 / (128 * 9));
  EXPECT_NEAR(sd, want, 0.02 * want);
  EXPECT_NEAR(mean, 0, 0.02 * want);
  // Randomised BN statistics stay in their ranges and differ from the defaults.
  for (const char* n : {"layer1.0.bn1.running_var", "layer1.0.bn1.weight"}) {
    std::vector<float> v = floats(*find_init(m, n));
    for (float x : v) {
      EXPECT_GE(x, 0.5f) << n;
      EXPECT_LT(x, 1.5f) << n;
    }
    EXPECT_NE(v[0], v[1]) << n;
  }
  // ResNet's fc is U(-1/sqrt(in), 1/sqrt(in)).
  for (float x : floats(*find_init(m, "fc.weight"))) EXPECT_LE(std::abs(x), 1 / std::sqrt(512.f));
}

void expect_error(ZooOptions o, const std::string& needle) {
  try {
    zoo_model_bytes(o);
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_THROW(zoo_parameter_count(o), Error);
}

// torchvision's drop probabilities: VGG-16 0.5 (ONNX's default, left implicit),
// EfficientNet-B0 0.2 (an attribute before opset 12, a Constant input after), and
// the importer and the LibTorch lowering read it.
TEST(Zoo, DropoutRatiosFollowTorchvision) {
  for (int64_t opset : {11, 13, 17}) {
    SCOPED_TRACE(opset);
    ZooOptions o = small("efficientnet_b0");
    o.opset = opset;
    onnx::ModelProto m = parse(zoo_model_bytes(o));
    EXPECT_NO_THROW(onnx::checker::check_model(m));
    int dropouts = 0;
    for (const auto& n : m.graph().node()) {
      if (n.op_type() != "Dropout") continue;
      ++dropouts;
      float ratio = -1;
      if (opset < 12) {
        ASSERT_EQ(n.input_size(), 1);
        for (const auto& a : n.attribute())
          if (a.name() == "ratio") ratio = a.f();
      } else {
        ASSERT_EQ(n.input_size(), 2);
        for (const auto& c : m.graph().node())
          if (c.op_type() == "Constant" && c.output(0) == n.input(1))
            ratio = c.attribute(0).t().float_data(0);
      }
      EXPECT_FLOAT_EQ(ratio, 0.2f);
    }
    EXPECT_EQ(dropouts, 1);
    auto g = parse_onnx(zoo_model_bytes(o), "", "efficientnet_b0.onnx");
    ASSERT_TRUE(g.ok()) << g.error();
  }
  onnx::ModelProto vgg = parse(zoo_model_bytes(small("vgg16")));
  for (const auto& n : vgg.graph().node())
    if (n.op_type() == "Dropout") {
      EXPECT_EQ(n.input_size(), 1);
      EXPECT_EQ(n.attribute_size(), 0);
    }
}

TEST(Zoo, BadOptionsThrowClearErrors) {
  ZooOptions o = small("vgg16");
  o.width = 0;
  expect_error(o, "width");
  o.width = std::nan("");
  expect_error(o, "width");
  o = small("resnet50");
  o.channels = 0;
  expect_error(o, "channels");
  o = small("resnet50");
  o.classes = -1;
  expect_error(o, "classes");
  o = small("alexnet");
  expect_error(o, "unknown architecture 'alexnet'");
  for (const auto& arch : zoo_archs()) {
    o = small(arch);
    o.input_size = 31;
    expect_error(o, "too small");
  }
  o = small("efficientnet_b0");
  o.opset = 9;
  expect_error(o, "opset");
  // Beyond protobuf's 2 GiB: refused before allocating.
  o = small("vgg16");
  o.width = 4;
  o.input_size = 224;
  expect_error(o, "2 GiB");
}

// The whole CLI in process (tools/teesplit/cli.h), as `teesplit zoo ...`.
int run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "teesplit");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return cli_main(static_cast<int>(argv.size()), argv.data());
}

TEST(ZooCli, WritesModelAndRejectsBadArguments) {
  const std::string out = zoo_dir() + "/cli_effnet.onnx";
  fs::remove(out);
  ASSERT_EQ(run_cli({"zoo", "efficientnet_b0", "-o", out, "--input-size", "64", "--channels", "1",
                     "--classes", "5", "--width", "0.5", "--seed", "9"}),
            0);
  std::ifstream f(out, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  onnx::ModelProto m = parse(bytes);
  EXPECT_EQ(meta(m, "seed"), "9");
  EXPECT_EQ(io_shape(m.graph().output(0)), (std::vector<std::string>{"batch", "5"}));
  ZooOptions o;
  o.arch = "efficientnet_b0";
  o.input_size = 64, o.channels = 1, o.classes = 5, o.width = 0.5, o.seed = 9;
  EXPECT_EQ(bytes, zoo_model_bytes(o));

  for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
           {"zoo"},
           {"zoo", "lenet"},
           {"zoo", "vgg16", "--width", "0"},
           {"zoo", "vgg16", "--width", "abc"},
           {"zoo", "vgg16", "--channels", "0"},
           {"zoo", "vgg16", "--classes", "3x"},
           {"zoo", "vgg16", "--input-size", "16"},
           {"zoo", "vgg16", "--seed", "-1"},
           {"zoo", "vgg16", "--seed"},
           {"zoo", "vgg16", "--bogus"},
           {"zoo", "vgg16", "resnet50"},
       })
    EXPECT_EQ(run_cli(bad), 2) << bad.back();
  EXPECT_EQ(run_cli({"zoo", "vgg16", "--width", "0.125", "-o", "/nonexistent-dir/x.onnx"}), 1);
}

class ZooRun : public ::testing::TestWithParam<std::string> {};

// Small zoo models through the importer and the reference backend.
TEST_P(ZooRun, ReferenceBackendRunsSmallModel) {
  ZooOptions o = small(GetParam());
  o.randomize_bn = true;
  auto g = parse_onnx(zoo_model_bytes(o), ".", o.arch);
  ASSERT_TRUE(g.ok()) << g.error();
  Session s(std::move(g).value(), {BackendKind::Reference, 1});
  Tensor x = testing::random_tensor({2, 3, 32, 32}, 5);
  std::vector<Tensor> y = s.run({x});
  ASSERT_EQ(y.size(), 1u);
  ASSERT_EQ(y[0].shape(), (Shape{2, 10}));
  const float* d = y[0].data<float>();
  for (int64_t i = 0; i < y[0].numel(); ++i) ASSERT_TRUE(std::isfinite(d[i])) << i;
  EXPECT_NE(d[0], d[10]) << "both batch rows gave the same logits";
}

// The oracle: PyTorch runs torchvision's own module with the zoo's weights
// loaded by name (export_torchvision.py --weights-from); the zoo model on the
// reference backend must agree.
TEST_P(ZooRun, MatchesPyTorchWithSameWeights) {
  TS_REQUIRE_ORACLE(have_torch(), "/usr/bin/python3 cannot import torch/torchvision/onnx");
  ZooOptions o;
  o.arch = GetParam();
  o.classes = 10;
  o.seed = 3;
  o.randomize_bn = true;
  // Full width (torchvision has no width knob for VGG/ResNet), small inputs.
  o.input_size = o.arch == "vgg16" ? 32 : 64;
  if (o.arch == "efficientnet_b0") o.width = 0.25;  // _make_divisible and the extra residual
  const std::string dir = zoo_dir() + "/oracle";
  fs::create_directories(dir);
  const std::string model = dir + "/" + o.arch + ".onnx";
  write_zoo_model(o, model);
  const std::string cmd = "/usr/bin/python3 " + fixture_script() + " " + o.arch + " " + dir +
                          " --weights-from " + model + " --batch 2 --seed 1 >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  Tensor x = read_npy(dir + "/" + o.arch + ".zoo.input.npy");
  Tensor expect = read_npy(dir + "/" + o.arch + ".zoo.output.npy");
  auto g = load_onnx(model);
  ASSERT_TRUE(g.ok()) << g.error();
  Session s(std::move(g).value(), {BackendKind::Reference, 0});
  Tensor got = s.run({x})[0];
  ASSERT_EQ(got.shape(), expect.shape());
  EXPECT_LE(testing::rel_error(got, expect), 1e-4) << o.arch;
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooRun, ::testing::Values("vgg16", "resnet50", "efficientnet_b0"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace teesplit
