// The trained Fashion-MNIST models shipped in models/: each file is the one
// models/SHA256SUMS names, and teesplit's engine reaches, on the whole test set,
// the accuracy that training recorded in the model (and at least 90%).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/file.h"
#include "data/dataset.h"
#include "onnx/onnx_import.h"
#include "partition/front_file.h"
#include "runtime/session.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

std::string expected_sha256(const std::string& file) {
  std::ifstream in(testing::source_path("models/SHA256SUMS"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string hash, name;
    if (words >> hash >> name && name == file) return hash;
  }
  return "";
}

class ShippedModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedModel, MatchesItsChecksumAndAccuracy) {
  const std::string file = "fashion-mnist-" + GetParam() + ".onnx";
  const std::string path = testing::source_path("models/" + file);
  // Committed files: absent is a failure, never a skip.
  const std::string bytes = read_file(path);
  const std::string want = expected_sha256(file);
  ASSERT_FALSE(want.empty()) << file << " is not listed in models/SHA256SUMS";
  EXPECT_EQ(sha256_hex(bytes.data(), bytes.size()), want) << path;

  auto loaded = load_onnx(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  const Graph g = std::move(loaded).value();
  ASSERT_EQ(g.metadata.count("teesplit.test_accuracy"), 1u);
  EXPECT_EQ(g.metadata.at("teesplit.dataset"), "fashion-mnist");
  const double recorded = std::stod(g.metadata.at("teesplit.test_accuracy"));

  const std::unique_ptr<Dataset> test = testing::fashion_test();
  ASSERT_EQ(test->size(), 10000);
  Session s(g, SessionOptions{});
  int64_t correct = 0;
  constexpr int64_t kBatch = 500;
  for (int64_t b = 0; b < test->size(); b += kBatch) {
    const Batch batch = test->get_batch(b, std::min(kBatch, test->size() - b));
    const Tensor logits = s.run({batch.images})[0];
    const int64_t n = batch.images.dim(0), k = logits.dim(1);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = logits.data<float>() + i * k;
      const int64_t arg = std::max_element(row, row + k) - row;
      correct += arg == batch.labels.data<int64_t>()[i];
    }
  }
  const double accuracy = double(correct) / double(test->size());
  RecordProperty("accuracy", std::to_string(accuracy));
  // LibTorch (training) and oneDNN sum in other orders: a few borderline images
  // may flip, no more.
  EXPECT_NEAR(accuracy, recorded, 0.0015) << file;
  EXPECT_GE(accuracy, 0.90) << file;
}

INSTANTIATE_TEST_SUITE_P(FashionMnist, ShippedModel,
                         ::testing::Values("vgg16", "resnet50", "efficientnet_b0"));

}  // namespace
}  // namespace teesplit
