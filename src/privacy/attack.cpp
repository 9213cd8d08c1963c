#include "privacy/attack.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/progress.h"
#include "crypto/primitives.h"
#include "data/dataset.h"
#include "data/ton_iot.h"
#include "graph/passes.h"
#include "io/image.h"
#include "io/npy.h"
#include "onnx/onnx_import.h"
#include "privacy/metrics.h"
#include "privacy/nets.h"
#include "runtime/session.h"
#include "torch/torch_graph.h"
#include "train/train.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int64_t kGridColumns = 8;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::vector<int64_t> torch_shape(const Shape& s) {
  return std::vector<int64_t>(s.begin(), s.end());
}

// A file name for a cut: its name with anything outside [A-Za-z0-9._-] replaced,
// and the index appended when that changed the name (so names stay unique).
std::string cut_file_name(const Cut& c) {
  std::string s = c.name;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-')
      ch = '_';
  if (s != c.name || s.empty() || s[0] == '.') s += "-" + std::to_string(c.index);
  return s;
}

void write_json(const std::string& path, const json& j) {
  write_file(path, j.dump(2) + "\n");
}

json read_json(const std::string& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
}

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t x = seed ^ (a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 29;
  return x & 0x7fffffffffffffffULL;
}

// ---------------------------------------------------------------- the model

struct Preprocess {
  DatasetOptions data;
  bool tabular = false;
  int64_t upsample = 1;
  std::string encoder;
};

std::vector<float> parse_floats(const std::string& s) {
  std::vector<float> out;
  if (s == "default" || s.empty()) return out;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) out.push_back(std::stof(tok));
  return out;
}

// The data preprocessing of a model from its teesplit.preprocess metadata (as
// `teesplit train` writes it); without it, the input's side and channels with
// the loader's default normalisation.
Preprocess model_preprocess(const Graph& g, const Shape& in) {
  Preprocess p;
  p.data.image_size = in[2];
  p.data.channels = in[1];
  auto it = g.metadata.find("teesplit.preprocess");
  if (it == g.metadata.end()) return p;
  std::stringstream ss(it->second);
  std::string tok;
  try {
    while (ss >> tok) {
      if (tok == "tabular") p.tabular = true;
      const auto eq = tok.find('=');
      if (eq == std::string::npos) continue;
      const std::string k = tok.substr(0, eq), v = tok.substr(eq + 1);
      if (k == "image_size") p.data.image_size = std::stoll(v);
      if (k == "channels") p.data.channels = std::stoll(v);
      if (k == "mean") p.data.mean = parse_floats(v);
      if (k == "std") p.data.std = parse_floats(v);
      if (k == "side") p.data.tabular_side = std::stoll(v);
      if (k == "target") p.data.target = v;
    }
  } catch (const std::exception&) {
    fail("the model's teesplit.preprocess metadata '", it->second, "' is malformed");
  }
  if (p.tabular) {
    p.data.image_size = 0;
    p.data.channels = 0;
    auto enc = g.metadata.find("teesplit.feature_encoder");
    TS_CHECK(enc != g.metadata.end(), "a tabular model without teesplit.feature_encoder metadata");
    p.encoder = p.data.encoder = enc->second;
    auto up = g.metadata.find("teesplit.tabular_upsample");
    if (up != g.metadata.end()) p.upsample = std::stoll(up->second);
  }
  return p;
}

struct Model {
  std::string path, sha256, name, arch;
  Graph graph;  // as imported
  Graph g1;     // specialize_for_cuts
  Shape input;  // [1,C,H,W]
  Preprocess pre;
};

Model load_model(const std::string& path) {
  Model m;
  m.path = path;
  TS_CHECK(fs::exists(path), path, ": no such file");
  const std::string bytes = read_file(path);
  const auto h = crypto::sha256(bytes.data(), bytes.size());
  m.sha256 = crypto::to_hex(h);
  const std::string base = fs::path(path).parent_path().string();
  auto loaded = parse_onnx(bytes, base.empty() ? "." : base, path);
  if (!loaded) fail(loaded.error());
  m.graph = std::move(loaded).value();
  m.g1 = specialize_for_cuts(m.graph);
  TS_CHECK(m.g1.inputs.size() == 1, path, ": the model has ", m.g1.inputs.size(),
           " inputs; attacks need one image input");
  m.input = m.g1.value(m.g1.inputs[0]).shape;
  TS_CHECK(m.input.size() == 4 && m.input[0] == 1 && m.input[2] >= 11 && m.input[3] >= 11, path,
           ": the input ", shape_str(m.input),
           " is not an image [N,C,H,W] of at least 11x11 pixels; attacks need an image model");
  m.name = fs::path(path).stem().string();
  auto a = m.graph.metadata.find("teesplit.train_options");
  if (a != m.graph.metadata.end()) {
    const auto p = a->second.find("arch=");
    if (p != std::string::npos) m.arch = a->second.substr(p + 5, a->second.find(' ', p) - p - 5);
  }
  m.pre = model_preprocess(m.graph, m.input);
  return m;
}

// ---------------------------------------------------------------- data

struct AttackData {
  torch::Tensor aux, victims;  // [N,C,H,W] model inputs
  torch::Tensor aux_labels, victim_labels;
  std::vector<int64_t> aux_index, victim_index;  // rows of the train / test split
  double lo = 0, hi = 1;                         // valid input range (aux min / max)
  std::string encoder;                           // tabular: the encoder's string
};

torch::Tensor sample_tensor(const Sample& s, int64_t upsample) {
  torch::Tensor x = to_torch(s.image);
  if (upsample > 1) x = x.repeat_interleave(upsample, 1).repeat_interleave(upsample, 2);
  return x;
}

size_t content_hash(const Tensor& t) {
  return std::hash<std::string_view>{}(
      std::string_view(static_cast<const char*>(t.raw()), t.nbytes()));
}

AttackData load_data(const AttackOptions& o, const Model& m) {
  AttackData d;
  DatasetOptions dopt = m.pre.data;
  dopt.split = "train";
  const auto train = open_dataset(o.dataset, dopt);
  d.encoder = train->encoder_string();
  TS_CHECK(m.pre.tabular == !d.encoder.empty(), o.dataset, ": the model was trained on ",
           m.pre.tabular ? "tabular rows" : "images", ", the data set holds ",
           d.encoder.empty() ? "images" : "tabular rows");
  if (!d.encoder.empty()) dopt.encoder = d.encoder;
  dopt.split = "test";
  const auto test = open_dataset(o.dataset, dopt);
  const int64_t up = m.pre.upsample;
  const Shape in = train->input_shape();
  const Shape want = {m.input[1], m.input[2] / up, m.input[3] / up};
  TS_CHECK(in == want && m.input[2] % up == 0, o.dataset, ": samples are ", shape_str(in),
           ", the model takes ", shape_str(m.input),
           up > 1 ? " (upsampled x" + std::to_string(up) + ")" : std::string());
  TS_CHECK(train->size() >= o.aux, o.dataset, ": the train split has ", train->size(),
           " samples, fewer than --aux ", o.aux);
  std::unordered_multimap<size_t, Tensor> seen;
  std::vector<torch::Tensor> aux, vic;
  std::vector<int64_t> aux_l, vic_l;
  for (int64_t i = 0; i < o.aux; ++i) {
    const Sample s = train->get(i);
    seen.emplace(content_hash(s.image), s.image);
    aux.push_back(sample_tensor(s, up));
    aux_l.push_back(s.label);
    d.aux_index.push_back(i);
  }
  // Victims: test samples in order, skipping any whose content is an aux sample.
  for (int64_t i = 0; i < test->size() && static_cast<int64_t>(vic.size()) < o.victims; ++i) {
    const Sample s = test->get(i);
    bool dup = false;
    auto [b, e] = seen.equal_range(content_hash(s.image));
    for (auto it = b; it != e && !dup; ++it)
      dup = it->second.nbytes() == s.image.nbytes() &&
            std::memcmp(it->second.raw(), s.image.raw(), s.image.nbytes()) == 0;
    if (dup) continue;
    vic.push_back(sample_tensor(s, up));
    vic_l.push_back(s.label);
    d.victim_index.push_back(i);
  }
  TS_CHECK(static_cast<int64_t>(vic.size()) == o.victims, o.dataset, ": the test split has only ",
           vic.size(), " samples not in the auxiliary set, fewer than --victims ", o.victims);
  d.aux = torch::stack(aux);
  d.victims = torch::stack(vic);
  d.aux_labels = torch::tensor(aux_l, torch::kInt64);
  d.victim_labels = torch::tensor(vic_l, torch::kInt64);
  d.lo = d.aux.min().item<double>();
  d.hi = d.aux.max().item<double>();
  TS_CHECK(d.hi > d.lo, o.dataset, ": every auxiliary input has the same value");
  return d;
}

// ---------------------------------------------------------------- scores

struct Scores {
  std::vector<double> ssim, psnr;
};

Scores score(const torch::Tensor& recon, const torch::Tensor& truth, double range) {
  const torch::Tensor r = recon.contiguous().to(torch::kFloat32);
  const torch::Tensor t = truth.contiguous().to(torch::kFloat32);
  const int64_t n = r.size(0), c = r.size(1), h = r.size(2), w = r.size(3), per = c * h * w;
  Scores s;
  s.ssim.resize(static_cast<size_t>(n));
  s.psnr.resize(static_cast<size_t>(n));
  const float* pr = r.data_ptr<float>();
  const float* pt = t.data_ptr<float>();
  at::parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      s.ssim[i] = ssim(pr + i * per, pt + i * per, c, h, w, range);
      s.psnr[i] = psnr(pr + i * per, pt + i * per, per, range);
    }
  });
  return s;
}

json scores_json(const Scores& s) {
  const Spread a = spread(s.ssim), p = spread(s.psnr);
  return {{"ssim_mean", a.mean},     {"ssim_std", a.std}, {"ssim_p10", a.p10},
          {"ssim_median", a.median}, {"ssim_p90", a.p90}, {"psnr_mean", p.mean},
          {"psnr_p90", p.p90}};
}

// Tabular: mean absolute error per encoder column, in the encoder's standardised
// units, of the reconstructed rows (each upsample x upsample block averaged).
json feature_error(const torch::Tensor& recon, const torch::Tensor& truth, int64_t up,
                   const std::string& encoder) {
  const FeatureEncoder enc = FeatureEncoder::from_string(encoder);
  auto rows = [&](const torch::Tensor& x) {
    torch::Tensor r = up > 1 ? torch::avg_pool2d(x, {up, up}) : x;
    return r.reshape({x.size(0), -1}).contiguous();
  };
  const torch::Tensor err = (rows(recon) - rows(truth)).abs().mean(0);  // per slot
  json names = json::array(), mae = json::array();
  for (const EncodedColumn& c : enc.columns()) {
    names.push_back(c.name);
    mae.push_back(err.slice(0, c.offset, c.offset + c.width).mean().item<double>());
  }
  return {{"names", names}, {"mae", mae}};
}

// ---------------------------------------------------------------- features

// The front partition of cut c run by the oneDNN Session, one sample at a time
// (batch 1, as the enclave runs it), over every row of x.
torch::Tensor front_features(Session& s, const torch::Tensor& x, ProgressLine& pg,
                             const std::string& what) {
  const int64_t n = x.size(0);
  Shape one = {1, x.size(1), x.size(2), x.size(3)};
  torch::Tensor out;
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    Tensor in(DType::F32, one);
    std::memcpy(in.raw(), x[i].contiguous().data_ptr<float>(), in.nbytes());
    const Tensor f = s.run({in})[0];
    if (i == 0) {
      Shape fs = f.shape();
      fs[0] = n;
      out = torch::empty(torch_shape(fs));
    }
    std::memcpy(static_cast<char*>(out.data_ptr()) + static_cast<size_t>(i) * f.nbytes(), f.raw(),
                f.nbytes());
    const double el = seconds_since(t0);
    pg.update(what + " " + progress_bar(i + 1, n) + " " + std::to_string(i + 1) + "/" +
              std::to_string(n) + "  " + fmt("%.0f img/s", (i + 1) / std::max(el, 1e-9)) +
              "  ETA " + clock_text(el / (i + 1) * (n - i - 1)));
  }
  return out;
}

struct CutData {
  torch::Tensor aux, victims;  // feature maps, [N, ...]
};

CutData cut_features(const AttackOptions& o, const Model& m, const AttackData& d, const Cut& c,
                     const std::string& dir, ProgressLine& pg) {
  const json key = {{"model_sha256", m.sha256},
                    {"dataset", o.dataset},
                    {"cut", c.name},
                    {"aux", o.aux},
                    {"victims", o.victims}};
  json key_p = key;
  if (o.precision != "fp32") key_p["precision"] = o.precision;  // fp32 caches as before
  const std::string meta = dir + "/features.json";
  CutData cd;
  if (fs::exists(meta) && read_json(meta) == key_p && fs::exists(dir + "/aux_features.npy") &&
      fs::exists(dir + "/victim_features.npy")) {
    cd.aux = to_torch(read_npy(dir + "/aux_features.npy"));
    cd.victims = to_torch(read_npy(dir + "/victim_features.npy"));
    if (cd.aux.size(0) == o.aux && cd.victims.size(0) == o.victims) return cd;
  }
  SessionOptions so{BackendKind::OneDnn, o.threads};
  so.precision = parse_precision(o.precision);
  Session s(front_partition(m.g1, c), so);
  cd.aux = front_features(s, d.aux, pg, "cut " + c.name + " features (aux)");
  cd.victims = front_features(s, d.victims, pg, "cut " + c.name + " features (victims)");
  pg.clear();
  write_npy(dir + "/aux_features.npy", from_torch(cd.aux));
  write_npy(dir + "/victim_features.npy", from_torch(cd.victims));
  write_json(meta, key_p);
  return cd;
}

// Standardisation of features with the auxiliary set's statistics: per channel
// for [N,C,H,W], per element otherwise.
struct Standardizer {
  torch::Tensor mean, std;
  explicit Standardizer(const torch::Tensor& aux) {
    if (aux.dim() == 4) {
      mean = aux.mean({0, 2, 3}, true);
      std = aux.std({0, 2, 3}, false, true);
    } else {
      mean = aux.mean(0, true);
      std = aux.std(0, false, true);
    }
    std = std.clamp_min(1e-6);
  }
  torch::Tensor operator()(const torch::Tensor& x) const { return (x - mean) / std; }
};

// ---------------------------------------------------------------- probe

json linear_probe(const AttackOptions& o, const CutData& cd, const AttackData& d, int64_t classes,
                  uint64_t seed) {
  const auto t0 = Clock::now();
  torch::manual_seed(seed);
  std::mt19937_64 rng(seed);
  torch::Tensor xa = cd.aux.reshape({cd.aux.size(0), -1});
  torch::Tensor xv = cd.victims.reshape({cd.victims.size(0), -1});
  const Standardizer st(xa);
  xa = st(xa);
  xv = st(xv);
  torch::nn::Linear lin(xa.size(1), classes);
  torch::optim::Adam opt(lin->parameters(), torch::optim::AdamOptions(1e-3).weight_decay(1e-4));
  const int64_t n = xa.size(0), batch = 128, epochs = 30;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (int64_t e = 0; e < epochs; ++e) {
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t b = 0; b < n; b += batch) {
      const auto idx = torch::tensor(
          std::vector<int64_t>(order.begin() + b, order.begin() + std::min(n, b + batch)));
      const torch::Tensor loss = torch::nn::functional::cross_entropy(
          lin(xa.index_select(0, idx)), d.aux_labels.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
  }
  torch::NoGradGuard ng;
  const double acc = lin(xv).argmax(1).eq(d.victim_labels).to(torch::kDouble).mean().item<double>();
  return {{"accuracy", acc}, {"seconds", seconds_since(t0)}};
}

// ---------------------------------------------------------------- attacks

struct Reconstruction {
  torch::Tensor images;  // [victims, C, H, W]
  int64_t steps = 0;
  std::string stopped;
  double best_val_ssim = NAN;
  double train_seconds = 0, images_per_second = 0;
  double tv_weight = NAN;   // optimization: the TV weight used
  nlohmann::json tv_tried;  // optimization: candidate -> mean SSIM on auxiliary samples
};

std::vector<torch::Tensor> module_state(torch::nn::Module& m) {
  std::vector<torch::Tensor> s;
  for (const auto& p : m.parameters()) s.push_back(p.detach().clone());
  for (const auto& b : m.buffers()) s.push_back(b.detach().clone());
  return s;
}

void load_state(torch::nn::Module& m, const std::vector<torch::Tensor>& s) {
  torch::NoGradGuard ng;
  size_t i = 0;
  for (auto& p : m.parameters()) p.copy_(s[i++]);
  for (auto& b : m.buffers()) b.copy_(s[i++]);
}

torch::Tensor decode_all(Decoder& g, const torch::Tensor& f, int64_t batch) {
  torch::NoGradGuard ng;
  g->eval();
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < f.size(0); b += batch)
    out.push_back(g->forward(channels_last(f.slice(0, b, std::min(f.size(0), b + batch)))));
  g->train();
  return torch::cat(out);
}

void set_requires_grad(torch::nn::Module& m, bool on) {
  for (auto& p : m.parameters()) p.requires_grad_(on);
}

double mean_ssim(const torch::Tensor& r, const torch::Tensor& t, double range) {
  const Scores s = score(r, t, range);
  return std::accumulate(s.ssim.begin(), s.ssim.end(), 0.0) / static_cast<double>(s.ssim.size());
}

// cgan or inversion: trains the decoder on the auxiliary set (its last 10%, at
// most 512 samples, validate), stops at a plateau of the validation SSIM or at
// the step budget, and decodes the victims with the best checkpoint.
Reconstruction train_decoder(const std::string& kind, const AttackOptions& o, const CutData& cd,
                             const AttackData& d, uint64_t seed, ProgressLine& pg,
                             const std::string& label) {
  namespace F = torch::nn::functional;
  torch::manual_seed(seed);
  std::mt19937_64 rng(seed);
  const bool gan = kind == "cgan";
  const Standardizer st(cd.aux);
  const torch::Tensor fa = st(cd.aux), fv = st(cd.victims);
  const int64_t n = fa.size(0);
  const int64_t n_val = std::clamp<int64_t>(n / 10, 1, 512), n_train = n - n_val;
  TS_CHECK(n_train >= 2, "--aux ", o.aux, " is too small to hold out a validation set");
  const torch::Tensor f_val = fa.slice(0, n_train), x_val = d.aux.slice(0, n_train);
  const std::vector<int64_t> fshape(fa.sizes().begin() + 1, fa.sizes().end());
  const std::vector<int64_t> ishape(d.aux.sizes().begin() + 1, d.aux.sizes().end());
  Decoder g(fshape, ishape, o.decoder_width, d.lo, d.hi);
  to_channels_last(*g);
  PatchDiscriminator disc{nullptr};
  std::unique_ptr<torch::optim::Adam> opt_g, opt_d;
  if (gan) {
    const int64_t fc = fa.dim() == 4 ? fa.size(1) : fa[0].numel();
    disc = PatchDiscriminator(fc, ishape[0]);
    to_channels_last(*disc);
    opt_g = std::make_unique<torch::optim::Adam>(
        g->parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
    opt_d = std::make_unique<torch::optim::Adam>(
        disc->parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  } else {
    opt_g = std::make_unique<torch::optim::Adam>(g->parameters(), torch::optim::AdamOptions(1e-3));
  }
  const double range = d.hi - d.lo;
  const int64_t batch = std::min(o.batch, n_train);
  std::vector<int64_t> order(static_cast<size_t>(n_train));
  std::iota(order.begin(), order.end(), 0);
  size_t pos = order.size();
  Reconstruction r;
  r.stopped = "budget";
  double best = -2, best_ref = -2, loss_avg = 0;
  int64_t since = 0;
  std::vector<torch::Tensor> best_state;
  const auto t0 = Clock::now();
  double eval_seconds = 0;
  for (int64_t step = 1; step <= o.steps; ++step) {
    if (pos + static_cast<size_t>(batch) > order.size()) {
      std::shuffle(order.begin(), order.end(), rng);
      pos = 0;
    }
    const auto idx = torch::tensor(std::vector<int64_t>(
        order.begin() + static_cast<long>(pos), order.begin() + static_cast<long>(pos) + batch));
    pos += static_cast<size_t>(batch);
    const torch::Tensor f = channels_last(fa.index_select(0, idx));
    const torch::Tensor x = channels_last(d.aux.index_select(0, idx));
    double loss_v = 0;
    if (gan) {
      const torch::Tensor fake = g->forward(f);
      // Discriminator: real pairs 1, generated pairs 0. Both pairs share the
      // feature batch, so its share of the first layer is computed once.
      const torch::Tensor cond = disc->condition(f, x.size(2), x.size(3));
      const torch::Tensor lr = disc->judge(cond, x), lf = disc->judge(cond, fake.detach());
      const torch::Tensor loss_d =
          0.5 * (F::binary_cross_entropy_with_logits(lr, torch::ones_like(lr)) +
                 F::binary_cross_entropy_with_logits(lf, torch::zeros_like(lf)));
      opt_d->zero_grad();
      loss_d.backward();
      opt_d->step();
      // Generator: fool the discriminator, stay close in L1. The discriminator
      // is frozen meanwhile (as pix2pix does): its weights' gradients would be
      // zeroed before its next step unused, and its feature branch needs none.
      set_requires_grad(*disc, false);
      const torch::Tensor lg = disc->forward(f, fake);
      const torch::Tensor l1 = F::l1_loss(fake, x);
      const torch::Tensor loss_g =
          F::binary_cross_entropy_with_logits(lg, torch::ones_like(lg)) + o.l1_weight * l1;
      opt_g->zero_grad();
      loss_g.backward();
      opt_g->step();
      set_requires_grad(*disc, true);
      loss_v = l1.item<double>();
    } else {
      const torch::Tensor l1 = F::l1_loss(g->forward(f), x);
      opt_g->zero_grad();
      l1.backward();
      opt_g->step();
      loss_v = l1.item<double>();
    }
    loss_avg = step == 1 ? loss_v : 0.95 * loss_avg + 0.05 * loss_v;
    r.steps = step;
    if (step % o.eval_every == 0 || step == o.steps) {
      const auto te = Clock::now();
      const double v = mean_ssim(decode_all(g, f_val, 256), x_val, range);
      eval_seconds += seconds_since(te);
      if (v > best) {
        best = v;
        best_state = module_state(*g);
      }
      if (v > best_ref + o.min_delta) {
        best_ref = v;
        since = 0;
      } else if (++since >= o.patience) {
        r.stopped = "plateau";
        break;
      }
    }
    const double el = seconds_since(t0);
    pg.update(label + " " + progress_bar(step, o.steps) + " step " + std::to_string(step) + "/" +
              std::to_string(o.steps) + " L1 " + fmt("%.4f", loss_avg) + " val SSIM " +
              (best > -2 ? fmt("%.3f", best) : std::string("-")) + " " +
              fmt("%.0f img/s", step * batch / std::max(1e-9, el)) + " ETA " +
              clock_text(el / step * (o.steps - step)));
  }
  r.train_seconds = seconds_since(t0);
  r.images_per_second =
      static_cast<double>(r.steps * batch) / std::max(1e-9, r.train_seconds - eval_seconds);
  load_state(*g, best_state);
  r.best_val_ssim = best;
  r.images = decode_all(g, fv, 256);
  return r;
}

// White-box: per chunk of victims, Adam on the input from a blank (mid-range)
// image, loss = ||front(x) - y||^2 / ||y||^2 + tv_weight * TV(x) / range,
// clamped to [lo, hi] after each step. A chunk stops when its loss improved by
// less than 0.1% over the last 25 iterations (plateau) or at opt_steps (budget).
Reconstruction optimize_inputs(const AttackOptions& o, TorchGraph& front,
                               const std::string& feature, const torch::Tensor& targets,
                               double tv_weight, const AttackData& d, uint64_t seed,
                               ProgressLine& pg, const std::string& label) {
  torch::manual_seed(seed);
  const double range = d.hi - d.lo;
  Reconstruction r;
  r.stopped = "plateau";
  std::vector<torch::Tensor> out;
  const int64_t n = targets.size(0), chunk = std::max<int64_t>(o.batch, 64);
  const auto t0 = Clock::now();
  int64_t done = 0;
  for (int64_t b = 0; b < n; b += chunk) {
    const torch::Tensor y = targets.slice(0, b, std::min(n, b + chunk));
    const int64_t k = y.size(0);
    const torch::Tensor ynorm = y.reshape({k, -1}).pow(2).sum(1).clamp_min(1e-12);
    torch::Tensor x = torch::full({k, d.victims.size(1), d.victims.size(2), d.victims.size(3)},
                                  0.5 * (d.lo + d.hi))
                          .requires_grad_(true);
    torch::optim::Adam opt({x}, torch::optim::AdamOptions(0.02 * range));
    double prev = INFINITY;
    bool plateau = false;
    int64_t it = 1;
    for (; it <= o.opt_steps; ++it) {
      const torch::Tensor f = front.forward_values({x}, {feature})[0];
      const torch::Tensor fl = (f - y).reshape({k, -1}).pow(2).sum(1).div(ynorm).mean();
      const torch::Tensor tv = ((x.slice(2, 1) - x.slice(2, 0, -1)).abs().mean() +
                                (x.slice(3, 1) - x.slice(3, 0, -1)).abs().mean()) /
                               range;
      const torch::Tensor loss = fl + tv_weight * tv;
      opt.zero_grad();
      loss.backward();
      opt.step();
      {
        torch::NoGradGuard ng;
        x.clamp_(d.lo, d.hi);
      }
      if (it % 25 == 0) {
        const double l = loss.item<double>();
        if (l > prev * (1 - 1e-3)) {
          plateau = true;
          break;
        }
        prev = l;
      }
      const double el = seconds_since(t0);
      const double total = static_cast<double>(n) * o.opt_steps;
      const double now = static_cast<double>(done + k * it);
      pg.update(label + " " + progress_bar(b + k * it / o.opt_steps, n) + " images " +
                std::to_string(b) + "/" + std::to_string(n) + " iter " + std::to_string(it) +
                " loss " + fmt("%.4f", fl.item<double>()) + " " +
                fmt("%.0f img/s", b / std::max(1e-9, el)) + " ETA " +
                clock_text(el / std::max(1.0, now) * (total - now)));
    }
    if (!plateau) r.stopped = "budget";
    r.steps = std::max(r.steps, std::min(it, o.opt_steps));
    done += k * o.opt_steps;
    out.push_back(x.detach().clone());
  }
  r.train_seconds = seconds_since(t0);
  r.images_per_second = static_cast<double>(n) / std::max(1e-9, r.train_seconds);
  r.images = torch::cat(out);
  return r;
}

// ---------------------------------------------------------------- output

Image tile_grid(const std::vector<torch::Tensor>& rows, double lo, double hi) {
  const int64_t c = rows[0].size(1), h = rows[0].size(2), w = rows[0].size(3);
  const int64_t cols = rows[0].size(0);
  const int64_t scale = h < 64 ? 2 : 1, pad = 2;
  Image img;
  img.channels = c == 3 ? 3 : 1;
  img.width = static_cast<int>(cols * (w * scale + pad) + pad);
  img.height = static_cast<int>(static_cast<int64_t>(rows.size()) * (h * scale + pad) + pad);
  img.data.assign(static_cast<size_t>(img.width) * img.height * img.channels, 255);
  for (size_t r = 0; r < rows.size(); ++r) {
    const torch::Tensor t = rows[r].contiguous().to(torch::kFloat32);
    for (int64_t i = 0; i < std::min(cols, t.size(0)); ++i)
      for (int64_t y = 0; y < h * scale; ++y)
        for (int64_t x = 0; x < w * scale; ++x)
          for (int ch = 0; ch < img.channels; ++ch) {
            const double v =
                t[i][std::min<int64_t>(ch, c - 1)][y / scale][x / scale].item<double>();
            const double u = std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
            img.at(static_cast<int>(static_cast<int64_t>(r) * (h * scale + pad) + pad + y),
                   static_cast<int>(i * (w * scale + pad) + pad + x), ch) =
                static_cast<uint8_t>(std::lround(u * 255));
          }
  }
  return img;
}

// The options every result depends on (a result made with others is redone).
json result_key(const AttackOptions& o, const Model& m, const std::string& attack) {
  json k = {{"model_sha256", m.sha256},
            {"dataset", o.dataset},
            {"aux", o.aux},
            {"victims", o.victims},
            {"seed", o.seed},
            {"batch", o.batch},
            {"decoder_width", o.decoder_width}};
  if (o.precision != "fp32") k["precision"] = o.precision;  // fp32 keys as before
  if (attack == "optimization") {
    k["opt_steps"] = o.opt_steps;
    k["tv_weight"] = o.tv_weight;
  } else {
    k["steps"] = o.steps;
    k["eval_every"] = o.eval_every;
    k["patience"] = o.patience;
    k["min_delta"] = o.min_delta;
    if (attack == "cgan") k["l1_weight"] = o.l1_weight;
  }
  return k;
}

}  // namespace

void run_attacks(const AttackOptions& o) {
  TS_CHECK(!o.output.empty(), "no output directory (-o DIR)");
  TS_CHECK(!o.attacks.empty(), "no attack requested");
  for (const auto& a : o.attacks)
    TS_CHECK(is_attack_name(a), "unknown attack '", a, "' (cgan, inversion, optimization)");
  const std::vector<std::string> attacks_run = attacks_in_order(o.attacks);
  TS_CHECK(o.steps >= 1 && o.opt_steps >= 1, "--steps must be >= 1");
  TS_CHECK(o.aux >= 20, "--aux must be at least 20, got ", o.aux);
  TS_CHECK(o.victims >= 1, "--victims must be at least 1, got ", o.victims);
  TS_CHECK(o.batch >= 2 && o.decoder_width >= 8 && o.eval_every >= 1 && o.patience >= 1,
           "bad batch, decoder width, evaluation period or patience");
  TS_CHECK(o.shard_count >= 1 && o.shard_index >= 0 && o.shard_index < o.shard_count, "bad shard ",
           o.shard_index, "/", o.shard_count);
  set_torch_threads(o.threads);
  keep_freed_memory_in_heap();

  const Model m = load_model(o.model);
  const std::vector<Cut> selected = select_cuts(m.g1, o.cuts);
  std::vector<Cut> mine;
  for (size_t i = 0; i < selected.size(); ++i)
    if (in_shard(i, o.shard_index, o.shard_count)) mine.push_back(selected[i]);

  fs::create_directories(o.output + "/cuts");
  fs::create_directories(o.output + "/grids");
  const AttackData d = load_data(o, m);
  const double range = d.hi - d.lo;
  // Which rows the attacker had and which were attacked (train / test split rows).
  write_json(o.output + "/victims.json", {{"dataset", o.dataset},
                                          {"aux", o.aux},
                                          {"aux_rows", d.aux_index},
                                          {"victim_rows", d.victim_index}});
  const auto pg_owner = o.progress_file.empty()
                            ? std::make_unique<ProgressLine>(o.progress)
                            : std::make_unique<ProgressLine>(ProgressFile{o.progress_file});
  ProgressLine& pg = *pg_owner;
  const auto t_start = Clock::now();

  // The trivial attacker: the auxiliary set's mean image.
  const torch::Tensor mean_img = d.aux.mean(0, true).expand_as(d.victims);
  const Scores floor = score(mean_img, d.victims, range);
  const Spread fs_ = spread(floor.ssim), fp = spread(floor.psnr);

  // The full model (LibTorch lowering, eval mode): accuracy on the victims and
  // the white-box attacker's differentiable front.
  TorchGraph full(m.graph);
  full.eval();
  set_requires_grad(full, false);
  double model_acc;
  int64_t classes;
  Spread fcs, fcp;  // the class-mean floor
  {
    torch::NoGradGuard ng;
    const torch::Tensor logits = full.forward(d.victims);
    TS_CHECK(logits.dim() == 2, o.model, ": the output is not [N, classes] logits");
    classes = logits.size(1);
    const torch::Tensor predicted = logits.argmax(1);
    model_acc = predicted.eq(d.victim_labels).to(torch::kDouble).mean().item<double>();
    TS_CHECK(d.aux_labels.max().item<int64_t>() < classes, o.dataset,
             ": labels exceed the model's ", classes, " classes");
    // The trivial attacker who knows the class (the host sees the prediction,
    // and the probe shows the feature map gives it away): for each victim, the
    // auxiliary set's mean image of the class the model predicts (the overall
    // mean for a class the auxiliary set lacks).
    const torch::Tensor overall = d.aux.mean(0);
    std::vector<torch::Tensor> class_mean(static_cast<size_t>(classes));
    for (int64_t k = 0; k < classes; ++k) {
      const torch::Tensor idx = d.aux_labels.eq(k).nonzero().flatten();
      class_mean[static_cast<size_t>(k)] =
          idx.numel() > 0 ? d.aux.index_select(0, idx).mean(0) : overall;
    }
    std::vector<torch::Tensor> guess;
    for (int64_t i = 0; i < predicted.size(0); ++i)
      guess.push_back(class_mean[static_cast<size_t>(predicted[i].item<int64_t>())]);
    const Scores cf = score(torch::stack(guess), d.victims, range);
    fcs = spread(cf.ssim);
    fcp = spread(cf.psnr);
  }

  json cuts_out = json::array();
  for (size_t ci = 0; ci < mine.size(); ++ci) {
    const Cut& c = mine[ci];
    const std::string fname = cut_file_name(c);
    const std::string dir = o.output + "/cuts/" + fname;
    fs::create_directories(dir);
    const CutData cd = cut_features(o, m, d, c, dir, pg);
    const CutStats cs = cut_stats(m.g1, c);
    const std::string where =
        "cut " + c.name + " (" + std::to_string(ci + 1) + "/" + std::to_string(mine.size()) + ")";

    json probe;
    const json probe_key = result_key(o, m, "probe");
    if (fs::exists(dir + "/probe.json") &&
        read_json(dir + "/probe.json").value("key", json()) == probe_key) {
      probe = read_json(dir + "/probe.json")["probe"];
    } else {
      pg.update(where + " linear probe");
      probe = linear_probe(o, cd, d, classes, mix_seed(o.seed, c.index, 7));
      write_json(dir + "/probe.json", {{"key", probe_key}, {"probe", probe}});
    }

    json attacks = json::object();
    std::vector<torch::Tensor> grid_rows = {d.victims.slice(0, 0, kGridColumns)};
    double score_max = -2;
    for (const std::string& a : attacks_run) {
      const std::string res = dir + "/" + a + ".json", rec = dir + "/" + a + ".npy";
      const json key = result_key(o, m, a);
      json result;
      if (fs::exists(res) && fs::exists(rec) && read_json(res).value("key", json()) == key) {
        result = read_json(res)["result"];
        if (o.log) {
          std::fprintf(o.log, "%s %s: SSIM mean %.3f p90 %.3f, reused from %s\n", c.name.c_str(),
                       a.c_str(), result.value("ssim_mean", 0.0), result.value("ssim_p90", 0.0),
                       res.c_str());
          std::fflush(o.log);
        }
      } else {
        const uint64_t seed = mix_seed(o.seed, static_cast<uint64_t>(c.index),
                                       static_cast<uint64_t>(a[0]) * 131 + a.size());
        const std::string label = where + " " + a;
        Reconstruction r;
        if (a == "optimization") {
          // The differentiable front must be what the host's Session computed.
          const std::string feat = m.g1.value(c.feature).name;
          {
            torch::NoGradGuard ng;
            const torch::Tensor f0 = full.forward_values({d.victims.slice(0, 0, 1)}, {feat})[0];
            const double err =
                (f0 - cd.victims.slice(0, 0, 1)).abs().max().item<double>() /
                std::max(1e-12, cd.victims.slice(0, 0, 1).abs().max().item<double>());
            // In bf16 the attacker still differentiates through the fp32 front and
            // matches what the bf16 enclave exposed: close, not equal.
            const double tol = o.precision == "fp32" ? 1e-3 : 0.1;
            TS_CHECK(err < tol, "cut ", c.name, ": the LibTorch front differs from the engine's (",
                     "max rel error ", err, ", ", o.precision, ")");
          }
          // The TV weight: given, or chosen by the attacker on its own data (the
          // last 32 auxiliary samples) as the candidate with the best mean SSIM.
          double tv = o.tv_weight;
          json tried = json::object();
          if (tv < 0) {
            const int64_t k = std::min<int64_t>(32, o.aux);
            const torch::Tensor ya = cd.aux.slice(0, o.aux - k), xa = d.aux.slice(0, o.aux - k);
            double best = -2;
            for (double cand : {0.02, 0.1, 0.5, 2.0}) {
              const Reconstruction t = optimize_inputs(o, full, feat, ya, cand, d, seed, pg,
                                                       label + " (tv " + fmt("%g", cand) + ")");
              const double v = mean_ssim(t.images, xa, range);
              tried[fmt("%g", cand)] = v;
              if (v > best) {
                best = v;
                tv = cand;
              }
            }
          }
          r = optimize_inputs(o, full, feat, cd.victims, tv, d, seed, pg, label);
          r.tv_weight = tv;
          r.tv_tried = tried;
        } else {
          r = train_decoder(a, o, cd, d, seed, pg, label);
        }
        pg.clear();
        const Scores s = score(r.images, d.victims, range);
        result = scores_json(s);
        result["steps"] = r.steps;
        result["stopped"] = r.stopped;
        result["best_val_ssim"] = std::isnan(r.best_val_ssim) ? json() : json(r.best_val_ssim);
        result["train_seconds"] = r.train_seconds;
        result["images_per_second"] = r.images_per_second;
        if (!std::isnan(r.tv_weight)) {
          result["tv_weight"] = r.tv_weight;
          result["tv_tried"] = r.tv_tried;
        }
        result["feature_error"] =
            m.pre.tabular ? feature_error(r.images, d.victims, m.pre.upsample, d.encoder) : json();
        write_npy(rec, from_torch(r.images.slice(0, 0, kGridColumns).contiguous()));
        write_json(res, {{"key", key}, {"result", result}});
        if (o.log) {
          std::fprintf(o.log,
                       "%s %s: SSIM mean %.3f p90 %.3f, PSNR %.1f dB, %lld steps (%s), %.1f s, "
                       "%.0f img/s\n",
                       c.name.c_str(), a.c_str(), result["ssim_mean"].get<double>(),
                       result["ssim_p90"].get<double>(), result["psnr_mean"].get<double>(),
                       static_cast<long long>(r.steps), r.stopped.c_str(), r.train_seconds,
                       r.images_per_second);
          std::fflush(o.log);
        }
      }
      attacks[a] = result;
      score_max = std::max(score_max, result["ssim_p90"].get<double>());
      grid_rows.push_back(to_torch(read_npy(rec)));
    }
    const std::string grid = "grids/" + fname + ".png";
    write_png(o.output + "/" + grid, tile_grid(grid_rows, d.lo, d.hi));
    std::vector<int64_t> fshape(cd.aux.sizes().begin() + 1, cd.aux.sizes().end());
    const double total = cs.front_flops + cs.back_flops;
    cuts_out.push_back({{"name", c.name},
                        {"index", c.index},  // as teesplit cuts prints it, what --cuts takes
                        {"depth", total > 0 ? cs.front_flops / total : 0.0},
                        {"feature_shape", fshape},
                        {"feature_bytes", cs.feature_bytes},
                        {"probe", probe},
                        {"score", score_max},
                        {"grid", grid},
                        {"attacks", attacks}});
  }
  pg.clear();

  json out = {
      {"format", "teesplit-attack"},
      {"version", 1},
      {"model", {{"path", o.model}, {"name", m.name}, {"sha256", m.sha256}, {"arch", m.arch}}},
      {"dataset", o.dataset},
      {"tabular", m.pre.tabular},
      {"command", o.command},
      {"options",
       {{"seed", o.seed},
        {"threads", o.threads},
        {"steps", o.steps},
        {"opt_steps", o.opt_steps},
        {"attacks", attacks_run},
        {"cuts", o.cuts},
        {"aux", o.aux},
        {"victims", o.victims},
        {"batch", o.batch},
        {"decoder_width", o.decoder_width},
        {"eval_every", o.eval_every},
        {"patience", o.patience},
        {"min_delta", o.min_delta},
        {"l1_weight", o.l1_weight},
        {"tv_weight", o.tv_weight},
        {"precision", o.precision},
        {"shard", std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count)}}},
      {"data_range", {{"lo", d.lo}, {"hi", d.hi}}},
      {"model_accuracy", model_acc},
      {"floor", {{"ssim_mean", fs_.mean}, {"ssim_p90", fs_.p90}, {"psnr_mean", fp.mean}}},
      {"floor_class",
       {{"ssim_mean", fcs.mean},
        {"ssim_p90", fcs.p90},
        {"psnr_mean", fcp.mean},
        {"what", "the auxiliary mean image of the class the model predicts for each victim"}}},
      {"seconds", seconds_since(t_start)},
      {"cuts", cuts_out}};
  write_json(o.output + "/attack.json", out);
  if (o.log) {
    std::fprintf(o.log,
                 "wrote %s/attack.json (%zu cuts; floor SSIM mean %.3f; model accuracy %.3f)\n",
                 o.output.c_str(), mine.size(), fs_.mean, model_acc);
    std::fflush(o.log);
  }
}

void merge_attacks(const std::vector<std::string>& dirs, const std::string& out,
                   const std::string& command) {
  TS_CHECK(!dirs.empty(), "attack-merge: no input directory");
  TS_CHECK(!out.empty(), "attack-merge: no output directory (-o DIR)");
  json merged;
  std::map<int64_t, json> cuts;
  std::vector<std::string> shards;
  fs::create_directories(out + "/grids");
  for (const auto& dir : dirs) {
    const std::string path = dir + "/attack.json";
    TS_CHECK(fs::exists(path), dir, ": no attack.json (not an attack output directory)");
    const json j = read_json(path);
    TS_CHECK(j.value("format", "") == "teesplit-attack" && j.value("version", 0) == 1, path,
             ": not a teesplit-attack version 1 file");
    auto comparable = [](json x) {
      json opt = x.at("options");
      opt.erase("shard");
      opt.erase("threads");
      opt.erase("jobs");  // teesplit attack --jobs (the CLI) adds it
      return json{
          {"model", x.at("model").at("sha256")}, {"dataset", x.at("dataset")}, {"options", opt}};
    };
    if (merged.is_null()) {
      merged = j;
    } else {
      const json a = comparable(merged), b = comparable(j);
      TS_CHECK(a["model"] == b["model"], path, ": model ", b["model"].dump(), " differs from ",
               dirs[0], "'s ", a["model"].dump());
      TS_CHECK(a["dataset"] == b["dataset"], path, ": data set ", b["dataset"].dump(),
               " differs from ", dirs[0], "'s ", a["dataset"].dump());
      for (const auto& [k, v] : a["options"].items())
        TS_CHECK(b["options"].contains(k) && b["options"][k] == v, path, ": option ", k, " = ",
                 b["options"].value(k, json()).dump(), " differs from ", dirs[0], "'s ", v.dump());
    }
    shards.push_back(j["options"].value("shard", "?"));
    for (const json& c : j.at("cuts")) {
      const int64_t idx = c.at("index").get<int64_t>();
      TS_CHECK(!cuts.count(idx), path, ": cut '", c.value("name", ""),
               "' is also in another directory");
      const std::string grid = c.value("grid", "");
      if (!grid.empty() && fs::exists(dir + "/" + grid))
        fs::copy_file(dir + "/" + grid, out + "/" + grid, fs::copy_options::overwrite_existing);
      cuts[idx] = c;
    }
  }
  json list = json::array();
  for (auto& [k, c] : cuts) list.push_back(c);
  merged["cuts"] = list;
  merged["options"]["shard"] = "merged";
  merged["merged_shards"] = shards;
  merged["merged_from"] = dirs;
  if (!command.empty()) merged["command"] = command;
  write_json(out + "/attack.json", merged);
}

}  // namespace teesplit
