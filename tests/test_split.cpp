// Split execution: front.tsf then back.onnx gives the whole model's output, on
// every cut of the small zoo models and a sample of the 224 ones; back.onnx in
// ONNX Runtime; manifests and hashes; peak memory of `teesplit cuts`.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "graph/cuts.h"
#include "graph/passes.h"
#include "host/split_io.h"
#include "io/npy.h"
#include "onnx/onnx_export.h"
#include "onnx/onnx_import.h"
#include "runtime/cut_profile.h"
#include "runtime/split_runner.h"
#include "support/graph_builder.h"
#include "support/test_support.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

// Writes a zoo model once per process and returns its path.
std::string zoo_file(const std::string& arch, int64_t size, double width) {
  ZooOptions o;
  o.arch = arch;
  o.input_size = size;
  o.width = width;
  o.randomize_bn = true;
  if (size < 224) o.classes = 10;
  const std::string path = testing::generated_dir() + "/split_" + arch + "_" +
                           std::to_string(size) + "_" + std::to_string(int(width * 100)) + ".onnx";
  static std::set<std::string> written;
  if (!written.count(path)) {
    // Atomic: tests of this binary may run in parallel processes (ctest -j).
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    write_zoo_model(o, tmp);
    fs::rename(tmp, path);
    written.insert(path);
  }
  return path;
}

Graph load(const std::string& path) {
  auto g = load_onnx(path);
  EXPECT_TRUE(g.ok()) << g.error();
  return std::move(g).value();
}

// The whole model's output from a plain Session (independent of the split code).
Tensor whole_output(const Graph& model, BackendKind kind, const Tensor& x) {
  Session s(model, SessionOptions{kind, 0});
  return s.run({x})[0];
}

std::string sha256_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unsigned char md[32];
  unsigned len = 0;
  EVP_Digest(b.data(), b.size(), md, &len, EVP_sha256(), nullptr);
  char hex[65];
  for (int i = 0; i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return std::string(hex, 64);
}

std::vector<BackendKind> backends() {
  return {BackendKind::Reference, BackendKind::OneDnn};
}

// Every valid cut of the small model, in memory: front then back == whole.
void check_all_cuts(const std::string& arch, BackendKind kind, int stride = 1) {
  const Graph model = load(zoo_file(arch, 32, 0.25));
  const Graph g = specialize_for_cuts(model);
  const Tensor x = testing::random_tensor(g.value(g.inputs[0]).shape, 11);
  const Tensor want = whole_output(model, kind, x);
  const std::vector<Cut> cuts = enumerate_cuts(g);
  ASSERT_GT(cuts.size(), 10u);
  SplitRunOptions ro;
  ro.front_backend = ro.back_backend = kind;
  for (size_t i = 0; i < cuts.size(); i += static_cast<size_t>(stride)) {
    const Cut& c = cuts[i];
    SplitRunner r(front_partition(g, c), back_partition(g, c), ro);
    const Tensor feature = r.run_front(x);
    EXPECT_EQ(feature.shape(), g.value(c.feature).shape) << c.name;
    const Tensor got = r.run_back(feature)[0];
    EXPECT_LE(testing::rel_error(got, want), 1e-5)
        << arch << " cut " << c.index << " '" << c.name << "' on " << backend_kind_name(kind);
  }
}

TEST(Split, AllCutsResNet50Small) {
  for (BackendKind k : backends()) check_all_cuts("resnet50", k);
}
TEST(Split, AllCutsEfficientNetSmall) {
  check_all_cuts("efficientnet_b0", BackendKind::OneDnn);
}
TEST(Split, SampleCutsEfficientNetSmallReference) {
  check_all_cuts("efficientnet_b0", BackendKind::Reference, 5);
}
TEST(Split, AllCutsVggSmall) {
  check_all_cuts("vgg16", BackendKind::OneDnn);
  check_all_cuts("vgg16", BackendKind::Reference, 4);
}

// The front runs in the enclave on the CPU, the back partition elsewhere: the
// two halves compile on their own backends and still compose to the model.
TEST(Split, FrontAndBackOnDifferentBackends) {
  const Graph model = load(zoo_file("resnet50", 32, 0.25));
  const Graph g = specialize_for_cuts(model);
  const Tensor x = testing::random_tensor(g.value(g.inputs[0]).shape, 12);
  const Tensor want = whole_output(model, BackendKind::Reference, x);
  const std::vector<Cut> cuts = enumerate_cuts(g);
  ASSERT_GT(cuts.size(), 4u);
  SplitRunOptions ro;
  ro.front_backend = BackendKind::Reference;
  ro.back_backend = BackendKind::OneDnn;
  for (size_t i : {size_t{1}, cuts.size() / 2, cuts.size() - 2}) {
    SplitRunner r(front_partition(g, cuts[i]), back_partition(g, cuts[i]), ro);
    EXPECT_EQ(r.front_backend_name(), "reference");
    EXPECT_EQ(r.back_backend_name(), "onednn");
    EXPECT_LE(testing::rel_error(r.run(x)[0], want), 1e-5) << "cut " << cuts[i].name;
  }
}

// Through the files: split writes DIR, open_split reads it back.
void check_files(const std::string& model_path, const std::vector<std::string>& specs,
                 BackendKind kind, const std::string& tag) {
  const Graph model = load(model_path);
  const Graph g = specialize_for_cuts(model);
  const Tensor x = testing::random_tensor(g.value(g.inputs[0]).shape, 5);
  const Tensor want = whole_output(model, kind, x);
  for (const std::string& spec : specs) {
    const std::string dir = testing::generated_dir() + "/split_" + tag + "_" + spec;
    const SplitManifest m = write_split(model_path, spec, dir);
    SplitRunOptions ro;
    ro.front_backend = ro.back_backend = kind;
    auto r = open_split(dir, ro, nullptr, model_path);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->manifest.cut_index, m.cut_index);
    const Tensor got = r->runner->run(x)[0];
    EXPECT_LE(testing::rel_error(got, want), 1e-5) << tag << " cut " << spec;
  }
}

TEST(Split, FilesSmallModels) {
  check_files(zoo_file("resnet50", 32, 0.25), {"maxpool", "layer2.1", "avgpool"},
              BackendKind::Reference, "r50s");
  check_files(zoo_file("efficientnet_b0", 32, 0.25), {"features.2.0", "features.5.1", "0"},
              BackendKind::OneDnn, "effs");
  check_files(zoo_file("vgg16", 32, 0.25), {"features.4", "classifier.1"}, BackendKind::OneDnn,
              "vggs");
}

TEST(Split, Sample224Models) {
  check_files(zoo_file("resnet50", 224, 1.0), {"maxpool", "layer3.1"}, BackendKind::OneDnn, "r50");
  check_files(zoo_file("efficientnet_b0", 224, 1.0), {"features.2.1", "features.6.0.block.2"},
              BackendKind::OneDnn, "eff");
}

TEST(Split, Sample224Vgg) {
  // VGG-16 at half width (its 224x224 layer shapes, ~130 MB of weights through
  // the files; the full-width model is checked against torchvision in test_zoo
  // and test_models): one cut only.
  check_files(zoo_file("vgg16", 224, 0.5), {"features.16"}, BackendKind::OneDnn, "vgg");
}

// A batch: the front runs sample by sample, the back once for the whole batch
// (zoo models flatten with Flatten, so their back partitions take any batch).
TEST(Split, BatchFrontPerSampleBackBatched) {
  const std::string path = zoo_file("resnet50", 32, 0.25);
  const Graph model = load(path);
  const Graph g = specialize_for_cuts(model);
  const Cut c = resolve_cut(g, "layer1.2");
  Shape s = g.value(g.inputs[0]).shape;
  s[0] = 3;
  const Tensor x = testing::random_tensor(s, 9);
  const Tensor want = whole_output(model, BackendKind::OneDnn, x);
  for (bool batch_back : {true, false}) {
    SplitRunOptions ro;
    ro.batch_back = batch_back;
    SplitRunner r(front_partition(g, c), back_partition(g, c), ro);
    EXPECT_LE(testing::rel_error(r.run(x)[0], want), 1e-5) << "batch_back " << batch_back;
    EXPECT_LE(testing::rel_error(r.run(x)[0], want), 1e-5) << "again, cached";
    EXPECT_EQ(r.back_ran_batched(3), batch_back);
    Shape bad = s;
    bad[1] = 4;
    EXPECT_THROW(r.run(testing::random_tensor(bad, 9)), Error);
  }
}

// got (a batch of outputs) equals the batch-1 graph g run on each sample of xs
// (reference kernels), within 1e-5.
void expect_per_sample(const Graph& g, const Tensor& xs, const Tensor& got) {
  Session one(g, {BackendKind::Reference, 0});
  Shape s = xs.shape();
  const int64_t n = s[0];
  s[0] = 1;
  const int64_t in = xs.numel() / n, out = got.numel() / n;
  for (int64_t i = 0; i < n; ++i) {
    Tensor xi(DType::F32, s);
    std::memcpy(xi.raw(), xs.data<float>() + i * in, static_cast<size_t>(in) * sizeof(float));
    const Tensor w = one.run({xi})[0];
    ASSERT_EQ(w.numel(), out);
    for (int64_t k = 0; k < out; ++k)
      EXPECT_NEAR(got.data<float>()[i * out + k], w.data<float>()[k], 1e-5) << i << " " << k;
  }
}

// x.view(x.size(0), -1) as exporters write it: Shape -> Gather(0) -> Unsqueeze ->
// Concat(., [36]) -> Reshape, after a Conv and a Relu; the batch is `batch` (-1:
// dynamic). Written as ONNX, the path returned.
std::string shape_chain_model(int64_t batch, const std::string& name) {
  testing::GraphBuilder b;
  b.g.opset = 13;
  const int x = b.input({batch, 4, 3, 3});
  Attrs pad;
  pad.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  const int r = b.node("Relu", {b.conv(x, 4, 4, 3, pad)});
  const int shape = b.node("Shape", {r});
  Attrs axis0;
  axis0.set("axis", int64_t{0});
  const int n = b.node("Gather", {shape, b.constant(Tensor::from<int64_t>({}, {0}))}, axis0);
  const int n1 = b.node("Unsqueeze", {n, b.constant(Tensor::from<int64_t>({1}, {0}))});
  const int target = b.node("Concat", {n1, b.constant(Tensor::from<int64_t>({1}, {36}))}, axis0);
  const int flat = b.node("Reshape", {r, target});
  Attrs tb;
  tb.set("transB", int64_t{1});
  const int y = b.node("Gemm", {flat, b.rand_const({5, 36}), b.rand_const({5})}, tb);
  b.output(y);
  b.g.value(y).shape = {batch, 5};
  const std::string path = testing::generated_dir() + "/" + name + ".onnx";
  write_onnx(path, b.g);
  return path;
}

// write_split makes the back partition batchable when the model's batch is
// dynamic: the folded Reshape target [1, 36] is written as [0, 36] and the batch
// as a dim_param, so the runner runs the back once for a batch. A fixed-batch
// model keeps its batch-1 back partition.
TEST(Split, WrittenBackPartitionTakesABatch) {
  for (int64_t batch : {int64_t{-1}, int64_t{1}}) {
    SCOPED_TRACE(batch);
    const std::string model_path = shape_chain_model(batch, "shape_chain" + std::to_string(batch));
    const Graph model = load(model_path);
    const Graph g = specialize_for_cuts(model);
    const std::vector<Cut> cuts = enumerate_cuts(g);
    const auto relu = std::find_if(cuts.begin(), cuts.end(), [&](const Cut& c) {
      return g.nodes[static_cast<size_t>(c.index)].op == "Relu";
    });
    ASSERT_NE(relu, cuts.end());
    const std::string dir = testing::generated_dir() + "/split_shape_chain" + std::to_string(batch);
    fs::remove_all(dir);
    write_split(model_path, relu->name, dir);
    const Graph back = load(dir + "/back.onnx");
    const Shape& in = back.value(back.inputs[0]).shape;
    ASSERT_FALSE(in.empty());
    EXPECT_EQ(in[0], batch) << shape_str(in);
    for (const Node& nd : back.nodes) {
      if (nd.op == "Reshape") {
        EXPECT_EQ(back.value(nd.inputs[1]).constant->data<int64_t>()[0], batch < 0 ? 0 : 1);
      }
    }

    auto opened = open_split(dir, SplitRunOptions{});
    ASSERT_TRUE(opened.ok()) << opened.error();
    const Tensor xs = testing::random_tensor({3, 4, 3, 3}, 8);
    const Tensor got = opened->runner->run(xs)[0];
    EXPECT_EQ(opened->runner->back_ran_batched(3), batch < 0);
    ASSERT_EQ(got.shape(), (Shape{3, 5}));
    expect_per_sample(g, xs, got);
  }
}

// A back partition with a Reshape target folded at batch 1 ([1, 16]) cannot take
// a batch: the runner notices and runs it sample by sample, with the right result.
TEST(Split, BackWithBatchOneReshapeRunsPerSample) {
  testing::GraphBuilder b;
  const int x = b.input({1, 4, 2, 2});
  const int r = b.node("Relu", {x});
  const int flat = b.node("Reshape", {r, b.constant(Tensor::from<int64_t>({2}, {1, 16}))});
  b.output(b.node("Gemm", {flat, b.rand_const({16, 3})}));
  const Graph g = specialize(b.g, {{1, 4, 2, 2}});
  const std::vector<Cut> cuts = enumerate_cuts(g);
  ASSERT_FALSE(cuts.empty());
  const Cut& c = cuts.front();  // after the Relu
  SplitRunner runner(front_partition(g, c), back_partition(g, c), SplitRunOptions{});
  const Tensor xs = testing::random_tensor({2, 4, 2, 2}, 4);
  const Tensor got = runner.run(xs)[0];
  EXPECT_FALSE(runner.back_ran_batched(2));
  ASSERT_EQ(got.shape(), (Shape{2, 3}));
  expect_per_sample(g, xs, got);
}

TEST(Split, ManifestAndHashes) {
  const std::string model = zoo_file("resnet50", 32, 0.25);
  const std::string dir = testing::generated_dir() + "/split_manifest";
  fs::remove_all(dir);
  const SplitManifest m = write_split(model, "layer3.0", dir);
  std::ifstream in(dir + "/manifest.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const SplitManifest back = manifest_from_json(text);
  EXPECT_EQ(back.cut_index, m.cut_index);
  EXPECT_EQ(back.cut_name, "layer3.0");
  EXPECT_EQ(back.feature_shape, (Shape{1, 256, 2, 2}));
  EXPECT_EQ(back.model_sha256, sha256_of_file(model));
  EXPECT_EQ(back.front_sha256, sha256_of_file(dir + "/front.tsf"));
  EXPECT_EQ(back.back_sha256, sha256_of_file(dir + "/back.onnx"));
  EXPECT_FALSE(back.encrypted);

  // back.onnx is a standard model: the importer (ONNX checker included) takes it,
  // with the feature map as its input and the zoo model's dynamic batch.
  Graph b = load(dir + "/back.onnx");
  ASSERT_EQ(b.inputs.size(), 1u);
  EXPECT_EQ(b.value(b.inputs[0]).shape, (Shape{-1, 256, 2, 2}));

  // A tampered back.onnx, front.tsf or a different model is refused.
  SplitRunOptions ro;
  ASSERT_TRUE(open_split(dir, ro, nullptr, model).ok());
  const std::string other_dir = dir + "_tampered";
  fs::remove_all(other_dir);
  fs::copy(dir, other_dir);
  {
    std::fstream f(other_dir + "/back.onnx", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  auto r = open_split(other_dir, ro, nullptr, model);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "back.onnx: SHA-256 does not match")) << r.error();
  fs::copy_file(dir + "/back.onnx", other_dir + "/back.onnx", fs::copy_options::overwrite_existing);
  {
    std::fstream f(other_dir + "/front.tsf", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  r = open_split(other_dir, ro, nullptr, model);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "front.tsf: SHA-256 does not match")) << r.error();
  r = open_split(dir, ro, nullptr, zoo_file("vgg16", 32, 0.25));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "differs from the model")) << r.error();
  EXPECT_THROW(manifest_from_json("{\"format\": \"teesplit-split\"}"), Error);
  EXPECT_THROW(manifest_from_json("{\"format\": "), Error);
}

TEST(Split, EncryptedSplit) {
  const std::string model = zoo_file("vgg16", 32, 0.25);
  const std::string dir = testing::generated_dir() + "/split_sealed";
  FrontKey key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 13 + 1);
  SplitWriteOptions wo;
  wo.key = &key;
  const SplitManifest m = write_split(model, "features.9", dir, wo);
  EXPECT_TRUE(m.encrypted);
  SplitRunOptions ro;
  auto r = open_split(dir, ro);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "encrypted")) << r.error();
  FrontKey wrong = key;
  wrong[0] ^= 1;
  r = open_split(dir, ro, &wrong);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "decryption failed")) << r.error();
  r = open_split(dir, ro, &key);
  ASSERT_TRUE(r.ok()) << r.error();
  const Graph g = load(model);
  const Tensor x = testing::random_tensor(default_input_shapes(g, 1)[0], 4);
  EXPECT_LE(testing::rel_error(r->runner->run(x)[0], whole_output(g, BackendKind::OneDnn, x)),
            1e-5);
}

TEST(Split, RefusesInvalidCutsWithTheReason) {
  const std::string model = zoo_file("efficientnet_b0", 32, 0.25);
  const std::string dir = testing::generated_dir() + "/split_invalid";
  fs::remove_all(dir);
  const Graph g = specialize_for_cuts(load(model));
  int se = -1;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (g.nodes[k].name == "/features/features.3/features.3.0/block/block.2/fc2/Conv")
      se = static_cast<int>(k);
  ASSERT_GE(se, 0);
  for (const std::string& spec :
       {std::to_string(se),
        std::string("/features/features.3/features.3.0/block/block.2/fc2/Conv")}) {
    try {
      write_split(model, spec, dir);
      FAIL() << "cut " << spec << " accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), "not valid")) << e.what();
      EXPECT_TRUE(contains(e.what(), "squeeze-excitation")) << e.what();
    }
  }
  EXPECT_THROW(write_split(model, std::to_string(g.nodes.size() - 1), dir), Error);
  EXPECT_THROW(write_split(model, "nonsense", dir), Error);
  EXPECT_FALSE(fs::exists(dir + "/front.tsf")) << "nothing is written for an invalid cut";
}

// What the allocator holds for the front on the reference backend, computed
// here from value lifetimes: a sequential run that frees each value after its
// last reader. Weights: every constant the front reads.
size_t reference_front_peak(const Graph& f) {
  auto bytes = [&](int id) {
    return static_cast<size_t>(shape_numel(f.value(id).shape)) * dtype_size(f.value(id).dtype);
  };
  const int n = static_cast<int>(f.nodes.size());
  std::vector<int> first(f.values.size(), -1), last(f.values.size(), -1);
  for (int k = 0; k < n; ++k) {
    for (int in : f.nodes[static_cast<size_t>(k)].inputs)
      if (in >= 0) last[static_cast<size_t>(in)] = k;
    for (int out : f.nodes[static_cast<size_t>(k)].outputs)
      if (out >= 0) first[static_cast<size_t>(out)] = last[static_cast<size_t>(out)] = k;
  }
  for (int o : f.outputs) last[static_cast<size_t>(o)] = n;
  size_t peak = 0, weights = 0;
  for (int k = 0; k < n; ++k) {
    size_t live = 0;
    for (size_t v = 0; v < f.values.size(); ++v) {
      if (f.values[v].constant) continue;
      const bool input =
          std::find(f.inputs.begin(), f.inputs.end(), static_cast<int>(v)) != f.inputs.end();
      const int from = input ? -1 : first[v];
      if ((input || from >= 0) && from <= k && last[v] >= k) live += bytes(static_cast<int>(v));
    }
    peak = std::max(peak, live);
  }
  std::set<int> seen;
  for (const Node& nd : f.nodes)
    for (int in : nd.inputs)
      if (in >= 0 && f.value(in).constant && seen.insert(in).second)
        weights += f.value(in).constant->nbytes();
  return peak + weights;
}

TEST(Split, CutsPeakMemoryMatchesTheRuntime) {
  const std::string model = zoo_file("resnet50", 32, 0.25);
  const Graph g = specialize_for_cuts(load(model));
  // Reference backend: the profile equals the independent lifetime count.
  const auto ref = profile_cuts(g, BackendKind::Reference, BackendKind::Reference);
  ASSERT_EQ(ref.size(), enumerate_cuts(g).size());
  for (const CutProfile& p : ref)
    EXPECT_EQ(p.front_peak_bytes(), reference_front_peak(front_partition(g, p.cut))) << p.cut.name;
  // oneDNN: the profile equals what the runner allocates for the front read
  // back from front.tsf, and is at least the input plus the feature map... or
  // the larger of the two when the planner reuses the input's bytes.
  const auto prof = profile_cuts(g, BackendKind::OneDnn, BackendKind::OneDnn);
  const size_t in_bytes = static_cast<size_t>(shape_numel(g.value(g.inputs[0]).shape)) * 4;
  for (size_t i = 0; i < prof.size(); i += 4) {
    const CutProfile& p = prof[i];
    const std::string dir = testing::generated_dir() + "/split_peak_" + std::to_string(i);
    write_split(model, std::to_string(p.cut.index), dir);
    SplitRunOptions ro;
    ro.front_backend = ro.back_backend = BackendKind::OneDnn;
    auto r = open_split(dir, ro);
    ASSERT_TRUE(r.ok()) << r.error();
    const RunStats st = r->runner->front_stats();
    EXPECT_EQ(p.front_activation_bytes, st.peak_activation_bytes) << p.cut.name;
    EXPECT_EQ(p.front_weight_bytes, st.weight_bytes) << p.cut.name;
    EXPECT_GE(p.front_activation_bytes, std::max(in_bytes, p.stats.feature_bytes)) << p.cut.name;
    EXPECT_GE(p.front_weight_bytes, p.stats.front_param_bytes / 2) << p.cut.name;
  }
}

// ---- ONNX Runtime ----

std::string ort_script() {
  return testing::source_path("tests/fixtures/ort_run.js");
}

std::string ort_skip_reason() {
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  if (!fs::exists(testing::source_path("bench/node_modules/onnxruntime-node")))
    return "bench/node_modules/onnxruntime-node is absent (cd bench && npm ci --ignore-scripts)";
  return "";
}

TEST(Split, BackOnnxRunsInOnnxRuntime) {
  const std::string why = ort_skip_reason();
  TS_REQUIRE_ORACLE(why.empty(), why);
  const std::pair<const char*, const char*> cases[] = {{"resnet50", "layer1.1"},
                                                       {"resnet50", "avgpool"},
                                                       {"efficientnet_b0", "features.3.0"},
                                                       {"efficientnet_b0", "features.4.1"},
                                                       {"vgg16", "features.16"}};
  for (const auto& [arch, cut] : cases) {
    const std::string model = zoo_file(arch, 32, 0.25);
    const std::string dir = testing::generated_dir() + "/split_ort_" + arch + "_" + cut;
    write_split(model, cut, dir);
    auto r = open_split(dir, SplitRunOptions{});
    ASSERT_TRUE(r.ok()) << r.error();
    const Graph g = load(model);
    const Tensor x = testing::random_tensor(default_input_shapes(g, 1)[0], 21);
    const Tensor feature = r->runner->run_front(x);
    const Tensor ours = r->runner->run_back(feature)[0];
    write_npy(dir + "/feature.npy", feature);
    const std::string cmd = "node '" + ort_script() + "' '" + dir + "/back.onnx' '" + dir +
                            "/feature.npy' '" + dir + "/ort_out.npy' 2> '" + dir + "/ort.err'";
    const int rc = std::system(cmd.c_str());
    TS_REQUIRE_ORACLE(WEXITSTATUS(rc) != 3, "onnxruntime-node does not load");
    ASSERT_EQ(rc, 0) << cmd;
    const Tensor theirs = read_npy(dir + "/ort_out.npy");
    EXPECT_LE(testing::rel_error(theirs, ours), 1e-4) << arch << " " << cut;
    EXPECT_LE(testing::rel_error(theirs, whole_output(g, BackendKind::OneDnn, x)), 1e-4)
        << arch << " " << cut;
  }
}

// ---- the CLI ----

TEST(Split, CliCutsAndSplit) {
  const std::string exe = std::string(TEESPLIT_BINARY_DIR) + "/teesplit";
  TS_REQUIRE_ORACLE(fs::exists(exe), exe << " is not built");
  const std::string model = zoo_file("resnet50", 32, 0.25);
  const std::string out = testing::generated_dir() + "/split_cli";
  std::string cmd = "'" + exe + "' cuts '" + model + "' --json > '" + out + ".json'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(out + ".json");
  const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(json, "\"name\": \"layer2.1\"")) << json.substr(0, 400);
  EXPECT_TRUE(contains(json, "\"front_peak_bytes\"")) << json.substr(0, 400);
  cmd = "'" + exe + "' split '" + model + "' --at 5 -o '" + out + "' 2> '" + out + ".err'";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  std::ifstream err(out + ".err");
  const std::string msg((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(msg, "not valid") && contains(msg, "residual block")) << msg;
  cmd = "'" + exe + "' split '" + model + "' --at layer3.2 -o '" + out + "' > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  cmd = "'" + exe + "' run '" + model + "' --split '" + out + "' --output '" + out +
        "/split.npy' > /dev/null && '" + exe + "' run '" + model + "' --output '" + out +
        "/whole.npy' > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_LE(testing::rel_error(read_npy(out + "/split.npy"), read_npy(out + "/whole.npy")), 1e-5);
}

}  // namespace
}  // namespace teesplit
