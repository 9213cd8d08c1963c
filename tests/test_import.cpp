// ONNX import: well-formed models load and run; every kind of bad file gives a
// clear error (never a crash).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>

#include "backends/reference/reference_backend.h"
#include "graph/passes.h"
#include "onnx/onnx_import.h"
#include "runtime/session.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

void add_init(onnx::GraphProto* g, const std::string& name, const Tensor& t) {
  auto* init = g->add_initializer();
  init->set_name(name);
  init->set_data_type(t.dtype() == DType::I64 ? onnx::TensorProto::INT64
                                              : onnx::TensorProto::FLOAT);
  for (int64_t d : t.shape()) init->add_dims(d);
  init->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
}

void set_tensor_type(onnx::ValueInfoProto* vi, const std::string& name, std::vector<int64_t> dims,
                     int batch_param = -1) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* sh = tt->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* d = sh->add_dim();
    if (static_cast<int>(i) == batch_param)
      d->set_dim_param("batch");
    else
      d->set_dim_value(dims[i]);
  }
}

// An empty ModelProto: IR version 8, the default domain at `opset`, a named graph.
onnx::ModelProto empty_model(int64_t opset, const std::string& name) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  m.mutable_graph()->set_name(name);
  return m;
}

// x[N,3,8,8] -> Conv(4, 3x3, pad 1) -> Relu -> Shape/Gather/Unsqueeze/Concat -> Reshape -> Gemm(5)
onnx::ModelProto small_model(int64_t opset = 13) {
  onnx::ModelProto m = empty_model(opset, "small");
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "x", {1, 3, 8, 8}, 0);
  set_tensor_type(g->add_output(), "y", {1, 5}, 0);
  add_init(g, "w", testing::random_tensor({4, 3, 3, 3}, 1));
  add_init(g, "b", testing::random_tensor({4}, 2));
  add_init(g, "fc.w", testing::random_tensor({5, 256}, 3));
  add_init(g, "fc.b", testing::random_tensor({5}, 4));
  auto node = [&](const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
                  const std::string& name) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return n;
  };
  auto* conv = node("Conv", {"x", "w", "b"}, {"c"}, "conv");
  auto* ks = conv->add_attribute();
  ks->set_name("pads");
  ks->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) ks->add_ints(1);
  node("Relu", {"c"}, {"r"}, "relu");
  // The dynamic-shape chain exporters emit for flatten: [Shape(r)[0], -1].
  node("Shape", {"r"}, {"s"}, "shape");
  auto* idx = g->add_initializer();
  idx->set_name("zero");
  idx->set_data_type(onnx::TensorProto::INT64);
  idx->add_int64_data(0);
  auto* gather = node("Gather", {"s", "zero"}, {"n"}, "gather");
  auto* ax = gather->add_attribute();
  ax->set_name("axis");
  ax->set_type(onnx::AttributeProto::INT);
  ax->set_i(0);
  auto* axes = g->add_initializer();
  axes->set_name("axes0");
  axes->set_data_type(onnx::TensorProto::INT64);
  axes->add_dims(1);
  axes->add_int64_data(0);
  node("Unsqueeze", {"n", "axes0"}, {"n1"}, "unsqueeze");
  auto* minus1 = g->add_initializer();
  minus1->set_name("minus1");
  minus1->set_data_type(onnx::TensorProto::INT64);
  minus1->add_dims(1);
  minus1->add_int64_data(-1);
  auto* cat = node("Concat", {"n1", "minus1"}, {"shape2"}, "concat");
  auto* cax = cat->add_attribute();
  cax->set_name("axis");
  cax->set_type(onnx::AttributeProto::INT);
  cax->set_i(0);
  node("Reshape", {"r", "shape2"}, {"flat"}, "reshape");
  auto* gemm = node("Gemm", {"flat", "fc.w", "fc.b"}, {"y"}, "fc");
  auto* tb = gemm->add_attribute();
  tb->set_name("transB");
  tb->set_type(onnx::AttributeProto::INT);
  tb->set_i(1);
  return m;
}

// Files are named after the running test: ctest runs this file's tests in parallel.
std::string write(const std::string& name, const std::string& bytes) {
  std::string path = testing::generated_dir() + "/" +
                     ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string serialized(const onnx::ModelProto& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

TEST(Import, LoadsAndFoldsShapeChain) {
  auto g = load_onnx(write("small.onnx", serialized(small_model())));
  ASSERT_TRUE(g.ok()) << g.error();
  EXPECT_EQ(g->inputs.size(), 1u);
  EXPECT_EQ(g->value(g->inputs[0]).shape, (Shape{-1, 3, 8, 8}));
  for (int64_t batch : {1, 3}) {
    Graph s = specialize(*g, {{batch, 3, 8, 8}});
    for (const Node& n : s.nodes) {
      EXPECT_NE(n.op, "Shape") << "shape chain not folded";
      EXPECT_NE(n.op, "Concat") << "shape chain not folded";
    }
    EXPECT_EQ(s.value(s.outputs[0]).shape, (Shape{batch, 5}));
  }
}

TEST(Import, DynamicBatchMatchesPerSampleRuns) {
  auto g = load_onnx(write("small.onnx", serialized(small_model())));
  ASSERT_TRUE(g.ok()) << g.error();
  for (BackendKind kind : {BackendKind::Reference, BackendKind::OneDnn}) {
    Session s(*g, {kind, 1});
    Tensor x = testing::random_tensor({3, 3, 8, 8}, 9);
    Tensor y = s.run({x})[0];
    ASSERT_EQ(y.shape(), (Shape{3, 5}));
    for (int64_t b = 0; b < 3; ++b) {
      Tensor xb(DType::F32, {1, 3, 8, 8});
      std::memcpy(xb.raw(), x.data<float>() + b * 192, 192 * 4);
      Tensor yb = s.run({xb})[0];
      for (int64_t j = 0; j < 5; ++j)
        EXPECT_NEAR(yb.data<float>()[j], y.data<float>()[b * 5 + j], 1e-4);
    }
  }
}

TEST(Import, AcceptsOpsets11To22) {
  for (int64_t opset : {11, 12, 13, 15, 17, 18, 19, 21, 22}) {
    onnx::ModelProto m = small_model(opset);
    if (opset < 13) {  // Unsqueeze takes axes as an attribute before opset 13
      for (auto& n : *m.mutable_graph()->mutable_node())
        if (n.op_type() == "Unsqueeze") {
          n.mutable_input()->RemoveLast();
          auto* a = n.add_attribute();
          a->set_name("axes");
          a->set_type(onnx::AttributeProto::INTS);
          a->add_ints(0);
        }
    }
    auto g = parse_onnx(serialized(m), ".", "opset" + std::to_string(opset));
    EXPECT_TRUE(g.ok()) << g.error();
    if (g.ok()) {
      EXPECT_NO_THROW(specialize(*g, {{2, 3, 8, 8}}));
    }
  }
  auto g = parse_onnx(serialized(small_model(9)), ".", "old.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().find("opset 9 is not supported"), std::string::npos) << g.error();
  auto newer = parse_onnx(serialized(small_model(23)), ".", "new.onnx");
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.error().find("opset 23 is not supported"), std::string::npos) << newer.error();
}

// Found by fuzz/fuzz_onnx_import: an initializer's shape is checked against the
// data the file holds before anything is allocated (a 432-byte tensor claiming
// 12 GB), and a malformed model never reaches ONNX's shape inference, which
// crashed (libonnx 1.12) on a BatchNormalization whose variance was a scalar
// holding four floats.
TEST(Import, InitializerShapeMustMatchItsData) {
  onnx::ModelProto m = small_model();
  for (auto& init : *m.mutable_graph()->mutable_initializer())
    if (init.name() == "w") {
      init.clear_dims();
      init.add_dims(1073741823);
      init.add_dims(3);
    }
  auto g = parse_onnx(serialized(m), ".", "huge.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().find("initializer 'w' holds 432 bytes of data, its shape [1073741823,3]"),
            std::string::npos)
      << g.error();
  onnx::ModelProto typed = small_model();
  auto* t = typed.mutable_graph()->add_initializer();
  t->set_name("many");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(1 << 30);
  t->add_dims(1 << 30);
  t->add_float_data(1.f);
  auto g2 = parse_onnx(serialized(typed), ".", "typed.onnx");
  ASSERT_FALSE(g2.ok());
  EXPECT_NE(g2.error().find("implausibly large shape"), std::string::npos) << g2.error();
}

// One table of element types (core/dtype.h) serves Cast, the importer and the
// exporter; float64 is read, and converted to float32, by the importer alone.
TEST(Import, ElementTypes) {
  for (DType t : {DType::F32, DType::I64, DType::I32, DType::U8, DType::Bool})
    EXPECT_EQ(dtype_from_onnx(dtype_to_onnx(t)), t) << dtype_name(t);
  EXPECT_EQ(dtype_to_onnx(DType::F32), onnx::TensorProto::FLOAT);
  EXPECT_EQ(dtype_to_onnx(DType::I64), onnx::TensorProto::INT64);
  EXPECT_EQ(dtype_to_onnx(DType::I32), onnx::TensorProto::INT32);
  EXPECT_EQ(dtype_to_onnx(DType::U8), onnx::TensorProto::UINT8);
  EXPECT_EQ(dtype_to_onnx(DType::Bool), onnx::TensorProto::BOOL);
  EXPECT_FALSE(dtype_from_onnx(onnx::TensorProto::DOUBLE));
  EXPECT_FALSE(dtype_from_onnx(onnx::TensorProto::FLOAT16));

  onnx::ModelProto m = small_model();
  const Tensor want = testing::random_tensor({5}, 4);  // fc.b, as small_model() makes it
  for (auto& init : *m.mutable_graph()->mutable_initializer())
    if (init.name() == "fc.b") {
      init.clear_raw_data();
      init.set_data_type(onnx::TensorProto::DOUBLE);
      for (int64_t i = 0; i < want.numel(); ++i) init.add_double_data(want.data<float>()[i]);
    }
  auto g = parse_onnx(serialized(m), ".", "f64.onnx");
  ASSERT_TRUE(g.ok()) << g.error();
  const int id = g->find_value("fc.b");
  ASSERT_GE(id, 0);
  ASSERT_TRUE(g->value(id).constant);
  EXPECT_EQ(g->value(id).constant->dtype(), DType::F32);
  EXPECT_EQ(testing::rel_error(*g->value(id).constant, want), 0.0);

  onnx::ModelProto h = small_model();
  h.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::FLOAT16);
  auto g16 = parse_onnx(serialized(h), ".", "f16.onnx");
  ASSERT_FALSE(g16.ok());
  EXPECT_NE(g16.error().find("FLOAT16"), std::string::npos) << g16.error();
}

TEST(Import, MalformedBatchNormIsAnErrorNotACrash) {
  onnx::ModelProto m = empty_model(17, "bn");
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "x", {1, 4, 2, 2});
  set_tensor_type(g->add_output(), "y", {1, 4, 2, 2});
  for (const char* name : {"scale", "bias", "mean"})
    add_init(g, name, testing::random_tensor({4}, 1));
  add_init(g, "var", testing::random_tensor({4}, 2));
  g->mutable_initializer(3)->clear_dims();  // a scalar holding 4 floats
  auto* bn = g->add_node();
  bn->set_op_type("BatchNormalization");
  for (const char* in : {"x", "scale", "bias", "mean", "var"}) bn->add_input(in);
  bn->add_output("y");
  auto parsed = parse_onnx(serialized(m), ".", "bn.onnx");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().find("initializer 'var' holds 16 bytes"), std::string::npos)
      << parsed.error();
}

// Found by fuzz/fuzz_onnx_import (fuzz/corpus/fuzz_onnx_import/regress_pad_fold_2gib.onnx
// holds the same two nodes): a Pad of two constants, then a ReduceMean. Folding asked
// for 2 GiB for the Pad (plus 2 GiB of the kernel's tables), and `teesplit info`
// reached 4.2 GB of memory and 20 s before ReduceMean refused the int64 result.
// Folding is now bounded (core/limits.h): refused before anything is allocated.
TEST(Import, ConstantPadFoldingIsBounded) {
  onnx::ModelProto m = empty_model(13, "padmean");
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "x", {1, 3, 4, 4});
  set_tensor_type(g->add_output(), "m", {1});
  add_init(g, "pads", Tensor::from<int64_t>({4}, {1, 2, 1, 2}));
  add_init(g, "big", Tensor::from<int64_t>({2}, {0, (int64_t{1} << 28) - 4}));
  auto* pad = g->add_node();
  pad->set_op_type("Pad");
  pad->set_name("pad");
  pad->add_input("pads");
  pad->add_input("big");
  pad->add_output("p");
  auto* mean = g->add_node();
  mean->set_op_type("ReduceMean");
  mean->set_name("mean");
  mean->add_input("p");
  mean->add_output("m");
  const std::string bytes = serialized(m);
  EXPECT_LT(bytes.size(), 256u);
  auto parsed = parse_onnx(bytes, ".", "padmean.onnx");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const std::string e = testing::error_of([&] { specialize(*parsed, {{1, 3, 4, 4}}); });
  EXPECT_NE(e.find("node 'pad' (Pad): folding it would create a constant of shape [268435456]"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("more than the limit of 256.0 MiB"), std::string::npos) << e;
}

// What PyTorch's torch.export-based exporter writes (opset 18): ReduceMean and
// Pad take their axes as inputs. x [1,3,4,4] padded by 1 on H and W (axes
// input), then averaged over H and W (axes input): sum(x) / 36 per channel.
TEST(Import, Opset18AxesInputs) {
  onnx::ModelProto m = empty_model(18, "opset18");
  auto* g = m.mutable_graph();
  set_tensor_type(g->add_input(), "x", {1, 3, 4, 4});
  set_tensor_type(g->add_output(), "y", {1, 3});
  add_init(g, "pads", Tensor::from<int64_t>({4}, {1, 1, 1, 1}));
  add_init(g, "pad_axes", Tensor::from<int64_t>({2}, {-2, -1}));
  add_init(g, "mean_axes", Tensor::from<int64_t>({2}, {2, 3}));
  auto* pad = g->add_node();
  pad->set_op_type("Pad");
  pad->set_name("pad");
  for (const char* in : {"x", "pads", "", "pad_axes"}) pad->add_input(in);
  pad->add_output("p");
  auto* mean = g->add_node();
  mean->set_op_type("ReduceMean");
  mean->set_name("mean");
  mean->add_input("p");
  mean->add_input("mean_axes");
  mean->add_output("y");
  auto* kd = mean->add_attribute();
  kd->set_name("keepdims");
  kd->set_type(onnx::AttributeProto::INT);
  kd->set_i(0);
  auto parsed = parse_onnx(serialized(m), ".", "opset18.onnx");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const Tensor x = testing::random_tensor({1, 3, 4, 4}, 3);
  for (BackendKind kind : {BackendKind::Reference, BackendKind::OneDnn}) {
    Session sess(*parsed, {kind, 1});
    const Tensor y = sess.run({x})[0];
    ASSERT_EQ(y.shape(), (Shape{1, 3}));
    for (int c = 0; c < 3; ++c) {
      double sum = 0;
      for (int i = 0; i < 16; ++i) sum += x.data<float>()[c * 16 + i];
      EXPECT_NEAR(y.data<float>()[c], sum / 36.0, 1e-5) << "channel " << c;
    }
  }
}

TEST(Import, ExternalData) {
  onnx::ModelProto m = small_model();
  std::string dir = testing::generated_dir() + "/extdata";
  std::filesystem::create_directories(dir);
  std::ofstream data(dir + "/weights.bin", std::ios::binary);
  int64_t offset = 0;
  for (auto& init : *m.mutable_graph()->mutable_initializer()) {
    if (init.data_type() != onnx::TensorProto::FLOAT) continue;
    std::string raw = init.raw_data();
    data << std::string(16, '\0') << raw;  // padding, then the tensor
    offset += 16;
    init.clear_raw_data();
    init.set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* k, const std::string& v) {
      auto* e = init.add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    add("location", "weights.bin");
    add("offset", std::to_string(offset));
    add("length", std::to_string(raw.size()));
    offset += static_cast<int64_t>(raw.size());
  }
  data.close();
  std::ofstream(dir + "/model.onnx", std::ios::binary) << serialized(m);
  auto ext = load_onnx(dir + "/model.onnx");
  ASSERT_TRUE(ext.ok()) << ext.error();
  auto inl = parse_onnx(serialized(small_model()), ".", "inline");
  ASSERT_TRUE(inl.ok());
  Tensor x = testing::random_tensor({1, 3, 8, 8}, 5);
  Session a(*ext, {BackendKind::Reference, 1}), b(*inl, {BackendKind::Reference, 1});
  EXPECT_EQ(testing::rel_error(a.run({x})[0], b.run({x})[0]), 0.0);

  // A location outside the model's folder, and a length past the end, are refused.
  auto* e = m.mutable_graph()->mutable_initializer(0)->mutable_external_data(0);
  e->set_value("../weights.bin");
  auto bad = parse_onnx(serialized(m), dir, "escape.onnx");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("leaves the model's folder"), std::string::npos) << bad.error();
  e->set_value("weights.bin");
  m.mutable_graph()->mutable_initializer(0)->mutable_external_data(2)->set_value("99999999");
  bad = parse_onnx(serialized(m), dir, "long.onnx");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("exceeds"), std::string::npos) << bad.error();
}

TEST(ImportErrors, MissingFile) {
  auto g = load_onnx("/nonexistent/model.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().find("No such file"), std::string::npos) << g.error();
}

TEST(ImportErrors, TruncatedAndCorruptFiles) {
  std::string bytes = serialized(small_model());
  for (size_t cut : {size_t{0}, size_t{7}, bytes.size() / 3, bytes.size() - 5}) {
    auto g = load_onnx(write("truncated.onnx", bytes.substr(0, cut)));
    EXPECT_FALSE(g.ok()) << "accepted a file cut at " << cut;
    EXPECT_NE(g.error().find("truncated.onnx"), std::string::npos) << g.error();
    EXPECT_EQ(g.error().find('\n'), std::string::npos) << "multi-line error: " << g.error();
  }
  std::string garbage(300, '\xff');
  auto g = load_onnx(write("garbage.onnx", garbage));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().find("does not parse"), std::string::npos) << g.error();
  // Flipping bytes anywhere never crashes.
  for (size_t i = 0; i < bytes.size(); i += 97) {
    std::string b = bytes;
    b[i] = static_cast<char>(b[i] ^ 0x5a);
    auto r = parse_onnx(b, ".", "flipped.onnx");
    if (r.ok()) {
      try {
        specialize(*r, default_input_shapes(*r, 1));
      } catch (const Error&) {
      }
    }
  }
}

TEST(ImportErrors, UnsupportedOperatorNamesTheNode) {
  onnx::ModelProto m = small_model();
  m.mutable_graph()->mutable_node(1)->set_op_type("LRN");
  auto g = parse_onnx(serialized(m), ".", "lrn.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().find("unsupported operator LRN"), std::string::npos) << g.error();
  EXPECT_NE(g.error().find("'relu'"), std::string::npos) << g.error();
}

TEST(ImportErrors, MissingInitializer) {
  onnx::ModelProto m = small_model();
  m.mutable_graph()->mutable_initializer()->erase(
      m.mutable_graph()->mutable_initializer()->begin());
  auto g = parse_onnx(serialized(m), ".", "noinit.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().find("input 'w'"), std::string::npos) << g.error();
  EXPECT_NE(g.error().find("'conv'"), std::string::npos) << g.error();
}

TEST(ImportErrors, ShapeMismatch) {
  onnx::ModelProto m = small_model();
  // fc.w expects 256 features; make it 200: the ONNX checker can't see it, shape
  // inference (ONNX's or ours) must.
  auto* w = m.mutable_graph()->mutable_initializer(2);
  w->set_dims(1, 200);
  w->set_raw_data(w->raw_data().substr(0, 5 * 200 * 4));
  auto g = parse_onnx(serialized(m), ".", "mismatch.onnx");
  std::string err;
  if (!g.ok()) {
    err = g.error();
  } else {
    try {
      specialize(*g, {{1, 3, 8, 8}});
    } catch (const Error& e) {
      err = e.what();
    }
  }
  ASSERT_FALSE(err.empty()) << "shape mismatch accepted";
  EXPECT_NE(err.find("fc"), std::string::npos) << err;
}

TEST(ImportErrors, WrongInputSize) {
  auto g = parse_onnx(serialized(small_model()), ".", "small.onnx");
  ASSERT_TRUE(g.ok());
  EXPECT_THROW(
      {
        try {
          specialize(*g, {{1, 3, 9, 8}});
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("expects [?,3,8,8]"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  Session s(*g, {BackendKind::Reference, 1});
  EXPECT_THROW(s.run({testing::random_tensor({1, 3, 8}, 1)}), Error);
  EXPECT_THROW(s.run({}), Error);
}

TEST(ImportErrors, InitializerWithWrongByteCount) {
  onnx::ModelProto m = small_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->set_raw_data(w->raw_data().substr(0, 10));
  auto g = parse_onnx(serialized(m), ".", "short.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().find("'w'"), std::string::npos) << g.error();
}

}  // namespace
}  // namespace teesplit
