// The enclave line: this binary links only what the enclave may link (core,
// ops, graph, the front-file and split-directory readers, the oneDNN and
// reference backends; no protobuf, libonnx, LibTorch or CUDA). It proves that a
// front partition can be written, read back from a split directory and run on
// that code alone. check_symbols.sh then inspects the linked binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <random>

#include "backends/onednn/onednn_backend.h"
#include "backends/reference/reference_backend.h"
#include "core/file.h"
#include "graph/passes.h"
#include "partition/split_dir.h"

namespace teesplit {
namespace {

Tensor random_tensor(const Shape& s, uint64_t seed, float scale) {
  Tensor t(DType::F32, s);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// input [1,3,16,16] -> Conv 3x3 (8) -> Relu -> MaxPool 2x2 -> Conv 1x1 (4): the feature.
Graph small_front() {
  Graph g;
  g.name = "enclave_line";
  g.opset = 13;
  auto value = [&](const std::string& name, Shape s, std::optional<Tensor> c = {}) {
    Value v;
    v.name = name;
    v.shape = std::move(s);
    v.constant = std::move(c);
    return g.add_value(v);
  };
  const int x = value("input", {1, 3, 16, 16});
  g.inputs.push_back(x);
  auto node = [&](const std::string& op, std::vector<int> ins, Attrs a = {}) {
    Node n;
    n.name = op + std::to_string(g.nodes.size());
    n.op = op;
    n.inputs = std::move(ins);
    n.attrs = std::move(a);
    n.outputs = {value(n.name + "_out", {-1})};
    g.nodes.push_back(n);
    return n.outputs[0];
  };
  Attrs pad1;
  pad1.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  int h = node("Conv",
               {x, value("w1", {8, 3, 3, 3}, random_tensor({8, 3, 3, 3}, 1, 0.3f)),
                value("b1", {8}, random_tensor({8}, 2, 0.5f))},
               pad1);
  h = node("Relu", {h});
  Attrs pool;
  pool.set("kernel_shape", std::vector<int64_t>{2, 2});
  pool.set("strides", std::vector<int64_t>{2, 2});
  h = node("MaxPool", {h}, pool);
  h = node("Conv", {h, value("w2", {4, 8, 1, 1}, random_tensor({4, 8, 1, 1}, 3, 0.35f))});
  g.outputs.push_back(h);
  return specialize(g, {{1, 3, 16, 16}});
}

// A split directory holding only what the enclave reads, plus a back.onnx it
// never opens (its hash is still in the manifest).
std::string write_dir(const Graph& front, const FrontKey* key, const std::string& name) {
  const std::string dir = std::string(TEESPLIT_BINARY_DIR) + "/test-generated/enclave_line/" + name;
  std::filesystem::create_directories(dir);
  const std::string fb = serialize_front(front, key);
  const std::string bb = "not read on the enclave side";
  write_file(dir + "/front.tsf", fb);
  write_file(dir + "/back.onnx", bb);
  SplitManifest m;
  m.model_file = "hand-built";
  m.model_sha256 = sha256_hex("", 0);
  m.cut_index = static_cast<int>(front.nodes.size()) - 1;
  m.cut_name = m.cut_node = front.nodes.back().name;
  m.input_name = front.value(front.inputs[0]).name;
  m.input_shape = front.value(front.inputs[0]).shape;
  m.feature_name = front.value(front.outputs[0]).name;
  m.feature_shape = front.value(front.outputs[0]).shape;
  m.front_sha256 = sha256_hex(fb.data(), fb.size());
  m.back_sha256 = sha256_hex(bb.data(), bb.size());
  m.back_backend = "onednn";
  m.encrypted = key != nullptr;
  write_file(dir + "/manifest.json", manifest_to_json(m));
  return dir;
}

TEST(EnclaveLine, ReadsAndRunsAFrontFromASplitDirectory) {
  const Graph front = small_front();
  FrontKey key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(7 * i + 3);
  for (const FrontKey* k :
       {static_cast<const FrontKey*>(nullptr), static_cast<const FrontKey*>(&key)}) {
    const std::string dir = write_dir(front, k, k ? "sealed" : "plain");
    const SplitFiles files = read_split_files(dir, /*with_back=*/false);
    EXPECT_TRUE(files.back_bytes.empty());
    const Graph g = load_split_front(files, k);
    const Tensor x = random_tensor({1, 3, 16, 16}, 9, 1.f);
    const Tensor got = make_onednn_backend()->compile(g, {})->run({x})[0];
    const Tensor want = make_reference_backend()->compile(front, {})->run({x})[0];
    EXPECT_EQ(got.shape(), (Shape{1, 4, 8, 8}));
    EXPECT_LE(max_relative_error(got, want), 1e-5);
  }
}

TEST(EnclaveLine, RefusesATamperedFront) {
  const std::string dir = write_dir(small_front(), nullptr, "tampered");
  std::string fb = read_file(dir + "/front.tsf");
  fb[fb.size() / 2] ^= 1;
  write_file(dir + "/front.tsf", fb);
  try {
    read_split_files(dir, false);
    FAIL() << "a tampered front.tsf was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("front.tsf: SHA-256 does not match"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace teesplit
