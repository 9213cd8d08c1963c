// Pieces of the report's Vega-Lite charts that every section draws the same way:
// the cut axis, the width, labelled reference rules, the layered spec.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace teesplit::report {

// Cut names made unique for an ordinal axis: a repeated (or empty) name gets
// " #INDEX" (its index, else its position).
std::vector<std::string> unique_cut_labels(
    const std::vector<std::pair<std::string, std::optional<int64_t>>>& cuts);

// The x encoding of a chart over cuts: field "cut", in the given (graph) order.
nlohmann::json x_encoding(const std::vector<std::string>& labels);

// Two charts side by side up to 19 cuts; wider for more (22 px per cut, up to
// the page's width), where Vega drops labels that would still overlap.
int chart_width(size_t cuts);

// Where a rule's label goes: above its left end (clear of the curves there when
// they are high, as leakage is at shallow cuts), or below its right end.
enum class LabelAt { LeftAbove, RightBelow };

// A horizontal reference line (layer NAME_rule) with its label (NAME_label) at
// y on the quantitative field; nothing when y is missing.
void add_rule(nlohmann::json& layers, const std::string& name, const std::optional<double>& y,
              const std::string& field, const std::string& label, const char* colour, bool dashed,
              LabelAt at = LabelAt::LeftAbove);

// A vertical rule at one cut of the x axis (layer NAME_rule) with a label at
// its top (NAME_label), e.g. the chosen cut.
void add_cut_marker(nlohmann::json& layers, const std::string& name, const std::string& cut,
                    const std::vector<std::string>& labels, const std::string& label,
                    const char* colour);

// The spec of a layered chart over `cuts` cuts: data values inline, legends below.
nlohmann::json layered_spec(size_t cuts, const nlohmann::json& values, const nlohmann::json& layers,
                            int height = 250);

}  // namespace teesplit::report
