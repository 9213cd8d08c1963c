// Training (src/train): writing weights back into the zoo ModelProto by name, a
// tiny training run on Fashion-MNIST, and the engine's predictions on the written
// model against LibTorch's and against the trainer's reported accuracy.
#include <gtest/gtest.h>

#include "support/test_support.h"

#ifdef TEESPLIT_HAVE_TORCH

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "io/image.h"
#include "onnx/onnx_import.h"
#include "runtime/session.h"
#include "train/onnx_weights.h"
#include "train/train.h"
#include "zoo/zoo_proto.h"

namespace teesplit {
namespace {

using testing::random_tensor;
using testing::rel_error;

const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

bool have_fashion_mnist() {
  return std::filesystem::exists(std::string(kFashionDir) + "/train-images-idx3-ubyte.gz") &&
         std::filesystem::exists(std::string(kFashionDir) + "/t10k-images-idx3-ubyte.gz");
}

ZooOptions small_resnet() {
  ZooOptions zo;
  zo.arch = "resnet50";
  zo.input_size = 32;
  zo.channels = 1;
  zo.classes = 10;
  zo.width = 0.125;
  return zo;
}

const Tensor& constant_of(const Graph& g, const std::string& name) {
  const int id = g.find_value(name);
  if (id < 0 || !g.value(id).constant) throw Error("no initializer " + name);
  return *g.value(id).constant;
}

TEST(OnnxWeights, ReplacesInitializersByNameAndKeepsTheRest) {
  onnx::ModelProto model = zoo_model_proto(small_resnet());
  std::string before;
  ASSERT_TRUE(model.SerializeToString(&before));
  auto g0 = parse_onnx(before, "", "before.onnx");
  ASSERT_TRUE(g0.ok()) << g0.error();
  const Shape w_shape = constant_of(g0.value(), "conv1.weight").shape();
  const Shape v_shape = constant_of(g0.value(), "bn1.running_var").shape();
  const Tensor w = random_tensor(w_shape, 1), v = random_tensor(v_shape, 2, 0.5f, 2.f);
  replace_initializers(model, {{"conv1.weight", w}, {"bn1.running_var", v}});
  set_metadata(model, "teesplit.test", "a");
  set_metadata(model, "teesplit.test", "b");
  set_metadata(model, "arch", "resnet50-x");

  const std::string path = testing::generated_dir() + "/train_weights.onnx";
  write_model_file(model, path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  auto g1 = load_onnx(path);
  ASSERT_TRUE(g1.ok()) << g1.error();
  EXPECT_EQ(rel_error(constant_of(g1.value(), "conv1.weight"), w), 0.0);
  EXPECT_EQ(rel_error(constant_of(g1.value(), "bn1.running_var"), v), 0.0);
  EXPECT_EQ(rel_error(constant_of(g1.value(), "fc.weight"), constant_of(g0.value(), "fc.weight")),
            0.0);
  EXPECT_EQ(g1.value().metadata.at("teesplit.test"), "b");
  EXPECT_EQ(g1.value().metadata.at("arch"), "resnet50-x");
  EXPECT_EQ(g1.value().nodes.size(), g0.value().nodes.size());

  try {
    replace_initializers(model, {{"no.such.weight", w}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.weight"), std::string::npos);
  }
  try {
    replace_initializers(model, {{"conv1.weight", v}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv1.weight"), std::string::npos);
  }
  EXPECT_THROW(write_model_file(model, "/nonexistent-dir/x.onnx"), Error);
}

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Minor page faults of `rounds` times: allocate 64 MiB, write every page, free.
long faults_of_reallocations(int rounds) {
  constexpr size_t kBytes = 64u << 20;
  const long before = minor_faults();
  for (int i = 0; i < rounds; ++i) {
    void* p = std::malloc(kBytes);
    EXPECT_NE(p, nullptr);
    std::memset(p, i + 1, kBytes);
    asm volatile("" : : "r"(p) : "memory");  // the writes and the block are used
    std::free(p);
  }
  return minor_faults() - before;
}

// Glibc's defaults give a freed 64 MiB block back to the kernel, so every round
// faults its 16384 pages in again; after keep_freed_memory_in_heap() the pages
// are faulted in once (the first round) and reused.
TEST(Train, FreedTrainingMemoryStaysInTheHeap) {
  constexpr long kPages = (64l << 20) / 4096, kRounds = 8;
  const long by_default = faults_of_reallocations(kRounds);
  ASSERT_TRUE(keep_freed_memory_in_heap());
  const long kept = faults_of_reallocations(kRounds);
  EXPECT_GE(by_default, kRounds * kPages * 9 / 10) << "glibc kept the memory by default";
  EXPECT_LE(kept, 2 * kPages) << "the freed blocks were faulted in again";
}

TEST(Train, RejectsBadOptions) {
  TrainOptions o;
  o.summary = nullptr;
  o.progress = false;
  o.arch = "alexnet";
  EXPECT_THROW(train_model(o), Error);
  o.arch = "vgg16";
  o.optimizer = "lbfgs";
  EXPECT_THROW(train_model(o), Error);
  o.optimizer = "sgd";
  o.dataset = "fashion-mnist:/nonexistent";
  EXPECT_THROW(train_model(o), Error);
  TS_REQUIRE_ORACLE(have_fashion_mnist(),
                    "Fashion-MNIST not installed in " << kFashionDir << " (dataset-fashion-mnist)");
  o.dataset = "fashion-mnist";
  o.train_limit = 10;
  o.batch = 32;
  EXPECT_THROW(train_model(o), Error);  // fewer samples than one batch
}

// A ResNet-50 at width 0.125: VGG-16 (no BatchNormalization) stays near chance
// for the first few hundred steps, too slow for a unit test.
TEST(Train, TinyRunLearnsAndTheEngineAgreesWithLibTorch) {
  TS_REQUIRE_ORACLE(have_fashion_mnist(),
                    "Fashion-MNIST not installed in " << kFashionDir << " (dataset-fashion-mnist)");
  TrainOptions o;
  o.arch = "resnet50";
  o.width = 0.125;
  o.epochs = 1;
  o.batch = 32;
  o.train_limit = 2048;
  o.test_limit = 500;
  o.augment = 0;
  o.threads = 1;  // two OpenMP threads crawl when the cores are shared
  o.progress = false;
  o.summary = nullptr;
  o.output = testing::generated_dir() + "/train_tiny_resnet.onnx";
  const TrainResult r = train_model(o);
  ASSERT_EQ(r.epochs.size(), 1u);
  EXPECT_LT(r.epochs[0].train_loss, r.first_loss);
  EXPECT_GT(r.test_accuracy, 0.3) << "chance is 0.1";
  EXPECT_EQ(r.engine_checked, 256);
  EXPECT_LE(r.engine_rel_error, 1e-4);
  EXPECT_EQ(r.engine_agree, r.engine_checked);

  // The written model: metadata, and the engine's own accuracy on the same 500
  // test samples equals the accuracy LibTorch reported during training.
  auto g = load_onnx(o.output);
  ASSERT_TRUE(g.ok()) << g.error();
  const auto& meta = g.value().metadata;
  EXPECT_EQ(meta.at("teesplit.dataset"), "fashion-mnist");
  EXPECT_EQ(meta.at("teesplit.epochs"), "1");
  EXPECT_EQ(std::stod(meta.at("teesplit.test_accuracy")),
            std::stod(r.metadata.at("teesplit.test_accuracy")));
  EXPECT_EQ(meta.count("teesplit.feature_encoder"), 0u);
  DatasetOptions dopt;
  dopt.split = "test";
  dopt.image_size = 32;
  const auto test = open_dataset("fashion-mnist", dopt);
  const Batch b = test->get_batch(0, 500);
  Session onednn(g.value(), SessionOptions{BackendKind::OneDnn, 1});
  const Tensor logits = onednn.run({b.images})[0];
  int64_t correct = 0;
  for (int64_t i = 0; i < 500; ++i) {
    const float* row = logits.data<float>() + i * 10;
    correct += (std::max_element(row, row + 10) - row) == b.labels.data<int64_t>()[i];
  }
  EXPECT_NEAR(correct / 500.0, r.test_accuracy, 1.0 / 500);

  // LibTorch (torch_forward) against the reference backend on a few samples.
  const Batch few = test->get_batch(0, 4);
  Session ref(g.value(), SessionOptions{BackendKind::Reference, 1});
  EXPECT_LE(rel_error(ref.run({few.images})[0], torch_forward(g.value(), few.images, 1)), 1e-4);
}

// The tabular path (no augmentation, rows upsampled to the model input, the
// feature encoder stored in the model), on a small generated TON_IoT file.

TEST(Train, TabularRowsAreUpsampledAndTheEncoderIsStored) {
  TrainOptions o;
  o.arch = "resnet50";
  o.width = 0.125;
  o.dataset =
      "ton-iot:" + testing::write_ton_iot_csv(testing::generated_dir() + "/train_ton_iot.csv", 400);
  o.epochs = 1;
  o.batch = 32;
  o.threads = 1;
  o.progress = false;
  o.summary = nullptr;
  o.output = testing::generated_dir() + "/train_ton_iot.onnx";
  const TrainResult r = train_model(o);
  EXPECT_EQ(r.metadata.at("teesplit.tabular_upsample"), "4");  // 8x8 rows, 32x32 model
  DatasetOptions dopt;
  const auto ds = open_dataset(o.dataset, dopt);
  EXPECT_EQ(r.metadata.at("teesplit.feature_encoder"), ds->encoder_string());
  EXPECT_GT(r.engine_checked, 0);
  EXPECT_LE(r.engine_rel_error, 1e-4);
  EXPECT_EQ(r.engine_agree, r.engine_checked);
  auto g = load_onnx(o.output);
  ASSERT_TRUE(g.ok()) << g.error();
  EXPECT_EQ(g.value().metadata.at("teesplit.feature_encoder"), ds->encoder_string());
  EXPECT_EQ(shape_str(g.value().value(g.value().inputs[0]).shape), "[?,1,32,32]");
  o.input_size = 36;  // not a multiple of 8
  EXPECT_THROW(train_model(o), Error);
}

// An ImageNet-layout folder: train/<class>/*.png and val/ with a label file; the
// classes differ in colour, with per-pixel noise so that no two images are equal.
std::string write_image_folder() {
  namespace fs = std::filesystem;
  const std::string root = testing::generated_dir() + "/train_image_folder";
  fs::remove_all(root);
  const std::vector<std::vector<int>> colour = {{200, 40, 40}, {40, 200, 40}, {40, 40, 200}};
  uint32_t state = 12345;
  auto image = [&](int cls) {
    Image img;
    img.width = 40;
    img.height = 36;
    img.channels = 3;
    img.data.resize(size_t{40} * 36 * 3);
    for (size_t i = 0; i < img.data.size(); ++i) {
      state = state * 1664525u + 1013904223u;
      img.data[i] = static_cast<uint8_t>(colour[cls][i % 3] + static_cast<int>(state >> 27) - 16);
    }
    return img;
  };
  std::string labels;
  fs::create_directories(root + "/val");
  for (int cls = 0; cls < 3; ++cls) {
    const std::string dir = root + "/train/c" + std::to_string(cls);
    fs::create_directories(dir);
    for (int i = 0; i < 12; ++i) write_png(dir + "/" + std::to_string(i) + ".png", image(cls));
    for (int i = 0; i < 4; ++i) {
      const std::string name = "v" + std::to_string(cls) + std::to_string(i) + ".png";
      write_png(root + "/val/" + name, image(cls));
      labels += name + " c" + std::to_string(cls) + "\n";
    }
  }
  std::ofstream(root + "/val_labels.txt") << labels;
  return root;
}

// Image folders train like the other data sets, and a split too large to hold in
// memory (cache_limit_bytes 0: every batch read through Dataset::get_batch) trains
// exactly as the in-memory path does.
TEST(Train, ImageFolderStreamedEqualsInMemory) {
  TrainOptions o;
  o.arch = "resnet50";
  o.width = 0.125;
  o.dataset = "imagenet:" + write_image_folder();
  o.data.image_size = 32;
  o.epochs = 2;
  o.batch = 6;
  o.threads = 1;
  o.progress = false;
  o.summary = nullptr;
  TrainResult in_memory, streamed;
  for (size_t limit : {size_t{4} << 30, size_t{0}}) {
    o.cache_limit_bytes = limit;
    o.output =
        testing::generated_dir() + "/train_image_folder_" + std::to_string(limit > 0) + ".onnx";
    (limit > 0 ? in_memory : streamed) = train_model(o);
  }
  ASSERT_EQ(in_memory.epochs.size(), 2u);
  ASSERT_EQ(streamed.epochs.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(streamed.epochs[e].train_loss, in_memory.epochs[e].train_loss) << e;
    EXPECT_EQ(streamed.epochs[e].test_loss, in_memory.epochs[e].test_loss) << e;
  }
  EXPECT_EQ(streamed.test_accuracy, in_memory.test_accuracy);
  EXPECT_EQ(in_memory.metadata.at("teesplit.class_names"), "c0|c1|c2");
  EXPECT_NE(in_memory.metadata.at("teesplit.preprocess").find("channels=3"), std::string::npos)
      << in_memory.metadata.at("teesplit.preprocess");
  EXPECT_EQ(in_memory.engine_checked, 12);  // the whole val split
  EXPECT_EQ(in_memory.engine_agree, in_memory.engine_checked);
  auto a = load_onnx(testing::generated_dir() + "/train_image_folder_1.onnx");
  auto b = load_onnx(testing::generated_dir() + "/train_image_folder_0.onnx");
  ASSERT_TRUE(a.ok()) << a.error();
  ASSERT_TRUE(b.ok()) << b.error();
  for (const char* name : {"conv1.weight", "layer4.2.bn3.running_var", "fc.weight"})
    EXPECT_EQ(rel_error(constant_of(b.value(), name), constant_of(a.value(), name)), 0.0) << name;
}

}  // namespace
}  // namespace teesplit

#else

TEST(Train, RequiresLibTorch) {
  TS_REQUIRE_ORACLE(false,
                    "built without LibTorch (libtorch-dev; TEESPLIT_TORCH): training is "
                    "not tested");
}

#endif
