// Builds the zoo's ONNX models directly as protobuf (see zoo.h for the contract).
#include "zoo/zoo.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include "zoo/zoo_proto.h"

namespace teesplit {
namespace {

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian; add a byte swap for this host");

constexpr const char* kZooVersion = "2";  // 2: EfficientNet Dropout ratio 0.2
// Keeps the serialized model under protobuf's 2 GiB message limit.
constexpr int64_t kMaxFloats = int64_t{480} * 1000 * 1000;

// A module path as torchvision names it, e.g. {"layer1", "0", "conv1"}.
using Path = std::vector<std::string>;

bool is_number(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "layer1.0.conv1": the state_dict prefix.
std::string param_prefix(const Path& p) {
  std::string out;
  for (const auto& part : p) out += (out.empty() ? "" : ".") + part;
  return out;
}

// "/layer1/layer1.0/conv1": the exporter's scope, where a Sequential child's
// component is "<parent component>.<index>".
std::string node_scope(const Path& p) {
  std::string out, comp;
  for (size_t i = 0; i < p.size(); ++i) {
    comp = (i > 0 && is_number(p[i])) ? comp + "." + p[i] : p[i];
    out += "/" + comp;
  }
  return out;
}

std::string format_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Uniform double in [0, 1) from the top 53 bits.
double unit(std::mt19937_64& rng) {
  return unit_double(rng());
}

// How an initializer is filled.
struct Init {
  enum Kind { Const, Normal, Uniform } kind = Const;
  double a = 0, b = 0;  // Const: a; Normal: mean a, std b; Uniform: [a, b)
  static Init constant(double v) { return {Const, v, 0}; }
  static Init normal(double mean, double std) { return {Normal, mean, std}; }
  static Init uniform(double lo, double hi) { return {Uniform, lo, hi}; }
};

// An activation flowing through the builder: value name and C x H x W (H = W = 1
// after Flatten, where C holds the features).
struct Act {
  std::string name;
  int64_t c = 0, h = 0, w = 0;
};

class Builder {
 public:
  // dry: count and check shapes only, allocate no weights.
  Builder(const ZooOptions& opts, bool dry) : opts_(opts), dry_(dry) {
    graph_ = model_.mutable_graph();
  }

  onnx::ModelProto& model() { return model_; }
  onnx::GraphProto& graph() { return *graph_; }
  int64_t params() const { return params_; }
  int64_t floats() const { return floats_; }

  Act conv(const Path& p, const Act& x, int64_t out, int64_t k, int64_t stride, int64_t pad,
           int64_t groups, bool bias) {
    TS_CHECK(x.c % groups == 0 && out % groups == 0, "zoo: ", node_scope(p), ": channels ", x.c,
             "->", out, " not divisible by groups ", groups);
    std::string prefix = param_prefix(p);
    const double fan_out = static_cast<double>(out * k * k);
    std::vector<std::string> in{x.name, prefix + ".weight"};
    add_init(in[1], {out, x.c / groups, k, k}, Init::normal(0, std::sqrt(2.0 / fan_out)));
    if (bias) {
      in.push_back(prefix + ".bias");
      add_init(in.back(), {out}, Init::constant(0));
    }
    auto* n = add_node(p, "Conv", in);
    set_ints(n, "dilations", {1, 1});
    set_int(n, "group", groups);
    set_ints(n, "kernel_shape", {k, k});
    set_ints(n, "pads", {pad, pad, pad, pad});
    set_ints(n, "strides", {stride, stride});
    return {n->output(0), out, spatial(p, x.h, k, stride, pad), spatial(p, x.w, k, stride, pad)};
  }

  Act batch_norm(const Path& p, const Act& x, double eps) {
    std::string prefix = param_prefix(p);
    std::vector<std::string> in{x.name, prefix + ".weight", prefix + ".bias",
                                prefix + ".running_mean", prefix + ".running_var"};
    if (opts_.randomize_bn) {
      add_init(in[1], {x.c}, Init::uniform(0.5, 1.5));
      add_init(in[2], {x.c}, Init::normal(0, 0.1));
      add_init(in[3], {x.c}, Init::normal(0, 0.1));
      add_init(in[4], {x.c}, Init::uniform(0.5, 1.5));
    } else {
      add_init(in[1], {x.c}, Init::constant(1));
      add_init(in[2], {x.c}, Init::constant(0));
      add_init(in[3], {x.c}, Init::constant(0));
      add_init(in[4], {x.c}, Init::constant(1));
    }
    auto* n = add_node(p, "BatchNormalization", in);
    set_float(n, "epsilon", eps);
    set_float(n, "momentum", 0.9);  // PyTorch's 0.1, in ONNX's convention
    return with_name(x, n->output(0));
  }

  Act relu(const Path& p, const Act& x) { return unary(p, "Relu", x); }
  Act sigmoid(const Path& p, const Act& x) { return unary(p, "Sigmoid", x); }
  // SiLU as the PyTorch exporter writes it: Mul(x, Sigmoid(x)).
  Act silu(const Path& p, const Act& x) {
    Act s = sigmoid(p, x);
    return with_name(x, add_node(p, "Mul", {x.name, s.name})->output(0));
  }
  // Dropout with drop probability `ratio` (ONNX's default 0.5 is left implicit): an
  // attribute before opset 12, a scalar Constant input from 12 on, as the PyTorch
  // exporter writes it.
  Act dropout(const Path& p, const Act& x, double ratio = 0.5) {
    if (ratio == 0.5) return unary(p, "Dropout", x);
    if (opts_.opset < 12) {
      auto* n = add_node(p, "Dropout", {x.name});
      set_float(n, "ratio", ratio);
      return with_name(x, n->output(0));
    }
    auto* c = add_node(p, "Constant", {});
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_float_data(static_cast<float>(ratio));
    return with_name(x, add_node(p, "Dropout", {x.name, c->output(0)})->output(0));
  }
  // Elementwise binary op; the result has b's shape (the broadcast one is a).
  Act binary(const Path& p, const std::string& op, const Act& a, const Act& b) {
    return with_name(b, add_node(p, op, {a.name, b.name})->output(0));
  }

  Act max_pool(const Path& p, const Act& x, int64_t k, int64_t stride, int64_t pad) {
    auto* n = add_node(p, "MaxPool", {x.name});
    set_int(n, "ceil_mode", 0);
    set_ints(n, "kernel_shape", {k, k});
    set_ints(n, "pads", {pad, pad, pad, pad});
    set_ints(n, "strides", {stride, stride});
    return {n->output(0), x.c, spatial(p, x.h, k, stride, pad), spatial(p, x.w, k, stride, pad)};
  }

  Act average_pool(const Path& p, const Act& x, int64_t k, int64_t stride) {
    auto* n = add_node(p, "AveragePool", {x.name});
    set_ints(n, "kernel_shape", {k, k});
    set_ints(n, "strides", {stride, stride});
    return {n->output(0), x.c, spatial(p, x.h, k, stride, 0), spatial(p, x.w, k, stride, 0)};
  }

  Act global_average_pool(const Path& p, const Act& x) {
    return {add_node(p, "GlobalAveragePool", {x.name})->output(0), x.c, 1, 1};
  }

  Act flatten(const Path& p, const Act& x) {
    auto* n = add_node(p, "Flatten", {x.name});
    set_int(n, "axis", 1);
    return {n->output(0), x.c * x.h * x.w, 1, 1};
  }

  // Linear layer as Gemm(X, W[out,in], B, transB=1).
  Act gemm(const Path& p, const Act& x, int64_t out, Init w, Init b, const std::string& output) {
    TS_CHECK(x.h == 1 && x.w == 1, "zoo: ", node_scope(p), ": Gemm on an unflattened input");
    std::string prefix = param_prefix(p);
    add_init(prefix + ".weight", {out, x.c}, w);
    add_init(prefix + ".bias", {out}, b);
    auto* n = add_node(p, "Gemm", {x.name, prefix + ".weight", prefix + ".bias"}, output);
    set_float(n, "alpha", 1.0);
    set_float(n, "beta", 1.0);
    set_int(n, "transB", 1);
    return {n->output(0), out, 1, 1};
  }

 private:
  Act unary(const Path& p, const std::string& op, const Act& x) {
    return with_name(x, add_node(p, op, {x.name})->output(0));
  }
  static Act with_name(Act a, std::string name) {
    a.name = std::move(name);
    return a;
  }

  int64_t spatial(const Path& p, int64_t in, int64_t k, int64_t stride, int64_t pad) {
    int64_t out = (in + 2 * pad - k) / stride + 1;
    TS_CHECK(in + 2 * pad >= k && out >= 1, "zoo: ", opts_.arch, ": input size ", opts_.input_size,
             " is too small: ", node_scope(p), " gets a ", in, "x", in, " map for a ", k, "x", k,
             " window");
    return out;
  }

  onnx::NodeProto* add_node(const Path& p, const std::string& op,
                            const std::vector<std::string>& inputs,
                            const std::string& output = {}) {
    std::string name = node_scope(p) + "/" + op;
    for (int i = 1; !node_names_.insert(name).second; ++i)
      name = node_scope(p) + "/" + op + "_" + std::to_string(i);
    auto* n = graph_->add_node();
    n->set_name(name);
    n->set_op_type(op);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(output.empty() ? name + "_output_0" : output);
    return n;
  }

  static void set_int(onnx::NodeProto* n, const char* name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void set_float(onnx::NodeProto* n, const char* name, double v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(static_cast<float>(v));
  }
  static void set_ints(onnx::NodeProto* n, const char* name, std::initializer_list<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }

  void add_init(const std::string& name, const std::vector<int64_t>& dims, Init init) {
    int64_t n = 1;
    for (int64_t d : dims) {
      TS_CHECK(d >= 1 && n <= kMaxFloats / d, "zoo: ", opts_.arch, ": initializer '", name,
               "' has over ", kMaxFloats, " weights, beyond protobuf's 2 GiB message limit");
      n *= d;
    }
    floats_ += n;
    TS_CHECK(floats_ <= kMaxFloats, "zoo: ", opts_.arch, " with these options has over ",
             kMaxFloats, " weights, beyond protobuf's 2 GiB message limit");
    bool buffer = name.ends_with(".running_mean") || name.ends_with(".running_var");
    if (!buffer) params_ += n;
    if (dry_) return;

    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    std::string* raw = t->mutable_raw_data();
    raw->resize(static_cast<size_t>(n) * sizeof(float));
    fill(raw->data(), n, init, splitmix64(opts_.seed ^ splitmix64(fnv1a(name))));
  }

  // Writes n little-endian floats drawn per `init` from a generator seeded with `seed`.
  static void fill(char* dst, int64_t n, Init init, uint64_t seed) {
    std::mt19937_64 rng(seed);
    constexpr int64_t kChunk = 4096;  // even, so Box-Muller pairs never straddle chunks
    float buf[kChunk];
    for (int64_t base = 0; base < n; base += kChunk) {
      int64_t m = std::min(kChunk, n - base);
      switch (init.kind) {
        case Init::Const:
          std::fill(buf, buf + m, static_cast<float>(init.a));
          break;
        case Init::Uniform:
          for (int64_t i = 0; i < m; ++i)
            buf[i] = static_cast<float>(init.a + (init.b - init.a) * unit(rng));
          break;
        case Init::Normal:
          for (int64_t i = 0; i < m; i += 2) {
            double u1 = 1.0 - unit(rng);  // (0, 1]
            double u2 = unit(rng);
            double r = std::sqrt(-2.0 * std::log(u1));
            double t = 2.0 * std::numbers::pi * u2;
            buf[i] = static_cast<float>(init.a + init.b * r * std::cos(t));
            if (i + 1 < m) buf[i + 1] = static_cast<float>(init.a + init.b * r * std::sin(t));
          }
          break;
      }
      std::memcpy(dst + base * sizeof(float), buf, static_cast<size_t>(m) * sizeof(float));
    }
  }

  const ZooOptions& opts_;
  bool dry_;
  onnx::ModelProto model_;
  onnx::GraphProto* graph_;
  std::set<std::string> node_names_;
  int64_t params_ = 0;
  int64_t floats_ = 0;
};

// Nearest multiple of 8, at least 8 (VGG and ResNet width scaling).
int64_t scale8(int64_t c, double width) {
  return std::max<int64_t>(8, static_cast<int64_t>(std::llround(c * width / 8.0)) * 8);
}

// torchvision's _make_divisible(v, divisor) with min_value = divisor.
int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t nv = std::max<int64_t>(
      divisor, static_cast<int64_t>(v + static_cast<double>(divisor) / 2) / divisor * divisor);
  if (static_cast<double>(nv) < 0.9 * v) nv += divisor;
  return nv;
}

Path join(Path p, std::initializer_list<std::string> more) {
  p.insert(p.end(), more);
  return p;
}
std::string str(int64_t i) {
  return std::to_string(i);
}

Act build_vgg16(Builder& b, Act x, const ZooOptions& o) {
  constexpr int64_t M = 0;  // max pool
  const int64_t cfg[] = {64, 64,  M,   128, 128, M,   256, 256, 256,
                         M,  512, 512, 512, M,   512, 512, 512, M};
  int64_t idx = 0;
  for (int64_t v : cfg) {
    if (v == M) {
      x = b.max_pool({"features", str(idx++)}, x, 2, 2, 0);
    } else {
      x = b.conv({"features", str(idx++)}, x, scale8(v, o.width), 3, 1, 1, 1, true);
      x = b.relu({"features", str(idx++)}, x);
    }
  }
  // AdaptiveAvgPool2d(7); see zoo.h for F != 7.
  const int64_t f = x.h;
  if (f > 7) {
    const int64_t s = f / 7;
    x = b.average_pool({"avgpool"}, x, f - 6 * s, s);
  }
  x = b.flatten({}, x);
  const int64_t hidden = scale8(4096, o.width);
  x = b.gemm({"classifier", "0"}, x, hidden, Init::normal(0, 0.01), Init::constant(0), {});
  x = b.relu({"classifier", "1"}, x);
  x = b.dropout({"classifier", "2"}, x);
  x = b.gemm({"classifier", "3"}, x, hidden, Init::normal(0, 0.01), Init::constant(0), {});
  x = b.relu({"classifier", "4"}, x);
  x = b.dropout({"classifier", "5"}, x);
  return b.gemm({"classifier", "6"}, x, o.classes, Init::normal(0, 0.01), Init::constant(0),
                "logits");
}

Act build_resnet50(Builder& b, Act x, const ZooOptions& o) {
  constexpr double kEps = 1e-5;
  x = b.conv({"conv1"}, x, scale8(64, o.width), 7, 2, 3, 1, false);
  x = b.batch_norm({"bn1"}, x, kEps);
  x = b.relu({"relu"}, x);
  x = b.max_pool({"maxpool"}, x, 3, 2, 1);
  const int64_t planes[] = {64, 128, 256, 512}, blocks[] = {3, 4, 6, 3}, strides[] = {1, 2, 2, 2};
  for (int layer = 0; layer < 4; ++layer) {
    const std::string lname = "layer" + str(layer + 1);
    const int64_t width = scale8(planes[layer], o.width), out = width * 4;
    for (int64_t i = 0; i < blocks[layer]; ++i) {
      const Path blk{lname, str(i)};
      const int64_t stride = i == 0 ? strides[layer] : 1;
      Act y = b.conv(join(blk, {"conv1"}), x, width, 1, 1, 0, 1, false);
      y = b.batch_norm(join(blk, {"bn1"}), y, kEps);
      y = b.relu(join(blk, {"relu"}), y);
      y = b.conv(join(blk, {"conv2"}), y, width, 3, stride, 1, 1, false);  // v1.5: stride here
      y = b.batch_norm(join(blk, {"bn2"}), y, kEps);
      y = b.relu(join(blk, {"relu_1"}), y);
      y = b.conv(join(blk, {"conv3"}), y, out, 1, 1, 0, 1, false);
      y = b.batch_norm(join(blk, {"bn3"}), y, kEps);
      Act identity = x;
      if (stride != 1 || x.c != out) {
        identity = b.conv(join(blk, {"downsample", "0"}), x, out, 1, stride, 0, 1, false);
        identity = b.batch_norm(join(blk, {"downsample", "1"}), identity, kEps);
      }
      y = b.binary(blk, "Add", y, identity);
      x = b.relu(join(blk, {"relu_2"}), y);
    }
  }
  x = b.global_average_pool({"avgpool"}, x);
  x = b.flatten({}, x);
  const double r = 1.0 / std::sqrt(static_cast<double>(x.c));
  return b.gemm({"fc"}, x, o.classes, Init::uniform(-r, r), Init::uniform(-r, r), "logits");
}

Act build_efficientnet_b0(Builder& b, Act x, const ZooOptions& o) {
  constexpr double kEps = 1e-5;  // torchvision 0.14's efficientnet_b0 (see zoo.h)
  struct Stage {
    int64_t expand, kernel, stride, in, out, layers;
  };
  const Stage stages[] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},
                          {6, 3, 2, 40, 80, 3},  {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4},
                          {6, 3, 1, 192, 320, 1}};
  auto adjust = [&](int64_t c) { return make_divisible(static_cast<double>(c) * o.width); };

  // features.0: Conv2dNormActivation(channels, 32, 3, stride 2) with SiLU.
  x = b.conv({"features", "0", "0"}, x, adjust(32), 3, 2, 1, 1, false);
  x = b.batch_norm({"features", "0", "1"}, x, kEps);
  x = b.silu({"features", "0", "2"}, x);
  int64_t feature = 1;
  for (const Stage& st : stages) {
    for (int64_t j = 0; j < st.layers; ++j) {
      const Path blk{"features", str(feature), str(j)};
      const int64_t in = adjust(j == 0 ? st.in : st.out), out = adjust(st.out);
      const int64_t stride = j == 0 ? st.stride : 1;
      const int64_t expanded = make_divisible(static_cast<double>(in * st.expand));
      int64_t idx = 0;
      Act y = x;
      if (expanded != in) {
        const Path m = join(blk, {"block", str(idx++)});
        y = b.conv(join(m, {"0"}), y, expanded, 1, 1, 0, 1, false);
        y = b.batch_norm(join(m, {"1"}), y, kEps);
        y = b.silu(join(m, {"2"}), y);
      }
      {  // depthwise
        const Path m = join(blk, {"block", str(idx++)});
        y = b.conv(join(m, {"0"}), y, expanded, st.kernel, stride, (st.kernel - 1) / 2, expanded,
                   false);
        y = b.batch_norm(join(m, {"1"}), y, kEps);
        y = b.silu(join(m, {"2"}), y);
      }
      {  // squeeze-excitation
        const Path m = join(blk, {"block", str(idx++)});
        const int64_t squeeze = std::max<int64_t>(1, in / 4);
        Act s = b.global_average_pool(join(m, {"avgpool"}), y);
        s = b.conv(join(m, {"fc1"}), s, squeeze, 1, 1, 0, 1, true);
        s = b.silu(join(m, {"activation"}), s);
        s = b.conv(join(m, {"fc2"}), s, expanded, 1, 1, 0, 1, true);
        s = b.sigmoid(join(m, {"scale_activation"}), s);
        y = b.binary(m, "Mul", s, y);
      }
      {  // projection, no activation
        const Path m = join(blk, {"block", str(idx++)});
        y = b.conv(join(m, {"0"}), y, out, 1, 1, 0, 1, false);
        y = b.batch_norm(join(m, {"1"}), y, kEps);
      }
      // Stochastic depth is the identity at inference.
      x = (stride == 1 && in == out) ? b.binary(blk, "Add", y, x) : y;
    }
    ++feature;
  }
  const Path last{"features", str(feature)};
  x = b.conv(join(last, {"0"}), x, 4 * adjust(320), 1, 1, 0, 1, false);
  x = b.batch_norm(join(last, {"1"}), x, kEps);
  x = b.silu(join(last, {"2"}), x);
  x = b.global_average_pool({"avgpool"}, x);
  x = b.flatten({}, x);
  x = b.dropout({"classifier", "0"}, x, 0.2);  // torchvision's efficientnet_b0: p = 0.2
  const double r = 1.0 / std::sqrt(static_cast<double>(o.classes));
  return b.gemm({"classifier", "1"}, x, o.classes, Init::uniform(-r, r), Init::constant(0),
                "logits");
}

void set_shape(onnx::ValueInfoProto* v, const std::string& name, bool dynamic,
               const std::vector<int64_t>& rest) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  if (dynamic)
    shape->add_dim()->set_dim_param("batch");
  else
    shape->add_dim()->set_dim_value(1);
  for (int64_t d : rest) shape->add_dim()->set_dim_value(d);
}

// Builds the whole model into b.
void build(Builder& b, const ZooOptions& o) {
  validate_zoo_options(o);
  Act x{"input", o.channels, o.input_size, o.input_size};
  Act y;
  if (o.arch == "vgg16")
    y = build_vgg16(b, x, o);
  else if (o.arch == "resnet50")
    y = build_resnet50(b, x, o);
  else
    y = build_efficientnet_b0(b, x, o);
  TS_CHECK(y.name == "logits" && y.c == o.classes, "zoo: internal error: bad output");

  auto& g = b.graph();
  g.set_name(o.arch);
  set_shape(g.add_input(), "input", o.dynamic_batch, {o.channels, o.input_size, o.input_size});
  set_shape(g.add_output(), "logits", o.dynamic_batch, {o.classes});

  auto& m = b.model();
  m.set_ir_version(8);
  m.set_producer_name("teesplit.zoo");
  m.set_producer_version(kZooVersion);
  m.set_doc_string("torchvision-0.14-shaped " + o.arch + " with seeded random weights");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(o.opset);
  auto meta = [&](const std::string& k, const std::string& v) {
    auto* p = m.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  };
  meta("arch", o.arch);
  meta("input_size", str(o.input_size));
  meta("channels", str(o.channels));
  meta("classes", str(o.classes));
  meta("width", format_double(o.width));
  meta("seed", std::to_string(o.seed));
  meta("randomize_bn", o.randomize_bn ? "1" : "0");
  meta("teesplit.zoo", kZooVersion);
}

}  // namespace

std::vector<std::string> zoo_archs() {
  return {"vgg16", "resnet50", "efficientnet_b0"};
}

void validate_zoo_options(const ZooOptions& o) {
  auto archs = zoo_archs();
  TS_CHECK(std::find(archs.begin(), archs.end(), o.arch) != archs.end(),
           "zoo: unknown architecture '", o.arch,
           "' (expected vgg16, resnet50 or efficientnet_b0)");
  TS_CHECK(o.input_size >= 32, "zoo: input size ", o.input_size, " is too small for ", o.arch,
           " (at least 32: the network downsamples by 32)");
  TS_CHECK(o.input_size <= 4096, "zoo: input size ", o.input_size, " is too large (at most 4096)");
  TS_CHECK(o.channels >= 1 && o.channels <= 4096, "zoo: channels must be in 1..4096, got ",
           o.channels);
  TS_CHECK(o.classes >= 1 && o.classes <= 1000000, "zoo: classes must be in 1..1000000, got ",
           o.classes);
  TS_CHECK(std::isfinite(o.width) && o.width > 0 && o.width <= 16,
           "zoo: width must be in (0, 16], got ", o.width);
  TS_CHECK(o.opset >= 11 && o.opset <= 17, "zoo: opset must be in 11..17, got ", o.opset);
}

int64_t zoo_parameter_count(const ZooOptions& opts) {
  Builder b(opts, /*dry=*/true);
  build(b, opts);
  return b.params();
}

onnx::ModelProto zoo_model_proto(const ZooOptions& opts) {
  // A dry run first: bad options and oversized models fail before any allocation.
  {
    Builder dry(opts, /*dry=*/true);
    build(dry, opts);
  }
  Builder b(opts, /*dry=*/false);
  build(b, opts);
  try {
    onnx::checker::check_model(b.model());
  } catch (const std::exception& e) {
    fail("zoo: the ONNX checker rejected ", opts.arch, ": ", e.what());
  }
  return std::move(b.model());
}

int64_t count_parameters(const onnx::ModelProto& model) {
  int64_t total = 0;
  for (const auto& t : model.graph().initializer()) {
    const std::string& name = t.name();
    if (name.ends_with(".running_mean") || name.ends_with(".running_var")) continue;
    int64_t n = 1;
    for (int64_t d : t.dims()) {
      TS_CHECK(d >= 0 && (d == 0 || n <= INT64_MAX / d), "count_parameters: initializer '", name,
               "' has bad dims");
      n *= d;
    }
    total += n;
  }
  return total;
}

std::string zoo_model_bytes(const ZooOptions& opts) {
  onnx::ModelProto m = zoo_model_proto(opts);
  std::string bytes;
  TS_CHECK(m.SerializeToString(&bytes), "zoo: serializing ", opts.arch, " failed");
  return bytes;
}

void write_zoo_model(const ZooOptions& opts, const std::string& path) {
  write_file(path, zoo_model_bytes(opts));
}

}  // namespace teesplit
