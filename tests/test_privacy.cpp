// Reconstruction attacks (src/privacy, docs/privacy.md): SSIM and PSNR against
// scikit-image and NumPy (required oracles), the cut rule, the attack data's
// disjointness, and the whole `teesplit attack` pipeline at CI scale on a tiny
// zoo model: the ordering of scores with depth, resume, shards and merge, and
// the CLI's errors.
#include <gtest/gtest.h>

#include "support/test_support.h"

#ifdef TEESPLIT_HAVE_TORCH

#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "backends/onednn/onednn_backend.h"
#include "core/file.h"
#include "data/dataset.h"
#include "graph/cuts.h"
#include "graph/passes.h"
#include "io/npy.h"
#include "onnx/onnx_export.h"
#include "onnx/onnx_import.h"
#include "privacy/attack.h"
#include "privacy/metrics.h"
#include "privacy/nets.h"
#include "support/skip.h"
#include "train/onnx_weights.h"
#include "zoo/zoo.h"
#include "zoo/zoo_proto.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::error_of;

std::string gen_path(const std::string& name) {
  fs::path d = fs::path(testing::generated_dir()) / "privacy";
  fs::create_directories(d);
  return (d / name).string();
}

// Runs a python script with /usr/bin/python3; returns the exit status (-1 if absent).
int run_python(const std::string& name, const std::string& script) {
  if (!fs::exists("/usr/bin/python3")) return -1;
  const std::string path = gen_path(name + ".py");
  std::ofstream(path) << script;
  const std::string cmd = "/usr/bin/python3 " + path + " > " + gen_path(name + ".log") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// ------------------------------------------------------------------ scores

// Fixed images: smooth patterns, noise, a constant image, RGB, non-square, and
// their distorted versions; SSIM and PSNR against scikit-image/NumPy.
TEST(PrivacyScores, SsimAndPsnrMatchScikitImage) {
  TS_REQUIRE_ORACLE(run_python("probe_skimage", "import skimage.metrics\n") == 0,
                    "python3-skimage (scikit-image) is not installed");
  struct Case {
    Shape shape;
    double range;
  };
  const std::vector<Case> cases = {{{1, 32, 32}, 1.0},   {{1, 28, 28}, 1.0}, {{3, 32, 32}, 1.0},
                                   {{1, 16, 24}, 255.0}, {{2, 11, 13}, 2.0}, {{1, 32, 32}, 1.0}};
  std::mt19937_64 rng(7);
  std::normal_distribution<float> noise(0.f, 0.1f);
  std::vector<double> want_ssim, want_psnr;
  for (size_t k = 0; k < cases.size(); ++k) {
    const Shape& s = cases[k].shape;
    Tensor a(DType::F32, s), b(DType::F32, s);
    float* pa = a.data<float>();
    float* pb = b.data<float>();
    const double r = cases[k].range;
    for (int64_t i = 0; i < a.numel(); ++i) {
      const int64_t x = i % s[2], y = (i / s[2]) % s[1], c = i / (s[1] * s[2]);
      float v = static_cast<float>(0.5 + 0.4 * std::sin(0.3 * x + 0.2 * y + c));
      if (k == 5) v = 0.25f;  // constant reference image
      pa[i] = static_cast<float>(v * r);
      pb[i] = static_cast<float>((k == 1 ? 1.0f - v : v + noise(rng)) * r);
    }
    write_npy(gen_path("ssim_a" + std::to_string(k) + ".npy"), a);
    write_npy(gen_path("ssim_b" + std::to_string(k) + ".npy"), b);
  }
  std::string script =
      "import numpy as np\nfrom skimage.metrics import structural_similarity\n"
      "d = '" +
      gen_path("") + "'\nranges = [";
  for (const auto& c : cases) script += std::to_string(c.range) + ",";
  script +=
      "]\nout = []\nfor k, r in enumerate(ranges):\n"
      "    a = np.load(d + f'ssim_a{k}.npy').astype(np.float64)\n"
      "    b = np.load(d + f'ssim_b{k}.npy').astype(np.float64)\n"
      "    s = structural_similarity(a, b, gaussian_weights=True, sigma=1.5,\n"
      "        use_sample_covariance=False, data_range=r, channel_axis=0)\n"
      "    mse = np.mean((a - b) ** 2)\n"
      "    out.append([s, 10 * np.log10(r * r / mse)])\n"
      "np.save(d + 'ssim_want.npy', np.array(out))\n";
  ASSERT_EQ(run_python("ssim_oracle", script), 0) << read_file(gen_path("ssim_oracle.log"));
  const Tensor want = read_npy(gen_path("ssim_want.npy"));
  for (size_t k = 0; k < cases.size(); ++k) {
    const Tensor a = read_npy(gen_path("ssim_a" + std::to_string(k) + ".npy"));
    const Tensor b = read_npy(gen_path("ssim_b" + std::to_string(k) + ".npy"));
    const Shape& s = cases[k].shape;
    const double got = ssim(b.data<float>(), a.data<float>(), s[0], s[1], s[2], cases[k].range);
    EXPECT_NEAR(got, want.as_double(static_cast<int64_t>(2 * k)), 1e-5) << "case " << k;
    EXPECT_NEAR(psnr(b.data<float>(), a.data<float>(), a.numel(), cases[k].range),
                want.as_double(static_cast<int64_t>(2 * k + 1)), 1e-4)
        << "case " << k;
  }
}

TEST(PrivacyScores, IdentitySpreadAndErrors) {
  const Tensor a = testing::random_tensor({1, 16, 16}, 3, 0.f, 1.f);
  EXPECT_NEAR(ssim(a.data<float>(), a.data<float>(), 1, 16, 16, 1.0), 1.0, 1e-12);
  EXPECT_EQ(psnr(a.data<float>(), a.data<float>(), a.numel(), 1.0), 100.0);
  EXPECT_NE(error_of([&] { ssim(a.data<float>(), a.data<float>(), 1, 8, 16, 1.0); }).find("11x11"),
            std::string::npos);
  // numpy.percentile's linear interpolation: [1..10] -> p10 1.9, median 5.5, p90 9.1.
  const Spread s = spread({10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_NEAR(s.p10, 1.9, 1e-12);
  EXPECT_NEAR(s.median, 5.5, 1e-12);
  EXPECT_NEAR(s.p90, 9.1, 1e-12);
  EXPECT_NEAR(s.std, std::sqrt(8.25), 1e-12);
}

// ------------------------------------------------------------------ pipeline

const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

bool have_fashion_mnist() {
  return fs::exists(std::string(kFashionDir) + "/train-images-idx3-ubyte.gz") &&
         fs::exists(std::string(kFashionDir) + "/t10k-images-idx3-ubyte.gz");
}

// A tiny VGG-16 (width 1/8, 32x32 grey input, random weights: the attacks do not
// need a trained model to show that depth destroys information).
std::string tiny_model() {
  const std::string path = gen_path("tiny_vgg.onnx");
  if (!fs::exists(path)) {
    ZooOptions zo;
    zo.arch = "vgg16";
    zo.input_size = 32;
    zo.channels = 1;
    zo.classes = 10;
    zo.width = 0.125;
    zo.seed = 3;
    write_zoo_model(zo, path);
  }
  return path;
}

Graph cut_graph(const std::string& model) {
  auto g = load_onnx(model);
  if (!g.ok()) throw Error(g.error());
  return specialize_for_cuts(g.value());
}

AttackOptions small_options(const std::string& out) {
  AttackOptions o;
  o.model = tiny_model();
  o.dataset = "fashion-mnist";
  o.aux = 400;
  o.victims = 32;
  o.steps = 100;
  o.opt_steps = 60;
  o.batch = 16;
  o.decoder_width = 32;
  o.eval_every = 25;
  o.patience = 3;
  o.threads = 1;  // the CI budget is for one core; 2 threads on a busy machine are slower
  o.progress = false;
  o.log = nullptr;
  o.output = out;
  return o;
}

// The attackers train in channels-last memory (nets.h): the same outputs and
// gradients as in the default layout, for a conv head, a linear head and flat
// features, and for the discriminator.
void copy_parameters(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard ng;
  auto a = from.parameters(), b = to.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) b[i].copy_(a[i]);
}

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

// Gradients agree in L2 norm to 2%: the layouts sum in different orders, and a
// ReLU whose input lies within rounding of zero passes the gradient in one and
// not in the other, so single elements may differ (a wrong layout would differ
// everywhere, by its whole size). Biases in front of a BatchNorm have a gradient
// of zero up to rounding (1e-9), hence the absolute term.
void expect_same_gradients(torch::nn::Module& a, torch::nn::Module& b, const std::string& what) {
  auto pa = a.parameters(), pb = b.parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_TRUE(pa[i].grad().defined() && pb[i].grad().defined()) << what << " parameter " << i;
    const double diff = (pb[i].grad() - pa[i].grad()).norm().item<double>();
    EXPECT_LE(diff, 2e-2 * pa[i].grad().norm().item<double>() + 1e-6) << what << " parameter " << i;
  }
}

TEST(PrivacyNets, ChannelsLastTrainingComputesTheSame) {
  const std::vector<int64_t> image{1, 32, 32};
  for (const std::vector<int64_t>& fshape :
       std::vector<std::vector<int64_t>>{{8, 16, 16}, {16, 2, 2}, {24}}) {
    const std::string what = "features " + std::to_string(fshape[0]) + "x" +
                             std::to_string(fshape.size() == 3 ? fshape[1] : 1);
    torch::manual_seed(1);
    Decoder a(fshape, image, 64, 0.0, 1.0), b(fshape, image, 64, 0.0, 1.0);
    copy_parameters(*a, *b);
    to_channels_last(*b);
    for (const auto& p : b->parameters()) {
      if (p.dim() == 4) {
        EXPECT_TRUE(p.is_contiguous(torch::MemoryFormat::ChannelsLast)) << what;
      }
    }
    std::vector<int64_t> fsize{6};
    fsize.insert(fsize.end(), fshape.begin(), fshape.end());
    const torch::Tensor f = torch::randn(fsize), x = torch::rand({6, 1, 32, 32});
    const torch::Tensor ya = a->forward(f), yb = b->forward(channels_last(f));
    EXPECT_LT(max_rel_diff(yb, ya), 1e-5) << what;
    torch::nn::functional::l1_loss(ya, x).backward();
    torch::nn::functional::l1_loss(yb, channels_last(x)).backward();
    expect_same_gradients(*a, *b, what);

    PatchDiscriminator da(fshape[0], 1), db(fshape[0], 1);
    copy_parameters(*da, *db);
    to_channels_last(*db);
    const torch::Tensor la = da->forward(f, x),
                        lb = db->forward(channels_last(f), channels_last(x));
    EXPECT_LT(max_rel_diff(lb, la), 1e-5) << what;
    {  // The 1x1 reduction before the resize equals the pix2pix order, after it.
      torch::NoGradGuard ng;
      torch::Tensor r = torch::cat({da->reduce(resize_features(f, 32, 32)), x}, 1);
      r = torch::leaky_relu(da->c1(r), 0.2);
      r = da->c3(torch::leaky_relu(da->bn2(da->c2(r)), 0.2));
      EXPECT_LT(max_rel_diff(la, r), 1e-5) << what << " discriminator, reduction after the resize";
    }
    la.pow(2).mean().backward();
    lb.pow(2).mean().backward();
    expect_same_gradients(*da, *db, what + " discriminator");
  }
}

// The c-GAN's discriminator step computes the feature branch once for the real
// and the generated pair (condition, then judge twice): the same logits and
// gradients as two whole passes. Its generator step freezes the discriminator:
// the gradient reaching the generated image is the same, and the
// discriminator's weights get none.
TEST(PrivacyNets, DiscriminatorSharesItsFeatureBranch) {
  namespace F = torch::nn::functional;
  for (const auto& [fshape, ic] : std::vector<std::pair<std::vector<int64_t>, int64_t>>{
           {{8, 16, 16}, 1}, {{24}, 1}, {{16, 4, 4}, 3}}) {
    const std::string what = "features " + std::to_string(fshape[0]) + "x" +
                             std::to_string(fshape.size() == 3 ? fshape[1] : 1) + ", " +
                             std::to_string(ic) + " image channels";
    torch::manual_seed(2);
    PatchDiscriminator a(fshape[0], ic), b(fshape[0], ic);
    copy_parameters(*a, *b);
    to_channels_last(*a);
    to_channels_last(*b);
    std::vector<int64_t> fsize{6};
    fsize.insert(fsize.end(), fshape.begin(), fshape.end());
    const torch::Tensor f = channels_last(torch::randn(fsize));
    const torch::Tensor x = channels_last(torch::rand({6, ic, 32, 32}));
    const torch::Tensor fake = channels_last(torch::rand({6, ic, 32, 32}));
    auto loss = [](const torch::Tensor& lr, const torch::Tensor& lf) {
      return F::binary_cross_entropy_with_logits(lr, torch::ones_like(lr)) +
             F::binary_cross_entropy_with_logits(lf, torch::zeros_like(lf));
    };
    const torch::Tensor ra = a->forward(f, x), fa = a->forward(f, fake);
    const torch::Tensor cond = b->condition(f, 32, 32);
    const torch::Tensor rb = b->judge(cond, x), fb = b->judge(cond, fake);
    EXPECT_LT(max_rel_diff(rb, ra), 1e-5) << what;
    EXPECT_LT(max_rel_diff(fb, fa), 1e-5) << what;
    loss(ra, fa).backward();
    loss(rb, fb).backward();
    for (size_t i = 0; i < a->parameters().size(); ++i) {
      const torch::Tensor ga = a->parameters()[i].grad(), gb = b->parameters()[i].grad();
      ASSERT_TRUE(ga.defined() && gb.defined()) << what << " parameter " << i;
      EXPECT_LE((gb - ga).norm().item<double>(), 1e-5 * ga.norm().item<double>() + 1e-7)
          << what << " parameter " << i;
    }

    // The generator's step: the gradient at the generated image, with the
    // discriminator trainable (a) and frozen (b).
    a->zero_grad();
    b->zero_grad();
    for (auto& p : b->parameters()) p.requires_grad_(false);
    const torch::Tensor ga = fake.clone().requires_grad_(true),
                        gb = fake.clone().requires_grad_(true);
    const torch::Tensor la = a->forward(f, ga), lb = b->forward(f, gb);
    F::binary_cross_entropy_with_logits(la, torch::ones_like(la)).backward();
    F::binary_cross_entropy_with_logits(lb, torch::ones_like(lb)).backward();
    EXPECT_LT(max_rel_diff(gb.grad(), ga.grad()), 1e-5) << what;
    for (const auto& p : b->parameters())
      EXPECT_FALSE(p.grad().defined() && p.grad().abs().max().item<double>() > 0) << what;
  }
}

TEST(PrivacyCuts, BlocksRuleAndShardSpec) {
  const Graph g = cut_graph(tiny_model());
  const auto all = enumerate_cuts(g);
  const auto blocks = select_cuts(g, "blocks");
  ASSERT_GE(blocks.size(), 4u);
  EXPECT_LE(blocks.size(), 12u);
  // The first block cut is the first conv's output; the last is the model's last cut.
  EXPECT_EQ(g.nodes[static_cast<size_t>(blocks[0].index)].op, "Conv");
  EXPECT_EQ(blocks.back().index, all.back().index);
  for (size_t i = 1; i < blocks.size(); ++i) EXPECT_LT(blocks[i - 1].index, blocks[i].index);
  EXPECT_EQ(select_cuts(g, "all").size(), all.size());
  const auto two = select_cuts(g, all[2].name + "," + std::to_string(all[0].index));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].index, all[0].index);  // graph order
  EXPECT_EQ(two[1].index, all[2].index);
  EXPECT_NE(error_of([&] { select_cuts(g, "no.such.cut"); }), "");
  // A trailing comma was dropped silently; it is an empty item like any other now.
  EXPECT_NE(error_of([&] { select_cuts(g, all[0].name + ","); }).find("an empty item"),
            std::string::npos);
  int i = -1, n = -1;
  parse_shard("2/5", &i, &n);
  EXPECT_EQ(i, 2);
  EXPECT_EQ(n, 5);
  for (const char* bad : {"5/5", "1", "/2", "1/", "a/2", "1/0", "-1/2", "1/2/3"})
    EXPECT_NE(error_of([&] { parse_shard(bad, &i, &n); }).find("--shard"), std::string::npos)
        << bad;
}

TEST(PrivacyCuts, AttacksRunInTheGridOrderEachOnce) {
  using V = std::vector<std::string>;
  EXPECT_EQ(attacks_in_order({"optimization", "cgan", "optimization"}),
            (V{"cgan", "optimization"}));
  EXPECT_EQ(attacks_in_order({"inversion", "optimization", "cgan"}), attack_names());
  EXPECT_EQ(attacks_in_order({"gan"}), V{});
  EXPECT_TRUE(is_attack_name("inversion"));
  EXPECT_FALSE(is_attack_name("Inversion"));
  EXPECT_FALSE(is_attack_name(""));
}

// The whole pipeline at CI scale: three cuts (the first conv's output, the end
// of the second stage, the last spatial cut), all three attacks.
TEST(PrivacyPipeline, ScoresFallWithDepthAndTheFirstCutIsRebuilt) {
  TS_REQUIRE_ORACLE(have_fashion_mnist(), "Fashion-MNIST is not installed (dataset-fashion-mnist)");
  const Graph g = cut_graph(tiny_model());
  const auto blocks = select_cuts(g, "blocks");
  const std::string dir = gen_path("e2e");
  fs::remove_all(dir);
  AttackOptions o = small_options(dir);
  o.cuts = blocks[0].name + "," + blocks[2].name + "," + blocks[blocks.size() - 2].name;
  const auto t0 = std::chrono::steady_clock::now();
  run_attacks(o);
  const double first_run =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const json j = json::parse(read_file(dir + "/attack.json"));
  EXPECT_EQ(j["format"], "teesplit-attack");
  ASSERT_EQ(j["cuts"].size(), 3u);
  const double floor = j["floor"]["ssim_mean"].get<double>();
  std::vector<double> best;
  for (const json& c : j["cuts"]) {
    double b = -1;
    for (const char* a : {"cgan", "inversion", "optimization"}) {
      ASSERT_TRUE(c["attacks"].contains(a)) << c["name"] << " " << a;
      const json& r = c["attacks"][a];
      for (const char* k : {"ssim_mean", "ssim_std", "ssim_p10", "ssim_median", "ssim_p90",
                            "psnr_mean", "psnr_p90", "train_seconds", "images_per_second"})
        EXPECT_TRUE(r[k].is_number()) << a << " " << k;
      EXPECT_TRUE(r["stopped"] == "plateau" || r["stopped"] == "budget");
      EXPECT_LE(r["ssim_p10"].get<double>(), r["ssim_median"].get<double>());
      EXPECT_LE(r["ssim_median"].get<double>(), r["ssim_p90"].get<double>());
      b = std::max(b, r["ssim_mean"].get<double>());
    }
    EXPECT_TRUE(fs::exists(dir + "/" + c["grid"].get<std::string>()));
    EXPECT_GE(c["probe"]["accuracy"].get<double>(), 0.0);
    best.push_back(b);
  }
  std::printf("best SSIM by depth: %.3f %.3f %.3f (floor %.3f), %.1f s\n", best[0], best[1],
              best[2], floor, first_run);
  EXPECT_GT(best[0], 0.7);
  EXPECT_GT(best[0], floor + 0.3);
  EXPECT_GT(best[0], best[1]);
  EXPECT_GT(best[1], best[2]);

  // Resume: a rerun of the finished sweep recomputes nothing.
  const auto t1 = std::chrono::steady_clock::now();
  run_attacks(o);
  const double rerun = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_LT(rerun, first_run / 3);
  auto strip = [](json x) {
    x.erase("seconds");
    return x;
  };
  EXPECT_EQ(strip(json::parse(read_file(dir + "/attack.json"))), strip(j));

  // An interrupted sweep: one result and attack.json missing; only that one is redone
  // (the others' files are not rewritten), and it comes out the same.
  const std::string cut0 = dir + "/cuts/" + j["cuts"][0]["name"].get<std::string>();
  const auto kept = fs::last_write_time(cut0 + "/cgan.json");
  fs::remove(cut0 + "/inversion.json");
  fs::remove(dir + "/attack.json");
  run_attacks(o);
  EXPECT_EQ(fs::last_write_time(cut0 + "/cgan.json"), kept);
  const json k = json::parse(read_file(dir + "/attack.json"));
  const json& a = j["cuts"][0]["attacks"]["inversion"];
  const json& b = k["cuts"][0]["attacks"]["inversion"];
  EXPECT_DOUBLE_EQ(a["ssim_mean"].get<double>(), b["ssim_mean"].get<double>());
  EXPECT_EQ(a["steps"], b["steps"]);
}

// Shards: two shard runs merged give the unsharded result set, value for value.
TEST(PrivacyPipeline, ShardsMergeToTheUnshardedResult) {
  TS_REQUIRE_ORACLE(have_fashion_mnist(), "Fashion-MNIST is not installed (dataset-fashion-mnist)");
  const Graph g = cut_graph(tiny_model());
  const auto blocks = select_cuts(g, "blocks");
  const std::string base = gen_path("shard");
  fs::remove_all(base);
  AttackOptions o = small_options(base + "/whole");
  o.cuts = blocks[0].name + "," + blocks[1].name + "," + blocks[3].name;
  o.attacks = {"inversion"};
  o.aux = 200;
  o.victims = 16;
  o.steps = 30;
  o.eval_every = 10;
  run_attacks(o);
  for (int i = 0; i < 2; ++i) {
    o.output = base + "/s" + std::to_string(i);
    o.shard_index = i;
    o.shard_count = 2;
    run_attacks(o);
  }
  const json s0 = json::parse(read_file(base + "/s0/attack.json"));
  EXPECT_EQ(s0["cuts"].size(), 2u);  // positions 0 and 2
  merge_attacks({base + "/s1", base + "/s0"}, base + "/merged");
  const json whole = json::parse(read_file(base + "/whole/attack.json"));
  const json merged = json::parse(read_file(base + "/merged/attack.json"));
  ASSERT_EQ(merged["cuts"].size(), whole["cuts"].size());
  for (size_t i = 0; i < whole["cuts"].size(); ++i) {
    json a = whole["cuts"][i], b = merged["cuts"][i];
    for (json* x : {&a, &b}) {
      (*x)["probe"].erase("seconds");
      (*x)["attacks"]["inversion"].erase("train_seconds");
      (*x)["attacks"]["inversion"].erase("images_per_second");
    }
    EXPECT_EQ(a, b) << i;
    EXPECT_TRUE(fs::exists(base + "/merged/" + b["grid"].get<std::string>()));
  }
  EXPECT_EQ(merged["floor"], whole["floor"]);
  // Mismatched options are refused, as are duplicate cuts.
  o.output = base + "/other";
  o.seed = 9;
  o.shard_index = 0;
  run_attacks(o);
  EXPECT_NE(error_of([&] {
              merge_attacks({base + "/s1", base + "/other"}, base + "/bad");
            }).find("option seed"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              merge_attacks({base + "/s0", base + "/s0"}, base + "/bad");
            }).find("also in another"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { merge_attacks({base + "/nothing"}, base + "/bad"); }).find("attack.json"),
      std::string::npos);
}

// teesplit attack --jobs: one child process per cut gives, value for value, what
// one process gives with the same threads per cut; its children's results are
// reused by a rerun, a child's error comes back as the command's, and --shard
// still selects the cuts.
TEST(PrivacyCli, JobsGiveTheInProcessResult) {
  TS_REQUIRE_ORACLE(have_fashion_mnist(), "Fashion-MNIST is not installed (dataset-fashion-mnist)");
  const std::string bin = testing::binary_path("teesplit");
  TS_REQUIRE_ORACLE(fs::exists(bin), "the teesplit binary is not built");
  const Graph g = cut_graph(tiny_model());
  const auto blocks = select_cuts(g, "blocks");
  const std::string base = gen_path("jobs");
  fs::remove_all(base);
  int code = 0;
  auto run = [&](const std::string& args) {
    return testing::run_command(bin + " attack " + tiny_model() + " " + args + " 2>&1", &code);
  };
  const std::string budget =
      "--attacks inversion,optimization --aux 200 --victims 16 --steps 30 --eval-every 10 "
      "--opt-steps 10 --tv-weight 0.1 --batch 16 --decoder-width 16 --no-progress";
  const std::string common =
      "--cuts " + blocks[0].name + "," + blocks[1].name + "," + blocks[3].name + " " + budget;
  std::string msg = run(common + " --threads 1 --jobs 1 -o " + base + "/one");
  ASSERT_EQ(code, 0) << msg;
  msg = run(common + " --threads 2 --jobs 2 -o " + base + "/two");
  ASSERT_EQ(code, 0) << msg;
  EXPECT_NE(msg.find("3 cuts, 2 attacks each, 2 processes at a time"), std::string::npos) << msg;
  {  // The children get every option of the command (the parent writes their lines
     // field by field): each one --help lists is in the child's line it prints.
    const size_t at = msg.find("each: ");
    ASSERT_NE(at, std::string::npos) << msg;
    const std::string child = msg.substr(at, msg.find('\n', at) - at);
    std::istringstream help(testing::run_command(bin + " attack --help 2>&1", &code));
    size_t options = 0;
    for (std::string line; std::getline(help, line);) {  // "  --name TYPE=default"
      std::istringstream words(line);
      std::string word;
      words >> word;
      if (word.rfind("--", 0) != 0 && word.rfind("-o,--", 0) != 0) continue;
      std::string opt = word.substr(0, word.find('='));
      if (opt.rfind("-o,", 0) == 0) opt = "-o";
      if (opt == "--help" || opt == "--list" || opt == "--no-progress" || opt == "--") continue;
      ++options;
      EXPECT_NE(child.find(" " + opt + " "), std::string::npos)
          << opt << " is not passed on: " << child;
    }
    EXPECT_GE(options, 15u);
  }
  for (const auto& c : {blocks[0], blocks[1], blocks[3]}) {
    EXPECT_NE(msg.find("cut " + c.name + " done: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.name + " inversion: SSIM mean"), std::string::npos) << msg;
  }
  const json one = json::parse(read_file(base + "/one/attack.json"));
  const json two = json::parse(read_file(base + "/two/attack.json"));
  EXPECT_EQ(two["options"]["jobs"], 2);
  EXPECT_EQ(two["options"]["threads"], 2);
  EXPECT_EQ(two["options"]["shard"], "0/1");
  EXPECT_NE(two["command"].get<std::string>().find("--jobs 2"), std::string::npos);
  EXPECT_EQ(two["floor"], one["floor"]);
  EXPECT_EQ(two["model_accuracy"], one["model_accuracy"]);
  ASSERT_EQ(two["cuts"].size(), 3u);
  ASSERT_EQ(one["cuts"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    json a = one["cuts"][i], b = two["cuts"][i];
    for (json* x : {&a, &b}) {
      (*x)["probe"].erase("seconds");
      for (const char* k : {"inversion", "optimization"}) {
        (*x)["attacks"][k].erase("train_seconds");
        (*x)["attacks"][k].erase("images_per_second");
      }
    }
    EXPECT_EQ(a, b) << i;
    EXPECT_TRUE(fs::exists(base + "/two/" + b["grid"].get<std::string>()));
    // One child per attack; the cut's folder collects both.
    const std::string part = base + "/two/shards/shard-" + std::to_string(i) + "-of-3";
    EXPECT_TRUE(fs::exists(part + "/attack-inversion.out"));
    EXPECT_TRUE(fs::exists(part + "/attack-optimization.out"));
    const json pj = json::parse(read_file(part + "/attack.json"));
    ASSERT_EQ(pj["cuts"].size(), 1u);
    EXPECT_EQ(pj["cuts"][0]["attacks"].size(), 2u) << part;
  }

  // A rerun trains nothing: every result comes from the children's folders.
  msg = run(common + " --threads 2 --jobs 2 -o " + base + "/two");
  ASSERT_EQ(code, 0) << msg;
  EXPECT_EQ(testing::count_of(msg, "reused from"), 6u) << msg;

  // A child's error is the command's, with the cut and the child's log.
  msg = run(common + " --threads 2 --dataset ton-iot:" + gen_path("missing.csv") + " -o " + base +
            "/bad");
  EXPECT_EQ(code, 1) << msg;
  EXPECT_NE(msg.find("missing.csv"), std::string::npos) << msg;
  EXPECT_NE(msg.find("attack-inversion.err"), std::string::npos) << msg;

  // --shard picks the cuts first: positions 0 and 2 of the three, one process each.
  msg = run(common + " --threads 2 --shard 0/2 -o " + base + "/half");
  ASSERT_EQ(code, 0) << msg;
  EXPECT_NE(msg.find("2 cuts, 2 attacks each, 2 processes at a time"), std::string::npos) << msg;
  const json half = json::parse(read_file(base + "/half/attack.json"));
  ASSERT_EQ(half["cuts"].size(), 2u);
  EXPECT_EQ(half["cuts"][0]["name"], blocks[0].name);
  EXPECT_EQ(half["cuts"][1]["name"], blocks[3].name);
  EXPECT_EQ(half["options"]["shard"], "0/2");
  EXPECT_TRUE(fs::exists(base + "/half/shards/shard-2-of-3/attack.json"));
  // One cut: its two attacks run side by side (the second once the first has
  // cached the feature maps and the probe), with the in-process values.
  msg = run(budget + " --threads 2 --cuts " + blocks[1].name + " -o " + base + "/single");
  ASSERT_EQ(code, 0) << msg;
  EXPECT_NE(msg.find("1 cut, 2 attacks each, 2 processes at a time"), std::string::npos) << msg;
  json single = json::parse(read_file(base + "/single/attack.json"))["cuts"][0];
  json reference = one["cuts"][1];
  for (json* x : {&single, &reference}) {
    (*x)["probe"].erase("seconds");
    for (const char* k : {"inversion", "optimization"}) {
      (*x)["attacks"][k].erase("train_seconds");
      (*x)["attacks"][k].erase("images_per_second");
    }
  }
  EXPECT_EQ(single, reference);
  // A --jobs run merges with a one-process shard (jobs is not compared).
  merge_attacks({base + "/half", base + "/two/shards/shard-1-of-3"}, base + "/all");
  EXPECT_EQ(json::parse(read_file(base + "/all/attack.json"))["cuts"].size(), 3u);
  // The same through the CLI, which says what it wrote.
  msg = testing::run_command(bin + " attack-merge " + base + "/half " + base +
                                 "/two/shards/shard-1-of-3 -o " + base + "/all-cli 2>&1",
                             &code);
  ASSERT_EQ(code, 0) << msg;
  EXPECT_NE(msg.find("wrote " + base + "/all-cli/attack.json (3 cuts from 2 folders)"),
            std::string::npos)
      << msg;
}

// --precision bf16: the feature maps attacked are those of a bf16 front, as the
// enclave would run it (issue 14's privacy effect). They are close to fp32's but
// not equal, the white-box attack still runs through the fp32 front, and the
// caches of the two precisions do not mix.
TEST(PrivacyPipeline, Bf16FrontIsAttackedAsTheEnclaveRunsIt) {
  TS_REQUIRE_ORACLE(have_fashion_mnist(), "Fashion-MNIST is not installed (dataset-fashion-mnist)");
  if (const std::string why = onednn_bf16_unavailable(); !why.empty())
    TS_SKIP_FOR_HARDWARE(testing::Hardware::AmxBf16, why);
  const Graph g = cut_graph(tiny_model());
  const auto blocks = select_cuts(g, "blocks");
  const std::string base = gen_path("bf16");
  fs::remove_all(base);
  AttackOptions o = small_options(base + "/fp32");
  o.cuts = blocks[1].name;
  o.attacks = {"inversion", "optimization"};
  o.aux = 200;
  o.victims = 16;
  o.steps = 20;
  o.opt_steps = 10;
  o.eval_every = 10;
  run_attacks(o);
  o.output = base + "/bf16";
  o.precision = "bf16";
  run_attacks(o);
  const json f = json::parse(read_file(base + "/fp32/attack.json"));
  const json b = json::parse(read_file(base + "/bf16/attack.json"));
  EXPECT_EQ(f["options"]["precision"], "fp32");
  EXPECT_EQ(b["options"]["precision"], "bf16");
  ASSERT_EQ(b["cuts"].size(), 1u);
  // grids/NAME.png names the cut's folder, cuts/NAME/.
  const std::string name = fs::path(b["cuts"][0]["grid"].get<std::string>()).stem().string();
  const Tensor ff = read_npy(base + "/fp32/cuts/" + name + "/victim_features.npy");
  const Tensor bf = read_npy(base + "/bf16/cuts/" + name + "/victim_features.npy");
  ASSERT_EQ(ff.shape(), bf.shape());
  const double err = max_relative_error(bf, ff);
  EXPECT_GT(err, 0.0) << "the bf16 front gave the fp32 features";
  EXPECT_LT(err, 0.1) << "the bf16 front is far from fp32";
  const json fk = json::parse(read_file(base + "/bf16/cuts/" + name + "/features.json"));
  EXPECT_EQ(fk.value("precision", ""), "bf16");
  for (const char* a : {"inversion", "optimization"}) {
    // Same seeds, features within bf16's rounding: the same attack on either front
    // lands close (a sanity bound; docs/privacy.md measures the real difference).
    const double sf = f["cuts"][0]["attacks"][a]["ssim_mean"].get<double>();
    const double sb = b["cuts"][0]["attacks"][a]["ssim_mean"].get<double>();
    EXPECT_LT(std::abs(sf - sb), 0.15) << a << ": fp32 " << sf << ", bf16 " << sb;
    // The fp32 results in the same folder would not be taken for bf16 ones.
    const json rf = json::parse(read_file(base + "/fp32/cuts/" + name + "/" + a + ".json"));
    const json rb = json::parse(read_file(base + "/bf16/cuts/" + name + "/" + a + ".json"));
    EXPECT_NE(rf["key"], rb["key"]) << a;
  }
}

// Tabular rows as images (generated file, real schema: no real TON_IoT data here):
// the per-feature error in the encoder's units, and victims disjoint from the
// auxiliary set by content. The generated attack rows repeat (identifiers are not
// encoded), so test rows equal to auxiliary rows exist and must be skipped.
TEST(PrivacyPipeline, TabularFeatureErrorAndDisjointVictims) {
  const std::string csv = testing::write_ton_iot_csv(gen_path("ton_iot.csv"), 400);
  DatasetOptions dopt;
  dopt.split = "train";
  const auto train = open_dataset("ton-iot:" + csv, dopt);
  ZooOptions zo;
  zo.arch = "resnet50";
  zo.input_size = 32;
  zo.channels = 1;
  zo.classes = 2;
  zo.width = 0.125;
  onnx::ModelProto proto = zoo_model_proto(zo);
  set_metadata(proto, "teesplit.preprocess", "tabular side=8 target=binary");
  set_metadata(proto, "teesplit.feature_encoder", train->encoder_string());
  set_metadata(proto, "teesplit.tabular_upsample", "4");
  const std::string model = gen_path("tabular.onnx");
  write_model_file(proto, model);
  const std::string dir = gen_path("tabular");
  fs::remove_all(dir);
  AttackOptions o = small_options(dir);
  o.model = model;
  o.dataset = "ton-iot:" + csv;
  o.cuts = select_cuts(cut_graph(model), "blocks")[0].name;
  o.attacks = {"inversion"};
  o.aux = 200;
  o.victims = 20;
  o.steps = 20;
  o.eval_every = 10;
  run_attacks(o);
  const json j = json::parse(read_file(dir + "/attack.json"));
  EXPECT_TRUE(j["tabular"].get<bool>());
  const json& fe = j["cuts"][0]["attacks"]["inversion"]["feature_error"];
  ASSERT_TRUE(fe.is_object());
  ASSERT_EQ(fe["names"].size(), fe["mae"].size());
  EXPECT_GT(fe["names"].size(), 10u);
  EXPECT_EQ(fe["names"][0], "proto");
  for (const json& v : fe["mae"]) EXPECT_GE(v.get<double>(), 0.0);

  // No victim row is an auxiliary row by content, and duplicates were skipped.
  const json v = json::parse(read_file(dir + "/victims.json"));
  dopt.split = "test";
  dopt.encoder = train->encoder_string();
  const auto test = open_dataset("ton-iot:" + csv, dopt);
  std::vector<std::string> aux;
  for (int64_t i = 0; i < v["aux"].get<int64_t>(); ++i) {
    const Tensor t = train->get(v["aux_rows"][i].get<int64_t>()).image;
    aux.emplace_back(static_cast<const char*>(t.raw()), t.nbytes());
  }
  ASSERT_EQ(v["victim_rows"].size(), 20u);
  int64_t last = -1;
  for (const json& r : v["victim_rows"]) {
    const Tensor t = test->get(r.get<int64_t>()).image;
    const std::string b(static_cast<const char*>(t.raw()), t.nbytes());
    EXPECT_EQ(std::find(aux.begin(), aux.end(), b), aux.end()) << "victim row " << r;
    last = r.get<int64_t>();
  }
  EXPECT_GT(last, 19);  // some test rows were skipped as duplicates of aux rows
}

// The CLI: usage errors (exit 2) and clear failures (exit 1).
TEST(PrivacyCli, Errors) {
  const std::string bin = testing::binary_path("teesplit");
  TS_REQUIRE_ORACLE(fs::exists(bin), "the teesplit binary is not built");
  const std::string model = tiny_model(), out = gen_path("cli");
  int code = 0;
  auto run = [&](const std::string& args) {
    return testing::run_command(bin + " " + args + " 2>&1", &code);
  };
  std::string msg = run("attack " + model + " --cuts no.such.cut --no-progress -o " + out);
  EXPECT_EQ(code, 1) << msg;
  EXPECT_NE(msg.find("no.such.cut"), std::string::npos) << msg;
  msg = run("attack " + model + " --attacks cgan,gan -o " + out);
  EXPECT_EQ(code, 2) << msg;
  EXPECT_NE(msg.find("unknown attack 'gan'"), std::string::npos) << msg;
  msg = run("attack " + model + " --attacks cgan, -o " + out);
  EXPECT_EQ(code, 2) << msg;
  EXPECT_NE(msg.find("--attacks 'cgan,': an empty item"), std::string::npos) << msg;
  msg = run("attack " + model + " --shard 3/3 -o " + out);
  EXPECT_EQ(code, 2) << msg;
  EXPECT_NE(msg.find("--shard"), std::string::npos) << msg;
  msg = run("attack " + gen_path("missing.onnx") + " -o " + out);
  EXPECT_EQ(code, 1) << msg;
  EXPECT_NE(msg.find("missing.onnx"), std::string::npos) << msg;
  msg = run("attack " + model + " -o " + out + " --dataset ton-iot:" + gen_path("missing.csv"));
  EXPECT_EQ(code, 1) << msg;
  EXPECT_NE(msg.find("missing.csv"), std::string::npos) << msg;
  const std::string flat = gen_path("flat.onnx");
  write_onnx(flat,
             testing::single_node_graph("Relu", {}, {testing::random_tensor({1, 10}, 1)}, {false}));
  msg = run("attack " + flat + " -o " + out);
  EXPECT_EQ(code, 1) << msg;
  EXPECT_NE(msg.find("not an image"), std::string::npos) << msg;
  msg = run("attack-merge " + gen_path("nothing") + " -o " + out);
  EXPECT_EQ(code, 1) << msg;
  EXPECT_NE(msg.find("attack.json"), std::string::npos) << msg;
  msg = run("attack " + model + " --list --shard 1/2");  // blocks at positions 1, 3, ...
  EXPECT_EQ(code, 0) << msg;
  EXPECT_EQ(msg.rfind("features.3\nfeatures.15\n", 0), 0u) << msg;
  msg = run("attack " + model);
  EXPECT_EQ(code, 2) << msg;
  EXPECT_NE(msg.find("-o DIR"), std::string::npos) << msg;
  msg = run("attack --help");
  EXPECT_EQ(code, 0) << msg;
  EXPECT_NE(msg.find("--cuts"), std::string::npos) << msg;
}
}  // namespace
}  // namespace teesplit

#else

TEST(Privacy, RequiresLibTorch) {
  TS_REQUIRE_ORACLE(false,
                    "built without LibTorch (libtorch-dev; TEESPLIT_TORCH): the attacks are "
                    "not tested");
}

#endif
