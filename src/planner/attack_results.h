// The results of `teesplit attack` as read back from DIR/attack.json
// (format "teesplit-attack", version 1; docs/usage.md "Reports" describes it).
// One parser for both readers: `teesplit plan` chooses the cut from it and
// `teesplit report` draws it. Unknown keys are ignored; every number may be
// missing or null (std::nullopt); a cut may lack any attack.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace teesplit::planner {

// The largest attack.json read (a sweep of hundreds of cuts is far below).
constexpr size_t kMaxAttackJsonBytes = size_t{64} << 20;

struct FeatureError {  // tabular data: mean absolute error per feature, standardised units
  std::vector<std::string> names;
  std::vector<double> mae;
};

struct AttackScores {
  std::optional<double> ssim_mean, ssim_std, ssim_p10, ssim_median, ssim_p90;
  std::optional<double> psnr_mean, psnr_p90;
  std::optional<double> steps;  // training steps or optimisation iterations
  std::string stopped;          // "plateau", "budget", or empty when not given
  std::optional<double> best_val_ssim, train_seconds, images_per_second;
  std::optional<FeatureError> feature_error;
};

struct CutResult {
  std::string name;
  std::optional<int64_t> index;  // position in the model's list of candidate cuts
  std::optional<double> depth;   // fraction of the model's FLOPs before the cut
  std::vector<int64_t> feature_shape;
  std::optional<double> probe_accuracy, probe_seconds;
  std::optional<double> score;  // max over attacks of ssim_p90, as written
  std::string grid;             // relative to the results folder; empty when none
  std::map<std::string, AttackScores> attacks;

  // The cut's privacy score: `score` as written, else the maximum over its
  // attacks of ssim_p90; nothing when neither is there.
  std::optional<double> privacy_score() const;
};

struct AttackResults {
  int version = 0;
  std::string model_path, model_name, model_sha256, model_arch;
  std::string dataset;
  bool tabular = false;
  std::string command;
  nlohmann::json options = nlohmann::json::object();  // shown as given
  std::string shard;                       // options.shard: "1/4", or "merged" by attack-merge
  std::vector<std::string> merged_shards;  // merged_shards (attack-merge): the shards joined
  std::vector<std::string> attack_order;   // options.attacks, else as found
  std::optional<double> model_accuracy;
  std::optional<double> floor_ssim_mean, floor_ssim_p90, floor_psnr_mean;
  // The class-mean attacker (the predicted class's mean image): "floor_class".
  std::optional<double> class_floor_ssim_mean, class_floor_ssim_p90;
  std::vector<CutResult> cuts;  // graph order, shallow to deep

  // Every attack that some cut has, known ones first (cgan, inversion,
  // optimization), then options.attacks' order, then by name.
  std::vector<std::string> attack_names() const;
  // True when options.shard is "I/N" with N > 1: one shard of several.
  bool is_partial_shard() const;
};

// Parses the text of an attack.json; `where` names it in errors. Throws Error
// naming the key (e.g. "cuts[2].attacks.cgan.ssim_p90: expected a number or
// null, got a string") for bad JSON, a wrong format or version, or a wrong type.
AttackResults parse_attack_results(std::string_view text, const std::string& where);

// Reads DIR/attack.json (at most kMaxAttackJsonBytes).
AttackResults read_attack_results(const std::string& dir);

}  // namespace teesplit::planner
