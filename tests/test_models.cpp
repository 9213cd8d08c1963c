// Whole models: torchvision exports against PyTorch's own outputs, and zoo
// models through the oneDNN backend against the reference kernels.
#include <gtest/gtest.h>

#include <filesystem>

#include "graph/cuts.h"
#include "graph/passes.h"
#include "io/npy.h"
#include "onnx/onnx_import.h"
#include "runtime/session.h"
#include "support/test_support.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;

std::string models_dir() {
  return testing::generated_dir() + "/torchvision";
}

class TorchvisionModel : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionModel, MatchesPyTorch) {
  const std::string arch = GetParam();
  const std::string base = models_dir() + "/" + arch;
  TS_REQUIRE_ORACLE(fs::exists(base + ".onnx") && fs::exists(base + ".output.npy"),
                    base << ".onnx or .output.npy is missing (the fixture "
                         << "tests/fixtures/make_torchvision_models.sh makes them)");
  Tensor input = read_npy(base + ".input.npy");
  Tensor expect = read_npy(base + ".output.npy");
  auto g = load_onnx(base + ".onnx");
  ASSERT_TRUE(g.ok()) << g.error();
  Session s(std::move(g).value(), {BackendKind::OneDnn, 0});
  Tensor got = s.run({input})[0];
  ASSERT_EQ(got.shape(), expect.shape());
  double err = testing::rel_error(got, expect);
  EXPECT_LE(err, 1e-4) << arch << " on oneDNN vs PyTorch";
  RecordProperty("rel_error_onednn", std::to_string(err));
}

INSTANTIATE_TEST_SUITE_P(Torchvision, TorchvisionModel,
                         ::testing::Values("vgg16", "resnet50", "efficientnet_b0"));

TEST(TorchvisionModel, ReferenceKernelsMatchPyTorchOnResNet50) {
  const std::string base = models_dir() + "/resnet50";
  TS_REQUIRE_ORACLE(fs::exists(base + ".onnx") && fs::exists(base + ".output.npy"),
                    base << ".onnx or .output.npy is missing (the fixture "
                         << "tests/fixtures/make_torchvision_models.sh makes them)");
  Tensor input = read_npy(base + ".input.npy");
  Tensor expect = read_npy(base + ".output.npy");
  auto g = load_onnx(base + ".onnx");
  ASSERT_TRUE(g.ok()) << g.error();
  Session s(std::move(g).value(), {BackendKind::Reference, 0});
  EXPECT_LE(testing::rel_error(s.run({input})[0], expect), 1e-4);
}

// The deployed form: a split directory of the torchvision ResNet-50 cut in the
// middle, run by the CLI from the directory alone (the model moved away), gives
// PyTorch's output and the whole model's within 1e-4.
TEST(TorchvisionModel, SplitDirectoryAloneMatchesResNet50) {
  const std::string base = models_dir() + "/resnet50";
  TS_REQUIRE_ORACLE(fs::exists(base + ".onnx"), base << ".onnx not generated");
  const std::string exe = std::string(TEESPLIT_BINARY_DIR) + "/teesplit";
  const Graph g = specialize_for_cuts(load_onnx(base + ".onnx").value());
  const std::vector<Cut> cuts = enumerate_cuts(g);
  ASSERT_GT(cuts.size(), 10u);
  const Cut& middle = cuts[cuts.size() / 2];
  const std::string work = testing::generated_dir() + "/torchvision_split";
  fs::remove_all(work);
  fs::create_directories(work);
  std::string cmd = "'" + exe + "' split '" + base + ".onnx' --at " + middle.name + " -o '" + work +
                    "/made' --backend cpu > '" + work + "/split.log' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  fs::rename(work + "/made", work + "/deployed");  // nothing points back at the model
  cmd = "'" + exe + "' run --split '" + work + "/deployed' --backend cpu --input '" + base +
        ".input.npy' -o '" + work + "/out.npy' > '" + work + "/run.log' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const Tensor got = read_npy(work + "/out.npy");
  const Tensor input = read_npy(base + ".input.npy");
  EXPECT_LE(testing::rel_error(got, read_npy(base + ".output.npy")), 1e-4) << "vs PyTorch";
  Session whole(load_onnx(base + ".onnx").value(), {BackendKind::OneDnn, 0});
  EXPECT_LE(testing::rel_error(got, whole.run({input})[0]), 1e-4) << "vs the whole model";
  RecordProperty("cut", middle.name);
}

struct ZooCase {
  std::string arch;
  int64_t size;
  double width;
  int64_t classes;
  int64_t channels;
  int64_t batch;
};

// For the test names ctest shows (GoogleTest would print the object's bytes).
void PrintTo(const ZooCase& c, std::ostream* os) {
  *os << c.arch << " " << c.size;
}

class ZooModel : public ::testing::TestWithParam<ZooCase> {};

TEST_P(ZooModel, OneDnnMatchesReference) {
  const ZooCase c = GetParam();
  const Graph g = testing::zoo_graph(c.arch, c.size, c.width, c.classes, c.channels, 7);
  Tensor x = testing::random_tensor({c.batch, c.channels, c.size, c.size}, 3);
  Session fast(g, {BackendKind::OneDnn, 0});
  Session ref(g, {BackendKind::Reference, 0});
  Tensor a = fast.run({x})[0], b = ref.run({x})[0];
  ASSERT_EQ(a.shape(), (Shape{c.batch, c.classes}));
  EXPECT_LE(testing::rel_error(a, b), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooModel,
                         ::testing::Values(ZooCase{"vgg16", 32, 0.25, 10, 1, 2},
                                           ZooCase{"resnet50", 32, 0.25, 10, 3, 2},
                                           ZooCase{"efficientnet_b0", 32, 0.5, 10, 1, 3},
                                           ZooCase{"resnet50", 224, 1.0, 1000, 3, 1},
                                           ZooCase{"efficientnet_b0", 224, 1.0, 1000, 3, 1}),
                         [](const auto& info) {
                           return info.param.arch + "_" + std::to_string(info.param.size);
                         });

}  // namespace
}  // namespace teesplit
