// teesplit attack MODEL.onnx --dataset SPEC --cuts all|blocks|LIST --attacks ... -o DIR
// and teesplit attack-merge DIR... -o DIR (docs/privacy.md). The attacks run in
// the LibTorch plugin (torch_plugin.h); without it both commands parse and
// answer --help, --list works, and running them says what is missing.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "graph/cuts.h"
#include "onnx/onnx_import.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/torch_plugin.h"

namespace teesplit {
namespace {

struct AttackArgs {
  std::string precision;
  std::string model, dataset = "fashion-mnist", cuts = "blocks",
                     attacks = "cgan,inversion,optimization", shard = "0/1", output;
  int64_t steps = 2000, opt_steps = 1000, aux = 4096, victims = 256, batch = 64, width = 128,
          eval_every = 100, patience = 5;
  double tv_weight = -1, l1_weight = 100;
  uint64_t seed = 0;
  int threads = 0;
  bool no_progress = false, list = false;
  std::string command;
};

std::string join_argv(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = i == 0 ? "teesplit" : argv[i];
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_./:=,@%+") == std::string::npos;
    if (!plain) {
      std::string q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      a = q + "'";
    }
    s += (i ? " " : "") + a;
  }
  return s;
}

int attack(const AttackArgs& a) {
  if (a.list) {  // the cuts --cuts selects (and --shard takes), then exit
    auto g = load_onnx(a.model);
    if (!g) fail(g.error());
    int index = 0, count = 1;
    try {
      parse_shard(a.shard, &index, &count);
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
    const auto cuts = select_cuts(specialize_for_cuts(g.value()), a.cuts);
    for (size_t i = 0; i < cuts.size(); ++i)
      if (static_cast<int>(i % static_cast<size_t>(count)) == index)
        std::printf("%s\n", cuts[i].name.c_str());
    return 0;
  }
  AttackOptions o;
  o.model = a.model;
  o.dataset = a.dataset;
  o.cuts = a.cuts;
  o.attacks.clear();
  std::string tok;
  for (size_t i = 0; i <= a.attacks.size(); ++i) {
    if (i == a.attacks.size() || a.attacks[i] == ',') {
      bool known = false;
      for (const auto& n : attack_names()) known = known || n == tok;
      if (!known)
        throw UsageError("unknown attack '" + tok +
                         "' in --attacks (cgan, inversion, optimization)");
      o.attacks.push_back(tok);
      tok.clear();
    } else {
      tok += a.attacks[i];
    }
  }
  try {
    parse_shard(a.shard, &o.shard_index, &o.shard_count);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  o.steps = a.steps;
  o.opt_steps = a.opt_steps;
  o.aux = a.aux;
  o.victims = a.victims;
  o.batch = a.batch;
  o.decoder_width = a.width;
  o.eval_every = a.eval_every;
  o.patience = a.patience;
  o.tv_weight = a.tv_weight;
  o.l1_weight = a.l1_weight;
  o.seed = a.seed;
  o.precision = a.precision;
  o.threads =
      a.threads ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.progress = !a.no_progress;
  if (a.output.empty()) throw UsageError("-o DIR is required (except with --list)");
  o.output = a.output;
  o.command = a.command;
  std::string error;
  if (!torch_plugin().attack(o, &error)) fail(error);
  return 0;
}

struct MergeArgs {
  std::vector<std::string> dirs;
  std::string output, command;
};

int merge(const MergeArgs& a) {
  std::string error;
  if (!torch_plugin().merge(a.dirs, a.output, a.command, &error)) fail(error);
  return 0;
}

// The command line as typed, for attack.json (CLI11 does not keep argv).
std::string g_command;

}  // namespace

Subcommand add_attack_command(CLI::App& root) {
  auto a = std::make_shared<AttackArgs>();
  CLI::App* app = root.add_subcommand(
      "attack",
      "reconstruction attacks on the feature map each cut exposes: c-GAN, inversion network, "
      "white-box optimisation; SSIM/PSNR per cut, linear probe (docs/privacy.md)");
  app->add_option("model", a->model, "the model (ONNX) to attack")->required();
  app->add_option("--dataset", a->dataset, "a data set spec (teesplit data --help)")
      ->capture_default_str();
  app->add_option("--cuts", a->cuts,
                  "all (every valid cut), blocks (the first conv's output and the end of each "
                  "stage) or a comma list of cut names/indices (teesplit cuts)")
      ->capture_default_str();
  app->add_option("--attacks", a->attacks, "comma list of cgan, inversion, optimization")
      ->capture_default_str();
  app->add_option("--steps", a->steps, "training step budget of cgan and inversion")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}))
      ->capture_default_str();
  app->add_option("--opt-steps", a->opt_steps, "iteration budget of the optimisation attack")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}))
      ->capture_default_str();
  app->add_option("--aux", a->aux, "auxiliary (attacker) samples, from the train split")
      ->check(CLI::Range(int64_t{20}, int64_t{100000000}))
      ->capture_default_str();
  app->add_option("--victims", a->victims, "victim samples, from the test split")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}))
      ->capture_default_str();
  app->add_option("--batch", a->batch)
      ->check(CLI::Range(int64_t{2}, int64_t{4096}))
      ->capture_default_str();
  app->add_option("--decoder-width", a->width, "channels of the decoder's first stage")
      ->check(CLI::Range(int64_t{8}, int64_t{1024}))
      ->capture_default_str();
  app->add_option("--eval-every", a->eval_every, "validation period in steps")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
      ->capture_default_str();
  app->add_option("--patience", a->patience,
                  "stop after this many evaluations without a validation SSIM gain > 0.002")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  app->add_option("--tv-weight", a->tv_weight,
                  "optimisation: total-variation prior weight (< 0: the best of 0.02, 0.1, 0.5, 2 "
                  "on 32 auxiliary samples)")
      ->check(CLI::Range(-1.0, 1000.0))
      ->capture_default_str();
  app->add_option("--l1-weight", a->l1_weight, "c-GAN: lambda of adversarial + lambda * L1")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  app->add_option("--shard", a->shard, "I/N: attack every N-th selected cut, starting at I")
      ->capture_default_str();
  add_seed_option(app, &a->seed);
  add_threads_option(app, &a->threads);
  add_precision_option(app, &a->precision,
                       "the front partition's precision, as the enclave would run it (the "
                       "feature maps attacked)");
  app->add_flag("--no-progress", a->no_progress, "no progress bar on stderr");
  app->add_flag("--list", a->list, "print the cuts that --cuts and --shard select, and exit");
  app->add_option("-o,--output", a->output, "the output directory (kept results are reused)");
  return {app, [a] {
            a->command = g_command;
            return attack(*a);
          }};
}

Subcommand add_attack_merge_command(CLI::App& root) {
  auto a = std::make_shared<MergeArgs>();
  CLI::App* app = root.add_subcommand(
      "attack-merge", "join the attack.json of several `teesplit attack --shard` directories");
  app->add_option("dirs", a->dirs, "the shard output directories")->required();
  app->add_option("-o,--output", a->output, "the merged output directory")->required();
  return {app, [a] {
            a->command = g_command;
            return merge(*a);
          }};
}

void set_attack_command_line(int argc, char** argv) {
  g_command = join_argv(argc, argv);
}

}  // namespace teesplit
