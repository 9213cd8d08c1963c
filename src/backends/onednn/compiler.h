// Internal to the oneDNN backend: the graph-to-primitive compiler that the
// per-operator files (conv.cpp, pool.cpp, ...) extend, and the executable it
// produces. Not a public header.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/activation.h"
#include "backends/backend.h"
#include "backends/onednn/conv_tune.h"
#include "graph/ir.h"
#include "ops/conv.h"
#include "ops/op.h"

namespace teesplit::onednn {

using dnnl::memory;
using Tag = memory::format_tag;

// Physical layout and element type of an activation. The float32 layouts:
// Plain (any rank), Blocked16 / Blocked8 (4-D nChw16c / nChw8c), Nhwc (4-D
// channels-last, where the tuner finds it faster). The bf16 ones
// (--precision bf16 only): PlainBf16 (any rank), NhwcBf16 (4-D channels-last,
// the layout of oneDNN's brgemm bf16 convolutions on AMX and AVX512_BF16).
enum class Layout : uint8_t { Plain, Blocked16, Blocked8, PlainBf16, NhwcBf16, Nhwc };
// True for the layouts that need a 4-D shape.
constexpr bool layout_is_4d(Layout l) {
  return l == Layout::Blocked16 || l == Layout::Blocked8 || l == Layout::NhwcBf16 ||
         l == Layout::Nhwc;
}
// "nchw", "nChw16c", "nhwc", ... (tuning keys, messages).
const char* layout_name(Layout l);
constexpr bool layout_is_bf16(Layout l) {
  return l == Layout::PlainBf16 || l == Layout::NhwcBf16;
}

// One buffer the executable reads or writes: an activation in the arena, a view
// of another buffer (same bytes, other shape or descriptor), or a constant.
struct TensorSlot {
  DType dtype = DType::F32;
  Shape shape;
  Layout layout = Layout::Plain;
  memory::desc md;  // oneDNN descriptor (f32 values only, stored as f32 or bf16; zero otherwise)
  int root = -1;    // the slot whose storage this one shares; -1: own storage
  std::optional<Tensor> constant;  // storage is this constant tensor, not the arena
  int first = -1, last = -1;       // steps that touch the storage (kept on the root)
  std::vector<int> bound_values;   // graph values mapped onto this storage (on the root)
  size_t offset = 0;               // arena offset (roots only, set by the planner)
  size_t bytes() const;
};

// One entry of the step list that run() executes.
struct Step {
  std::string label;  // "node 'conv1' (Conv): convolution jit:avx512_core"
  // Kind 1: a primitive. args: oneDNN argument -> slot; fixed: owned memories.
  std::optional<dnnl::primitive> prim;
  std::vector<std::pair<int, int>> args;
  std::vector<std::pair<int, memory>> fixed;
  bool scratchpad = false;
  // Kind 2: a reference kernel on plain slots (absent inputs -1).
  const OpSchema* ref = nullptr;
  Attrs attrs;
  std::vector<int> ref_in, ref_out;
  // Slots read and written (for lifetimes); filled by add_step.
  std::vector<int> reads, writes;
  // Built by finalize().
  std::unordered_map<int, memory> bound;
};

// Options that the benchmarks flip to measure alternatives.
struct Tuning {
  bool winograd = true;  // TEESPLIT_ONEDNN_WINOGRAD=0 turns it off
  bool blocked = true;   // TEESPLIT_ONEDNN_BLOCKED=0: plain NCHW everywhere
  bool se_depthwise = true;
  bool verbose = false;  // TEESPLIT_ONEDNN_VERBOSE=1: print each step's implementation
  bool profile = false;  // TEESPLIT_ONEDNN_PROFILE=1: time each step, print at destruction
  // fp32 convolution tuning (conv_tune.h; docs/usage.md, "oneDNN convolution tuning").
  bool tune = true;                   // TEESPLIT_ONEDNN_TUNE=0: the heuristic alone
  std::string tune_cache_path;        // TEESPLIT_ONEDNN_TUNE_CACHE (tune_cache_path_from_env)
  double tune_budget_ms = 120000;     // TEESPLIT_ONEDNN_TUNE_BUDGET_MS: timing per compile
  double tune_min_mflop = 10;         // TEESPLIT_ONEDNN_TUNE_MIN_MFLOP: smaller convs untimed
  std::optional<ConvImpl> conv_impl;  // TEESPLIT_ONEDNN_CONV_IMPL: every conv that can
  // Throws Error naming the variable when a tuning value is invalid.
  static Tuning from_env();
};

// A candidate convolution the tuner may time.
struct ConvCandidate {
  ConvImpl impl;
  dnnl::convolution_forward::primitive_desc pd;
};

struct ExecPlan;  // what the executable needs; defined in onednn_backend.cpp

class Compiler {
 public:
  Compiler(const Graph& g, const CompileOptions& opts);
  std::unique_ptr<Executable> compile();

  // ---- helpers shared by the per-operator lowerings ----
  const Graph& g;
  dnnl::engine eng;
  dnnl::stream strm;
  Tuning tuning;
  std::vector<std::vector<int>> consumers;
  std::vector<char> is_output;  // per value: a graph output
  std::vector<char> consumed;   // per node: lowered already (fused into another step)
  std::vector<int> value_slot;  // per value: slot in its producer's layout, -1 unset
  std::vector<TensorSlot> slots;
  std::vector<Step> steps;
  size_t weight_bytes = 0;
  bool bf16 = false;  // CompileOptions::precision == BF16

  std::string where(const Node& n) const;  // "node 'x' (Conv)"
  static memory::desc make_md(const Shape& s, Layout l);
  static Tag plain_tag(size_t rank);
  // A new arena slot (own storage).
  int new_slot(DType dt, const Shape& s, Layout l);
  int new_slot_md(const Shape& s, const memory::desc& md, Layout l);
  // A view of `base`'s storage with another shape/descriptor.
  int view_slot(int base, const Shape& s, const memory::desc& md, Layout l);
  int root_of(int slot) const { return slots[slot].root < 0 ? slot : slots[slot].root; }
  // The slot holding graph value v (constants get a constant slot on demand).
  int slot_of(int v);
  // v in layout l, inserting a reorder step once per (value, layout).
  int slot_in_layout(int v, Layout l);
  int slot_with_md(int v, const memory::desc& md, Layout l);
  // Maps a graph value onto a slot.
  void bind_value(int v, int slot);
  // Sole consumer node of value v (none when v is a graph output or has several).
  int sole_consumer(int v) const;
  // True when node `reader` is the only step left that reads slot's storage: every
  // graph value held there is no graph output and has no other unlowered reader.
  bool storage_free_after(int slot, int reader) const;
  const Value& val(int v) const { return g.value(v); }
  const Node& node(int i) const { return g.nodes[static_cast<size_t>(i)]; }

  // Appends a primitive step; args map oneDNN arguments to slots.
  void add_prim(const std::string& label, const dnnl::primitive& p,
                std::vector<std::pair<int, int>> args, std::vector<std::pair<int, memory>> fixed,
                const memory::desc& scratch, int dst_arg = DNNL_ARG_DST);
  void add_reorder(int src, int dst, const std::string& label);
  // Owned copy of a constant in descriptor `md`, reordered from `src_md`.
  memory constant_memory(const Tensor& t, const memory::desc& src_md, const memory::desc& md);
  // Activation post-ops after value `v`: up to three activations in a chain, each
  // one that fusable_activation() (backends/activation.h) finds. Marks the fused
  // nodes consumed and returns the last fused value (v if none).
  int match_activation(int v, dnnl::post_ops& po);
  // True when impl is a slow reference implementation.
  static bool is_ref(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

  // ---- per-operator lowerings; return false to fall back to the reference kernel ----
  bool lower_conv(int ni);
  bool lower_batchnorm(int ni);
  // Emits node ni as a convolution of x with constant weights (OIHW) and bias,
  // fusing the activation / residual-sum chain after the node's output.
  // in_bf16: bf16 source and weights (fp32 accumulation), bf16 destination.
  void emit_conv(int ni, int x, const ConvParams& p, const Tensor& weights, const Tensor* bias,
                 bool in_bf16 = false);
  // The tuner: times cands (one warm-up, then interleaved rounds, best time
  // of each, plus the reorders each one adds for x and the residual) and
  // returns the index of the fastest; `prefer` (the heuristic's choice) wins
  // unless another one is faster by a margin. Sets last_tuned_ms_.
  int time_conv_candidates(const std::vector<ConvCandidate>& cands, int x, int sum_other, bool bias,
                           int prefer);
  // The per-shape cache (loaded on first use); null when off.
  TuneCache* tune_cache();
  bool lower_pool(int ni);
  bool lower_eltwise(int ni);
  bool lower_binary(int ni);
  bool lower_gemm(int ni);
  bool lower_softmax(int ni);
  bool lower_concat(int ni);
  bool lower_view(int ni);
  void lower_reference(int ni);

 private:
  std::map<std::pair<int, int>, int> converted_;  // (value, layout) -> slot
  memory::desc scratch_md_;
  size_t scratch_bytes_ = 0;
  CompileOptions opts_;
  std::optional<TuneCache> tune_cache_;
  double tune_spent_ms_ = 0, last_tuned_ms_ = 0;
  int tune_timed_ = 0, tune_cached_ = 0, tune_over_budget_ = 0;
};

// Runs the lowering with dnnl::error turned into Error naming the node.
template <class F>
auto guarded(const std::string& where, const char* what, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const dnnl::error& e) {
    fail("onednn: ", where, ": ", what, " failed: ", e.what(), " (status ",
         static_cast<int>(e.status), ")");
  }
}

// An activation as oneDNN eltwise operations (post-op or primitive).
struct EltwiseSpec {
  dnnl::algorithm alg;
  float alpha = 0.f, beta = 0.f;
  // HardSigmoid needs a second op (clip to [0, 1]).
  bool then_clip01 = false;
};
EltwiseSpec eltwise_for(const Activation& a);
// The eltwise form of node n; nullopt when n is no activation (activation_of()).
std::optional<EltwiseSpec> eltwise_spec(const Graph& g, const Node& n);

}  // namespace teesplit::onednn
