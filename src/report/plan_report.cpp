#include "report/plan_report.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/file.h"
#include "core/numbers.h"
#include "report/charts.h"
#include "report/html.h"

namespace teesplit::report {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kChosenColour = "#c0392b";

template <class T>
T field(const json& j, const char* key, const std::string& where) {
  TS_CHECK(j.is_object() && j.contains(key), where, ": missing '", key, "'");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    fail(where, ": '", key, "' has the wrong type (", j.at(key).type_name(), ")");
  }
}

std::optional<double> optional_number(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  TS_CHECK(j.at(key).is_number(), where, ": '", key, "' is not a number");
  return j.at(key).get<double>();
}

std::string mib(double bytes) {
  return fmt_number(bytes / 1048576.0, 1) + " MiB";
}

// The profile's cuts in graph order, labelled as the attack charts label them.
std::vector<const planner::CutTiming*> ordered(const planner::ModelProfile& p) {
  std::vector<const planner::CutTiming*> cuts;
  for (const auto& c : p.cuts) cuts.push_back(&c);
  std::stable_sort(cuts.begin(), cuts.end(), [](auto* a, auto* b) { return a->index < b->index; });
  return cuts;
}

std::vector<std::string> labels_of(const std::vector<const planner::CutTiming*>& cuts) {
  std::vector<std::pair<std::string, std::optional<int64_t>>> v;
  for (auto* c : cuts) v.emplace_back(c->name, c->index);
  return unique_cut_labels(v);
}

// The label of the chosen cut on an axis of `labels` over cuts with these names.
std::optional<std::string> chosen_label(const std::string& chosen,
                                        const std::vector<std::string>& names,
                                        const std::vector<std::string>& labels) {
  if (chosen.empty()) return std::nullopt;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == chosen) return labels[i];
  return std::nullopt;
}

// Stacked bars of the p50 of each stage, the end to end p50 and p99 as points.
json latency_chart(const std::vector<const planner::CutTiming*>& cuts,
                   const std::vector<std::string>& labels,
                   const std::optional<std::string>& chosen) {
  static const char* kStages[] = {"front (enclave)", "crypto", "transfer", "back (host)",
                                  "tail (enclave)"};
  json values = json::array();
  for (size_t i = 0; i < cuts.size(); ++i) {
    const planner::CutTiming& c = *cuts[i];
    const double ms[] = {c.front.p50, c.crypto.p50, std::max(0.0, c.transfer.p50), c.back.p50,
                         c.tail.p50};
    for (int s = 0; s < 5; ++s)
      values.push_back({{"cut", labels[i]},
                        {"stage", kStages[s]},
                        {"order", s},
                        {"ms", ms[s]},
                        {"depth", c.depth}});
    values.push_back({{"cut", labels[i]},
                      {"series", "end to end p50"},
                      {"total", c.end_to_end_adjusted.p50},
                      {"depth", c.depth}});
    values.push_back({{"cut", labels[i]},
                      {"series", "end to end p99"},
                      {"total", c.end_to_end_adjusted.p99},
                      {"depth", c.depth}});
  }
  json stage_domain = json::array(),
       stage_range = {"#4c78a8", "#b279a2", "#bab0ac", "#54a24b", "#72b7b2"};
  for (const char* s : kStages) stage_domain.push_back(s);
  json layers = json::array();
  layers.push_back(
      {{"name", "latency_bars"},
       {"transform", json::array({{{"filter", "isValid(datum.stage)"}}})},
       {"mark", {{"type", "bar"}, {"tooltip", true}}},
       {"encoding",
        {{"x", x_encoding(labels)},
         {"y",
          {{"field", "ms"},
           {"type", "quantitative"},
           {"stack", "zero"},
           {"title", "ms per request"}}},
         {"order", {{"field", "order"}}},
         {"color",
          {{"field", "stage"},
           {"type", "nominal"},
           {"title", "stage (p50)"},
           {"scale", {{"domain", stage_domain}, {"range", stage_range}}}}},
         {"tooltip",
          json::array({{{"field", "cut"}},
                       {{"field", "stage"}},
                       {{"field", "ms"}, {"format", ".3f"}},
                       {{"field", "depth"}, {"format", ".1%"}, {"title", "depth (FLOPs)"}}})}}}});
  layers.push_back(
      {{"name", "latency_points"},
       {"transform", json::array({{{"filter", "isValid(datum.series)"}}})},
       {"mark", {{"type", "point"}, {"filled", true}, {"size", 45}, {"tooltip", true}}},
       {"encoding",
        {{"x", x_encoding(labels)},
         {"y", {{"field", "total"}, {"type", "quantitative"}}},
         {"shape",
          {{"field", "series"},
           {"type", "nominal"},
           {"title", "end to end"},
           {"scale",
            {{"domain", {"end to end p50", "end to end p99"}},
             {"range", {"circle", "triangle-up"}}}}}},
         {"color", {{"value", "#1d2330"}}},
         {"tooltip", json::array({{{"field", "cut"}},
                                  {{"field", "series"}},
                                  {{"field", "total"}, {"format", ".3f"}}})}}}});
  if (chosen) add_cut_marker(layers, "latency_chosen", *chosen, labels, "chosen", kChosenColour);
  json spec = layered_spec(labels.size(), values, layers);
  spec["resolve"] = {{"scale", {{"color", "independent"}, {"shape", "independent"}}}};
  return spec;
}

json footprint_chart(const std::vector<const planner::CutTiming*>& cuts,
                     const std::vector<std::string>& labels,
                     const std::optional<std::string>& chosen,
                     const std::optional<double>& epc_bytes) {
  json values = json::array();
  for (size_t i = 0; i < cuts.size(); ++i) {
    const planner::CutTiming& c = *cuts[i];
    const double code = c.mapped_file_bytes / 1048576.0;
    values.push_back(
        {{"cut", labels[i]}, {"part", "binary and libraries"}, {"order", 0}, {"mib", code}});
    values.push_back({{"cut", labels[i]},
                      {"part", "front weights and activations"},
                      {"order", 1},
                      {"mib", std::max(0.0, c.enclave_footprint_bytes / 1048576.0 - code)}});
  }
  json layers = json::array();
  layers.push_back(
      {{"name", "footprint_bars"},
       {"mark", {{"type", "bar"}, {"tooltip", true}}},
       {"encoding",
        {{"x", x_encoding(labels)},
         {"y", {{"field", "mib"}, {"type", "quantitative"}, {"stack", "zero"}, {"title", "MiB"}}},
         {"order", {{"field", "order"}}},
         {"color",
          {{"field", "part"},
           {"type", "nominal"},
           {"title", "enclave footprint"},
           {"scale",
            {{"domain", {"binary and libraries", "front weights and activations"}},
             {"range", {"#bab0ac", "#4c78a8"}}}}}},
         {"tooltip", json::array({{{"field", "cut"}},
                                  {{"field", "part"}},
                                  {{"field", "mib"}, {"format", ".2f"}, {"title", "MiB"}}})}}}});
  if (epc_bytes)
    add_rule(layers, "footprint_epc", *epc_bytes / 1048576.0, "mib", "EPC budget (--epc)",
             "#e45756", true, LabelAt::RightBelow);
  if (chosen) add_cut_marker(layers, "footprint_chosen", *chosen, labels, "chosen", kChosenColour);
  return layered_spec(labels.size(), values, layers);
}

// The privacy score of every cut in the plan against the limit, the choice marked.
json choice_chart(const PlanView& plan, const std::vector<std::string>& labels) {
  json values = json::array();
  for (size_t i = 0; i < plan.rows.size(); ++i) {
    const PlanRowView& r = plan.rows[i];
    if (!r.score) continue;
    values.push_back(
        {{"cut", labels[i]},
         {"score", *r.score},
         {"qualifies", r.private_ok && r.fits && r.in_budget ? "qualifies" : "does not"},
         {"latency", r.latency_p50}});
  }
  const json y = {{"field", "score"},
                  {"type", "quantitative"},
                  {"title", "privacy score (max p90 SSIM)"},
                  {"scale", {{"domain", {0, 1}}}}};
  json layers = json::array();
  layers.push_back({{"name", "choice_line"},
                    {"mark", {{"type", "line"}, {"color", "#1d2330"}, {"strokeWidth", 1.5}}},
                    {"encoding", {{"x", x_encoding(labels)}, {"y", y}}}});
  layers.push_back(
      {{"name", "choice_points"},
       {"mark", {{"type", "point"}, {"filled", true}, {"size", 60}, {"tooltip", true}}},
       {"encoding",
        {{"x", x_encoding(labels)},
         {"y", y},
         {"color",
          {{"field", "qualifies"},
           {"type", "nominal"},
           {"title", "all constraints"},
           {"scale", {{"domain", {"qualifies", "does not"}}, {"range", {"#54a24b", "#999"}}}}}},
         {"tooltip", json::array({{{"field", "cut"}},
                                  {{"field", "score"}, {"format", ".3f"}},
                                  {{"field", "latency"}, {"format", ".3f"}, {"title", "p50 ms"}},
                                  {{"field", "qualifies"}}})}}}});
  add_rule(layers, "choice_limit", plan.privacy_limit, "score", "privacy limit", "#e45756", true);
  std::vector<std::string> names;
  for (const auto& r : plan.rows) names.push_back(r.name);
  if (auto c = chosen_label(plan.chosen, names, labels))
    add_cut_marker(layers, "choice_chosen", *c, labels, "chosen", kChosenColour);
  return layered_spec(labels.size(), values, layers);
}

std::string yes_no(bool v) {
  return v ? "yes" : "<span class=\"muted\">no</span>";
}

Section choice_section(const PlanView& plan) {
  std::vector<std::pair<std::string, std::optional<int64_t>>> v;
  for (const auto& r : plan.rows) v.emplace_back(r.name, r.index);
  const std::vector<std::string> labels = unique_cut_labels(v);
  std::string h;
  if (!plan.chosen.empty()) {
    h += "<p><b>Chosen cut: " + escape_html(plan.chosen) +
         "</b>, the fastest of the cuts that are private enough and fit the budgets.</p>\n";
  } else {
    h += "<p class=\"missing\"><b>No cut qualifies.</b> " + escape_html(plan.failure) + "</p>\n";
  }
  std::string rule = "privacy: " + plan.privacy_rule;
  if (plan.epc_bytes) rule += "; enclave memory at most " + mib(*plan.epc_bytes);
  if (plan.latency_budget_ms)
    rule += "; end to end p50 at most " + fmt_number(*plan.latency_budget_ms, 3) + " ms";
  h += "<p class=\"muted\">" + escape_html(rule) + "</p>\n<div class=\"charts\">\n";
  h += chart_div("chart-choice",
                 "The privacy score of each cut against the limit (green: the cut meets every "
                 "constraint); the chosen cut is marked.");
  h += "</div>\n<div class=\"table-wrap\"><table class=\"data\"><thead><tr><th></th><th "
       "class=\"num\">#</th><th>cut</th><th class=\"num\">depth</th><th class=\"num\">score</th>"
       "<th class=\"num\">probe acc.</th><th class=\"num\">p50 ms</th><th class=\"num\">p99 "
       "ms</th><th class=\"num\">enclave</th><th>private</th><th>fits</th><th>in time</th>"
       "<th>Pareto</th></tr></thead><tbody>\n";
  for (const PlanRowView& r : plan.rows) {
    const bool chosen = r.name == plan.chosen;
    h += std::string("<tr") + (chosen ? " class=\"chosen\"" : "") + "><td>" +
         (chosen ? "<b>&#9733;</b>" : "") + "</td><td class=\"num\">" + std::to_string(r.index) +
         "</td><td>" + (chosen ? "<b>" : "") + escape_html(r.name) + (chosen ? "</b>" : "") +
         "</td><td class=\"num\">" + fmt_number(100 * r.depth, 1) + "%</td><td class=\"num\">" +
         fmt_number(r.score, 3) + "</td><td class=\"num\">" +
         (r.probe_accuracy ? fmt_number(100 * *r.probe_accuracy, 1) + "%" : "-") +
         "</td><td class=\"num\">" + fmt_number(r.latency_p50, 3) + "</td><td class=\"num\">" +
         fmt_number(r.latency_p99, 3) + "</td><td class=\"num\">" + mib(r.footprint_bytes) +
         "</td><td>" + (r.score ? yes_no(r.private_ok) : "-") + "</td><td>" + yes_no(r.fits) +
         "</td><td>" + yes_no(r.in_budget) + "</td><td>" + (r.pareto ? "yes" : "") + "</td></tr>\n";
  }
  h += "</tbody></table></div>\n";
  for (const std::string& n : plan.notes) h += "<p class=\"muted\">" + escape_html(n) + "</p>\n";
  return {"choice", "The choice", h, {{"chart-choice", choice_chart(plan, labels)}}};
}

Section cost_section(const planner::ModelProfile& p, const PlanView* plan) {
  const auto cuts = ordered(p);
  const std::vector<std::string> labels = labels_of(cuts);
  std::vector<std::string> names;
  for (auto* c : cuts) names.push_back(c->name);
  const auto chosen = plan ? chosen_label(plan->chosen, names, labels) : std::nullopt;
  std::string h = "<p class=\"muted\">Each cut measured through the sandboxed enclave worker (" +
                  escape_html(p.enclave_runtime) + "), " + std::to_string(p.runs) + " requests, " +
                  std::to_string(p.threads) + " thread(s), back partition on " +
                  escape_html(p.backend) + ". Enclave slowdown " +
                  fmt_number(p.enclave_slowdown, 2) + ": " + escape_html(p.slowdown_source) +
                  ". The whole model on the host takes " + fmt_number(p.whole_model_ms, 3) +
                  " ms.</p>\n";
  if (p.cpus > 0 && p.load_before >= 0 && p.load_after >= 0) {
    const bool busy = std::max(p.load_before, p.load_after) > p.cpus;
    h += std::string("<p class=\"") + (busy ? "warning" : "muted") +
         "\">Machine: " + std::to_string(p.cpus) + " CPUs, load average " +
         fmt_number(p.load_before, 2) + " before and " + fmt_number(p.load_after, 2) + " after" +
         (busy ? ": above the CPU count, so other work competed and these latencies are noisy"
               : "") +
         ".</p>\n";
  }
  if (!p.command.empty())
    h += "<p class=\"muted\">Command: <code>" + escape_html(p.command) + "</code></p>\n";
  h += "<div class=\"charts\">\n";
  h += chart_div("chart-latency",
                 "Latency per request against the cut: the p50 of each stage stacked, and the end "
                 "to end p50 and p99 (with the enclave slowdown).");
  h += chart_div("chart-footprint",
                 "The enclave's memory footprint: the worker's binary and libraries, and the "
                 "front's weights and activations.");
  h += "</div>\n";
  return {"cost",
          "Cost by cut",
          h,
          {{"chart-latency", latency_chart(cuts, labels, chosen)},
           {"chart-footprint",
            footprint_chart(cuts, labels, chosen, plan ? plan->epc_bytes : std::nullopt)}}};
}

}  // namespace

PlanView parse_plan(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(where, ": not JSON: ", e.what());
  }
  TS_CHECK(j.is_object() && j.value("format", "") == "teesplit-plan", where,
           ": not a teesplit plan (format must be \"teesplit-plan\")");
  TS_CHECK(j.value("version", 0) == 1, where, ": unsupported version (this teesplit reads 1)");
  PlanView p;
  p.model_sha256 = field<std::string>(j, "model_sha256", where);
  p.privacy_rule = field<std::string>(j, "privacy_rule", where);
  p.privacy_limit = field<double>(j, "privacy_limit", where);
  if (j.contains("chosen") && !j["chosen"].is_null())
    p.chosen = field<std::string>(j, "chosen", where);
  if (j.contains("failure") && !j["failure"].is_null())
    p.failure = field<std::string>(j, "failure", where);
  if (j.contains("options")) {
    p.epc_bytes = optional_number(j["options"], "epc_bytes", where + " options");
    p.latency_budget_ms = optional_number(j["options"], "latency_budget_ms", where + " options");
  }
  if (j.contains("notes")) p.notes = field<std::vector<std::string>>(j, "notes", where);
  TS_CHECK(j.contains("rows") && j["rows"].is_array(), where, ": missing 'rows'");
  for (size_t i = 0; i < j["rows"].size(); ++i) {
    const json& r = j["rows"][i];
    const std::string w = where + " rows[" + std::to_string(i) + "]";
    PlanRowView v;
    v.name = field<std::string>(r, "name", w);
    v.index = field<int64_t>(r, "index", w);
    v.depth = field<double>(r, "depth", w);
    v.score = optional_number(r, "score", w);
    v.probe_accuracy = optional_number(r, "probe_accuracy", w);
    v.latency_p50 = field<double>(r, "latency_p50_ms", w);
    v.latency_p99 = field<double>(r, "latency_p99_ms", w);
    v.footprint_bytes = field<double>(r, "enclave_footprint_bytes", w);
    v.private_ok = field<bool>(r, "private", w);
    v.fits = field<bool>(r, "fits_epc", w);
    v.in_budget = field<bool>(r, "in_budget", w);
    v.pareto = field<bool>(r, "pareto", w);
    p.rows.push_back(std::move(v));
  }
  TS_CHECK(p.chosen.empty() || std::any_of(p.rows.begin(), p.rows.end(),
                                           [&](const auto& r) { return r.name == p.chosen; }),
           where, ": the chosen cut is not among the rows");
  return p;
}

std::vector<Section> plan_sections(const AttackResults& attack,
                                   const planner::ModelProfile* profile, const PlanView* plan) {
  (void)attack;
  std::vector<Section> out;
  if (plan) out.push_back(choice_section(*plan));
  if (profile && !profile->cuts.empty()) out.push_back(cost_section(*profile, plan));
  return out;
}

ReportWritten write_report(const std::string& dir, const std::string& out, const ReportInputs& in,
                           const ImageLimits& limits) {
  if (in.profile_path.empty() && in.plan_path.empty()) return write_attack_report(dir, out, limits);
  const AttackResults r = read_attack_results(dir);
  std::optional<planner::ModelProfile> profile;
  std::optional<PlanView> plan;
  const auto same_model = [&](const std::string& sha, const std::string& what) {
    TS_CHECK(r.model_sha256.empty() || sha == r.model_sha256, what, " is of another model than ",
             dir, "/attack.json (sha256 ", sha, " vs ", r.model_sha256, ")");
  };
  if (!in.profile_path.empty()) {
    profile = planner::profile_from_json(read_file(in.profile_path, kMaxAttackJsonBytes));
    same_model(profile->model_sha256, in.profile_path);
  }
  if (!in.plan_path.empty()) {
    plan = parse_plan(read_file(in.plan_path, kMaxAttackJsonBytes), in.plan_path);
    same_model(plan->model_sha256, in.plan_path);
  }
  std::vector<std::string> warnings;
  Page page = attack_report_page(r, dir, &warnings, limits);
  page.title = "Where to cut: " + (r.model_name.empty() ? r.model_path : r.model_name);
  std::vector<Section> extra =
      plan_sections(r, profile ? &*profile : nullptr, plan ? &*plan : nullptr);
  // After the summary: the choice first, then the cost, then the leakage charts.
  const auto at = page.sections.empty() ? page.sections.end() : page.sections.begin() + 1;
  page.sections.insert(at, extra.begin(), extra.end());
  return write_page(page, dir, out, r.cuts.size(), std::move(warnings));
}

}  // namespace teesplit::report
