// The front-partition file: round trips, sealing, and refusal of damaged files
// (partition/front_file.h, layout in docs/front-file-format.md).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "backends/reference/reference_backend.h"
#include "graph/cuts.h"
#include "graph/passes.h"
#include "onnx/onnx_import.h"
#include "partition/front_file.h"
#include "support/test_support.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

// Offsets of the layout, written out here from the documentation.
constexpr size_t kHeader = 64;
constexpr size_t kVersionAt = 8, kFlagsAt = 12, kDtypeAt = 16, kBodySizeAt = 24, kHashAt = 32;
constexpr size_t kTableOffsetAt = 24, kDataSizeAt = 56;  // inside the content header
constexpr size_t kEntry = 88;

const Graph& front_graph() {
  static const Graph g = [] {
    ZooOptions o;
    o.arch = "resnet50";  // a front with Conv, Relu, MaxPool and a residual Add
    o.input_size = 32;
    o.width = 0.25;
    o.classes = 10;
    auto m = parse_onnx(zoo_model_bytes(o), ".", "zoo");
    Graph s = specialize(m.value(), default_input_shapes(m.value(), 1));
    return front_partition(s, resolve_cut(s, "layer1.0"));
  }();
  return g;
}

FrontKey test_key(uint8_t seed) {
  FrontKey k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return k;
}

template <class T>
T get(const std::string& b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}
template <class T>
void put(std::string& b, size_t at, T v) {
  std::memcpy(&b[at], &v, sizeof v);
}

// Recomputes the header's SHA-256 after an edit of a plain file's content.
void rehash(std::string& b) {
  unsigned char md[32];
  unsigned len = 0;
  ASSERT_EQ(EVP_Digest(b.data() + kHeader, b.size() - kHeader, md, &len, EVP_sha256(), nullptr), 1);
  std::memcpy(&b[kHashAt], md, 32);
}

std::string error_of(const std::string& bytes, const FrontKey* key = nullptr) {
  auto r = parse_front(bytes, key, "front.tsf");
  return r.ok() ? std::string() : r.error();
}

bool contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

void expect_same_graph(const Graph& a, const Graph& b) {
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  ASSERT_EQ(a.values.size(), b.values.size());
  for (size_t i = 0; i < a.values.size(); ++i) {
    EXPECT_EQ(a.values[i].name, b.values[i].name);
    EXPECT_EQ(a.values[i].shape, b.values[i].shape);
    ASSERT_EQ(a.values[i].constant.has_value(), b.values[i].constant.has_value());
    if (a.values[i].constant) {
      const Tensor& x = *a.values[i].constant;
      const Tensor& y = *b.values[i].constant;
      ASSERT_EQ(x.nbytes(), y.nbytes());
      EXPECT_EQ(std::memcmp(x.raw(), y.raw(), x.nbytes()), 0) << a.values[i].name;
    }
  }
  for (size_t k = 0; k < a.nodes.size(); ++k) {
    EXPECT_EQ(a.nodes[k].name, b.nodes[k].name);
    EXPECT_EQ(a.nodes[k].op, b.nodes[k].op);
    EXPECT_EQ(a.nodes[k].inputs, b.nodes[k].inputs);
    EXPECT_EQ(a.nodes[k].outputs, b.nodes[k].outputs);
    EXPECT_EQ(a.nodes[k].attrs.all().size(), b.nodes[k].attrs.all().size());
  }
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.outputs, b.outputs);
}

TEST(FrontFile, RoundTripRunsIdentically) {
  const Graph& g = front_graph();
  const std::string bytes = serialize_front(g);
  ASSERT_EQ(bytes.compare(0, 8, std::string("\x89TSF\r\n\x1a\n", 8)), 0);
  EXPECT_EQ(get<uint32_t>(bytes, kVersionAt), kFrontFormatVersionFp32);  // fp32: version 1
  EXPECT_EQ(get<uint32_t>(bytes, kFlagsAt), 0u);
  EXPECT_EQ(get<uint64_t>(bytes, kBodySizeAt), bytes.size() - kHeader);
  auto r = parse_front(bytes);
  ASSERT_TRUE(r.ok()) << r.error();
  expect_same_graph(g, r.value());
  Tensor x = testing::random_tensor(g.value(g.inputs[0]).shape, 7);
  auto a = run_reference_all(g, {x});
  auto b = run_reference_all(r.value(), {x});
  const Tensor& fa = a[static_cast<size_t>(g.outputs[0])];
  const Tensor& fb = b[static_cast<size_t>(r.value().outputs[0])];
  ASSERT_EQ(fa.nbytes(), fb.nbytes());
  EXPECT_EQ(std::memcmp(fa.raw(), fb.raw(), fa.nbytes()), 0);
  // Writing is deterministic for plain files.
  EXPECT_EQ(serialize_front(g), bytes);
}

TEST(FrontFile, FileAndAttributeTensors) {
  // A Constant node carries a tensor attribute; it must survive the round trip.
  Graph g;
  const int x = g.add_value(Value{"x", DType::F32, {2, 3}, {}});
  const int c = g.add_value(Value{"c", DType::F32, {2, 3}, {}});
  const int y = g.add_value(Value{"y", DType::F32, {2, 3}, {}});
  Node k{"const", "Constant", {}, {c}, {}};
  k.attrs.set("value", Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  g.inputs = {x};
  g.nodes.push_back(k);
  g.nodes.push_back(Node{"add", "Add", {x, c}, {y}, {}});
  g.outputs = {y};
  const std::string path = testing::generated_dir() + "/front_attr.tsf";
  write_front_file(path, g);
  auto r = read_front_file(path);
  ASSERT_TRUE(r.ok()) << r.error();
  const Tensor& t = r.value().nodes[0].attrs.get_tensor("value");
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.data<float>()[5], 6.f);
  EXPECT_FALSE(read_front_file(path + ".missing").ok());
}

TEST(FrontFile, SealedRoundTripAndKeys) {
  const Graph& g = front_graph();
  const FrontKey key = test_key(1), other = test_key(2);
  const std::string sealed = serialize_front(g, &key);
  EXPECT_EQ(get<uint32_t>(sealed, kFlagsAt), 1u);
  // Fresh nonce each time: two seals differ.
  EXPECT_NE(serialize_front(g, &key), sealed);
  auto r = parse_front(sealed, &key);
  ASSERT_TRUE(r.ok()) << r.error();
  expect_same_graph(g, r.value());
  // The weights do not appear in the clear.
  const Tensor& w = *g.value(g.nodes[0].inputs[1]).constant;
  EXPECT_EQ(sealed.find(std::string(static_cast<const char*>(w.raw()), 64)), std::string::npos);

  std::string e = error_of(sealed);
  EXPECT_TRUE(contains(e, "encrypted") && contains(e, "key")) << e;
  e = error_of(sealed, &other);
  EXPECT_TRUE(contains(e, "decryption failed")) << e;
  e = error_of(serialize_front(g), &key);
  EXPECT_TRUE(contains(e, "not encrypted")) << e;
  // Clearing the flag (hash recomputed) fails: the body is not plain content.
  std::string cleared = sealed;
  put<uint32_t>(cleared, kFlagsAt, 0);
  rehash(cleared);
  EXPECT_FALSE(parse_front(cleared).ok());
  // A flipped ciphertext byte with a consistent hash fails the GCM tag.
  std::string flipped = sealed;
  flipped[kHeader + 12 + 100] ^= 0x01;
  rehash(flipped);
  e = error_of(flipped, &key);
  EXPECT_TRUE(contains(e, "decryption failed")) << e;
}

TEST(FrontFile, KeyFile) {
  const std::string dir = testing::generated_dir();
  const FrontKey key = test_key(3);
  {
    std::ofstream(dir + "/k32.key", std::ios::binary)
        .write(reinterpret_cast<const char*>(key.data()), 32);
    std::ofstream(dir + "/k31.key", std::ios::binary)
        .write(reinterpret_cast<const char*>(key.data()), 31);
  }
  EXPECT_EQ(read_key_file(dir + "/k32.key"), key);
  try {
    read_key_file(dir + "/k31.key");
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "exactly 32 bytes")) << e.what();
  }
}

TEST(FrontFile, RefusesWrongMagicVersionFlagsDtype) {
  const std::string good = serialize_front(front_graph());
  std::string b = good;
  b[1] = 'X';
  EXPECT_TRUE(contains(error_of(b), "wrong magic")) << error_of(b);
  EXPECT_TRUE(contains(error_of("short"), "shorter than")) << error_of("short");
  b = good;
  put<uint32_t>(b, kVersionAt, kFrontFormatVersion + 1);
  EXPECT_TRUE(contains(error_of(b), "unknown format version 3")) << error_of(b);
  b = good;
  put<uint32_t>(b, kFlagsAt, 0x10);
  EXPECT_TRUE(contains(error_of(b), "unknown flags")) << error_of(b);
  b = good;
  put<uint32_t>(b, kDtypeAt, 1);
  EXPECT_TRUE(contains(error_of(b), "dtype")) << error_of(b);
  EXPECT_TRUE(contains(error_of(b), "front.tsf: ")) << "errors name the file";
}

TEST(FrontFile, RefusesFlippedBytesAnywhere) {
  const std::string good = serialize_front(front_graph());
  // Every byte of the header and a stride of the body: never accepted.
  for (size_t i = 0; i < good.size(); i += (i < kHeader ? 1 : 97)) {
    std::string b = good;
    b[i] ^= 0x20;
    const std::string e = error_of(b);
    EXPECT_FALSE(e.empty()) << "flip at " << i << " accepted";
    if (i >= kHeader) {
      EXPECT_TRUE(contains(e, "hash mismatch")) << e;
    }
  }
}

TEST(FrontFile, RefusesTruncatedAndOverlongFiles) {
  const std::string good = serialize_front(front_graph());
  for (size_t cut : {size_t{1}, size_t{100}, good.size() / 2}) {
    const std::string e = error_of(good.substr(0, good.size() - cut));
    EXPECT_TRUE(contains(e, "truncated")) << e;
  }
  EXPECT_TRUE(contains(error_of(good + "x"), "trailing")) << error_of(good + "x");
}

TEST(FrontFile, RefusesBadTensorTable) {
  const std::string good = serialize_front(front_graph());
  const size_t content = kHeader;
  const size_t table = content + get<uint64_t>(good, content + kTableOffsetAt);
  const uint64_t data_size = get<uint64_t>(good, content + kDataSizeAt);
  // A truncated tensor: fewer bytes than its shape needs.
  std::string b = good;
  put<uint64_t>(b, table + 16, get<uint64_t>(b, table + 16) - 4);
  rehash(b);
  std::string e = error_of(b);
  EXPECT_TRUE(contains(e, "tensor 0") && contains(e, "needs")) << e;
  // Data that points outside the file.
  b = good;
  put<uint64_t>(b, table + 8, uint64_t{1} << 40);
  rehash(b);
  e = error_of(b);
  EXPECT_TRUE(contains(e, "outside the data region")) << e;
  b = good;
  put<uint64_t>(b, table + 8, data_size - 4);
  rehash(b);
  e = error_of(b);
  EXPECT_TRUE(contains(e, "outside the data region")) << e;
  // An offset so large that offset + size wraps around.
  b = good;
  put<uint64_t>(b, table + 8, ~uint64_t{0} - 8);
  rehash(b);
  EXPECT_TRUE(contains(error_of(b), "outside")) << error_of(b);
  // The table itself outside the content.
  b = good;
  put<uint64_t>(b, content + kTableOffsetAt, b.size());
  rehash(b);
  EXPECT_TRUE(contains(error_of(b), "tensor table")) << error_of(b);
  b = good;
  put<uint32_t>(b, content + 0, 0xFFFFFFFFu);  // tensor count
  rehash(b);
  EXPECT_TRUE(contains(error_of(b), "tensor table")) << error_of(b);
  // A dimension that does not match the stored value shape.
  b = good;
  put<int64_t>(b, table + 24, get<int64_t>(b, table + 24) + 1);
  rehash(b);
  EXPECT_FALSE(error_of(b).empty());
  // Unknown dtype code, rank too large.
  b = good;
  put<uint32_t>(b, table, 9);
  rehash(b);
  EXPECT_TRUE(contains(error_of(b), "unknown dtype")) << error_of(b);
  b = good;
  put<uint32_t>(b, table + 4, 9);
  rehash(b);
  EXPECT_TRUE(contains(error_of(b), "rank")) << error_of(b);
}

TEST(FrontFile, ContentEditsNeverCrash) {
  // Any single-byte change of the content (hash made consistent) is either
  // refused with an Error or parses into a graph that validates.
  const std::string good = serialize_front(front_graph());
  const size_t content = kHeader;
  const size_t data_off = content + get<uint64_t>(good, content + 48);
  int refused = 0;
  for (size_t i = content; i < data_off; i += 3) {
    for (uint8_t x : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
      std::string b = good;
      b[i] ^= static_cast<char>(x);
      rehash(b);
      auto r = parse_front(b);
      if (!r.ok()) {
        ++refused;
        continue;
      }
      EXPECT_NO_THROW(r.value().validate());
    }
  }
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace teesplit
