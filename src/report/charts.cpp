#include "report/charts.h"

#include <algorithm>
#include <set>

namespace teesplit::report {

using nlohmann::json;

std::vector<std::string> unique_cut_labels(
    const std::vector<std::pair<std::string, std::optional<int64_t>>>& cuts) {
  std::vector<std::string> labels;
  std::set<std::string> seen;
  for (size_t i = 0; i < cuts.size(); ++i) {
    std::string l = cuts[i].first.empty() ? "(unnamed)" : cuts[i].first;
    while (!seen.insert(l).second)
      l += " #" + std::to_string(cuts[i].second ? *cuts[i].second : int64_t(i));
    labels.push_back(l);
  }
  return labels;
}

json x_encoding(const std::vector<std::string>& labels) {
  return {{"field", "cut"},
          {"type", "ordinal"},
          {"sort", labels},
          {"scale", {{"domain", labels}}},
          {"title", "cut (graph order: shallow \xE2\x86\x92 deep)"},
          {"axis", {{"labelAngle", -35}, {"labelLimit", 140}, {"labelOverlap", "greedy"}}}};
}

int chart_width(size_t cuts) {
  return static_cast<int>(std::clamp<size_t>(22 * cuts, 430, 1060));
}

void add_rule(json& layers, const std::string& name, const std::optional<double>& y,
              const std::string& field, const std::string& label, const char* colour, bool dashed,
              LabelAt at) {
  const bool left = at == LabelAt::LeftAbove;
  if (!y) return;
  json mark = {{"type", "rule"}, {"color", colour}, {"strokeWidth", 1.5}};
  if (dashed) mark["strokeDash"] = {6, 4};
  const json data = {{"values", json::array({{{field, *y}, {"label", label}}})}};
  layers.push_back({{"name", name + "_rule"},
                    {"data", data},
                    {"mark", mark},
                    {"encoding", {{"y", {{"field", field}, {"type", "quantitative"}}}}}});
  layers.push_back({{"name", name + "_label"},
                    {"data", data},
                    {"mark",
                     {{"type", "text"},
                      {"align", left ? "left" : "right"},
                      {"baseline", left ? "bottom" : "top"},
                      {"dx", left ? 4 : -4},
                      {"dy", left ? -3 : 3},
                      {"fontSize", 11},
                      {"color", colour}}},
                    {"encoding",
                     {{"x", left ? json{{"value", 0}} : json{{"value", "width"}}},
                      {"y", {{"field", field}, {"type", "quantitative"}}},
                      {"text", {{"field", "label"}}}}}});
}

void add_cut_marker(json& layers, const std::string& name, const std::string& cut,
                    const std::vector<std::string>& labels, const std::string& label,
                    const char* colour) {
  const json data = {{"values", json::array({{{"cut", cut}, {"label", label}}})}};
  layers.push_back({{"name", name + "_rule"},
                    {"data", data},
                    {"mark", {{"type", "rule"}, {"color", colour}, {"strokeWidth", 2}}},
                    {"encoding", {{"x", x_encoding(labels)}}}});
  layers.push_back(
      {{"name", name + "_label"},
       {"data", data},
       {"mark",
        {{"type", "text"},
         {"align", "left"},
         {"baseline", "top"},
         {"dx", 4},
         {"dy", 2},
         {"fontSize", 11},
         {"fontWeight", "bold"},
         {"color", colour}}},
       {"encoding",
        {{"x", x_encoding(labels)}, {"y", {{"value", 0}}}, {"text", {{"field", "label"}}}}}});
}

json layered_spec(size_t cuts, const json& values, const json& layers, int height) {
  return {{"$schema", "https://vega.github.io/schema/vega-lite/v6.json"},
          {"width", chart_width(cuts)},
          {"height", height},
          {"data", {{"values", values}}},
          {"layer", layers},
          {"config",
           {{"legend", {{"orient", "bottom"}, {"direction", "horizontal"}}},
            {"view", {{"stroke", "#ddd"}}}}}};
}

}  // namespace teesplit::report
