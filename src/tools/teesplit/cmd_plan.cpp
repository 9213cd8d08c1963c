// teesplit plan MODEL.onnx --attacks attack.json --profile profile.json
//               [--floor mean|class] [--ssim-margin 0.05 | --ssim-max S] [--epc 90MiB]
//               [--latency-budget MS]
//               [-o SPLIT_DIR] [--plan-json FILE] [--key FILE] [--sign KEY] [--protect-output]
#include <cstdio>
#include <optional>

#include "core/file.h"
#include "crypto/ed25519.h"
#include "host/split_io.h"
#include "partition/front_file.h"
#include "planner/plan.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

struct PlanArgs {
  std::string model, attacks, profile, output, plan_json, epc, key, sign, floor = "mean";
  double margin = 0.05, ssim_max = 0, latency = 0;
  bool have_ssim_max = false, protect_output = false;
};

int plan(const PlanArgs& a) {
  planner::PlanOptions o;
  o.floor = a.floor;
  o.ssim_margin = a.margin;
  if (a.have_ssim_max) o.ssim_max = a.ssim_max;
  if (!a.epc.empty()) {
    try {
      o.epc_bytes = planner::parse_byte_size(a.epc);
    } catch (const Error& e) {
      throw UsageError(std::string("--epc: ") + e.what());
    }
  }
  if (a.latency > 0) o.latency_budget_ms = a.latency;
  const size_t limit = size_t{64} << 20;
  const std::string attack_text = read_file(a.attacks, limit);
  const std::string profile_text = read_file(a.profile, limit);
  const planner::Plan p = planner::make_plan(attack_text, profile_text, o);
  const std::string model_bytes = read_file(a.model);
  const std::string sha = sha256_hex(model_bytes.data(), model_bytes.size());
  TS_CHECK(sha == p.model_sha256, a.model, " is not the model that was profiled (sha256 ", sha,
           ", profile.json says ", p.model_sha256, ")");
  std::fputs(planner::plan_table(p).c_str(), stdout);
  if (!a.plan_json.empty()) {
    write_file(a.plan_json, planner::plan_to_json(p, o));
    std::printf("wrote %s\n", a.plan_json.c_str());
  }
  if (p.chosen < 0) return 1;
  if (!a.output.empty()) {
    std::optional<FrontKey> key;
    if (!a.key.empty()) key = read_key_file(a.key);
    std::optional<crypto::Ed25519PrivateKey> owner;
    if (!a.sign.empty()) owner = crypto::Ed25519PrivateKey::load(a.sign);
    SplitWriteOptions wo;
    wo.key = key ? &*key : nullptr;
    wo.owner_key = owner ? &*owner : nullptr;
    wo.protect_output = a.protect_output;
    const planner::PlanRow& r = p.rows[p.chosen];
    const SplitManifest m = write_split(a.model, std::to_string(r.index), a.output, wo);
    std::printf("wrote the split at cut %d '%s' to %s (front %s)\n", m.cut_index,
                m.cut_name.c_str(), a.output.c_str(),
                m.encrypted ? "sealed with AES-256-GCM" : "not encrypted");
  }
  return 0;
}

}  // namespace

Subcommand add_plan_command(CLI::App& root) {
  auto a = std::make_shared<PlanArgs>();
  CLI::App* app = root.add_subcommand(
      "plan",
      "choose the cut: the fastest of those private enough (attack.json), within the enclave "
      "memory and latency budgets (profile.json); prints the Pareto table, writes the split");
  app->add_option("model", a->model, "ONNX model (the one attacked and profiled)")
      ->required()
      ->check(CLI::ExistingFile);
  app->add_option("--attacks", a->attacks, "attack.json from teesplit attack")
      ->required()
      ->check(CLI::ExistingFile);
  app->add_option("--profile", a->profile, "profile.json from teesplit profile")
      ->required()
      ->check(CLI::ExistingFile);
  app->add_option("--floor", a->floor,
                  "the floor the margin is added to: mean (the mean-image attacker) or class (the "
                  "mean image of the predicted class: leaks no more than the class)")
      ->check(CLI::IsMember({"mean", "class"}))
      ->capture_default_str();
  auto* margin = app->add_option("--ssim-margin", a->margin,
                                 "private enough: privacy score <= mean-image floor + margin")
                     ->check(CLI::Range(0.0, 1.0))
                     ->capture_default_str();
  app->add_option_function<double>(
         "--ssim-max",
         [a](double v) {
           a->ssim_max = v;
           a->have_ssim_max = true;
         },
         "private enough: privacy score <= S (instead of the margin)")
      ->check(CLI::Range(-1.0, 1.0))
      ->excludes(margin);
  app->add_option("--epc", a->epc, "enclave memory budget, e.g. 90MiB (default: none)");
  app->add_option("--latency-budget", a->latency, "end-to-end p50 budget in ms (default: none)")
      ->check(CLI::PositiveNumber);
  app->add_option("-o,--output", a->output, "write the chosen split to this directory");
  app->add_option("--plan-json", a->plan_json, "write the plan (table and choice) as JSON");
  app->add_option("--key,--encrypt-with", a->key, "seal front.tsf with this 32-byte key file");
  app->add_option("--sign", a->sign, "sign manifest.json with the owner's Ed25519 key");
  app->add_flag("--protect-output", a->protect_output,
                "keep the classifier in the enclave too (as split --protect-output)");
  return {app, [a] { return plan(*a); }};
}

}  // namespace teesplit
