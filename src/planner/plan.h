// `teesplit plan`: the choice of the cut. It joins the attack results
// (attack.json: the privacy score of each cut, the maximum over the attacks
// run of the 90th-percentile SSIM) with a profile (profile.json: latency and
// the enclave's footprint) and keeps the cuts that are
//
//   private enough: score <= floor + margin (the floor is the 90th-percentile
//     SSIM of the trivial attacker that outputs the mean image, or with
//     --floor class the mean image of the predicted class), or score <= S when
//     an absolute --ssim-max S is given;
//   small enough:   enclave footprint <= --epc, when given;
//   fast enough:    end-to-end p50 (with the profile's enclave slowdown) <=
//                   --latency-budget, when given;
//
// and of those picks the one with the least end-to-end p50 latency (ties: the
// earlier cut, which keeps more work on the accelerator). The Pareto set over
// (privacy score, latency, footprint) is marked. When no cut qualifies, the
// plan says which constraint failed first, for which cuts, and by how much.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace teesplit::planner {

struct PlanOptions {
  // The floor the margin is added to: "mean", the attacker that outputs the
  // auxiliary set's mean image (attack.json "floor"), or "class", the attacker
  // that outputs the mean image of the predicted class ("floor_class"): a cut
  // that leaks no more than the class, which the host sees anyway unless the
  // output is protected.
  std::string floor = "mean";
  double ssim_margin = 0.05;        // privacy: score <= floor + margin
  std::optional<double> ssim_max;   // privacy: score <= this (replaces the margin)
  std::optional<double> epc_bytes;  // enclave footprint budget
  std::optional<double> latency_budget_ms;
};

struct PlanRow {
  std::string name;
  int index = -1;
  double depth = 0;
  std::optional<double> score;              // absent: no attack result for this cut
  std::optional<double> probe_accuracy;     // the linear probe on the feature map
  double latency_p50 = 0, latency_p99 = 0;  // ms, adjusted for the enclave slowdown
  double footprint_bytes = 0;
  bool private_ok = false, memory_ok = false, latency_ok = false;
  bool pareto = false;
  bool qualifies() const { return private_ok && memory_ok && latency_ok; }
};

struct Plan {
  std::vector<PlanRow> rows;  // the cuts both files hold, in graph order
  int chosen = -1;            // index into rows, or -1 when no cut qualifies
  double floor_p90 = 0;       // the mean-image attacker's 90th-percentile SSIM
  double privacy_limit = 0;   // the score a cut may not exceed
  std::string privacy_rule;   // e.g. "score <= floor 0.312 + margin 0.05 = 0.362"
  std::string model_sha256;
  std::string failure;  // when chosen < 0: which constraint failed, by how much
  // When no cut is private enough: what keeping the whole model in the enclave
  // would cost (profile.json's whole_model_ms), the alternative that exposes nothing.
  std::string fallback;
  std::vector<std::string> notes;  // cuts in one file only, the slowdown in use, ...
};

// Builds the plan from the two files' text; throws Error naming the file and
// field when one is malformed, or when they describe different models.
Plan make_plan(const std::string& attack_json, const std::string& profile_json,
               const PlanOptions& opts);

// The Pareto table as `teesplit plan` prints it, the choice marked with '*'.
std::string plan_table(const Plan& plan);

// plan.json (format "teesplit-plan", version 1): options, rows, choice.
std::string plan_to_json(const Plan& plan, const PlanOptions& opts);

// Parses "90MiB", "128 MiB", "1.5GiB", "4096", "64KB" (KB/MB/GB are powers of
// 1000; KiB/MiB/GiB of 1024; no unit: bytes); throws Error for anything else.
double parse_byte_size(const std::string& text);

}  // namespace teesplit::planner
