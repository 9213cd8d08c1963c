#include "train/train.h"

#include <dlfcn.h>
#include <malloc.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>

#include "core/clock.h"
#include "core/progress.h"
#include "host/model.h"
#include "onnx/onnx_import.h"
#include "runtime/session.h"
#include "torch/torch_graph.h"
#include "train/onnx_weights.h"
#include "zoo/zoo.h"
#include "zoo/zoo_proto.h"

namespace teesplit {
namespace {

using Clock = std::chrono::steady_clock;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// One split as the trainer sees it: in memory when it fits, else read per batch.
struct Split {
  const Dataset* ds = nullptr;
  int64_t n = 0;
  torch::Tensor images;  // [n,C,H,W] when cached
  torch::Tensor labels;  // [n] int64, always
  int64_t upsample = 1;  // nearest-neighbour factor (tabular rows)

  torch::Tensor fetch(const std::vector<int64_t>& idx) const {
    torch::Tensor x;
    if (images.defined()) {
      x = images.index_select(0, torch::tensor(idx, torch::kInt64));
    } else {
      x = to_torch(ds->get_batch(idx).images);
    }
    if (upsample > 1) x = x.repeat_interleave(upsample, 2).repeat_interleave(upsample, 3);
    return x;
  }
  torch::Tensor fetch_labels(const std::vector<int64_t>& idx) const {
    return labels.index_select(0, torch::tensor(idx, torch::kInt64));
  }
};

Split load_split(const Dataset& ds, int64_t limit, int64_t classes, size_t cache_limit) {
  Split s;
  s.ds = &ds;
  s.n = limit > 0 ? std::min(limit, ds.size()) : ds.size();
  TS_CHECK(s.n > 0, ds.name(), ": the split is empty");
  const Shape in = ds.input_shape();
  TS_CHECK(in.size() == 3, ds.name(), ": input shape ", shape_str(in), " is not [C,H,W]");
  const int64_t per = in[0] * in[1] * in[2];
  const bool cache = static_cast<double>(s.n) * per * 4 <= static_cast<double>(cache_limit);
  s.labels = torch::empty({s.n}, torch::kInt64);
  if (cache) s.images = torch::empty({s.n, in[0], in[1], in[2]});
  int64_t* lab = s.labels.data_ptr<int64_t>();
  float* img = cache ? s.images.data_ptr<float>() : nullptr;
  at::parallel_for(0, s.n, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (cache) {
        const Sample smp = ds.get(i);
        TS_CHECK(smp.image.shape() == in, ds.name(), ": sample ", i, " has shape ",
                 shape_str(smp.image.shape()), ", expected ", shape_str(in));
        std::memcpy(img + i * per, smp.image.data<float>(), static_cast<size_t>(per) * 4);
        lab[i] = smp.label;
      } else {
        lab[i] = ds.label(i);
      }
      TS_CHECK(lab[i] >= 0 && lab[i] < classes, ds.name(), ": sample ", i, " has label ", lab[i],
               ", outside [0, ", classes, ")");
    }
  });
  return s;
}

// Random crop (zero padding `pad`) and horizontal flip, per sample.
torch::Tensor augment(const torch::Tensor& x, int64_t pad, std::mt19937_64& rng) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const torch::Tensor padded = at::constant_pad_nd(x, {pad, pad, pad, pad}, 0);
  torch::Tensor out = torch::empty_like(x);
  std::uniform_int_distribution<int64_t> off(0, 2 * pad);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t oy = off(rng), ox = off(rng);
    torch::Tensor crop = padded[i].slice(1, oy, oy + h).slice(2, ox, ox + w);
    if (rng() & 1) crop = crop.flip({2});
    out[i].copy_(crop);
  }
  return out;
}

struct EvalResult {
  double loss = 0, accuracy = 0;
};

EvalResult evaluate(TorchGraph& m, const Split& s, int64_t batch) {
  m.eval();
  torch::NoGradGuard no_grad;
  double loss = 0;
  int64_t correct = 0;
  for (int64_t b = 0; b < s.n; b += batch) {
    std::vector<int64_t> idx(static_cast<size_t>(std::min(batch, s.n - b)));
    std::iota(idx.begin(), idx.end(), b);
    const torch::Tensor logits = m.forward(s.fetch(idx));
    const torch::Tensor y = s.fetch_labels(idx);
    loss += torch::nn::functional::cross_entropy(
                logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }
  m.train();
  return {loss / static_cast<double>(s.n), static_cast<double>(correct) / static_cast<double>(s.n)};
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string floats_str(const std::vector<float>& v) {
  if (v.empty()) return "default";
  std::vector<std::string> s;
  for (float f : v) s.push_back(fmt("%g", f));
  return join(s, ",");
}

}  // namespace

void set_torch_threads(int threads) {
  TS_CHECK(threads >= 1 && threads <= 1024, "threads must be between 1 and 1024, got ", threads);
  using SetThreads = void (*)(int);
  if (void* f = dlsym(RTLD_DEFAULT, "openblas_set_num_threads")) reinterpret_cast<SetThreads>(f)(1);
  at::set_num_threads(threads);
  at::globalContext().setFlushDenormal(true);  // denormals slow training down badly
}

bool keep_freed_memory_in_heap() {
  // Fixed values also turn off glibc's adaptive mmap threshold.
  return mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
}

Tensor torch_forward(const Graph& g, const Tensor& input, int threads) {
  set_torch_threads(threads);
  TorchGraph m(g);
  m.eval();
  torch::NoGradGuard no_grad;
  return from_torch(m.forward(to_torch(input)));
}

TrainResult train_model(const TrainOptions& opts) {
  const auto zoo = zoo_archs();
  TS_CHECK(std::find(zoo.begin(), zoo.end(), opts.arch) != zoo.end(), "unknown --arch '", opts.arch,
           "' (", join(zoo, ", "), ")");
  TS_CHECK(opts.optimizer == "sgd" || opts.optimizer == "adam", "unknown --optimizer '",
           opts.optimizer, "' (sgd, adam)");
  TS_CHECK(opts.epochs >= 1 && opts.epochs <= 10000, "--epochs must be in [1, 10000], got ",
           opts.epochs);
  TS_CHECK(opts.batch >= 2 && opts.batch <= 65536, "--batch must be in [2, 65536], got ",
           opts.batch);
  TS_CHECK(opts.lr >= 0 && std::isfinite(opts.lr), "--lr must be >= 0");
  TS_CHECK(opts.warmup_epochs >= 0, "warm-up must be >= 0 epochs");
  set_torch_threads(opts.threads);
  keep_freed_memory_in_heap();
  torch::manual_seed(opts.seed);
  std::mt19937_64 rng(opts.seed ^ 0x5eed7ea1c0ffee11ULL);
  const auto t_start = Clock::now();

  // Data.
  DatasetOptions dopt = opts.data;
  if (dopt.image_size == 0) dopt.image_size = opts.input_size;
  dopt.split = "train";
  const auto train_ds = open_dataset(opts.dataset, dopt);
  dopt.split = "test";
  const auto test_ds = open_dataset(opts.dataset, dopt);
  const Shape in_shape = train_ds->input_shape();
  TS_CHECK(in_shape.size() == 3 && in_shape[1] == in_shape[2], opts.dataset, ": input shape ",
           shape_str(in_shape), " is not square [C,S,S]");
  TS_CHECK(test_ds->input_shape() == in_shape, opts.dataset, ": the test split has shape ",
           shape_str(test_ds->input_shape()), ", the train split ", shape_str(in_shape));
  const std::string encoder = train_ds->encoder_string();
  const bool tabular = !encoder.empty();
  const int64_t classes = train_ds->num_classes();
  int64_t upsample = 1;
  if (in_shape[1] != opts.input_size) {
    TS_CHECK(tabular && opts.input_size % in_shape[1] == 0, opts.dataset, ": samples are ",
             in_shape[1], "x", in_shape[2], ", --input-size ", opts.input_size,
             tabular ? " is not a multiple of it" : " differs");
    upsample = opts.input_size / in_shape[1];
  }
  const bool do_augment = opts.augment < 0 ? !tabular : opts.augment != 0;
  Split train = load_split(*train_ds, opts.train_limit, classes, opts.cache_limit_bytes);
  Split test = load_split(*test_ds, opts.test_limit, classes, opts.cache_limit_bytes);
  train.upsample = test.upsample = upsample;
  const int64_t steps_per_epoch = train.n / opts.batch;  // the last partial batch is dropped
  TS_CHECK(steps_per_epoch >= 1, opts.dataset, ": the train split has ", train.n,
           " samples, fewer than one batch of ", opts.batch);

  // Model.
  ZooOptions zo;
  zo.arch = opts.arch;
  zo.input_size = opts.input_size;
  zo.channels = in_shape[0];
  zo.classes = classes;
  zo.width = opts.width;
  zo.seed = opts.seed;
  onnx::ModelProto proto = zoo_model_proto(zo);
  std::string bytes;
  TS_CHECK(proto.SerializeToString(&bytes), "cannot serialise the zoo model");
  auto graph = parse_onnx(bytes, "", opts.arch + ".onnx");
  if (!graph) fail(graph.error());
  TorchGraph model(graph.value());
  model.train();

  const bool sgd = opts.optimizer == "sgd";
  const double base_lr = opts.lr > 0 ? opts.lr : sgd ? 0.05 : 1e-3;
  const double wd = opts.weight_decay >= 0 ? opts.weight_decay : sgd ? 5e-4 : 0.0;
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (sgd) {
    opt = std::make_unique<torch::optim::SGD>(
        model.parameters(),
        torch::optim::SGDOptions(base_lr).momentum(0.9).nesterov(true).weight_decay(wd));
  } else {
    opt = std::make_unique<torch::optim::Adam>(model.parameters(),
                                               torch::optim::AdamOptions(base_lr).weight_decay(wd));
  }
  const int64_t total_steps = steps_per_epoch * opts.epochs;
  const auto warmup = std::min<int64_t>(
      total_steps / 2, static_cast<int64_t>(std::llround(opts.warmup_epochs * steps_per_epoch)));
  auto lr_at = [&](int64_t step) {
    if (step < warmup) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
    const double p =
        static_cast<double>(step - warmup) / std::max<int64_t>(1, total_steps - warmup);
    return base_lr * 0.5 * (1.0 + std::cos(M_PI * p));
  };
  const int64_t pad =
      opts.crop_pad >= 0 ? opts.crop_pad : std::max<int64_t>(1, opts.input_size / 16);

  std::ostringstream train_desc;
  train_desc << "arch=" << opts.arch << " width=" << opts.width << " input_size=" << opts.input_size
             << " optimizer=" << opts.optimizer << " lr=" << base_lr << " weight_decay=" << wd
             << " batch=" << opts.batch << " epochs=" << opts.epochs
             << " warmup_epochs=" << opts.warmup_epochs << " schedule=cosine seed=" << opts.seed
             << " augment=" << (do_augment ? "crop" + std::to_string(pad) + "+flip" : "none")
             << " train_samples=" << train.n << " test_samples=" << test.n;
  if (opts.summary)
    std::fprintf(opts.summary, "train %s on %s: %s, %lld steps/epoch, %d threads\n",
                 opts.arch.c_str(), opts.dataset.c_str(), train_desc.str().c_str(),
                 static_cast<long long>(steps_per_epoch), opts.threads);

  TrainResult result;
  ProgressLine progress(opts.progress, 100);
  std::vector<int64_t> order(static_cast<size_t>(train.n));
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= opts.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    const auto t_epoch = Clock::now();
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t i = 0; i < steps_per_epoch; ++i, ++step) {
      const std::vector<int64_t> idx(order.begin() + i * opts.batch,
                                     order.begin() + (i + 1) * opts.batch);
      torch::Tensor x = train.fetch(idx);
      if (do_augment) x = augment(x, pad, rng);
      const torch::Tensor y = train.fetch_labels(idx);
      for (auto& group : opt->param_groups()) group.options().set_lr(lr_at(step));
      const torch::Tensor logits = model.forward(x);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
      opt->zero_grad();
      loss.backward();
      opt->step();
      const double l = loss.item<double>();
      TS_CHECK(std::isfinite(l), "training diverged at epoch ", epoch, " step ", i + 1, " (loss ",
               l, "); try a smaller --lr");
      if (step == 0) result.first_loss = l;
      loss_sum += l * static_cast<double>(idx.size());
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      seen += static_cast<int64_t>(idx.size());
      const double el = seconds_since(t_epoch);
      progress.update("epoch " + std::to_string(epoch) + "/" + std::to_string(opts.epochs) + " " +
                          progress_bar(i + 1, steps_per_epoch) + " " + std::to_string(i + 1) + "/" +
                          std::to_string(steps_per_epoch) + "  loss " +
                          fmt("%.4f", loss_sum / seen) + "  acc " +
                          fmt("%.2f%%", 100.0 * correct / seen) + "  " +
                          fmt("%.0f img/s", seen / std::max(el, 1e-9)) + "  ETA " +
                          clock_text(el / (i + 1) * (steps_per_epoch - i - 1)),
                      i + 1 == steps_per_epoch);
    }
    EpochResult r;
    r.epoch = epoch;
    r.seconds = seconds_since(t_epoch);
    r.train_loss = loss_sum / static_cast<double>(seen);
    r.train_accuracy = static_cast<double>(correct) / static_cast<double>(seen);
    r.images_per_second = static_cast<double>(seen) / std::max(r.seconds, 1e-9);
    const EvalResult ev = evaluate(model, test, 512);
    r.test_loss = ev.loss;
    r.test_accuracy = ev.accuracy;
    progress.clear();
    if (opts.summary) {
      std::fprintf(opts.summary,
                   "epoch %lld/%lld  loss %.4f  train acc %.2f%%  test loss %.4f  test acc %.2f%%  "
                   "%.1f s  %.0f img/s\n",
                   static_cast<long long>(epoch), static_cast<long long>(opts.epochs), r.train_loss,
                   100 * r.train_accuracy, r.test_loss, 100 * r.test_accuracy, r.seconds,
                   r.images_per_second);
      std::fflush(opts.summary);
    }
    result.epochs.push_back(r);
  }
  result.test_accuracy = result.epochs.back().test_accuracy;

  // Write back: every parameter and running statistic by its initializer name.
  auto& meta = result.metadata;
  meta["teesplit.dataset"] = opts.dataset;
  meta["teesplit.test_accuracy"] = fmt("%.4f", result.test_accuracy);
  meta["teesplit.epochs"] = std::to_string(opts.epochs);
  meta["teesplit.train_options"] = train_desc.str();
  meta["teesplit.train_seconds"] = fmt("%.0f", seconds_since(t_start));
  meta["teesplit.class_names"] = join(train_ds->class_names(), "|");
  meta["teesplit.preprocess"] =
      tabular ? "tabular side=" + std::to_string(in_shape[1]) + " target=" + dopt.target
              : "image_size=" + std::to_string(opts.input_size) +
                    " channels=" + std::to_string(in_shape[0]) + " mean=" + floats_str(dopt.mean) +
                    " std=" + floats_str(dopt.std) + " (x/255 - mean) / std";
  if (tabular) {
    meta["teesplit.feature_encoder"] = encoder;
    meta["teesplit.tabular_upsample"] = std::to_string(upsample);
  }
  if (!opts.output.empty()) {
    std::vector<std::pair<std::string, Tensor>> weights;
    for (const auto& [name, t] : model.named_weights()) weights.emplace_back(name, from_torch(t));
    replace_initializers(proto, weights);
    for (const auto& [k, v] : meta) set_metadata(proto, k, v);
    proto.set_doc_string("teesplit " + opts.arch + " trained on " + opts.dataset);
    write_model_file(proto, opts.output);

    // Engine check on the written file: oneDNN session vs LibTorch eval mode.
    auto session =
        open_model_session(opts.output, SessionOptions{BackendKind::OneDnn, opts.threads});
    if (!session) fail(session.error());
    std::vector<int64_t> idx(static_cast<size_t>(std::min<int64_t>(256, test.n)));
    std::iota(idx.begin(), idx.end(), 0);
    const torch::Tensor x = test.fetch(idx);
    model.eval();
    torch::NoGradGuard no_grad;
    const Tensor want = from_torch(model.forward(x));
    const Tensor got = session.value()->run({from_torch(x)})[0];
    result.engine_rel_error = max_relative_error(got, want);
    result.engine_checked = static_cast<int64_t>(idx.size());
    for (int64_t r = 0; r < result.engine_checked; ++r) {
      const float* g = got.data<float>() + r * classes;
      const float* w = want.data<float>() + r * classes;
      result.engine_agree +=
          (std::max_element(g, g + classes) - g) == (std::max_element(w, w + classes) - w);
    }
    if (opts.summary) {
      std::fprintf(opts.summary,
                   "wrote %s (test acc %.2f%%); engine (oneDNN) vs LibTorch on %lld test samples: "
                   "max rel error %.2g, argmax agrees on %lld\n",
                   opts.output.c_str(), 100 * result.test_accuracy,
                   static_cast<long long>(result.engine_checked), result.engine_rel_error,
                   static_cast<long long>(result.engine_agree));
      std::fflush(opts.summary);
    }
  }
  return result;
}

}  // namespace teesplit
