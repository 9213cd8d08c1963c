// The oneDNN backend: compile() lowers a specialised graph into a list of
// primitives over one planned arena; run() copies inputs in, executes the list
// on one stream and copies the outputs out.
#include "backends/onednn/onednn_backend.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "backends/memory_plan.h"
#include "backends/onednn/compiler.h"

namespace teesplit {
namespace onednn {

namespace {
bool env_flag(const char* name, bool def) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  return !(v[0] == '0' || v[0] == 'n' || v[0] == 'N' || v[0] == 'f' || v[0] == 'F');
}
}  // namespace

Tuning Tuning::from_env() {
  Tuning t;
  t.winograd = env_flag("TEESPLIT_ONEDNN_WINOGRAD", true);
  t.blocked = env_flag("TEESPLIT_ONEDNN_BLOCKED", true);
  t.se_depthwise = env_flag("TEESPLIT_ONEDNN_SE_DW", true);
  t.verbose = env_flag("TEESPLIT_ONEDNN_VERBOSE", false);
  t.profile = env_flag("TEESPLIT_ONEDNN_PROFILE", false);
  t.tune = env_flag("TEESPLIT_ONEDNN_TUNE", true);
  t.tune_cache_path = tune_cache_path_from_env();
  auto number = [](const char* name, double def) {
    const char* v = std::getenv(name);
    if (!v || !*v) return def;
    char* end = nullptr;
    const double x = std::strtod(v, &end);
    TS_CHECK(end && *end == 0 && x >= 0 && x <= 1e12, name, "=", v,
             ": expected a non-negative number");
    return x;
  };
  t.tune_budget_ms = number("TEESPLIT_ONEDNN_TUNE_BUDGET_MS", t.tune_budget_ms);
  t.tune_min_mflop = number("TEESPLIT_ONEDNN_TUNE_MIN_MFLOP", t.tune_min_mflop);
  if (const char* v = std::getenv("TEESPLIT_ONEDNN_CONV_IMPL"); v && *v) {
    t.conv_impl = parse_conv_impl(v);
    TS_CHECK(t.conv_impl, "TEESPLIT_ONEDNN_CONV_IMPL=", v, ": unknown; choose from ",
             conv_impl_names());
  }
  return t;
}

size_t TensorSlot::bytes() const {
  if (dtype == DType::F32 && md.data.ndims > 0) return md.get_size();
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return static_cast<size_t>(n) * dtype_size(dtype);
}

// ---------------------------------------------------------------------------
// The executable.

struct OutputCopy {
  int slot = -1;
  std::optional<dnnl::reorder> reorder;  // blocked -> plain
  memory src, dst;                       // dst's handle is set per run
};

class OneDnnExecutable : public Executable {
 public:
  std::vector<Value> input_info;  // name, dtype, shape
  std::vector<int> input_slots;
  std::vector<OutputCopy> outputs;
  std::vector<TensorSlot> slots;
  std::vector<Step> steps;
  std::shared_ptr<std::byte> arena;
  size_t arena_bytes = 0;
  memory scratch;
  dnnl::engine eng;
  dnnl::stream strm;
  int threads = 0;
  RunStats st;
  bool profile = false;
  std::vector<double> step_ms;  // accumulated per step when profiling
  int runs = 0;

  void reset_profile() override {
    std::fill(step_ms.begin(), step_ms.end(), 0.0);
    runs = 0;
  }

  ~OneDnnExecutable() override {
    if (!profile || runs == 0) return;
    std::vector<std::string> labels;
    for (const auto& step : steps) labels.push_back(step.label);
    print_step_profile("onednn", labels, step_ms, runs, 25);
  }

  std::byte* slot_ptr(int s) {
    const TensorSlot& t = slots[static_cast<size_t>(s)];
    int r = t.root < 0 ? s : t.root;
    const TensorSlot& rt = slots[static_cast<size_t>(r)];
    if (rt.constant) return static_cast<std::byte*>(const_cast<void*>(rt.constant->raw()));
    return arena.get() + rt.offset;
  }

  RunStats stats() const override { return st; }

  std::vector<std::string> step_labels() const override {
    std::vector<std::string> out;
    for (const Step& s : steps) out.push_back(s.label);
    return out;
  }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    if (threads > 0) omp_set_num_threads(threads);
    TS_CHECK(inputs.size() == input_info.size(), "the model takes ", input_info.size(),
             " input(s), got ", inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Value& v = input_info[i];
      TS_CHECK(inputs[i].dtype() == v.dtype, "input '", v.name, "' has type ",
               dtype_name(inputs[i].dtype()), ", the model expects ", dtype_name(v.dtype));
      TS_CHECK(inputs[i].shape() == v.shape, "input '", v.name, "' has shape ",
               shape_str(inputs[i].shape()), ", the model expects ", shape_str(v.shape));
      std::memcpy(slot_ptr(input_slots[i]), inputs[i].raw(), inputs[i].nbytes());
    }
    if (profile && step_ms.size() != steps.size()) step_ms.assign(steps.size(), 0.0);
    ++runs;
    for (size_t k = 0; k < steps.size(); ++k) {
      Step& s = steps[k];
      const auto t0 =
          profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
      if (s.prim) {
        try {
          s.prim->execute(strm, s.bound);
        } catch (const dnnl::error& e) {
          fail("onednn: ", s.label, ": execution failed: ", e.what());
        }
      } else {
        run_reference(s);
      }
      if (profile)
        step_ms[k] +=
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
    }
    try {
      strm.wait();
    } catch (const dnnl::error& e) {
      fail("onednn: stream wait failed: ", e.what());
    }
    std::vector<Tensor> out;
    out.reserve(outputs.size());
    for (OutputCopy& o : outputs) {
      const TensorSlot& t = slots[static_cast<size_t>(o.slot)];
      Tensor y(t.dtype, t.shape);
      if (o.reorder) {
        try {
          o.dst.set_data_handle(y.raw());
          o.reorder->execute(strm, o.src, o.dst);
          strm.wait();
        } catch (const dnnl::error& e) {
          fail("onednn: output reorder failed: ", e.what());
        }
      } else {
        std::memcpy(y.raw(), slot_ptr(o.slot), y.nbytes());
      }
      out.push_back(std::move(y));
    }
    return out;
  }

  void run_reference(Step& s) {
    std::vector<Tensor> held;
    held.reserve(s.ref_in.size());
    std::vector<const Tensor*> in;
    for (int id : s.ref_in) {
      if (id < 0) {
        in.push_back(nullptr);
        continue;
      }
      const TensorSlot& t = slots[static_cast<size_t>(id)];
      const TensorSlot& rt = slots[static_cast<size_t>(t.root < 0 ? id : t.root)];
      if (rt.constant && t.root < 0) {
        in.push_back(&*rt.constant);
        continue;
      }
      Tensor x(t.dtype, t.shape);
      std::memcpy(x.raw(), slot_ptr(id), x.nbytes());
      held.push_back(std::move(x));
      in.push_back(&held.back());
    }
    std::vector<Tensor> out;
    try {
      out = s.ref->run(s.attrs, in);
    } catch (const Error& e) {
      fail("onednn: ", s.label, ": ", e.what());
    }
    TS_CHECK(out.size() >= s.ref_out.size(), "onednn: ", s.label,
             ": the reference kernel returned ", out.size(), " outputs, expected ",
             s.ref_out.size());
    for (size_t k = 0; k < s.ref_out.size(); ++k) {
      if (s.ref_out[k] < 0) continue;
      const TensorSlot& t = slots[static_cast<size_t>(s.ref_out[k])];
      TS_CHECK(out[k].dtype() == t.dtype && out[k].shape() == t.shape, "onednn: ", s.label,
               ": output ", k, " is ", dtype_name(out[k].dtype()), shape_str(out[k].shape()),
               ", the specialised graph says ", dtype_name(t.dtype), shape_str(t.shape));
      std::memcpy(slot_ptr(s.ref_out[k]), out[k].raw(), out[k].nbytes());
    }
  }
};

// ---------------------------------------------------------------------------
// Compiler core.

Compiler::Compiler(const Graph& graph, const CompileOptions& opts)
    : g(graph),
      eng(dnnl::engine::kind::cpu, 0),
      strm(eng),
      tuning(Tuning::from_env()),
      bf16(opts.precision == Precision::BF16),
      opts_(opts) {
  consumers = g.consumers();
  is_output.assign(g.values.size(), 0);
  for (int v : g.outputs) is_output[static_cast<size_t>(v)] = 1;
  consumed.assign(g.nodes.size(), 0);
  value_slot.assign(g.values.size(), -1);
}

std::string Compiler::where(const Node& n) const {
  return detail::concat("node '", n.name, "' (", n.op, ")");
}

Tag Compiler::plain_tag(size_t rank) {
  switch (rank) {
    case 0:
    case 1:
      return Tag::a;
    case 2:
      return Tag::ab;
    case 3:
      return Tag::abc;
    case 4:
      return Tag::abcd;
    case 5:
      return Tag::abcde;
    case 6:
      return Tag::abcdef;
    default:
      fail("onednn: tensors of rank ", rank, " are not supported");
  }
}

memory::desc Compiler::make_md(const Shape& s, Layout l) {
  const memory::dims d = s.empty() ? memory::dims{1} : memory::dims(s.begin(), s.end());
  Tag tag = plain_tag(d.size());
  if (l == Layout::Blocked16) tag = Tag::aBcd16b;
  if (l == Layout::Blocked8) tag = Tag::aBcd8b;
  if (l == Layout::NhwcBf16 || l == Layout::Nhwc) tag = Tag::acdb;
  return memory::desc(d, layout_is_bf16(l) ? memory::data_type::bf16 : memory::data_type::f32, tag);
}

int Compiler::new_slot(DType dt, const Shape& s, Layout l) {
  TensorSlot t;
  t.dtype = dt;
  t.shape = s;
  t.layout = l;
  if (dt == DType::F32) t.md = make_md(s, l);
  slots.push_back(std::move(t));
  return static_cast<int>(slots.size()) - 1;
}

int Compiler::new_slot_md(const Shape& s, const memory::desc& md, Layout l) {
  TensorSlot t;
  t.shape = s;
  t.layout = l;
  t.md = md;
  slots.push_back(std::move(t));
  return static_cast<int>(slots.size()) - 1;
}

int Compiler::view_slot(int base, const Shape& s, const memory::desc& md, Layout l) {
  TensorSlot t;
  t.dtype = slots[static_cast<size_t>(base)].dtype;
  t.shape = s;
  t.layout = l;
  t.md = md;
  t.root = root_of(base);
  slots.push_back(std::move(t));
  return static_cast<int>(slots.size()) - 1;
}

void Compiler::bind_value(int v, int slot) {
  value_slot[static_cast<size_t>(v)] = slot;
  slots[static_cast<size_t>(root_of(slot))].bound_values.push_back(v);
}

int Compiler::slot_of(int v) {
  int s = value_slot[static_cast<size_t>(v)];
  if (s >= 0) return s;
  const Value& vv = val(v);
  TS_CHECK(vv.constant, "onednn: value '", vv.name, "' is read before any node computes it");
  TensorSlot t;
  t.dtype = vv.constant->dtype();
  t.shape = vv.constant->shape();
  if (t.dtype == DType::F32) t.md = make_md(t.shape, Layout::Plain);
  t.constant = *vv.constant;
  slots.push_back(std::move(t));
  s = static_cast<int>(slots.size()) - 1;
  value_slot[static_cast<size_t>(v)] = s;
  return s;
}

int Compiler::slot_in_layout(int v, Layout l) {
  int s = slot_of(v);
  if (slots[static_cast<size_t>(s)].layout == l) return s;
  const Shape& shape = slots[static_cast<size_t>(s)].shape;
  if (layout_is_4d(l)) TS_CHECK(shape.size() == 4, "onednn: blocked layout needs 4-D");
  return slot_with_md(v, make_md(shape, l), l);
}

int Compiler::slot_with_md(int v, const memory::desc& md, Layout l) {
  int s = slot_of(v);
  if (slots[static_cast<size_t>(s)].md == md) return s;
  auto key = std::make_pair(v, static_cast<int>(l));
  auto it = converted_.find(key);
  if (it != converted_.end() && slots[static_cast<size_t>(it->second)].md == md) return it->second;
  int d = new_slot_md(slots[static_cast<size_t>(s)].shape, md, l);
  slots[static_cast<size_t>(d)].bound_values.push_back(v);
  add_reorder(s, d, "reorder of '" + val(v).name + "'");
  converted_[key] = d;
  return d;
}

int Compiler::sole_consumer(int v) const {
  if (is_output[static_cast<size_t>(v)]) return -1;
  const auto& c = consumers[static_cast<size_t>(v)];
  if (c.size() != 1) return -1;
  // A node that reads v twice (Add(x, x)) is not a fusion candidate either.
  const Node& n = node(c[0]);
  if (std::count(n.inputs.begin(), n.inputs.end(), v) != 1) return -1;
  return c[0];
}

bool Compiler::storage_free_after(int slot, int reader) const {
  const TensorSlot& r = slots[static_cast<size_t>(root_of(slot))];
  if (r.constant) return false;
  for (int u : r.bound_values) {
    if (is_output[static_cast<size_t>(u)]) return false;
    for (int k : consumers[static_cast<size_t>(u)])
      if (k != reader && !consumed[static_cast<size_t>(k)]) return false;
  }
  return true;
}

void Compiler::add_prim(const std::string& label, const dnnl::primitive& p,
                        std::vector<std::pair<int, int>> args,
                        std::vector<std::pair<int, memory>> fixed, const memory::desc& scratch,
                        int dst_arg) {
  Step s;
  s.label = label;
  s.prim = p;
  for (auto& [arg, slot] : args) {
    if (arg == dst_arg)
      s.writes.push_back(slot);
    else
      s.reads.push_back(slot);
  }
  s.args = std::move(args);
  s.fixed = std::move(fixed);
  size_t sb = scratch.get_size();
  if (sb > 0) {
    s.scratchpad = true;
    scratch_bytes_ = std::max(scratch_bytes_, sb);
  }
  if (tuning.verbose) std::cerr << "onednn: " << label << "\n";
  steps.push_back(std::move(s));
}

void Compiler::add_reorder(int src, int dst, const std::string& label) {
  guarded(label, "reorder", [&] {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::reorder::primitive_desc pd(eng, slots[static_cast<size_t>(src)].md, eng,
                                     slots[static_cast<size_t>(dst)].md, attr);
    add_prim(label + ": " + pd.impl_info_str(), dnnl::reorder(pd),
             {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}, {}, pd.scratchpad_desc());
  });
}

memory Compiler::constant_memory(const Tensor& t, const memory::desc& src_md,
                                 const memory::desc& md) {
  TS_CHECK(t.dtype() == DType::F32, "onednn: constant of type ", dtype_name(t.dtype()),
           " where float32 is needed");
  TS_CHECK(src_md.get_size() == t.nbytes(), "onednn: constant of ", t.nbytes(),
           " bytes does not match its descriptor (", src_md.get_size(), " bytes)");
  memory dst(md, eng);
  memory src(src_md, eng, const_cast<void*>(t.raw()));
  dnnl::reorder(src, dst).execute(strm, src, dst);
  strm.wait();
  weight_bytes += md.get_size();
  return dst;
}

void Compiler::lower_reference(int ni) {
  const Node& n = node(ni);
  const OpSchema* op = find_op(n.op);
  TS_CHECK(op, "onednn: ", where(n), ": no oneDNN mapping and no reference kernel");
  Step s;
  s.label = where(n) + ": reference kernel";
  s.ref = op;
  s.attrs = n.attrs;
  for (int in : n.inputs) {
    if (in < 0) {
      s.ref_in.push_back(-1);
      continue;
    }
    int sl = val(in).constant ? slot_of(in) : slot_in_layout(in, Layout::Plain);
    s.ref_in.push_back(sl);
    if (!slots[static_cast<size_t>(sl)].constant) s.reads.push_back(sl);
  }
  for (int out : n.outputs) {
    if (out < 0 ||
        (consumers[static_cast<size_t>(out)].empty() && !is_output[static_cast<size_t>(out)])) {
      // Optional outputs nobody reads still need somewhere to go only if computed;
      // the kernel returns them, and we drop them.
      s.ref_out.push_back(-1);
      continue;
    }
    const Value& v = val(out);
    TS_CHECK(shape_known(v.shape), "onednn: ", where(n), ": output '", v.name,
             "' has unknown shape ", shape_str(v.shape), " (compile a specialised graph)");
    int sl = new_slot(v.dtype, v.shape, Layout::Plain);
    bind_value(out, sl);
    s.ref_out.push_back(sl);
    s.writes.push_back(sl);
  }
  if (tuning.verbose) std::cerr << "onednn: " << s.label << "\n";
  steps.push_back(std::move(s));
}

std::unique_ptr<Executable> Compiler::compile() {
  if (opts_.threads > 0) omp_set_num_threads(opts_.threads);
  auto exe = std::make_unique<OneDnnExecutable>();
  exe->threads = opts_.threads;
  exe->profile = tuning.profile;
  // Graph inputs: plain slots, copied in by run().
  for (int v : g.inputs) {
    const Value& vv = val(v);
    TS_CHECK(shape_known(vv.shape), "onednn: input '", vv.name, "' has unknown shape ",
             shape_str(vv.shape), " (compile a specialised graph)");
    int s = new_slot(vv.dtype, vv.shape, Layout::Plain);
    bind_value(v, s);
    exe->input_slots.push_back(s);
    Value info;
    info.name = vv.name;
    info.dtype = vv.dtype;
    info.shape = vv.shape;
    exe->input_info.push_back(std::move(info));
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (consumed[i]) continue;
    const int ni = static_cast<int>(i);
    const Node& n = g.nodes[i];
    bool all_f32 = true;
    for (int in : n.inputs)
      if (in >= 0 && val(in).dtype != DType::F32 &&
          !(val(in).constant &&
            (n.op == "Reshape" || n.op == "Squeeze" || n.op == "Unsqueeze" || n.op == "Clip")))
        all_f32 = false;
    for (int out : n.outputs) {
      if (out < 0) continue;
      if (val(out).dtype != DType::F32) all_f32 = false;
      TS_CHECK(shape_known(val(out).shape), "onednn: ", where(n), ": output '", val(out).name,
               "' has unknown shape ", shape_str(val(out).shape), " (compile a specialised graph)");
    }
    bool done = false;
    try {
      if (all_f32) {
        done = guarded(where(n), "lowering", [&] {
          const std::string& op = n.op;
          if (op == "Conv") return lower_conv(ni);
          if (op == "BatchNormalization") return lower_batchnorm(ni);
          if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" ||
              op == "GlobalMaxPool")
            return lower_pool(ni);
          if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Max" ||
              op == "Min")
            return lower_binary(ni);
          if (op == "Gemm" || op == "MatMul") return lower_gemm(ni);
          if (op == "Softmax") return lower_softmax(ni);
          if (op == "Concat") return lower_concat(ni);
          if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze")
            return lower_view(ni);
          if (eltwise_spec(g, n)) return lower_eltwise(ni);
          return false;
        });
      }
      if (!done) lower_reference(ni);
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.rfind("onednn: ", 0) == 0) throw;
      fail("onednn: ", where(n), ": ", msg);
    }
    consumed[i] = 1;
  }

  // Graph outputs: constants or values computed above.
  for (int v : g.outputs) {
    OutputCopy oc;
    oc.slot = slot_of(v);
    exe->outputs.push_back(std::move(oc));
  }

  // Lifetimes on the roots. Inputs live from step 0, outputs to the end.
  const int nsteps = static_cast<int>(steps.size());
  auto touch = [&](int slot, int step) {
    TensorSlot& r = slots[static_cast<size_t>(root_of(slot))];
    if (r.constant) return;
    r.first = r.first < 0 ? step : std::min(r.first, step);
    r.last = std::max(r.last, step);
  };
  for (int s : exe->input_slots) touch(s, 0);
  for (int k = 0; k < nsteps; ++k) {
    for (int s : steps[static_cast<size_t>(k)].reads) touch(s, k);
    for (int s : steps[static_cast<size_t>(k)].writes) touch(s, k);
  }
  for (const OutputCopy& o : exe->outputs) touch(o.slot, nsteps);
  std::vector<BufferRequest> reqs;
  std::vector<int> req_slot;
  for (size_t i = 0; i < slots.size(); ++i) {
    TensorSlot& t = slots[i];
    if (t.root >= 0 || t.constant || t.first < 0) continue;
    size_t bytes = t.bytes();
    // Views of this slot may need more bytes than its own descriptor (never in
    // practice; guard anyway).
    for (const TensorSlot& o : slots)
      if (o.root == static_cast<int>(i)) bytes = std::max(bytes, o.bytes());
    reqs.push_back({bytes, t.first, t.last});
    req_slot.push_back(static_cast<int>(i));
  }
  ArenaPlan plan = plan_arena(reqs, 64);
  for (size_t k = 0; k < reqs.size(); ++k)
    slots[static_cast<size_t>(req_slot[k])].offset = plan.offsets[k];
  const size_t scratch_off = (plan.total + 63) / 64 * 64;
  exe->arena_bytes = scratch_off + scratch_bytes_;
  exe->arena = aligned_buffer(std::max<size_t>(exe->arena_bytes, 64));
  exe->slots = std::move(slots);
  exe->eng = eng;
  exe->strm = strm;

  // Bind memories once.
  std::vector<std::optional<memory>> mems(exe->slots.size());
  auto mem_of = [&](int s) -> memory {
    auto& m = mems[static_cast<size_t>(s)];
    if (!m) m = memory(exe->slots[static_cast<size_t>(s)].md, eng, exe->slot_ptr(s));
    return *m;
  };
  guarded("binding", "memory creation", [&] {
    if (scratch_bytes_ > 0)
      exe->scratch = memory(
          memory::desc({static_cast<memory::dim>(scratch_bytes_)}, memory::data_type::u8, Tag::a),
          eng, exe->arena.get() + scratch_off);
    for (Step& s : steps) {
      if (!s.prim) continue;
      for (auto& [arg, slot] : s.args) s.bound[arg] = mem_of(slot);
      for (auto& [arg, m] : s.fixed) s.bound[arg] = m;
      if (s.scratchpad) s.bound[DNNL_ARG_SCRATCHPAD] = exe->scratch;
    }
    for (OutputCopy& o : exe->outputs) {
      const TensorSlot& t = exe->slots[static_cast<size_t>(o.slot)];
      if (t.dtype != DType::F32) continue;
      memory::desc plain = make_md(t.shape, Layout::Plain);
      if (t.md == plain) continue;
      o.src = mem_of(o.slot);
      o.dst = memory(plain, eng, DNNL_MEMORY_NONE);
      o.reorder = dnnl::reorder(o.src, o.dst);
    }
    return 0;
  });
  exe->steps = std::move(steps);
  exe->st.peak_activation_bytes = exe->arena_bytes;
  if (tune_cache_) tune_cache_->save();
  if (tuning.verbose && tune_timed_ + tune_cached_ + tune_over_budget_ > 0)
    std::cerr << "onednn: tuning: " << tune_timed_ << " convolution(s) timed in "
              << static_cast<int>(tune_spent_ms_) << " ms, " << tune_cached_ << " from the cache"
              << (tune_cache_ ? " " + tune_cache_->path() : std::string(" (cache off)")) << ", "
              << tune_over_budget_ << " over the budget\n";
  exe->st.weight_bytes = weight_bytes;
  return exe;
}

}  // namespace onednn

// ---------------------------------------------------------------------------

namespace {

class OneDnnBackend : public Backend {
 public:
  std::string name() const override { return "onednn"; }

  std::string unsupported_reason(const Graph& g, const Node& n) const override {
    if (find_op(n.op)) return {};
    return "operator " + n.op + " has no oneDNN mapping and no reference kernel";
  }

  std::unique_ptr<Executable> compile(const Graph& g, const CompileOptions& opts) override {
    g.validate();
    for (const Node& n : g.nodes) {
      std::string why = unsupported_reason(g, n);
      TS_CHECK(why.empty(), "onednn: node '", n.name, "' (", n.op, "): ", why);
    }
    if (opts.precision == Precision::BF16) {
      const std::string why = onednn_bf16_unavailable();
      TS_CHECK(why.empty(), "onednn: ", why);
    }
    onednn::Compiler c(g, opts);
    return c.compile();
  }
};

}  // namespace

std::string onednn_cpu_isa() {
  using dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case cpu_isa::sse41:
      return "sse41";
    case cpu_isa::avx:
      return "avx";
    case cpu_isa::avx2:
      return "avx2";
    case cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case cpu_isa::avx512_mic:
      return "avx512_mic";
    case cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case cpu_isa::avx512_core:
      return "avx512_core";
    case cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "unknown (" + std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa())) + ")";
  }
}

bool onednn_has_amx() {
  return dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx;
}

std::string onednn_bf16_unavailable() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  if (isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx) return {};
  const char* limit = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!limit || !*limit) limit = std::getenv("DNNL_MAX_CPU_ISA");
  return "precision bf16 needs a CPU with AVX512_BF16 or AMX, and oneDNN's ISA here is " +
         onednn_cpu_isa() +
         (limit && *limit ? std::string(" (limited by ONEDNN_MAX_CPU_ISA=") + limit + ")"
                          : std::string()) +
         "; use --precision fp32";
}

std::unique_ptr<Backend> make_onednn_backend() {
  return std::make_unique<OneDnnBackend>();
}

}  // namespace teesplit
