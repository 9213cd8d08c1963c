// Conv with fused post-ops (activation, residual sum, activation). fp32: the
// implementation per layer from an explicit candidate list (conv_tune.h), timed
// at compile time and cached per shape, or by the heuristic (blocked layouts
// where oneDNN has a fast kernel, Winograd for large 3x3 layers).
#include "ops/conv.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>

#include "backends/onednn/compiler.h"
#include "backends/onednn/onednn_backend.h"
#include "graph/precision.h"

namespace teesplit::onednn {

using dnnl::algorithm;

bool Compiler::lower_conv(int ni) {
  const Node& n = node(ni);
  if (n.inputs.size() < 2 || n.inputs[0] < 0 || n.inputs[1] < 0 || n.outputs.empty()) return false;
  const int x = n.inputs[0], wv = n.inputs[1];
  const int bv = n.inputs.size() > 2 ? n.inputs[2] : -1;
  if (!val(wv).constant || (bv >= 0 && !val(bv).constant) || val(x).constant) return false;
  if (val(x).shape.size() != 4 || val(wv).shape.size() != 4) return false;
  const ConvParams p = conv_params(n.attrs, val(x).shape, val(wv).shape);
  if (bv >= 0)
    TS_CHECK(val(bv).constant->numel() == p.oc, "onednn: ", where(n), ": bias has ",
             val(bv).constant->numel(), " values for ", p.oc, " output channels");
  emit_conv(ni, x, p, *val(wv).constant, bv >= 0 ? &*val(bv).constant : nullptr,
            bf16 && computes_in_bf16(g, n));
  return true;
}

// BatchNormalization (inference) as a depthwise 1x1 convolution:
// y = x * s + t with s = scale / sqrt(var + eps), t = B - mean * s.
bool Compiler::lower_batchnorm(int ni) {
  const Node& n = node(ni);
  if (n.inputs.size() != 5 || n.outputs.empty() || n.attrs.get_int("training_mode", 0) != 0)
    return false;
  for (size_t k = 1; k < n.outputs.size(); ++k)
    if (n.outputs[k] >= 0 && (!consumers[static_cast<size_t>(n.outputs[k])].empty() ||
                              is_output[static_cast<size_t>(n.outputs[k])]))
      return false;
  const int x = n.inputs[0];
  if (x < 0 || val(x).constant || val(x).shape.size() != 4) return false;
  const int64_t C = val(x).shape[1];
  for (size_t k = 1; k < 5; ++k) {
    const int id = n.inputs[k];
    if (id < 0 || !val(id).constant || val(id).constant->dtype() != DType::F32 ||
        val(id).constant->numel() != C)
      return false;
  }
  const double eps = n.attrs.get_float("epsilon", 1e-5f);
  const float* scale = val(n.inputs[1]).constant->data<float>();
  const float* shift = val(n.inputs[2]).constant->data<float>();
  const float* mean = val(n.inputs[3]).constant->data<float>();
  const float* var = val(n.inputs[4]).constant->data<float>();
  Tensor w(DType::F32, {C, 1, 1, 1}), b(DType::F32, {C});
  for (int64_t c = 0; c < C; ++c) {
    const double s = scale[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    w.data<float>()[c] = static_cast<float>(s);
    b.data<float>()[c] = static_cast<float>(shift[c] - mean[c] * s);
  }
  ConvParams p;
  p.n = val(x).shape[0];
  p.c = p.oc = p.group = C;
  p.h = p.oh = val(x).shape[2];
  p.w = p.ow = val(x).shape[3];
  p.kh = p.kw = 1;
  emit_conv(ni, x, p, w, &b);
  return true;
}

namespace {

struct CandSpec {
  algorithm alg;
  Layout src, dst;
};

CandSpec spec_of(ConvImpl c) {
  switch (c) {
    case ConvImpl::kWinograd16:
      return {algorithm::convolution_winograd, Layout::Blocked16, Layout::Blocked16};
    case ConvImpl::kPlainTo16:
      return {algorithm::convolution_direct, Layout::Plain, Layout::Blocked16};
    case ConvImpl::kDirect16:
      return {algorithm::convolution_direct, Layout::Blocked16, Layout::Blocked16};
    case ConvImpl::kDirectNhwc:
      return {algorithm::convolution_direct, Layout::Nhwc, Layout::Nhwc};
    case ConvImpl::kDirectPlain:
      break;
  }
  return {algorithm::convolution_direct, Layout::Plain, Layout::Plain};
}

// A memory of descriptor md filled with a small constant (the tuner's data:
// the timing of these kernels does not depend on the values, only on their
// not being denormal).
memory filled_memory(const memory::desc& md, const dnnl::engine& eng) {
  memory m(md, eng);
  const size_t bytes = md.get_size();
  if (md.data_type() == memory::data_type::f32) {
    float* p = static_cast<float*>(m.get_data_handle());
    std::fill(p, p + bytes / sizeof(float), 0.01f);
  } else {
    std::memset(m.get_data_handle(), 0, bytes);
  }
  return m;
}

// Throwaway buffers the timed primitives share, one per role, each as large as
// its largest request: the tuner holds one layer's source, destination,
// scratchpad and reorder pair at a time, not one set per candidate.
class TuneBuffers {
 public:
  enum Role { kSrc, kDst, kScratch, kFrom, kTo, kRoles };
  void want(Role r, const memory::desc& md) { size_[r] = std::max(size_[r], md.get_size()); }
  void allocate() {
    for (int r = 0; r < kRoles; ++r) {
      if (size_[r] == 0) continue;
      buf_[r] = aligned_buffer(size_[r]);
      float* p = reinterpret_cast<float*>(buf_[r].get());
      std::fill(p, p + size_[r] / sizeof(float), 0.01f);
    }
  }
  memory get(Role r, const memory::desc& md, const dnnl::engine& eng) const {
    return memory(md, eng, buf_[r].get());
  }

 private:
  size_t size_[kRoles] = {};
  std::shared_ptr<std::byte> buf_[kRoles];
};

// One primitive ready to run on throwaway buffers.
struct Timed {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  double best_ms = 1e300;
};

Timed timed_conv(const dnnl::convolution_forward::primitive_desc& pd, bool bias,
                 const TuneBuffers& b, const dnnl::engine& eng) {
  Timed t{dnnl::convolution_forward(pd), {}};
  t.args[DNNL_ARG_SRC] = b.get(TuneBuffers::kSrc, pd.src_desc(), eng);
  t.args[DNNL_ARG_WEIGHTS] = filled_memory(pd.weights_desc(), eng);
  if (bias) t.args[DNNL_ARG_BIAS] = filled_memory(pd.bias_desc(), eng);
  t.args[DNNL_ARG_DST] = b.get(TuneBuffers::kDst, pd.dst_desc(), eng);
  if (pd.scratchpad_desc().get_size() > 0)
    t.args[DNNL_ARG_SCRATCHPAD] = b.get(TuneBuffers::kScratch, pd.scratchpad_desc(), eng);
  return t;
}

Timed timed_reorder(const memory::desc& from, const memory::desc& to, const TuneBuffers& b,
                    const dnnl::engine& eng) {
  memory src = b.get(TuneBuffers::kFrom, from, eng), dst = b.get(TuneBuffers::kTo, to, eng);
  Timed t{dnnl::reorder(src, dst), {}};
  t.args[DNNL_ARG_FROM] = src;
  t.args[DNNL_ARG_TO] = dst;
  return t;
}

double run_ms(Timed& t, dnnl::stream& s) {
  const auto t0 = std::chrono::steady_clock::now();
  t.prim.execute(s, t.args);
  s.wait();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  t.best_ms = std::min(t.best_ms, ms);
  return ms;
}

// "eltwise_relu,sum": the post-op chain, part of the tuning key.
std::string post_ops_key(const dnnl::post_ops& po) {
  std::string s;
  for (int i = 0; i < po.len(); ++i) {
    if (!s.empty()) s += ",";
    if (po.kind(i) == dnnl::primitive::kind::sum) {
      s += "sum";
    } else if (po.kind(i) == dnnl::primitive::kind::eltwise) {
      float scale = 0, alpha = 0, beta = 0;
      algorithm alg{};
      po.get_params_eltwise(i, scale, alg, alpha, beta);
      s += "eltwise" + std::to_string(static_cast<int>(alg));
    } else {
      s += "op" + std::to_string(static_cast<int>(po.kind(i)));
    }
  }
  return s.empty() ? "none" : s;
}

// Relative margin by which a candidate must beat the heuristic's choice to
// replace it: timings on a loaded machine are noisy (3% let a 2-thread tuning
// run under load trade Winograd for direct on VGG-16 layers and lose 10%).
constexpr double kTuneMargin = 0.10;

}  // namespace

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Plain:
      return "nchw";
    case Layout::Blocked16:
      return "nChw16c";
    case Layout::Blocked8:
      return "nChw8c";
    case Layout::PlainBf16:
      return "plain_bf16";
    case Layout::NhwcBf16:
      return "nhwc_bf16";
    case Layout::Nhwc:
      return "nhwc";
  }
  return "?";
}

TuneCache* Compiler::tune_cache() {
  if (!opts_.tune_cache || tuning.tune_cache_path.empty()) return nullptr;
  if (!tune_cache_) {
    tune_cache_.emplace(tuning.tune_cache_path);
    tune_cache_->load();
  }
  return &*tune_cache_;
}

int Compiler::time_conv_candidates(const std::vector<ConvCandidate>& cands, int x, int sum_other,
                                   bool bias, int prefer) {
  const auto t_start = std::chrono::steady_clock::now();
  const int sx = slot_of(x);
  const memory::desc cur_md = slots[static_cast<size_t>(sx)].md;
  // The reorders each choice adds: the input into the candidate's layout
  // (unless made already), the residual into the destination's.
  std::vector<std::pair<memory::desc, memory::desc>> reorder_mds;
  std::vector<int> reorder_of(cands.size() * 2, -1);  // per candidate: input, residual copy
  TuneBuffers buffers;
  for (size_t k = 0; k < cands.size(); ++k) {
    const ConvCandidate& c = cands[k];
    buffers.want(TuneBuffers::kSrc, c.pd.src_desc());
    buffers.want(TuneBuffers::kDst, c.pd.dst_desc());
    buffers.want(TuneBuffers::kScratch, c.pd.scratchpad_desc());
    const memory::desc in_md = make_md(val(x).shape, spec_of(c.impl).src);
    const auto conv_it = converted_.find({x, static_cast<int>(spec_of(c.impl).src)});
    if (in_md != cur_md && conv_it == converted_.end()) {
      reorder_of[2 * k] = static_cast<int>(reorder_mds.size());
      reorder_mds.emplace_back(cur_md, in_md);
    }
    if (sum_other >= 0) {
      const memory::desc& so = slots[static_cast<size_t>(slot_of(sum_other))].md;
      if (so != c.pd.dst_desc()) {
        reorder_of[2 * k + 1] = static_cast<int>(reorder_mds.size());
        reorder_mds.emplace_back(so, c.pd.dst_desc());
      }
    }
  }
  for (const auto& [from, to] : reorder_mds) {
    buffers.want(TuneBuffers::kFrom, from);
    buffers.want(TuneBuffers::kTo, to);
  }
  buffers.allocate();
  std::vector<Timed> convs, reorders;
  for (const ConvCandidate& c : cands) convs.push_back(timed_conv(c.pd, bias, buffers, eng));
  for (const auto& [from, to] : reorder_mds)
    reorders.push_back(timed_reorder(from, to, buffers, eng));
  // One warm-up each, then interleaved rounds; the best time of each counts.
  double round_ms = 0;
  for (Timed& t : convs) round_ms += run_ms(t, strm);
  for (Timed& t : reorders) round_ms += run_ms(t, strm);
  const int rounds = std::clamp(static_cast<int>(60.0 / std::max(round_ms, 1e-3)), 3, 8);
  for (int r = 0; r < rounds; ++r) {
    for (Timed& t : convs) run_ms(t, strm);
    for (Timed& t : reorders) run_ms(t, strm);
  }
  std::vector<double> score(cands.size());
  for (size_t k = 0; k < cands.size(); ++k) {
    score[k] = convs[k].best_ms;
    for (int j : {reorder_of[2 * k], reorder_of[2 * k + 1]})
      if (j >= 0) score[k] += reorders[static_cast<size_t>(j)].best_ms;
  }
  int best = prefer;
  for (size_t k = 0; k < cands.size(); ++k)
    if (score[k] < score[static_cast<size_t>(best)] * (1.0 - kTuneMargin))
      best = static_cast<int>(k);
  if (tuning.verbose) {
    std::string s;
    for (size_t k = 0; k < cands.size(); ++k)
      s += std::string(k ? ", " : "") + conv_impl_name(cands[k].impl) + " " +
           std::to_string(score[k]) + " ms";
    std::cerr << "onednn: tuning: " << s << " -> " << conv_impl_name(cands[best].impl) << "\n";
  }
  tune_spent_ms_ +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start).count();
  last_tuned_ms_ = score[static_cast<size_t>(best)];
  return best;
}

void Compiler::emit_conv(int ni, int x, const ConvParams& p, const Tensor& weights,
                         const Tensor* bias, bool in_bf16) {
  const Node& n = node(ni);
  const int out = n.outputs[0];
  const Shape os = p.out_shape();
  TS_CHECK(os == val(out).shape, "onednn: ", where(n), ": output shape ", shape_str(os),
           " differs from the graph's ", shape_str(val(out).shape));

  // The heuristic's candidates in order (the first that oneDNN implements
  // without a reference kernel wins), decided before fusion marks nodes consumed.
  const Layout cur = slots[static_cast<size_t>(slot_of(x))].layout;
  std::vector<ConvImpl> order;
  // What the tuner may time (fp32, blocked layouts allowed): every candidate
  // that applies to this shape and input layout.
  std::vector<ConvImpl> timed;
  const bool plain_to_16 = cur == Layout::Plain && p.c < 16 && p.group == 1;
  if (!in_bf16 && tuning.blocked) {
    const bool wino_shape = p.kh == 3 && p.kw == 3 && p.stride_h == 1 && p.stride_w == 1 &&
                            p.dil_h == 1 && p.dil_w == 1 && p.group == 1;
    const bool wino =
        tuning.winograd && wino_shape && p.c >= 64 && p.oc >= 64 && p.oh >= 14 && p.ow >= 14;
    if (wino) order.push_back(ConvImpl::kWinograd16);
    if (plain_to_16) order.push_back(ConvImpl::kPlainTo16);
    order.push_back(ConvImpl::kDirect16);
    if (tuning.winograd && wino_shape) timed.push_back(ConvImpl::kWinograd16);
    if (plain_to_16) timed.push_back(ConvImpl::kPlainTo16);
    timed.push_back(ConvImpl::kDirect16);
    timed.push_back(ConvImpl::kDirectNhwc);
  }
  if (!in_bf16) order.push_back(ConvImpl::kDirectPlain);

  memory::dims wdims = p.group == 1
                           ? memory::dims{p.oc, p.c, p.kh, p.kw}
                           : memory::dims{p.group, p.oc / p.group, p.c / p.group, p.kh, p.kw};
  const Tag wtag = p.group == 1 ? Tag::oihw : Tag::goihw;
  const memory::desc w_any(wdims, in_bf16 ? memory::data_type::bf16 : memory::data_type::f32,
                           Tag::any);
  const memory::desc b_md({p.oc}, memory::data_type::f32, Tag::x);
  const memory::dims strides{p.stride_h, p.stride_w}, dil{p.dil_h - 1, p.dil_w - 1},
      pad_l{p.pad_top, p.pad_left}, pad_r{p.pad_bottom, p.pad_right};

  // Post-ops from the consumer chain: activation, residual Add, activation.
  dnnl::post_ops po;
  int v = match_activation(out, po);
  int sum_other = -1;
  int c = sole_consumer(v);
  if (c >= 0 && !consumed[c] && node(c).op == "Add" && node(c).inputs.size() == 2 &&
      !node(c).outputs.empty()) {
    const Node& add = node(c);
    int other = add.inputs[0] == v ? add.inputs[1] : add.inputs[0];
    if (other >= 0 && other != v && !val(other).constant &&
        value_slot[static_cast<size_t>(other)] >= 0 && val(other).shape == os &&
        val(add.outputs[0]).shape == os) {
      sum_other = other;
      po.append_sum(1.f);
      consumed[c] = 1;
      v = match_activation(add.outputs[0], po);
    }
  }
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  attr.set_post_ops(po);

  auto make_pd = [&](algorithm alg, Layout src, Layout dst) {
    dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_inference, alg, make_md(val(x).shape, src), w_any,
        bias ? b_md : memory::desc(), make_md(os, dst), strides, dil, pad_l, pad_r);
    return dnnl::convolution_forward::primitive_desc(d, attr, eng);
  };

  std::optional<dnnl::convolution_forward::primitive_desc> pd;
  CandSpec chosen{};
  std::string how;  // the tuner's part in the choice, for the step's label
  ConvImpl chosen_impl = ConvImpl::kDirectPlain;
  if (in_bf16) {
    // bf16 source, weights and destination, fp32 accumulation: brgemm kernels
    // (AMX or AVX512_BF16) want channels-last. No fp32 fallback: precision bf16
    // never turns into a silent fp32 run.
    chosen = {algorithm::convolution_direct, Layout::NhwcBf16, Layout::NhwcBf16};
    pd = make_pd(chosen.alg, chosen.src, chosen.dst);
  } else if (!timed.empty() && (tuning.tune || tuning.conv_impl)) {
    std::vector<ConvCandidate> avail;
    for (ConvImpl ci : timed) {
      const CandSpec s = spec_of(ci);
      try {
        auto q = make_pd(s.alg, s.src, s.dst);
        if (!is_ref(q.impl_info_str())) avail.push_back({ci, q});
      } catch (const dnnl::error&) {
      }
    }
    // The heuristic's choice among them, kept unless the tuner finds better.
    int pick = -1;
    for (ConvImpl ci : order) {
      for (size_t k = 0; k < avail.size() && pick < 0; ++k)
        if (avail[k].impl == ci) pick = static_cast<int>(k);
      if (pick >= 0) break;
    }
    if (!avail.empty()) {
      if (pick < 0) pick = 0;
      auto index_of = [&](ConvImpl ci) {
        for (size_t k = 0; k < avail.size(); ++k)
          if (avail[k].impl == ci) return static_cast<int>(k);
        return -1;
      };
      const double mflop = 2e-6 * static_cast<double>(p.n) * static_cast<double>(p.oc) *
                           static_cast<double>(p.oh) * static_cast<double>(p.ow) *
                           static_cast<double>(p.c / p.group) * static_cast<double>(p.kh) *
                           static_cast<double>(p.kw);
      if (tuning.conv_impl) {
        const int f = index_of(*tuning.conv_impl);
        if (f >= 0) {
          pick = f;
          how = "forced";
        }
      } else if (avail.size() > 1 && mflop >= tuning.tune_min_mflop) {
        const int threads = opts_.threads > 0 ? opts_.threads : omp_get_max_threads();
        const std::string key = detail::concat(
            "isa=", onednn_cpu_isa(), " threads=", threads, " fp32 n=", p.n, " c=", p.c, " h=", p.h,
            " w=", p.w, " oc=", p.oc, " k=", p.kh, "x", p.kw, " s=", p.stride_h, "x", p.stride_w,
            " d=", p.dil_h, "x", p.dil_w, " pad=", p.pad_top, ",", p.pad_left, ",", p.pad_bottom,
            ",", p.pad_right, " g=", p.group, " bias=", bias ? 1 : 0, " post=", post_ops_key(po),
            " in=", layout_name(cur), " sum_in=",
            sum_other >= 0 ? layout_name(slots[static_cast<size_t>(slot_of(sum_other))].layout)
                           : "none",
            " wino=", tuning.winograd ? 1 : 0);
        TuneCache* cache = tune_cache();
        const std::optional<ConvImpl> hit = cache ? cache->find(key) : std::nullopt;
        if (hit && index_of(*hit) >= 0) {
          pick = index_of(*hit);
          how = "cached";
          ++tune_cached_;
        } else if (tune_spent_ms_ < tuning.tune_budget_ms) {
          pick = guarded(where(n), "tuning", [&] {
            return time_conv_candidates(avail, x, sum_other, bias != nullptr, pick);
          });
          how = "tuned";
          ++tune_timed_;
          if (cache) cache->put(key, avail[static_cast<size_t>(pick)].impl, last_tuned_ms_);
        } else {
          how = "over budget";
          ++tune_over_budget_;
        }
      }
      pd = avail[static_cast<size_t>(pick)].pd;
      chosen_impl = avail[static_cast<size_t>(pick)].impl;
      chosen = spec_of(chosen_impl);
    }
  }
  for (size_t k = 0; !pd && k < order.size(); ++k) {
    const CandSpec cd = spec_of(order[k]);
    try {
      auto cpd = make_pd(cd.alg, cd.src, cd.dst);
      if (is_ref(cpd.impl_info_str()) && k + 1 < order.size()) continue;
      pd = cpd;
      chosen = cd;
      chosen_impl = order[k];
    } catch (const dnnl::error&) {
      if (k + 1 == order.size()) throw;
    }
  }
  TS_CHECK(pd, "onednn: ", where(n), ": no convolution implementation");

  const int sx = slot_in_layout(x, chosen.src);
  const memory::desc dst_md = make_md(os, chosen.dst);
  int dst = -1;
  if (sum_other >= 0) {
    int so = slot_of(sum_other);
    if (slots[static_cast<size_t>(so)].md == dst_md && storage_free_after(so, c)) {
      dst = view_slot(so, os, dst_md, chosen.dst);  // accumulate in place
    } else {
      dst = new_slot_md(os, dst_md, chosen.dst);
      int src = slot_with_md(sum_other, dst_md, chosen.dst);
      add_reorder(src, dst, where(n) + ": residual copy of '" + val(sum_other).name + "'");
    }
  } else {
    dst = new_slot_md(os, dst_md, chosen.dst);
  }

  std::vector<std::pair<int, memory>> fixed;
  const memory::desc w_plain(wdims, memory::data_type::f32, wtag);
  fixed.emplace_back(DNNL_ARG_WEIGHTS, constant_memory(weights, w_plain, pd->weights_desc()));
  if (bias) fixed.emplace_back(DNNL_ARG_BIAS, constant_memory(*bias, b_md, b_md));
  std::string label = where(n) + ": convolution " + (in_bf16 ? "bf16 " : "") + pd->impl_info_str();
  if (po.len() > 0) label += " + " + std::to_string(po.len()) + " post-op(s)";
  if (!in_bf16)
    label +=
        std::string(" [") + conv_impl_name(chosen_impl) + (how.empty() ? "" : ", " + how) + "]";
  std::vector<std::pair<int, int>> args{{DNNL_ARG_SRC, sx}, {DNNL_ARG_DST, dst}};
  add_prim(label, dnnl::convolution_forward(*pd), std::move(args), std::move(fixed),
           pd->scratchpad_desc());
  if (sum_other >= 0) steps.back().reads.push_back(dst);
  bind_value(v, dst);
}

}  // namespace teesplit::onednn
