#include "runtime/split_runner.h"

#include <cstring>

#include "graph/passes.h"

namespace teesplit {
namespace {

// Sample i of a batch as a [1, ...] tensor.
Tensor sample(const Tensor& t, int64_t i) {
  Shape s = t.shape();
  s[0] = 1;
  Tensor out(t.dtype(), s);
  std::memcpy(out.raw(), static_cast<const std::byte*>(t.raw()) + i * out.nbytes(), out.nbytes());
  return out;
}

Tensor stack(const std::vector<Tensor>& parts) {
  Shape s = parts[0].shape();
  TS_CHECK(!s.empty() && s[0] == 1, "a split output has shape ", shape_str(s),
           "; batching needs a leading batch dimension of 1");
  s[0] = static_cast<int64_t>(parts.size());
  Tensor out(parts[0].dtype(), s);
  for (size_t i = 0; i < parts.size(); ++i)
    std::memcpy(static_cast<std::byte*>(out.raw()) + i * parts[0].nbytes(), parts[i].raw(),
                parts[0].nbytes());
  return out;
}

}  // namespace

SplitRunner::SplitRunner(Graph front, Graph back, const SplitRunOptions& opts)
    : front_(std::move(front)),
      front_backend_(make_backend(opts.front_backend)),
      back_backend_(make_backend(opts.back_backend)) {
  TS_CHECK(front_.inputs.size() == 1 && front_.outputs.size() == 1,
           "the front partition must have one input and one output, it has ", front_.inputs.size(),
           " and ", front_.outputs.size());
  TS_CHECK(back.inputs.size() == 1, "the back partition must have one input, it has ",
           back.inputs.size());
  const Value& feat = front_.value(front_.outputs[0]);
  const Value& back_in = back.value(back.inputs[0]);
  TS_CHECK(feat.name == back_in.name && feat.dtype == back_in.dtype, "front output '", feat.name,
           "' does not feed the back partition, whose input is '", back_in.name, "'");
  back_src_ = back;
  back_ = specialize(back, {feat.shape});
  CompileOptions co;
  co.threads = threads_ = opts.threads;
  co.tf32 = tf32_ = opts.tf32;
  batch_back_ = opts.batch_back;
  front_precision_ = opts.front_precision;
  CompileOptions fco = co;
  fco.precision = front_precision_;
  front_exe_ = front_backend_->compile(front_, fco);
  back_exe_ = back_backend_->compile(back_, co);
}

Tensor SplitRunner::run_front(const Tensor& input) {
  std::vector<Tensor> out = front_exe_->run({input});
  TS_CHECK(out.size() == 1, "the front partition returned ", out.size(), " outputs");
  return out[0];
}

std::vector<Tensor> SplitRunner::run_back(const Tensor& feature) {
  return back_exe_->run({feature});
}

void SplitRunner::set_tail(Graph tail) {
  TS_CHECK(tail.inputs.size() == 1 && tail.outputs.size() == 1,
           "the tail partition must have one input and one output, it has ", tail.inputs.size(),
           " and ", tail.outputs.size());
  TS_CHECK(back_.outputs.size() == 1, "a tail partition follows a back partition with one output; ",
           "this one has ", back_.outputs.size());
  const Value& back_out = back_.value(back_.outputs[0]);
  const Value& tail_in = tail.value(tail.inputs[0]);
  TS_CHECK(back_out.name == tail_in.name && back_out.dtype == tail_in.dtype,
           "the back partition's output '", back_out.name,
           "' does not feed the tail partition, whose input is '", tail_in.name, "'");
  TS_CHECK(back_out.shape == tail_in.shape, "the back partition's output '", back_out.name, "' ",
           shape_str(back_out.shape), " differs from the tail partition's input ",
           shape_str(tail_in.shape));
  CompileOptions co;
  co.threads = threads_;
  tail_exe_ = front_backend_->compile(tail, co);
  tail_ = std::move(tail);
}

Tensor SplitRunner::run_tail(const Tensor& back_output) {
  TS_CHECK(tail_exe_, "this split has no tail partition");
  std::vector<Tensor> out = tail_exe_->run({back_output});
  TS_CHECK(out.size() == 1, "the tail partition returned ", out.size(), " outputs");
  return out[0];
}

std::vector<Tensor> SplitRunner::apply_tail(std::vector<Tensor> back_out) {
  if (!tail_exe_) return back_out;
  TS_CHECK(back_out.size() == 1, "the back partition returned ", back_out.size(), " outputs");
  const Tensor& b = back_out[0];
  if (b.shape() == tail_.value(tail_.inputs[0]).shape) return {run_tail(b)};
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < b.dim(0); ++i) parts.push_back(run_tail(sample(b, i)));
  return {stack(parts)};
}

Executable* SplitRunner::batched_back(const std::vector<Tensor>& features,
                                      std::vector<Tensor>* out) {
  const int64_t n = static_cast<int64_t>(features.size());
  auto it = batched_.find(n);
  if (it != batched_.end()) {
    if (it->second) *out = it->second->run({stack(features)});
    return it->second.get();
  }
  // One executable (and, on a GPU, one arena) per batch size: keep a few.
  if (batched_.size() >= 8) batched_.clear();
  std::unique_ptr<Executable> exe;
  if (features[0].shape().empty() || features[0].dim(0) != 1) {  // no batch dimension
    batched_[n] = nullptr;
    return nullptr;
  }
  try {
    Graph g = back_src_;
    Value& in = g.value(g.inputs[0]);
    in.shape[0] = -1;  // the file's partition has batch 1 there
    Shape s = features[0].shape();
    s[0] = n;
    const Graph spec = specialize(g, {s});
    bool leading_n = true;
    for (int o : spec.outputs) {
      const Shape& os = spec.value(o).shape;
      leading_n = leading_n && !os.empty() && os[0] == n;
    }
    if (leading_n) {
      CompileOptions co;
      co.threads = threads_;
      co.tf32 = tf32_;
      exe = back_backend_->compile(spec, co);
      std::vector<Tensor> got = exe->run({stack(features)});
      const std::vector<Tensor> want = back_exe_->run({features[0]});
      bool same = got.size() == want.size();
      for (size_t k = 0; same && k < got.size(); ++k)
        same = max_relative_error(sample(got[k], 0), want[k]) <= (tf32_ ? 1e-2 : 1e-4);
      if (same)
        *out = std::move(got);
      else
        exe.reset();
    }
  } catch (const Error&) {
    exe.reset();  // not batchable (a shape baked in at batch 1): sample by sample
  }
  Executable* p = exe.get();
  batched_[n] = std::move(exe);
  return p;
}

std::vector<Tensor> SplitRunner::run(const Tensor& input) {
  const Shape& in_shape = front_.value(front_.inputs[0]).shape;
  if (input.shape() == in_shape) return apply_tail(run_back(run_front(input)));
  Shape per = input.shape();
  TS_CHECK(!per.empty() && !in_shape.empty() && in_shape[0] == 1 && per.size() == in_shape.size(),
           "input has shape ", shape_str(input.shape()), ", the front partition takes ",
           shape_str(in_shape));
  per[0] = 1;
  TS_CHECK(per == in_shape, "input has shape ", shape_str(input.shape()),
           ", the front partition takes ", shape_str(in_shape), " per sample");
  std::vector<Tensor> features;
  for (int64_t i = 0; i < input.dim(0); ++i) features.push_back(run_front(sample(input, i)));
  std::vector<Tensor> result;
  if (batch_back_ && batched_back(features, &result)) return apply_tail(std::move(result));
  std::vector<std::vector<Tensor>> outs;
  for (const Tensor& f : features) {
    std::vector<Tensor> o = run_back(f);
    if (outs.empty()) outs.resize(o.size());
    for (size_t k = 0; k < o.size(); ++k) outs[k].push_back(std::move(o[k]));
  }
  for (auto& parts : outs) result.push_back(stack(parts));
  return apply_tail(std::move(result));
}

}  // namespace teesplit
