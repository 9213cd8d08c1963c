// The oneDNN backend's fp32 convolution tuner (src/backends/onednn/conv_tune.h):
// every candidate against the reference backend, the tuned choice, its per-shape
// cache (reused, corrupt or foreign files ignored), the switches, and the
// enclave worker's options that never read or write the cache.
//
// The suite runs with TEESPLIT_ONEDNN_TUNE=0 (tests/CMakeLists.txt); these
// tests turn the tuner on for themselves, with a cache file of their own.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "backends/onednn/onednn_backend.h"
#include "backends/reference/reference_backend.h"
#include "core/file.h"
#include "enclave/worker.h"
#include "graph/passes.h"
#include "support/graph_builder.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using testing::random_tensor;
using testing::rel_error;
using Builder = testing::GraphBuilder;
using Ints = std::vector<int64_t>;

Attrs attrs(std::initializer_list<std::pair<std::string, Attr>> kv) {
  Attrs a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

// Sets environment variables for the scope (nullptr: unset), restores them after.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto& [k, v] : vars) {
      const char* old = std::getenv(k);
      saved_.push_back({k, old ? std::optional<std::string>(old) : std::nullopt});
      if (v)
        setenv(k, v, 1);
      else
        unsetenv(k);
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second)
        setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// A small ResNet-like network: a 3-channel stem (the plain-input candidate),
// 3x3 convolutions with 32 channels (Winograd applies), a residual Add + Relu,
// a strided 1x1 downsample, pooling and a classifier head.
Graph resnet_like(int64_t batch = 2) {
  Builder b;
  const auto pad1 = [] { return attrs({{"pads", Ints{1, 1, 1, 1}}}); };
  int x = b.input({batch, 3, 20, 20});
  int y = b.node("Relu", {b.conv(x, 3, 32, 3, pad1())});
  int a = b.node("Relu", {b.conv(y, 32, 32, 3, pad1())});
  int c = b.conv(a, 32, 32, 3, pad1());
  y = b.node("Relu", {b.node("Add", {c, y})});
  int d = b.conv(y, 32, 48, 1, attrs({{"strides", Ints{2, 2}}}));
  int e = b.node(
      "Relu", {b.conv(y, 32, 48, 3, attrs({{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}))});
  e = b.conv(e, 48, 48, 3, pad1());
  y = b.node("Relu", {b.node("Add", {e, d})});
  y = b.node("MaxPool", {y}, attrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}));
  int f = b.node("Flatten", {b.node("GlobalAveragePool", {y})});
  b.output(b.node("Gemm", {f, b.rand_const({10, 48}), b.rand_const({10})},
                  attrs({{"transB", int64_t{1}}})));
  return specialize(b.g, {{batch, 3, 20, 20}});
}

struct Compiled {
  double max_err = 0;
  std::vector<std::string> conv_labels;
};

// Compiles g on oneDNN (with the environment as it is now), checks it against
// the reference backend on two inputs and returns the convolutions' labels.
Compiled compile_and_compare(const Graph& g, const CompileOptions& co = {}) {
  auto ref = make_reference_backend()->compile(g, {});
  auto exe = make_onednn_backend()->compile(g, co);
  Compiled out;
  for (uint64_t seed : {7, 8}) {
    std::vector<Tensor> in{random_tensor(g.value(g.inputs[0]).shape, seed, -1.f, 1.f)};
    out.max_err = std::max(out.max_err, rel_error(exe->run(in)[0], ref->run(in)[0]));
  }
  for (const std::string& l : exe->step_labels())
    if (l.find(": convolution ") != std::string::npos) out.conv_labels.push_back(l);
  return out;
}

size_t labels_with(const Compiled& c, const std::string& what) {
  size_t n = 0;
  for (const std::string& l : c.conv_labels) n += l.find(what) != std::string::npos;
  return n;
}

// "direct_nhwc" from "... [direct_nhwc, tuned]".
std::string impl_of(const std::string& label) {
  const size_t b = label.rfind('[');
  if (b == std::string::npos) return {};
  const size_t e = label.find_first_of(",]", b);
  return label.substr(b + 1, e - b - 1);
}

std::string all_labels(const Compiled& c) {
  std::string s;
  for (const std::string& l : c.conv_labels) s += l + "\n";
  return s;
}

// A fresh cache path for one test.
std::string cache_path(const std::string& name) {
  const std::string dir = testing::generated_dir() + "/onednn_tune";
  fs::create_directories(dir);
  const std::string p = dir + "/" + name + ".txt";
  fs::remove(p);
  return p;
}

constexpr double kTol = 1e-4;

TEST(OneDnnTune, EveryCandidateMatchesTheReference) {
  const Graph g = resnet_like();
  for (const char* impl : {"winograd_nChw16c", "direct_nchw_nChw16c", "direct_nChw16c",
                           "direct_nhwc", "direct_nchw"}) {
    SCOPED_TRACE(impl);
    ScopedEnv env({{"TEESPLIT_ONEDNN_TUNE", "1"},
                   {"TEESPLIT_ONEDNN_TUNE_CACHE", "off"},
                   {"TEESPLIT_ONEDNN_CONV_IMPL", impl}});
    for (int threads : {1, 2}) {
      const Compiled c = compile_and_compare(g, {threads});
      EXPECT_LT(c.max_err, kTol);
      // Forced wherever it applies: Winograd on the 3x3 stride-1 layers with
      // 32 channels, the plain-input one on the stem, nChw16c everywhere but
      // the 3-channel stem (no oneDNN kernel for that input); direct_nchw is
      // the fallback, never a timed candidate, so it is never "forced".
      const size_t forced = labels_with(c, std::string("[") + impl + ", forced]");
      if (std::string(impl) == "direct_nchw")
        EXPECT_EQ(forced, 0u) << all_labels(c);
      else if (std::string(impl) == "direct_nchw_nChw16c")
        EXPECT_EQ(forced, 1u) << all_labels(c);
      else if (std::string(impl) == "winograd_nChw16c")
        EXPECT_GE(forced, 3u) << all_labels(c);
      else if (std::string(impl) == "direct_nChw16c")
        EXPECT_EQ(forced, c.conv_labels.size() - 1) << all_labels(c);
      else
        EXPECT_EQ(forced, c.conv_labels.size()) << all_labels(c);
    }
  }
}

TEST(OneDnnTune, TunedChoiceMatchesTheReferenceAndIsCached) {
  const Graph g = resnet_like();
  const std::string cache = cache_path("tuned");
  ScopedEnv env({{"TEESPLIT_ONEDNN_TUNE", "1"},
                 {"TEESPLIT_ONEDNN_TUNE_CACHE", cache.c_str()},
                 {"TEESPLIT_ONEDNN_TUNE_MIN_MFLOP", "0"},
                 {"TEESPLIT_ONEDNN_CONV_IMPL", nullptr}});
  const Compiled first = compile_and_compare(g, {2});
  EXPECT_LT(first.max_err, kTol);
  const size_t tuned = labels_with(first, ", tuned]");
  EXPECT_EQ(tuned, first.conv_labels.size()) << all_labels(first);
  ASSERT_TRUE(fs::exists(cache));
  const std::string text = read_file(cache);
  EXPECT_EQ(text.rfind("teesplit-onednn-conv-tune 2 onednn=", 0), 0u) << text;
  EXPECT_NE(text.find("threads=2 fp32 n=2 c=32 h=20 w=20 oc=32 k=3x3"), std::string::npos) << text;

  // A second start reads every choice back and times nothing; the same choices.
  const Compiled second = compile_and_compare(g, {2});
  EXPECT_LT(second.max_err, kTol);
  EXPECT_EQ(labels_with(second, ", tuned]"), 0u) << all_labels(second);
  EXPECT_EQ(labels_with(second, ", cached]"), tuned) << all_labels(second);
  ASSERT_EQ(first.conv_labels.size(), second.conv_labels.size());
  for (size_t k = 0; k < first.conv_labels.size(); ++k)
    EXPECT_EQ(impl_of(first.conv_labels[k]), impl_of(second.conv_labels[k]));
  // Another thread count is another key: timed again.
  const Compiled one = compile_and_compare(g, {1});
  EXPECT_EQ(labels_with(one, ", tuned]"), tuned) << all_labels(one);
}

TEST(OneDnnTune, CorruptOrForeignCacheIsIgnoredAndReplaced) {
  const Graph g = resnet_like();
  const std::string cache = cache_path("corrupt");
  ScopedEnv env({{"TEESPLIT_ONEDNN_TUNE", "1"},
                 {"TEESPLIT_ONEDNN_TUNE_CACHE", cache.c_str()},
                 {"TEESPLIT_ONEDNN_TUNE_MIN_MFLOP", "0"},
                 {"TEESPLIT_ONEDNN_CONV_IMPL", nullptr}});
  // A valid cache to mangle.
  const size_t n = compile_and_compare(g, {1}).conv_labels.size();
  const std::string good = read_file(cache);
  const std::string header = good.substr(0, good.find('\n'));
  const std::string body = good.substr(good.find('\n') + 1);
  std::string bad_impl = body;
  bad_impl.replace(bad_impl.find('\t') + 1, 1, "X");  // an unknown implementation name
  std::string plain = body;                           // direct_nchw is never a stored choice
  {
    const size_t t = plain.find('\t');
    plain.replace(t + 1, plain.find('\t', t + 1) - t - 1, "direct_nchw");
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"garbage", std::string("\x01\x02 not a cache\n") + body},
      {"another oneDNN", "teesplit-onednn-conv-tune 2 onednn=9.9.9+0\n" + body},
      {"another format", "teesplit-onednn-conv-tune 1 onednn=2.6.3+N/A\n" + body},
      {"unknown implementation", header + "\n" + bad_impl},
      {"fallback stored", header + "\n" + plain},
      {"bad time", header + "\nkey\tdirect_nhwc\tnan\n"},
      {"two fields", header + "\nkey\tdirect_nhwc\n"},
  };
  for (const auto& [what, text] : cases) {
    SCOPED_TRACE(what);
    write_file(cache, text);
    ::testing::internal::CaptureStderr();
    const Compiled c = compile_and_compare(g, {1});
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("ignoring the cache " + cache), std::string::npos) << err;
    EXPECT_LT(c.max_err, kTol);
    EXPECT_EQ(labels_with(c, ", tuned]"), n) << all_labels(c);
    EXPECT_EQ(labels_with(c, ", cached]"), 0u) << all_labels(c);
    // Replaced by a valid cache.
    EXPECT_EQ(read_file(cache).substr(0, header.size() + 1), header + "\n");
  }
}

// Rewrites every stored choice to direct_nhwc (a valid candidate for every
// layer of resnet_like, and rarely what the tuner picks for all of them).
std::string poisoned(const std::string& text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    const size_t t1 = line.find('\t');
    if (pos > 0 && t1 != std::string::npos) {
      const size_t t2 = line.find('\t', t1 + 1);
      line = line.substr(0, t1) + "\tdirect_nhwc" + line.substr(t2);
    }
    out += line + "\n";
    pos = end + 1;
  }
  return out;
}

TEST(OneDnnTune, TheWorkerNeitherReadsNorWritesTheCache) {
  const Graph g = resnet_like();
  const std::string cache = cache_path("worker");
  ScopedEnv env({{"TEESPLIT_ONEDNN_TUNE", "1"},
                 {"TEESPLIT_ONEDNN_TUNE_CACHE", cache.c_str()},
                 {"TEESPLIT_ONEDNN_TUNE_MIN_MFLOP", "0"},
                 {"TEESPLIT_ONEDNN_CONV_IMPL", nullptr}});
  const size_t n = compile_and_compare(g, {1}).conv_labels.size();
  write_file(cache, poisoned(read_file(cache)));
  // A normal compile follows the (host-writable) cache: the stem and the
  // layers whose input layout is unchanged take the poisoned choice (the
  // others see an nhwc input now, another key, and are timed and added).
  const Compiled host = compile_and_compare(g, {1});
  EXPECT_GE(labels_with(host, "[direct_nhwc, cached]"), 2u) << all_labels(host);
  EXPECT_NE(host.conv_labels.at(0).find("[direct_nhwc, cached]"), std::string::npos);
  // ...the worker's options ignore it: every layer timed at warm-up, the file
  // untouched.
  const CompileOptions wco = enclave::worker_compile_options(1);
  EXPECT_FALSE(wco.tune_cache);
  const std::string poison = read_file(cache);
  const auto mtime = fs::last_write_time(cache);
  const Compiled worker = compile_and_compare(g, wco);
  EXPECT_LT(worker.max_err, kTol);
  EXPECT_EQ(labels_with(worker, ", cached]"), 0u) << all_labels(worker);
  EXPECT_EQ(labels_with(worker, ", tuned]"), n) << all_labels(worker);
  EXPECT_EQ(read_file(cache), poison);
  EXPECT_EQ(fs::last_write_time(cache), mtime);
  // Without any cache file at all, the worker writes none either.
  fs::remove(cache);
  compile_and_compare(g, wco);
  EXPECT_FALSE(fs::exists(cache));
}

TEST(OneDnnTune, SwitchesBudgetAndSmallConvolutions) {
  const Graph g = resnet_like();
  const std::string cache = cache_path("switches");
  {
    // Off: the heuristic alone, no cache file.
    ScopedEnv env({{"TEESPLIT_ONEDNN_TUNE", "0"},
                   {"TEESPLIT_ONEDNN_TUNE_CACHE", cache.c_str()},
                   {"TEESPLIT_ONEDNN_TUNE_MIN_MFLOP", "0"}});
    const Compiled c = compile_and_compare(g, {1});
    EXPECT_LT(c.max_err, kTol);
    EXPECT_EQ(labels_with(c, ", tuned]") + labels_with(c, ", cached]"), 0u) << all_labels(c);
    EXPECT_FALSE(fs::exists(cache));
  }
  {
    // The default threshold (10 MFLOP): at batch 1 these convolutions (7.4
    // MFLOP and less) are too small to time; at batch 2 the 3x3 ones are not.
    ScopedEnv env({{"TEESPLIT_ONEDNN_TUNE", "1"},
                   {"TEESPLIT_ONEDNN_TUNE_CACHE", "off"},
                   {"TEESPLIT_ONEDNN_TUNE_MIN_MFLOP", nullptr}});
    const Compiled c = compile_and_compare(resnet_like(1), {1});
    EXPECT_EQ(labels_with(c, ", tuned]"), 0u) << all_labels(c);
    EXPECT_EQ(labels_with(compile_and_compare(g, {1}), ", tuned]"), 2u);
  }
  {
    // No budget: nothing timed, the heuristic's choice, said so.
    ScopedEnv env({{"TEESPLIT_ONEDNN_TUNE", "1"},
                   {"TEESPLIT_ONEDNN_TUNE_CACHE", cache.c_str()},
                   {"TEESPLIT_ONEDNN_TUNE_MIN_MFLOP", "0"},
                   {"TEESPLIT_ONEDNN_TUNE_BUDGET_MS", "0"}});
    ASSERT_FALSE(fs::exists(cache));
    const Compiled c = compile_and_compare(g, {1});
    EXPECT_LT(c.max_err, kTol);
    EXPECT_EQ(labels_with(c, ", tuned]"), 0u) << all_labels(c);
    EXPECT_EQ(labels_with(c, ", over budget]"), c.conv_labels.size()) << all_labels(c);
  }
  {
    ScopedEnv env({{"TEESPLIT_ONEDNN_CONV_IMPL", "fastest"}});
    const std::string err = testing::error_of([&] { make_onednn_backend()->compile(g, {1}); });
    EXPECT_NE(err.find("TEESPLIT_ONEDNN_CONV_IMPL=fastest: unknown; choose from "
                       "winograd_nChw16c"),
              std::string::npos)
        << err;
  }
  {
    ScopedEnv env({{"TEESPLIT_ONEDNN_TUNE_BUDGET_MS", "-3"}});
    const std::string err = testing::error_of([&] { make_onednn_backend()->compile(g, {1}); });
    EXPECT_NE(err.find("TEESPLIT_ONEDNN_TUNE_BUDGET_MS=-3"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace teesplit
