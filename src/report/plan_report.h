// The report's sections for the cut planner (issue: choose the cut): the cost
// of each cut from a profile (teesplit profile: latency by stage, the enclave's
// footprint) and the choice from a plan (teesplit plan --plan-json: the
// constraints, the Pareto table, the chosen cut marked on every chart).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "planner/attack_results.h"
#include "planner/profile.h"
#include "report/attack_report.h"
#include "report/page.h"

namespace teesplit::report {

// plan.json as `teesplit plan --plan-json` writes it; throws Error naming the
// key when it is malformed.
struct PlanRowView {
  std::string name;
  int64_t index = -1;
  double depth = 0;
  std::optional<double> score, probe_accuracy;
  double latency_p50 = 0, latency_p99 = 0, footprint_bytes = 0;
  bool private_ok = false, fits = false, in_budget = false, pareto = false;
};
struct PlanView {
  std::string model_sha256, privacy_rule, chosen, failure;
  double privacy_limit = 0;
  std::optional<double> epc_bytes, latency_budget_ms;
  std::vector<PlanRowView> rows;
  std::vector<std::string> notes;
};
PlanView parse_plan(const std::string& text, const std::string& where);

// The sections: "cost" (latency by stage and footprint against the cut, from
// the profile) when a profile is given, "choice" (the privacy score against
// the limit, the table) when a plan is given. The chosen cut is marked.
std::vector<Section> plan_sections(const AttackResults& attack,
                                   const planner::ModelProfile* profile, const PlanView* plan);

// The whole page: the attack results of DIR, then the planner's sections.
// Refuses a profile or plan of another model than attack.json's (SHA-256).
struct ReportInputs {
  std::string profile_path, plan_path;  // empty: none
};
ReportWritten write_report(const std::string& dir, const std::string& out,
                           const ReportInputs& inputs, const ImageLimits& limits = {});

}  // namespace teesplit::report
