// The CUDA backend. Without a device only the planner tests run (fusion
// decisions, broadcast collapsing, the arena, the reasons for unsupported nodes,
// every operator case through the plan executed on the host, and with the
// backend compiled in, the error of compiling without a device). The planner
// (src/backends/cuda/plan.cpp) is plain C++: it is compiled into this test even
// without the CUDA toolkit, so these run everywhere. Every device test skips as
// missing hardware, with the reason cudaGetDeviceCount gave. On a GPU: every
// operator and fused pattern against the reference kernels (fp32 1e-4, TF32
// 1e-2 relative) and zoo models against the oneDNN CPU backend.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "backends/reference/reference_backend.h"
#include "core/limits.h"
#include "graph/cuts.h"
#include "graph/passes.h"
#include "host/split_io.h"
#include "onnx/onnx_import.h"
#include "ops/kernels.h"
#include "runtime/cut_profile.h"
#include "runtime/session.h"
#include "runtime/split_runner.h"
#include "support/graph_builder.h"
#include "support/test_support.h"
#include "zoo/zoo.h"

#include "backends/cuda/plan.h"  // built into this test without the toolkit (CMakeLists.txt)
#ifdef TEESPLIT_HAVE_CUDA
#include "backends/cuda/check.h"
#include "backends/cuda/cuda_backend.h"
#endif

namespace teesplit {
namespace {

using testing::random_tensor;
using testing::rel_error;
using Ints = std::vector<int64_t>;

#define SKIP_WITHOUT_DEVICE()                                                   \
  do {                                                                          \
    std::string why_;                                                           \
    if (!cuda_device_available(&why_))                                          \
      TS_SKIP_FOR_HARDWARE(testing::Hardware::Gpu, "no CUDA device: " << why_); \
  } while (0)

Attrs attrs(std::initializer_list<std::pair<std::string, Attr>> kv) {
  Attrs a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

// Small graphs by hand, with the names this file uses.
struct Net : testing::GraphBuilder {
  Net() { seed = 11; }
  int weights(const Shape& s, float scale = 1.f) { return rand_const(s, scale); }
  int op(const std::string& type, const std::vector<int>& ins, const Attrs& a = {}) {
    return node(type, ins, a);
  }
  Graph specialised(const std::vector<Shape>& shapes) const { return specialize(g, shapes); }
};

std::vector<Tensor> random_inputs(const std::vector<Shape>& shapes, uint64_t seed) {
  std::vector<Tensor> ins;
  for (const Shape& s : shapes) ins.push_back(random_tensor(s, seed++, -1.f, 1.f));
  return ins;
}

// Worst relative error of the CUDA backend against the reference kernels, over
// two runs with different inputs (the second must not see the first's state).
double cuda_error(const Net& net, const std::vector<Shape>& shapes, bool tf32 = false) {
  Graph spec = net.specialised(shapes);
  auto ref = make_reference_backend()->compile(spec, {});
  CompileOptions co;
  co.tf32 = tf32;
  auto exe = make_backend(BackendKind::Cuda)->compile(spec, co);
  double worst = 0;
  for (uint64_t seed : {100u, 900u}) {
    auto ins = random_inputs(shapes, seed);
    auto want = ref->run(ins);
    auto got = exe->run(ins);
    EXPECT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
      EXPECT_EQ(shape_str(got[i].shape()), shape_str(want[i].shape())) << "output " << i;
      if (got[i].shape() != want[i].shape()) return INFINITY;
      worst = std::max(worst, rel_error(got[i], want[i]));
    }
  }
  return worst;
}

// The operator cases below run twice: with the plan executed on the host
// (emulate(), no GPU needed) and on the device.
enum class Mode { Emulate, Device };
Mode g_mode = Mode::Device;
double plan_error(const Net& net, const std::vector<Shape>& shapes);

void expect_close(const Net& net, const std::vector<Shape>& shapes) {
  if (g_mode == Mode::Emulate) {
    EXPECT_LT(plan_error(net, shapes), 1e-4) << "emulated plan";
    return;
  }
  EXPECT_LT(cuda_error(net, shapes, false), 1e-4) << "fp32";
  EXPECT_LT(cuda_error(net, shapes, true), 1e-2) << "tf32";
}

// ---------------------------------------------------------------------------
// Without a device.

TEST(CudaBackend, ParseAndAvailability) {
  EXPECT_EQ(parse_backend("cuda"), BackendKind::Cuda);
  EXPECT_EQ(parse_backend("gpu"), BackendKind::Cuda);
  std::string why;
  const bool ok = cuda_device_available(&why);
  EXPECT_EQ(parse_backend("auto"), ok ? BackendKind::Cuda : BackendKind::OneDnn);
  if (!ok) {
    EXPECT_FALSE(why.empty());
  }
#ifndef TEESPLIT_HAVE_CUDA
  EXPECT_FALSE(ok);
  const std::string msg = testing::error_of([] { make_backend(BackendKind::Cuda); });
  EXPECT_NE(msg.find("built without the CUDA backend"), std::string::npos) << msg;
#endif
}

#ifdef TEESPLIT_HAVE_CUDA

TEST(CudaBackend, CompileWithoutDeviceIsAClearError) {
  std::string why;
  if (cuda_device_available(&why))
    TS_SKIP_FOR_HARDWARE(testing::Hardware::Gpu,
                         "this checks the error without a device, and a "
                         "CUDA device is present");
  Net n;
  int x = n.input({1, 3, 8, 8});
  n.output(n.op("Relu", {n.conv(x, 3, 4, 3)}));
  auto be = make_backend(BackendKind::Cuda);
  EXPECT_EQ(be->name(), "cuda");
  const std::string msg = testing::error_of([&] {
    be->compile(n.specialised({{1, 3, 8, 8}}), {});
  });
  EXPECT_NE(msg.find("no usable CUDA device"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cudaGetDeviceCount"), std::string::npos) << msg;
}

// A failing CUDA call becomes an Error naming the call, where it is and the
// runtime's reason (with or without a device: then the reason is the driver).
TEST(CudaBackend, FailingCallNamesTheCall) {
  const std::string msg = testing::error_of([] { TS_CUDA(cudaSetDevice(9999)); });
  EXPECT_NE(msg.find("cudaSetDevice(9999) failed at"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test_cuda.cpp:"), std::string::npos) << msg;
}

// A failed call's error is taken with it: the next kernel launch, which checks
// cudaGetLastError(), must not report it as its own (a device check saw
// cudaSetDevice(9999)'s "invalid device ordinal" fail the next Relu).
TEST(CudaBackend, AFailedCallDoesNotFailTheNextLaunch) {
  SKIP_WITHOUT_DEVICE();
  Net n;
  n.output(n.op("Relu", {n.input({2, 3})}));
  auto exe = make_backend(BackendKind::Cuda)->compile(n.specialised({{2, 3}}), {});
  const std::string msg = testing::error_of([] { TS_CUDA(cudaSetDevice(9999)); });
  EXPECT_NE(msg.find("cudaSetDevice(9999) failed at"), std::string::npos) << msg;
  const std::vector<Tensor> in = random_inputs({{2, 3}}, 5);
  EXPECT_NO_THROW(exe->run(in));
}

// Running out of device memory is an error that says what did not fit and how
// much is free; the device stays usable afterwards.
TEST(CudaBackend, OutOfDeviceMemoryIsAClearError) {
  SKIP_WITHOUT_DEVICE();
  Net n;
  // Each tensor at teesplit's limit (kMaxElements: 64 GiB of float32), and the
  // four inputs alive together with the sums: an arena of at least 256 GiB, more
  // than any GPU had in 2026 (an H200 has 141 GiB).
  const Shape big{1, 1 << 10, 1 << 12, 1 << 12};
  ASSERT_EQ(shape_numel(big), limits::kMaxElements);
  const int a = n.input(big), b = n.input(big), c = n.input(big), d = n.input(big);
  n.output(n.op("Add", {n.op("Add", {a, b}), n.op("Add", {c, d})}));
  const std::string msg = testing::error_of([&] {
    make_backend(BackendKind::Cuda)->compile(n.specialised({big, big, big, big}), {});
  });
  EXPECT_NE(msg.find("out of device memory"), std::string::npos) << msg;
  EXPECT_NE(msg.find("free of"), std::string::npos) << msg;
  Net small;
  small.output(small.op("Relu", {small.input({2, 3})}));
  EXPECT_LT(cuda_error(small, {{2, 3}}), 1e-6);
}

// TEESPLIT_CUDA_PROFILE=1: per-step device times printed when the executable goes.
TEST(CudaBackend, ProfilePrintsStepTimes) {
  SKIP_WITHOUT_DEVICE();
  Net n;
  int x = n.input({1, 3, 8, 8});
  n.output(n.op("Relu", {n.conv(x, 3, 4, 3)}));
  setenv("TEESPLIT_CUDA_PROFILE", "1", 1);
  ::testing::internal::CaptureStderr();
  {
    auto exe = make_backend(BackendKind::Cuda)->compile(n.specialised({{1, 3, 8, 8}}), {});
    exe->run(random_inputs({{1, 3, 8, 8}}, 3));
    EXPECT_GE(exe->stats().last_compute_ms, 0.0);
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  unsetenv("TEESPLIT_CUDA_PROFILE");
  EXPECT_NE(err.find("cuda profile: 1 steps"), std::string::npos) << err;
  EXPECT_NE(err.find("algo "), std::string::npos) << err;
}

// An input in the backend's own host memory (page-locked) is uploaded without
// the staging copy, and gives the same result as one in ordinary memory.
TEST(CudaBackend, PinnedInputsSkipTheStagingCopy) {
  SKIP_WITHOUT_DEVICE();
  Net n;
  int x = n.input({4, 3, 8, 8});
  n.output(n.op("Relu", {n.conv(x, 3, 4, 3)}));
  auto backend = make_backend(BackendKind::Cuda);
  auto exe = backend->compile(n.specialised({{4, 3, 8, 8}}), {});
  const Tensor plain = random_inputs({{4, 3, 8, 8}}, 3)[0];
  const Tensor want = exe->run({plain})[0];
  EXPECT_EQ(exe->stats().pinned_inputs, 0u);
  Tensor pinned = Tensor::adopt(DType::F32, plain.shape(), backend->host_buffer(plain.nbytes()));
  std::memcpy(pinned.raw(), plain.raw(), plain.nbytes());
  const Tensor got = exe->run({pinned})[0];
  EXPECT_EQ(exe->stats().pinned_inputs, 1u);
  EXPECT_EQ(max_relative_error(got, want), 0.0);
}

#endif  // TEESPLIT_HAVE_CUDA

// Without a GPU backend, host_buffer is ordinary aligned memory.
TEST(Backend, HostBufferDefaultsToAlignedMemory) {
  auto backend = make_backend(BackendKind::OneDnn);
  auto buf = backend->host_buffer(1000);
  ASSERT_NE(buf, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buf.get()) % 64, 0u);
  Tensor t = Tensor::adopt(DType::F32, {250}, buf);
  t.data<float>()[249] = 1.5f;
  EXPECT_EQ(t.nbytes(), 1000u);
  EXPECT_EQ(static_cast<const float*>(static_cast<const void*>(buf.get()))[249], 1.5f);
  EXPECT_THROW(Tensor::adopt(DType::F32, {4}, nullptr), Error);
}

std::vector<Tensor> emulate(const cuda::Plan& p, const std::vector<Tensor>& inputs);

std::vector<cuda::StepKind> kinds(const cuda::Plan& p) {
  std::vector<cuda::StepKind> k;
  for (const auto& s : p.steps) k.push_back(s.kind);
  return k;
}

TEST(CudaPlan, ConvBiasReluIsOneStep) {
  Net n;
  int x = n.input({1, 8, 9, 9});
  n.output(n.op("Relu", {n.conv(x, 8, 16, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))}));
  cuda::Plan p = cuda::make_plan(n.specialised({{1, 8, 9, 9}}));
  ASSERT_EQ(p.steps.size(), 1u) << cuda::describe(p);
  EXPECT_EQ(p.steps[0].kind, cuda::StepKind::Conv);
  EXPECT_EQ(p.steps[0].act.kind, cuda::Act::Relu);
  EXPECT_GE(p.steps[0].in[2], 0);   // bias
  EXPECT_EQ(p.steps[0].in[3], -1);  // no residual
  EXPECT_EQ(p.bufs[static_cast<size_t>(p.steps[0].out)].shape, (Shape{1, 16, 9, 9}));
}

// VGG-16's first classifier layer at batch 32: every operand fits cuBLAS's int
// sizes although m * n * k does not; a matrix that does not fit is refused.
TEST(CudaPlan, LargeGemmOperandsAreCheckedOneByOne) {
  Net n;
  int a = n.input({32, 25088});
  int b = n.input({25088, 4096});
  n.output(n.op("MatMul", {a, b}));
  cuda::Plan p = cuda::make_plan(n.specialised({{32, 25088}, {25088, 4096}}));
  ASSERT_EQ(p.steps.size(), 1u) << cuda::describe(p);
  EXPECT_EQ(p.steps[0].kind, cuda::StepKind::Gemm);
  Net big;
  int x = big.input({2, 1100000000});
  int w = big.input({1100000000, 2});
  big.output(big.op("MatMul", {x, w}));
  EXPECT_NE(testing::error_of([&] {
              cuda::make_plan(big.specialised({{2, 1100000000}, {1100000000, 2}}));
            }).find("too large for cuBLAS"),
            std::string::npos);
}

TEST(CudaPlan, ResidualAddFusesWhicheverConvComesSecond) {
  // Main path conv3 is lowered before the shortcut conv exists: the shortcut conv
  // (second) takes the Add and the Relu, with the main path output as z.
  Net n;
  int x = n.input({1, 16, 8, 8});
  int main = n.conv(n.op("Relu", {n.conv(x, 16, 8, 1)}), 8, 32, 1);
  int down = n.conv(x, 16, 32, 1);
  n.output(n.op("Relu", {n.op("Add", {main, down})}));
  cuda::Plan p = cuda::make_plan(n.specialised({{1, 16, 8, 8}}));
  ASSERT_EQ(p.steps.size(), 3u) << cuda::describe(p);
  const auto& last = p.steps[2];
  EXPECT_EQ(last.kind, cuda::StepKind::Conv);
  EXPECT_EQ(last.act.kind, cuda::Act::Relu);
  EXPECT_EQ(last.in[3], p.steps[1].out) << cuda::describe(p);
  EXPECT_EQ(p.outputs[0], last.out);
}

TEST(CudaPlan, SiluAndSqueezeExcitation) {
  Net n;
  int x = n.input({1, 24, 7, 7});
  int e = n.conv(x, 24, 24, 3, attrs({{"group", int64_t{24}}, {"pads", Ints{1, 1, 1, 1}}}));
  e = n.op("Mul", {e, n.op("Sigmoid", {e})});
  int s = n.op("GlobalAveragePool", {e});
  s = n.conv(s, 24, 6, 1);
  s = n.op("Mul", {n.op("Sigmoid", {s}), s});  // swapped operands
  s = n.op("Sigmoid", {n.conv(s, 6, 24, 1)});
  n.output(n.conv(n.op("Mul", {e, s}), 24, 16, 1));
  cuda::Plan p = cuda::make_plan(n.specialised({{1, 24, 7, 7}}));
  using K = cuda::StepKind;
  EXPECT_EQ(kinds(p),
            (std::vector<K>{K::Conv, K::GlobalPool, K::Conv, K::Conv, K::Binary, K::Conv}))
      << cuda::describe(p);
  EXPECT_EQ(p.steps[0].act.kind, cuda::Act::SiLU);
  EXPECT_EQ(p.steps[2].act.kind, cuda::Act::SiLU);
  EXPECT_EQ(p.steps[3].act.kind, cuda::Act::Sigmoid);
  // The channel scale collapses to [N*C, H*W] with b broadcast along H*W.
  const auto& m = p.steps[4];
  EXPECT_EQ(m.bin_ndim, 2);
  EXPECT_EQ(m.bin_dims[0], 24);
  EXPECT_EQ(m.bin_dims[1], 49);
  EXPECT_EQ(m.bin_b_stride[1], 0);
  EXPECT_EQ(m.bin_a_stride[1], 1);
}

// What the planner fuses with the shared activation rules (backends/activation.h):
// one activation per step, Clip without a bound as (-inf, inf) on that side,
// and a standalone SiLU only when x has no other reader.
TEST(CudaPlan, ActivationFusionDecisions) {
  {
    Net n;
    int x = n.input({1, 8, 5, 5});
    int y = n.op("Tanh", {n.op("Relu", {n.conv(x, 8, 8, 1)})});
    n.output(n.op("Clip", {n.conv(y, 8, 8, 1)}, attrs({{"max", 0.5f}})));
    cuda::Plan p = cuda::make_plan(n.specialised({{1, 8, 5, 5}}));
    using K = cuda::StepKind;
    ASSERT_EQ(kinds(p), (std::vector<K>{K::Conv, K::Unary, K::Conv})) << cuda::describe(p);
    EXPECT_EQ(p.steps[0].act.kind, cuda::Act::Relu);
    EXPECT_EQ(p.steps[1].act.kind, cuda::Act::Tanh);
    EXPECT_EQ(p.steps[2].act.kind, cuda::Act::Clip);
    EXPECT_EQ(p.steps[2].act.a, -INFINITY);
    EXPECT_EQ(p.steps[2].act.b, 0.5f);
  }
  for (int other : {0, 1, 2}) {
    Net n;  // standalone SiLU on a graph input; x also read by Neg (1) or an output (2)
    int x = n.input({2, 6});
    n.output(n.op("Mul", {x, n.op("Sigmoid", {x})}));
    if (other == 1) n.output(n.op("Neg", {x}));
    if (other == 2) n.output(x);
    cuda::Plan p = cuda::make_plan(n.specialised({{2, 6}}));
    ASSERT_GE(p.steps.size(), 1u);
    EXPECT_EQ(p.steps[0].act.kind, other ? cuda::Act::Sigmoid : cuda::Act::SiLU)
        << cuda::describe(p);
    EXPECT_EQ(p.steps.size(), other == 0 ? 1u : other == 1 ? 3u : 2u) << cuda::describe(p);
  }
}

TEST(CudaPlan, BinaryBroadcastCollapses) {
  Net n;
  int x = n.input({2, 5, 4, 3});
  int same = n.op("Add", {x, n.input({2, 5, 4, 3})});
  int row = n.op("Mul", {same, n.weights({3})});
  n.output(n.op("Sub", {n.weights({5, 1, 1}), row}));
  cuda::Plan p = cuda::make_plan(n.specialised({{2, 5, 4, 3}, {2, 5, 4, 3}}));
  ASSERT_EQ(p.steps.size(), 3u);
  EXPECT_EQ(p.steps[0].bin_ndim, 1);  // same shapes: flat
  EXPECT_EQ(p.steps[0].bin_dims[0], 120);
  EXPECT_EQ(p.steps[1].bin_ndim, 2);  // [40, 3], b = row
  EXPECT_EQ(p.steps[1].bin_b_stride[0], 0);
  const auto& s = p.steps[2];  // [2, 5, 12] with a = [5,1,1] broadcast on dims 0 and 2
  EXPECT_EQ(s.bin_ndim, 3);
  EXPECT_EQ(s.bin_a_stride[0], 0);
  EXPECT_EQ(s.bin_a_stride[1], 1);
  EXPECT_EQ(s.bin_a_stride[2], 0);
}

TEST(CudaPlan, ViewsShareStorageAndAsymmetricPadsAddAPadStep) {
  Net n;
  int x = n.input({1, 4, 9, 8});
  int y = n.conv(x, 4, 6, 3, attrs({{"pads", Ints{0, 1, 2, 0}}, {"strides", Ints{2, 2}}}));
  int f = n.op("Flatten", {y});
  n.output(n.op("Gemm", {f, n.weights({5, 6 * 5 * 4}), n.weights({5})},
                attrs({{"transB", int64_t{1}}})));
  cuda::Plan p = cuda::make_plan(n.specialised({{1, 4, 9, 8}}));
  using K = cuda::StepKind;
  ASSERT_EQ(kinds(p), (std::vector<K>{K::Pad, K::Conv, K::Gemm})) << cuda::describe(p);
  EXPECT_EQ(p.bufs[static_cast<size_t>(p.steps[0].out)].shape, (Shape{1, 4, 11, 9}));
  EXPECT_EQ(p.steps[1].conv.pad_top, 0);
  const int view = p.steps[2].in[0];
  EXPECT_EQ(p.root_of(view), p.steps[1].out);
  EXPECT_GE(p.steps[2].in[2], 0);  // C, broadcast to [1, 5]
  EXPECT_EQ(p.bufs[static_cast<size_t>(p.steps[2].in[2])].shape, (Shape{1, 5}));
}

TEST(CudaPlan, UnsupportedNodesNameTheReason) {
  {
    Net n;
    int x = n.input({2, 3});
    n.output(n.op("Transpose", {x}, attrs({{"perm", Ints{1, 0}}})));
    Graph g = n.specialised({{2, 3}});
    const std::string why = cuda::unsupported_reason(g, g.nodes[0]);
    EXPECT_NE(why.find("no CUDA kernel"), std::string::npos) << why;
    const std::string msg = testing::error_of([&] { cuda::make_plan(g); });
    EXPECT_NE(msg.find("Transpose"), std::string::npos) << msg;
  }
  {
    Net n;  // weights computed at run time
    int x = n.input({1, 2, 5, 5});
    int w = n.input({3, 2, 3, 3});
    n.output(n.op("Conv", {x, w}));
    Graph g = n.specialised({{1, 2, 5, 5}, {3, 2, 3, 3}});
    EXPECT_NE(cuda::unsupported_reason(g, g.nodes[0]).find("weights"), std::string::npos);
  }
}

// ReduceMean lowers to the global-pool step when it reduces the last axes, and
// says why not otherwise.
TEST(CudaPlan, ReduceMeanOverTheLastAxesIsAGlobalPool) {
  Net n;
  int x = n.input({2, 3, 4, 5});
  n.output(n.op("ReduceMean", {x, n.constant(Tensor::from<int64_t>({2}, {3, 2}))},
                attrs({{"keepdims", int64_t{0}}})));
  Graph g = n.specialised({{2, 3, 4, 5}});
  EXPECT_EQ(cuda::unsupported_reason(g, g.nodes[0]), "");
  const cuda::Plan p = cuda::make_plan(g);
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].kind, cuda::StepKind::GlobalPool);
  EXPECT_EQ(p.steps[0].planes, 6);
  EXPECT_EQ(p.steps[0].area, 20);
  EXPECT_FALSE(p.steps[0].pool_max);
  for (const Ints& axes : {Ints{1}, Ints{1, 3}, Ints{0}}) {
    Net m;
    m.output(m.op("ReduceMean", {m.input({2, 3, 4, 5})}, attrs({{"axes", axes}})));
    Graph h = m.specialised({{2, 3, 4, 5}});
    EXPECT_NE(cuda::unsupported_reason(h, h.nodes[0]).find("last axes"), std::string::npos);
  }
  Net e;  // no axes and noop_with_empty_axes: an identity, not a reduction
  e.output(e.op("ReduceMean", {e.input({2, 3})}, attrs({{"noop_with_empty_axes", int64_t{1}}})));
  Graph h = e.specialised({{2, 3}});
  EXPECT_NE(cuda::unsupported_reason(h, h.nodes[0]), "");
}

TEST(CudaPlan, ArenaNeverOverlapsLiveBuffers) {
  std::vector<BufferRequest> reqs;
  uint64_t s = 1;
  for (int i = 0; i < 60; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const int first = static_cast<int>((s >> 33) % 40);
    const int len = static_cast<int>((s >> 20) % 8);
    reqs.push_back({static_cast<size_t>((s >> 40) % 5000 + 1), first, first + len});
  }
  const ArenaPlan plan = plan_arena(reqs, 256);
  const std::vector<size_t>& off = plan.offsets;
  const size_t total = plan.total;
  size_t sum = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(off[i] % 256, 0u);
    EXPECT_LE(off[i] + reqs[i].bytes, total);
    sum += (reqs[i].bytes + 255) / 256 * 256;
    for (size_t j = 0; j < i; ++j) {
      const bool live = reqs[i].first <= reqs[j].last && reqs[j].first <= reqs[i].last;
      const bool overlap = off[i] < off[j] + reqs[j].bytes && off[j] < off[i] + reqs[i].bytes;
      EXPECT_FALSE(live && overlap) << i << " and " << j;
    }
  }
  EXPECT_LT(total, sum);  // some reuse happened
}

TEST(CudaPlan, ConvChainReusesArena) {
  Net n;
  int x = n.input({1, 16, 32, 32});
  int y = x;
  for (int i = 0; i < 6; ++i)
    y = n.op("Relu", {n.conv(y, 16, 16, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))});
  n.output(y);
  cuda::Plan p = cuda::make_plan(n.specialised({{1, 16, 32, 32}}));
  EXPECT_EQ(p.steps.size(), 6u);
  const size_t one = 16 * 32 * 32 * 4;
  EXPECT_LE(p.arena_bytes, 3 * one) << cuda::describe(p);
}

TEST(CudaPlan, ZooModelsPlanCompletely) {
  for (const char* arch : {"vgg16", "resnet50", "efficientnet_b0"}) {
    ZooOptions o;
    o.arch = arch;
    o.input_size = 32;
    o.width = 0.25;
    o.classes = 10;
    auto g = parse_onnx(zoo_model_bytes(o), ".", arch);
    ASSERT_TRUE(g.ok()) << g.error();
    Graph spec = specialize(*g, default_input_shapes(*g, 2));
    cuda::Plan p;
    ASSERT_NO_THROW(p = cuda::make_plan(spec)) << arch;
    for (const Node& nd : spec.nodes)
      EXPECT_EQ(cuda::unsupported_reason(spec, nd), "") << arch << " " << nd.name;
    size_t convs = 0, graph_convs = 0;
    for (const auto& s : p.steps) convs += s.kind == cuda::StepKind::Conv;
    for (const Node& nd : spec.nodes) graph_convs += nd.op == "Conv";
    EXPECT_EQ(convs, graph_convs) << arch;
    EXPECT_LT(p.steps.size(), spec.nodes.size()) << arch << ": nothing was fused";
    // The plan, executed on the host, computes what the reference kernels do.
    std::vector<Tensor> in{random_tensor(spec.value(spec.inputs[0]).shape, 3)};
    Tensor want = make_reference_backend()->compile(spec, {})->run(in)[0];
    EXPECT_LT(rel_error(emulate(p, in)[0], want), 1e-4) << arch;
  }
}

// ---- the plan executed on the host ----
// An independent host implementation of every step kind, run over a byte arena
// laid out exactly as the plan says (unwritten bytes are NaN). Against the
// reference backend this checks what the planner decides without a GPU: fusion
// semantics, broadcast strides, Gemm C handling, views and arena reuse.

float host_act(const cuda::ActSpec& a, float x) {
  using cuda::Act;
  switch (a.kind) {
    case Act::None:
      return x;
    case Act::Relu:
      return std::max(x, 0.f);
    case Act::LeakyRelu:
      return x >= 0 ? x : a.a * x;
    case Act::Clip:
      return std::min(std::max(x, a.a), a.b);
    case Act::Sigmoid:
      return 1.f / (1.f + std::exp(-x));
    case Act::HardSigmoid:
      return std::clamp(a.a * x + a.b, 0.f, 1.f);
    case Act::HardSwish:
      return x * std::clamp(x / 6.f + 0.5f, 0.f, 1.f);
    case Act::SiLU:
      return x / (1.f + std::exp(-x));
    case Act::Tanh:
      return std::tanh(x);
    case Act::Exp:
      return std::exp(x);
    case Act::Neg:
      return -x;
    case Act::Sqrt:
      return std::sqrt(x);
  }
  return x;
}

std::vector<Tensor> emulate(const cuda::Plan& p, const std::vector<Tensor>& inputs) {
  std::vector<float> arena(p.arena_bytes / 4 + 1, NAN), consts(p.constant_bytes / 4 + 1, NAN);
  for (const auto& b : p.bufs) {
    EXPECT_EQ(b.offset % 256, 0u);
    if (b.constant >= 0 && b.root < 0) {
      const Tensor& t = p.constants[static_cast<size_t>(b.constant)];
      std::copy_n(t.data<float>(), t.numel(), consts.data() + b.offset / 4);
    }
  }
  auto ptr = [&](int b) -> float* {
    if (b < 0) return nullptr;
    const auto& r = p.bufs[static_cast<size_t>(p.root_of(b))];
    return (r.constant >= 0 ? consts.data() : arena.data()) + r.offset / 4;
  };
  auto tensor = [&](int b, const Shape& s) {
    Tensor t(DType::F32, s);
    std::copy_n(ptr(b), t.numel(), t.data<float>());
    return t;
  };
  auto shape = [&](int b) { return p.bufs[static_cast<size_t>(b)].shape; };
  for (size_t i = 0; i < inputs.size(); ++i)
    std::copy_n(inputs[i].data<float>(), inputs[i].numel(), ptr(p.inputs[i]));
  for (const cuda::Step& s : p.steps) {
    float* y = ptr(s.out);
    const int64_t count = shape_numel(shape(s.out));
    switch (s.kind) {
      case cuda::StepKind::Conv: {
        const ConvParams& c = s.conv;
        Attrs a;
        a.set("pads", Ints{c.pad_top, c.pad_left, c.pad_bottom, c.pad_right});
        a.set("strides", Ints{c.stride_h, c.stride_w});
        a.set("dilations", Ints{c.dil_h, c.dil_w});
        a.set("group", c.group);
        Tensor x = tensor(s.in[0], {c.n, c.c, c.h, c.w}), w = tensor(s.in[1], shape(s.in[1]));
        std::vector<const Tensor*> ins{&x, &w};
        Tensor bias;
        if (s.in[2] >= 0) {
          bias = tensor(s.in[2], shape(s.in[2]));
          ins.push_back(&bias);
        }
        Tensor r = run_op("Conv", a, ins)[0];
        EXPECT_EQ(r.numel(), count);
        const float* z = ptr(s.in[3]);
        for (int64_t i = 0; i < count; ++i)
          y[i] = host_act(s.act, r.data<float>()[i] + (z ? z[i] : 0.f));
        break;
      }
      case cuda::StepKind::Pad: {
        const ConvParams& c = s.conv;
        const float* x = ptr(s.in[0]);
        const int64_t oh = c.h + c.pad_top + c.pad_bottom, ow = c.w + c.pad_left + c.pad_right;
        for (int64_t pl = 0; pl < c.n * c.c; ++pl)
          for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
              const int64_t si = i - c.pad_top, sj = j - c.pad_left;
              y[(pl * oh + i) * ow + j] =
                  si >= 0 && si < c.h && sj >= 0 && sj < c.w ? x[(pl * c.h + si) * c.w + sj] : 0.f;
            }
        break;
      }
      case cuda::StepKind::Pool: {
        const PoolParams& q = s.pool;
        Attrs a;
        a.set("kernel_shape", Ints{q.kh, q.kw});
        a.set("pads", Ints{q.pad_top, q.pad_left, q.pad_bottom, q.pad_right});
        a.set("strides", Ints{q.stride_h, q.stride_w});
        a.set("dilations", Ints{q.dil_h, q.dil_w});
        a.set("ceil_mode", int64_t{q.ceil_mode});
        if (!s.pool_max) a.set("count_include_pad", int64_t{q.count_include_pad});
        Tensor x = tensor(s.in[0], {q.n, q.c, q.h, q.w});
        Tensor r = run_op(s.pool_max ? "MaxPool" : "AveragePool", a, {&x})[0];
        EXPECT_EQ(r.numel(), count);
        std::copy_n(r.data<float>(), count, y);
        break;
      }
      case cuda::StepKind::GlobalPool: {
        const float* x = ptr(s.in[0]);
        for (int64_t pl = 0; pl < s.planes; ++pl) {
          double acc = s.pool_max ? -INFINITY : 0.0;
          for (int64_t i = 0; i < s.area; ++i)
            acc = s.pool_max ? std::max<double>(acc, x[pl * s.area + i]) : acc + x[pl * s.area + i];
          y[pl] = static_cast<float>(s.pool_max ? acc : acc / static_cast<double>(s.area));
        }
        break;
      }
      case cuda::StepKind::Unary: {
        EXPECT_EQ(s.count, count);
        std::vector<float> x(ptr(s.in[0]), ptr(s.in[0]) + count);
        for (int64_t i = 0; i < count; ++i) y[i] = host_act(s.act, x[i]);
        break;
      }
      case cuda::StepKind::Binary: {
        const float *a = ptr(s.in[0]), *b = ptr(s.in[1]);
        std::vector<float> out(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) {
          int64_t rest = i, ia = 0, ib = 0;
          for (int d = s.bin_ndim - 1; d >= 0; --d) {
            const int64_t k = rest % s.bin_dims[d];
            rest /= s.bin_dims[d];
            ia += k * s.bin_a_stride[d];
            ib += k * s.bin_b_stride[d];
          }
          const float u = a[ia], v = b[ib];
          const float r = s.bin_op == 0   ? u + v
                          : s.bin_op == 1 ? u - v
                          : s.bin_op == 2 ? u * v
                                          : u / v;
          out[static_cast<size_t>(i)] = host_act(s.act, r);
        }
        std::copy(out.begin(), out.end(), y);
        break;
      }
      case cuda::StepKind::Gemm: {
        const float *a = ptr(s.in[0]), *b = ptr(s.in[1]), *c = ptr(s.in[2]);
        for (int64_t i = 0; i < s.m; ++i)
          for (int64_t j = 0; j < s.n; ++j) {
            double acc = 0;
            for (int64_t k = 0; k < s.k; ++k)
              acc += double(s.trans_a ? a[k * s.m + i] : a[i * s.k + k]) *
                     (s.trans_b ? b[j * s.k + k] : b[k * s.n + j]);
            const float v = static_cast<float>(s.alpha * acc) + (c ? c[i * s.n + j] : 0.f);
            y[i * s.n + j] = host_act(s.act, v);
          }
        break;
      }
      case cuda::StepKind::Softmax: {
        const float* x = ptr(s.in[0]);
        for (int64_t o = 0; o < s.outer; ++o)
          for (int64_t in = 0; in < s.inner; ++in) {
            auto at = [&](int64_t k) { return (o * s.axis_len + k) * s.inner + in; };
            float mx = -INFINITY;
            for (int64_t k = 0; k < s.axis_len; ++k) mx = std::max(mx, x[at(k)]);
            double sum = 0;
            for (int64_t k = 0; k < s.axis_len; ++k) sum += std::exp(double(x[at(k)] - mx));
            for (int64_t k = 0; k < s.axis_len; ++k)
              y[at(k)] = static_cast<float>(std::exp(double(x[at(k)] - mx)) / sum);
          }
        break;
      }
    }
  }
  std::vector<Tensor> out;
  for (size_t i = 0; i < p.outputs.size(); ++i)
    out.push_back(p.outputs[i] < 0 ? p.constant_outputs[i]
                                   : tensor(p.outputs[i], shape(p.outputs[i])));
  return out;
}

// Worst relative error of the emulated plan against the reference backend.
double plan_error(const Net& net, const std::vector<Shape>& shapes) {
  Graph spec = net.specialised(shapes);
  cuda::Plan p = cuda::make_plan(spec);
  auto ref = make_reference_backend()->compile(spec, {});
  auto ins = random_inputs(shapes, 100);
  auto want = ref->run(ins);
  auto got = emulate(p, ins);
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(shape_str(got[i].shape()), shape_str(want[i].shape()));
    if (got[i].shape() != want[i].shape()) return INFINITY;
    worst = std::max(worst, rel_error(got[i], want[i]));
  }
  return worst;
}

// ---------------------------------------------------------------------------
// On a device: operators against the reference kernels.

void case_ConvVariants() {
  {
    Net n;
    int x = n.input({1, 3, 7, 9});
    n.output(n.conv(x, 3, 5, 3, attrs({{"pads", Ints{1, 1, 1, 1}}})));
    expect_close(n, {{1, 3, 7, 9}});
  }
  {
    Net n;  // stride 2, asymmetric pads: a Pad step first
    int x = n.input({2, 5, 13, 11});
    n.output(n.conv(x, 5, 7, 3, attrs({{"strides", Ints{2, 2}}, {"pads", Ints{0, 1, 2, 0}}})));
    expect_close(n, {{2, 5, 13, 11}});
  }
  {
    Net n;  // dilation, no bias
    int x = n.input({1, 20, 13, 11});
    n.output(n.conv(x, 20, 24, 3, attrs({{"dilations", Ints{2, 2}}, {"pads", Ints{2, 2, 2, 2}}}),
                    false));
    expect_close(n, {{1, 20, 13, 11}});
  }
  {
    Net n;  // SAME_UPPER with stride 2 on odd sizes
    int x = n.input({1, 16, 13, 11});
    n.output(n.conv(x, 16, 32, 3,
                    attrs({{"auto_pad", std::string("SAME_UPPER")}, {"strides", Ints{2, 2}}})));
    expect_close(n, {{1, 16, 13, 11}});
  }
  {
    Net n;  // groups and depthwise
    int x = n.input({2, 6, 9, 7});
    int y = n.conv(x, 6, 8, 3, attrs({{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}}));
    int z =
        n.conv(y, 8, 8, 5,
               attrs({{"group", int64_t{8}}, {"strides", Ints{2, 2}}, {"pads", Ints{2, 2, 2, 2}}}));
    n.output(z);
    expect_close(n, {{2, 6, 9, 7}});
  }
  {
    Net n;  // 7x7 stride 2 stem + relu, and a relu without bias
    int x = n.input({1, 3, 33, 31});
    int y =
        n.op("Relu",
             {n.conv(x, 3, 32, 7, attrs({{"strides", Ints{2, 2}}, {"pads", Ints{3, 3, 3, 3}}}))});
    n.output(n.op("Relu", {n.conv(y, 32, 16, 1, {}, false)}));
    expect_close(n, {{1, 3, 33, 31}});
  }
}

void case_ConvActivations() {
  for (std::string act :
       {"Relu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "SiLU"}) {
    Net n;
    int x = n.input({2, 20, 9, 11});
    int y = n.conv(x, 20, 32, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}));
    int z;
    if (act == "Clip")
      z = n.op("Clip",
               {y, n.constant(Tensor::scalar_f32(0.f)), n.constant(Tensor::scalar_f32(6.f))});
    else if (act == "SiLU")
      z = n.op("Mul", {y, n.op("Sigmoid", {y})});
    else if (act == "HardSigmoid")
      z = n.op("HardSigmoid", {y}, attrs({{"alpha", 0.3f}, {"beta", 0.4f}}));
    else if (act == "LeakyRelu")
      z = n.op("LeakyRelu", {y}, attrs({{"alpha", 0.1f}}));
    else
      z = n.op(act, {y});
    n.output(z);
    SCOPED_TRACE(act);
    expect_close(n, {{2, 20, 9, 11}});
  }
}

void case_ResidualBlocks() {
  {
    Net n;  // identity shortcut (fused z), then a second block on the fused result
    int x = n.input({1, 32, 10, 9});
    int stem = n.op("Relu", {n.conv(x, 32, 32, 1)});
    int y = n.op("Relu", {n.conv(stem, 32, 32, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))});
    int s = n.op("Relu", {n.op("Add", {n.conv(y, 32, 32, 1), stem})});
    int z2 = n.conv(n.op("Relu", {n.conv(s, 32, 32, 1)}), 32, 32, 1);
    n.output(n.op("Relu", {n.op("Add", {s, z2})}));
    expect_close(n, {{1, 32, 10, 9}});
  }
  {
    Net n;  // downsample shortcut conv after the main path; Add without Relu
    int x = n.input({2, 16, 12, 10});
    int main = n.conv(
        n.op("Relu",
             {n.conv(x, 16, 24, 3, attrs({{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}))}),
        24, 48, 1);
    int down = n.conv(x, 16, 48, 1, attrs({{"strides", Ints{2, 2}}}));
    n.output(n.op("Add", {main, down}));
    expect_close(n, {{2, 16, 12, 10}});
  }
  {
    Net n;  // the shortcut is read again after the Add
    int x = n.input({1, 16, 8, 8});
    int a = n.op("Relu", {n.conv(x, 16, 16, 1)});
    int s = n.op("Add", {n.conv(a, 16, 16, 3, attrs({{"pads", Ints{1, 1, 1, 1}}})), a});
    n.output(n.op("Mul", {s, a}));
    expect_close(n, {{1, 16, 8, 8}});
  }
}

void case_SqueezeExcitation() {
  for (int64_t c : {32, 144}) {
    Net n;
    int x = n.input({2, c, 9, 9});
    int e = n.conv(x, c, c, 3, attrs({{"group", c}, {"pads", Ints{1, 1, 1, 1}}}));
    e = n.op("Mul", {e, n.op("Sigmoid", {e})});
    int r = n.conv(n.op("GlobalAveragePool", {e}), c, 8, 1);
    r = n.op("Mul", {r, n.op("Sigmoid", {r})});
    int s = n.op("Sigmoid", {n.conv(r, 8, c, 1)});
    n.output(n.conv(n.op("Mul", {e, s}), c, 24, 1));
    SCOPED_TRACE(c);
    expect_close(n, {{2, c, 9, 9}});
  }
}

void case_BinaryBroadcastsAndStandaloneActivations() {
  {
    Net n;
    int x = n.input({2, 5, 4, 3});
    int y = n.input({5, 1, 1});
    int a = n.op("Add", {x, y});
    int m = n.op("Mul", {a, n.weights({1, 5, 4, 3})});
    int s = n.op("Sub", {m, n.weights({3})});
    int d = n.op("Div", {s, n.constant(Tensor::from<float>({1}, {1.7f}))});
    int r = n.op("Add", {n.weights({4, 3}), d});
    n.output(n.op("Relu", {r}));
    expect_close(n, {{2, 5, 4, 3}, {5, 1, 1}});
  }
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Exp", "Neg", "HardSwish", "HardSigmoid"}) {
    Net n;
    int x = n.input({2, 3, 5});
    n.output(n.op(op, {x}));
    SCOPED_TRACE(op);
    expect_close(n, {{2, 3, 5}});
  }
  Net n;
  int x = n.input({3, 7});
  n.output(n.op("Sqrt", {n.op("Clip", {x, n.constant(Tensor::scalar_f32(0.1f))})}));
  int y = n.input({3, 7});
  n.output(n.op("Mul", {y, n.op("Sigmoid", {y})}));  // standalone SiLU
  expect_close(n, {{3, 7}, {3, 7}});
}

// The shared activation rules as the CUDA planner applies them (one activation
// per step; Abs has no kernel): chains, bound-less Clip, SiLU with other readers.
void case_ActivationChainsAndSiluReaders() {
  const Attrs pad1 = attrs({{"pads", Ints{1, 1, 1, 1}}});
  {
    Net n;
    int x = n.input({1, 16, 7, 6});
    int y = n.op("Relu", {n.conv(x, 16, 16, 3, pad1)});
    y = n.op("Tanh", {n.op("Sigmoid", {y})});
    n.output(y);
    n.output(n.op("Clip", {n.conv(y, 16, 16, 1)}, attrs({{"min", -0.2f}, {"max", 0.3f}})));
    n.output(n.op("Clip", {n.op("Conv", {y, n.weights({8, 16, 1, 1}, 3.f)})}));  // beyond +-1
    expect_close(n, {{1, 16, 7, 6}});
  }
  {
    Net n;
    int x = n.input({2, 16, 5, 5});
    n.output(n.op("Mul", {x, n.op("Sigmoid", {x})}));
    n.output(n.op("Neg", {x}));
    int y = n.conv(x, 16, 16, 3, pad1);
    int s = n.op("Sigmoid", {y});
    n.output(n.op("Mul", {s, y}));
    n.output(s);
    expect_close(n, {{2, 16, 5, 5}});
  }
}

void case_Pooling() {
  {
    Net n;  // cuDNN max pool (ResNet stem), and ceil mode (kernel)
    int x = n.input({1, 16, 14, 13});
    n.output(n.op(
        "MaxPool", {x},
        attrs(
            {{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}})));
    n.output(n.op(
        "MaxPool", {x},
        attrs({{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}})));
    n.output(n.op("MaxPool", {x}, attrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}})));
    expect_close(n, {{1, 16, 14, 13}});
  }
  for (int64_t include : {0, 1}) {
    for (int64_t ceil : {0, 1}) {
      for (bool symmetric : {true, false}) {
        Net n;
        int x = n.input({2, 5, 13, 11});
        n.output(n.op("AveragePool", {x},
                      attrs({{"kernel_shape", Ints{3, 3}},
                             {"strides", Ints{2, 2}},
                             {"pads", symmetric ? Ints{1, 1, 1, 1} : Ints{1, 0, 1, 1}},
                             {"count_include_pad", include},
                             {"ceil_mode", ceil}})));
        SCOPED_TRACE("include_pad " + std::to_string(include) + " ceil " + std::to_string(ceil) +
                     (symmetric ? " symmetric" : " asymmetric"));
        expect_close(n, {{2, 5, 13, 11}});
      }
    }
  }
  Net n;
  int x = n.input({2, 20, 7, 6});
  n.output(n.op("GlobalAveragePool", {x}));
  n.output(n.op("GlobalMaxPool", {x}));
  int big = n.input({1, 8, 112, 112});
  n.output(n.op("GlobalAveragePool", {big}));
  expect_close(n, {{2, 20, 7, 6}, {1, 8, 112, 112}});
  // ReduceMean over the last axes is the same per-plane mean: axes as an
  // attribute (opset 13) or a constant input (opset 18), keepdims on or off,
  // negative axes, all axes.
  Net r;
  int y = r.input({2, 20, 7, 6});
  r.output(r.op("ReduceMean", {y}, attrs({{"axes", Ints{2, 3}}})));
  r.output(r.op("ReduceMean", {y, r.constant(Tensor::from<int64_t>({2}, {-1, -2}))},
                attrs({{"keepdims", int64_t{0}}})));
  r.output(r.op("ReduceMean", {y, r.constant(Tensor::from<int64_t>({1}, {3}))}));
  r.output(r.op("ReduceMean", {y}, attrs({{"keepdims", int64_t{0}}})));
  expect_close(r, {{2, 20, 7, 6}});
}

void case_GemmMatMulSoftmaxViews() {
  {
    Net n;
    int x = n.input({3, 37});
    int y =
        n.op("Gemm", {x, n.weights({11, 37}), n.weights({11})}, attrs({{"transB", int64_t{1}}}));
    n.output(n.op("Relu", {y}));
    expect_close(n, {{3, 37}});
  }
  {
    Net n;
    int x = n.input({2, 13});
    n.output(n.op("Gemm", {x, n.weights({13, 9}), n.weights({1, 9})},
                  attrs({{"alpha", 0.5f}, {"beta", 2.0f}})));
    int t = n.input({13, 2});
    n.output(
        n.op("Gemm", {t, n.weights({13, 9}), n.weights({2, 9})}, attrs({{"transA", int64_t{1}}})));
    expect_close(n, {{2, 13}, {13, 2}});
  }
  {
    Net n;
    int x = n.input({2, 4, 10});
    int y = n.op("MatMul", {x, n.weights({10, 6})});
    n.output(n.op("Add", {y, n.weights({6})}));
    expect_close(n, {{2, 4, 10}});
  }
  {
    Net n;
    int x = n.input({3, 10});
    n.output(n.op("Softmax", {x}));
    int y = n.input({2, 3, 4});
    n.output(n.op("Softmax", {y}, attrs({{"axis", int64_t{1}}})));
    n.output(n.op("Softmax", {y}, attrs({{"axis", int64_t{1}}, {"_legacy_flatten", int64_t{1}}})));
    expect_close(n, {{3, 10}, {2, 3, 4}});
  }
  {
    Net n;  // classifier head: conv, pool, flatten, gemm, softmax; a view as output
    int x = n.input({2, 16, 9, 9});
    int y = n.op("Relu", {n.conv(x, 16, 32, 3, attrs({{"pads", Ints{1, 1, 1, 1}}}))});
    int p = n.op("MaxPool", {y}, attrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}));
    int f = n.op("Flatten", {p});
    n.output(f);
    int h = n.op("Relu", {n.op("Gemm", {f, n.weights({20, 32 * 4 * 4}, 0.05f), n.weights({20})},
                               attrs({{"transB", int64_t{1}}}))});
    n.output(n.op("Softmax", {n.op("Gemm", {h, n.weights({20, 7}), n.weights({7})})}));
    expect_close(n, {{2, 16, 9, 9}});
  }
  {
    Net n;  // an input that is also an output
    int x = n.input({2, 3});
    n.output(x);
    n.output(n.op("Relu", {x}));
    expect_close(n, {{2, 3}});
  }
}

struct OpCase {
  const char* name;
  void (*fn)();
};

void PrintTo(const OpCase& c, std::ostream* os) {
  *os << c.name;
}

class CudaOpCases : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaOpCases, EmulatedPlanMatchesReference) {
  g_mode = Mode::Emulate;
  GetParam().fn();
}

TEST_P(CudaOpCases, DeviceMatchesReference) {
  SKIP_WITHOUT_DEVICE();
  g_mode = Mode::Device;
  GetParam().fn();
}

INSTANTIATE_TEST_SUITE_P(
    Cuda, CudaOpCases,
    ::testing::Values(OpCase{"ConvVariants", case_ConvVariants},
                      OpCase{"ConvActivations", case_ConvActivations},
                      OpCase{"ResidualBlocks", case_ResidualBlocks},
                      OpCase{"SqueezeExcitation", case_SqueezeExcitation},
                      OpCase{"Binary", case_BinaryBroadcastsAndStandaloneActivations},
                      OpCase{"ActivationChains", case_ActivationChainsAndSiluReaders},
                      OpCase{"Pooling", case_Pooling},
                      OpCase{"GemmMatMulSoftmaxViews", case_GemmMatMulSoftmaxViews}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CudaOps, WrongInputsAreErrors) {
  SKIP_WITHOUT_DEVICE();
  Net n;
  int x = n.input({1, 3, 8, 8});
  n.output(n.op("Relu", {n.conv(x, 3, 4, 3)}));
  auto exe = make_backend(BackendKind::Cuda)->compile(n.specialised({{1, 3, 8, 8}}), {});
  EXPECT_THROW(exe->run({random_tensor({1, 3, 8, 9}, 1)}), Error);
  EXPECT_THROW(exe->run({}), Error);
  EXPECT_EQ(exe->run({random_tensor({1, 3, 8, 8}, 1)})[0].shape(), (Shape{1, 4, 6, 6}));
}

// ---------------------------------------------------------------------------
// On a device: zoo models against the oneDNN CPU backend.

struct ZooCase {
  std::string arch;
  int64_t size;
  double width;
  int64_t classes;
  int64_t batch;
};

void PrintTo(const ZooCase& c, std::ostream* os) {
  *os << c.arch << " " << c.size;
}

class CudaZoo : public ::testing::TestWithParam<ZooCase> {};

TEST_P(CudaZoo, MatchesCpuBackend) {
  SKIP_WITHOUT_DEVICE();
  const ZooCase c = GetParam();
  const Graph g = testing::zoo_graph(c.arch, c.size, c.width, c.classes, 3, 5);
  Tensor x = random_tensor({c.batch, 3, c.size, c.size}, 4);
  Session cpu(g, {BackendKind::OneDnn, 0});
  Tensor want = cpu.run({x})[0];
  for (bool tf32 : {false, true}) {
    SessionOptions so{BackendKind::Cuda, 0};
    so.tf32 = tf32;
    Session gpu(g, so);
    Tensor got = gpu.run({x})[0];
    ASSERT_EQ(got.shape(), want.shape());
    const double err = rel_error(got, want);
    EXPECT_LE(err, tf32 ? 1e-2 : 1e-4) << c.arch << (tf32 ? " tf32" : " fp32");
    RecordProperty(tf32 ? "rel_error_tf32" : "rel_error_fp32", std::to_string(err));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, CudaZoo,
    ::testing::Values(ZooCase{"vgg16", 32, 0.25, 10, 2}, ZooCase{"resnet50", 32, 0.25, 10, 2},
                      ZooCase{"efficientnet_b0", 32, 0.5, 10, 3},
                      ZooCase{"vgg16", 224, 1.0, 1000, 1}, ZooCase{"resnet50", 224, 1.0, 1000, 2},
                      ZooCase{"efficientnet_b0", 224, 1.0, 1000, 2}),
    [](const auto& info) { return info.param.arch + "_" + std::to_string(info.param.size); });

// The deployment's layout: front partition on the CPU (the enclave), back on
// the GPU, at an early, a middle and a late cut; equal to the whole model on
// the CPU backend.
TEST(CudaSplit, FrontOnCpuBackOnCuda) {
  SKIP_WITHOUT_DEVICE();
  for (const char* arch : {"resnet50", "efficientnet_b0", "vgg16"}) {
    const Graph g = specialize(testing::zoo_graph(arch, 32, 0.25, 10, 3, 5), {{1, 3, 32, 32}});
    const Tensor x = random_tensor({1, 3, 32, 32}, 6);
    Session cpu(g, {BackendKind::OneDnn, 0});
    const Tensor want = cpu.run({x})[0];
    const std::vector<Cut> cuts = enumerate_cuts(g);
    ASSERT_GT(cuts.size(), 4u) << arch;
    SplitRunOptions ro;
    ro.front_backend = BackendKind::OneDnn;
    ro.back_backend = BackendKind::Cuda;
    // A batch of 3: front per sample on the CPU, back once on the GPU.
    const Tensor x3 = random_tensor({3, 3, 32, 32}, 7);
    Session cpu_any(testing::zoo_graph(arch, 32, 0.25, 10, 3, 5), {BackendKind::OneDnn, 0});
    const Tensor want3 = cpu_any.run({x3})[0];
    for (size_t i : {cuts.size() / 4, cuts.size() / 2, 3 * cuts.size() / 4}) {
      SplitRunner r(front_partition(g, cuts[i]), back_partition(g, cuts[i]), ro);
      EXPECT_EQ(r.back_backend_name(), "cuda");
      EXPECT_LE(rel_error(r.run(x)[0], want), 1e-4) << arch << " cut " << cuts[i].name;
      EXPECT_LE(rel_error(r.run(x3)[0], want3), 1e-4) << arch << " cut " << cuts[i].name;
      EXPECT_TRUE(r.back_ran_batched(3)) << arch << " cut " << cuts[i].name;
    }
  }
}

}  // namespace
}  // namespace teesplit
