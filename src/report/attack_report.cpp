#include "report/attack_report.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "report/charts.h"
#include "report/html.h"

namespace teesplit::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A string from the file, for a terminal (errors, warnings): control characters
// (escape sequences among them) become '?'.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  return out;
}

std::string fmt_pct(const std::optional<double>& v) {
  return v ? fmt_number(*v * 100.0, 1) + "%" : "-";
}

std::string shape_text(const std::vector<int64_t>& shape) {
  if (shape.empty()) return "-";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "\xC3\x97" : "") + std::to_string(shape[i]);
  return s;  // "64×8×8"
}

// The x-axis labels: cut names, made unique (a repeated name gets " #INDEX").
std::vector<std::string> cut_labels(const AttackResults& r) {
  std::vector<std::pair<std::string, std::optional<int64_t>>> cuts;
  for (const CutResult& c : r.cuts) cuts.emplace_back(c.name, c.index);
  return unique_cut_labels(cuts);
}

// ---- grids ----

struct Png {
  std::string bytes;
  uint32_t width = 0, height = 0;
};

// Width and height from the IHDR chunk; false when `b` is not a PNG.
bool png_size(const std::string& b, uint32_t* w, uint32_t* h) {
  static constexpr unsigned char kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (b.size() < 24 || b.compare(0, 8, reinterpret_cast<const char*>(kSig), 8) != 0 ||
      b.compare(12, 4, "IHDR") != 0)
    return false;
  const auto be32 = [&](size_t o) {
    return uint32_t(uint8_t(b[o])) << 24 | uint32_t(uint8_t(b[o + 1])) << 16 |
           uint32_t(uint8_t(b[o + 2])) << 8 | uint32_t(uint8_t(b[o + 3]));
  };
  *w = be32(16);
  *h = be32(20);
  return *w > 0 && *h > 0 && *w < (1u << 31) && *h < (1u << 31);
}

// Resolves a results-relative path inside `dir`; throws Error when it escapes.
fs::path inside(const std::string& dir, const std::string& rel_in_file, const std::string& what) {
  const fs::path p(rel_in_file);
  const std::string rel = printable(rel_in_file);
  TS_CHECK(!p.is_absolute(), what, " '", rel, "' is an absolute path; paths in attack.json are ",
           "relative to the results folder");
  for (const fs::path& part : p)
    TS_CHECK(part != "..", what, " '", rel, "' leaves the results folder (a '..' component)");
  const fs::path full = fs::path(dir) / p;
  std::error_code ec;
  if (fs::exists(full, ec)) {
    const fs::path base = fs::canonical(dir);
    const fs::path real = fs::canonical(full);
    auto b = base.begin(), r = real.begin();
    for (; b != base.end(); ++b, ++r)
      TS_CHECK(r != real.end() && *r == *b, what, " '", rel, "' resolves to ", real.string(),
               ", outside the results folder ", base.string());
  }
  return full;
}

// The grid of a cut, or a reason it is left out.
std::optional<Png> load_grid(const std::string& dir, const CutResult& cut, const std::string& what,
                             const ImageLimits& limits, size_t* total, std::string* why) {
  const fs::path path = inside(dir, cut.grid, what);
  const std::string grid = printable(cut.grid);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    *why = "grid file " + grid + " is missing";
    return std::nullopt;
  }
  if (!fs::is_regular_file(path, ec)) {
    *why = "grid " + grid + " is not a regular file";
    return std::nullopt;
  }
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size > limits.max_bytes) {
    *why = "grid " + grid + " is " + std::to_string(size) + " bytes, more than the limit of " +
           std::to_string(limits.max_bytes) + " for one image";
    return std::nullopt;
  }
  if (*total + size > limits.max_total_bytes) {
    *why = "grid " + grid + " left out: the page's images would exceed " +
           std::to_string(limits.max_total_bytes) + " bytes";
    return std::nullopt;
  }
  Png png;
  png.bytes = read_file(path.string(), limits.max_bytes);
  if (!png_size(png.bytes, &png.width, &png.height)) {
    *why = "grid " + grid + " is not a PNG file";
    return std::nullopt;
  }
  if (uint64_t(png.width) * png.height > limits.max_pixels) {
    *why = "grid " + grid + " is " + std::to_string(png.width) + "x" + std::to_string(png.height) +
           " pixels, more than the limit of " + std::to_string(limits.max_pixels);
    return std::nullopt;
  }
  *total += png.bytes.size();
  return png;
}

// ---- charts ----

json attack_color_scale(const std::vector<std::string>& attacks) {
  // Tableau-10's first colours, one per attack in the page's attack order.
  static const char* kColours[] = {"#4c78a8", "#f58518", "#54a24b", "#b279a2",
                                   "#e45756", "#72b7b2", "#9d755d", "#bab0ac"};
  json domain = json::array(), range = json::array();
  for (size_t i = 0; i < attacks.size(); ++i) {
    domain.push_back(attacks[i]);
    range.push_back(kColours[i % 8]);
  }
  return {{"domain", domain}, {"range", range}};
}

struct Measure {
  const char* field;  // the column in the chart's data
  const char* title;  // the y axis
  std::optional<double> AttackScores::*mean;
  std::optional<double> AttackScores::*p90;
};

// One line per attack and statistic (solid: mean over the victims; dashed: the
// 90th percentile), a point per value, and the mean-image floor as rules.
json attack_chart(const AttackResults& r, const std::vector<std::string>& labels,
                  const std::vector<std::string>& attacks, const Measure& m, const char* name,
                  const std::optional<double>& floor_mean, const std::optional<double>& floor_p90,
                  bool unit_range) {
  json values = json::array();
  for (size_t i = 0; i < r.cuts.size(); ++i) {
    const CutResult& c = r.cuts[i];
    for (const std::string& a : attacks) {
      auto it = c.attacks.find(a);
      if (it == c.attacks.end()) continue;
      for (const auto& [stat, member] : {std::pair{"mean", m.mean}, std::pair{"p90", m.p90}}) {
        const std::optional<double>& v = it->second.*member;
        if (!v) continue;
        json row = {{"cut", labels[i]},
                    {"attack", a},
                    {"statistic", stat},
                    {"marker", stat},
                    {m.field, *v}};
        if (c.depth) row["depth"] = *c.depth;
        values.push_back(row);
      }
    }
  }
  json y = {{"field", m.field}, {"type", "quantitative"}, {"title", m.title}};
  if (unit_range)
    y["scale"] = {{"domain", {0, 1}}};
  else
    y["scale"] = {{"zero", false}};
  const json colour = {{"field", "attack"},
                       {"type", "nominal"},
                       {"title", "attack"},
                       {"scale", attack_color_scale(attacks)}};
  const json dash = {{"field", "statistic"},
                     {"type", "nominal"},
                     {"title", "statistic"},
                     {"scale", {{"domain", {"mean", "p90"}}, {"range", {{1, 0}, {5, 3}}}}}};
  // Points: circles for the mean, diamonds for the p90. A copy of the field
  // without a legend: on "statistic" itself Vega-Lite would merge it into the
  // dashes' legend and show only the shapes there.
  const json shape = {{"field", "marker"},
                      {"type", "nominal"},
                      {"legend", nullptr},
                      {"scale", {{"domain", {"mean", "p90"}}, {"range", {"circle", "diamond"}}}}};
  json tooltip = json::array({{{"field", "cut"}},
                              {{"field", "attack"}},
                              {{"field", "statistic"}},
                              {{"field", m.field}, {"format", ".3f"}},
                              {{"field", "depth"}, {"format", ".1%"}, {"title", "depth (FLOPs)"}}});
  json layers = json::array();
  layers.push_back(
      {{"name", std::string(name) + "_lines"},
       {"mark", {{"type", "line"}, {"strokeWidth", 2}}},
       {"encoding",
        {{"x", x_encoding(labels)}, {"y", y}, {"color", colour}, {"strokeDash", dash}}}});
  layers.push_back(
      {{"name", std::string(name) + "_points"},
       {"mark", {{"type", "point"}, {"filled", true}, {"size", 40}, {"tooltip", true}}},
       {"encoding",
        {{"x", x_encoding(labels)},
         {"y", y},
         {"color", colour},
         {"shape", shape},
         {"tooltip", tooltip}}}});
  add_rule(layers, std::string(name) + "_floor_mean", floor_mean, m.field,
           "mean-image floor (mean)", "#666", false);
  add_rule(layers, std::string(name) + "_floor_p90", floor_p90, m.field, "mean-image floor (p90)",
           "#999", true);
  return layered_spec(labels.size(), values, layers);
}

// The per-cut privacy score and the probe's accuracy, with the floor (p90) and
// the model's own accuracy as rules.
json score_chart(const AttackResults& r, const std::vector<std::string>& labels) {
  const std::string score = "privacy score (max p90 SSIM)", probe = "probe accuracy";
  json values = json::array();
  for (size_t i = 0; i < r.cuts.size(); ++i) {
    const CutResult& c = r.cuts[i];
    for (const auto& [series, v] :
         {std::pair{score, c.privacy_score()}, std::pair{probe, c.probe_accuracy}}) {
      if (!v) continue;
      json row = {{"cut", labels[i]}, {"series", series}, {"value", *v}};
      if (c.depth) row["depth"] = *c.depth;
      values.push_back(row);
    }
  }
  const json y = {{"field", "value"},
                  {"type", "quantitative"},
                  {"title", "SSIM / accuracy"},
                  {"scale", {{"domain", {0, 1}}}}};
  const json colour = {{"field", "series"},
                       {"type", "nominal"},
                       {"title", nullptr},
                       {"scale", {{"domain", {score, probe}}, {"range", {"#1d2330", "#c0392b"}}}}};
  const json tooltip =
      json::array({{{"field", "cut"}},
                   {{"field", "series"}},
                   {{"field", "value"}, {"format", ".3f"}},
                   {{"field", "depth"}, {"format", ".1%"}, {"title", "depth (FLOPs)"}}});
  json layers = json::array();
  layers.push_back({{"name", "score_lines"},
                    {"mark", {{"type", "line"}, {"strokeWidth", 2}}},
                    {"encoding", {{"x", x_encoding(labels)}, {"y", y}, {"color", colour}}}});
  layers.push_back(
      {{"name", "score_points"},
       {"mark", {{"type", "point"}, {"filled", true}, {"size", 40}, {"tooltip", true}}},
       {"encoding",
        {{"x", x_encoding(labels)}, {"y", y}, {"color", colour}, {"tooltip", tooltip}}}});
  add_rule(layers, "score_class_floor_p90", r.class_floor_ssim_p90, "value",
           "class-mean floor (p90 SSIM)", "#b279a2", true, LabelAt::RightBelow);
  add_rule(layers, "score_floor_p90", r.floor_ssim_p90, "value", "mean-image floor (p90 SSIM)",
           "#999", true);
  add_rule(layers, "score_model_accuracy", r.model_accuracy, "value", "model accuracy", "#c0392b",
           true, LabelAt::RightBelow);
  return layered_spec(labels.size(), values, layers);
}

// ---- sections ----

std::string kv_row(const std::string& key, const std::string& value_html) {
  return "<tr><th>" + escape_html(key) + "</th><td>" + value_html + "</td></tr>\n";
}

// The earliest cut whose score is within 0.05 of the floor's p90 SSIM.
const CutResult* first_near_floor(const AttackResults& r) {
  if (!r.floor_ssim_p90) return nullptr;
  for (const CutResult& c : r.cuts)
    if (const auto s = c.privacy_score(); s && *s <= *r.floor_ssim_p90 + 0.05) return &c;
  return nullptr;
}

Section summary_section(const AttackResults& r, const std::vector<std::string>& attacks) {
  std::string h = "<table class=\"kv\">\n";
  std::string model = r.model_name.empty() ? "-" : "<b>" + escape_html(r.model_name) + "</b>";
  if (!r.model_arch.empty()) model += " (" + escape_html(r.model_arch) + ")";
  h += kv_row("model", model);
  if (!r.model_path.empty())
    h += kv_row("model file", "<code>" + escape_html(r.model_path) + "</code>");
  if (!r.model_sha256.empty())
    h += kv_row("model SHA-256", "<code>" + escape_html(r.model_sha256) + "</code>");
  h += kv_row("data set", (r.dataset.empty() ? "-" : escape_html(r.dataset)) +
                              (r.tabular ? " (tabular rows shown as images)" : ""));
  h += kv_row("model accuracy", fmt_pct(r.model_accuracy) +
                                    " <span class=\"muted\">(top-1 on the victim set)</span>");
  h += kv_row("mean-image floor",
              "SSIM mean " + fmt_number(r.floor_ssim_mean, 3) + ", p90 " +
                  fmt_number(r.floor_ssim_p90, 3) + ", PSNR " + fmt_number(r.floor_psnr_mean, 1) +
                  " dB <span class=\"muted\">(an attacker that outputs the auxiliary set's mean "
                  "image)</span>");
  if (r.class_floor_ssim_p90)
    h += kv_row("class-mean floor",
                "SSIM mean " + fmt_number(r.class_floor_ssim_mean, 3) + ", p90 " +
                    fmt_number(r.class_floor_ssim_p90, 3) +
                    " <span class=\"muted\">(an attacker that knows the predicted class and "
                    "outputs that class's mean image)</span>");
  std::string names;
  for (const std::string& a : attacks) names += (names.empty() ? "" : ", ") + escape_html(a);
  h += kv_row("attacks", names.empty() ? "none" : names);
  std::string cuts = std::to_string(r.cuts.size());
  if (r.is_partial_shard())
    cuts += " <span class=\"muted\">(shard " + escape_html(r.shard) + " of a sweep)</span>";
  if (!r.merged_shards.empty()) {
    std::string list;
    for (const std::string& m : r.merged_shards) list += (list.empty() ? "" : ", ") + m;
    cuts += " <span class=\"muted\">(merged from " + std::to_string(r.merged_shards.size()) +
            " shards: " + escape_html(list) + ")</span>";
  }
  h += kv_row("cuts", cuts);
  if (const CutResult* c = first_near_floor(r))
    h += kv_row("first cut near the floor",
                "<b>" + escape_html(c->name) + "</b>: score " + fmt_number(c->privacy_score(), 3) +
                    " \xE2\x89\xA4 floor p90 " + fmt_number(r.floor_ssim_p90, 3) +
                    " + 0.05; probe accuracy there " + fmt_pct(c->probe_accuracy));
  else if (r.floor_ssim_p90 && !r.cuts.empty())
    h += kv_row("first cut near the floor",
                "none: every cut's score is more than 0.05 above the floor's p90 SSIM");
  if (r.is_partial_shard())
    h += kv_row("", "<span class=\"muted\">(among this shard's cuts only)</span>");
  h += "</table>\n";
  if (!r.command.empty()) h += "<h3>Command</h3>\n<pre>" + escape_html(r.command) + "</pre>\n";
  if (r.options.is_object() && !r.options.empty()) {
    h += "<h3>Options</h3>\n<table class=\"kv\">\n";
    for (const auto& [key, value] : r.options.items()) {
      std::string text;
      if (value.is_string()) {
        text = value.get<std::string>();
      } else if (value.is_array() && std::all_of(value.begin(), value.end(),
                                                 [](const json& v) { return v.is_string(); })) {
        for (const json& v : value) text += (text.empty() ? "" : ", ") + v.get<std::string>();
      } else {
        text = value.dump(-1, ' ', false, json::error_handler_t::replace);
      }
      h += kv_row(key, escape_html(text));
    }
    h += "</table>\n";
  }
  return {"summary", "Summary", h, {}};
}

Section charts_section(const AttackResults& r, const std::vector<std::string>& attacks,
                       const std::vector<std::string>& labels) {
  const Measure ssim{"ssim", "SSIM", &AttackScores::ssim_mean, &AttackScores::ssim_p90};
  const Measure psnr{"psnr", "PSNR (dB)", &AttackScores::psnr_mean, &AttackScores::psnr_p90};
  std::string h =
      "<p class=\"muted\">How well each attack rebuilds the victim images from the feature map at "
      "each cut (higher: more leakage). Solid lines and circles: the mean over the victim "
      "images; dashed lines and diamonds: the 90th percentile, the best-reconstructed tenth. Grey "
      "rules: the mean-image floor, what an "
      "attacker learns without the feature map.</p>\n<div class=\"charts\">\n";
  h += chart_div("chart-ssim", "SSIM of the reconstructions (1 = identical to the input).");
  h += chart_div("chart-psnr", "PSNR of the reconstructions, in dB.");
  h += chart_div("chart-score",
                 "Privacy score per cut (the maximum over the attacks of the p90 SSIM: a cut is "
                 "only as private as its best-reconstructed images) and the accuracy of a linear "
                 "probe on the feature map (label leakage).");
  h += "</div>\n";
  return {"charts",
          "Leakage by cut",
          h,
          {{"chart-ssim", attack_chart(r, labels, attacks, ssim, "ssim", r.floor_ssim_mean,
                                       r.floor_ssim_p90, true)},
           {"chart-psnr",
            attack_chart(r, labels, attacks, psnr, "psnr", r.floor_psnr_mean, std::nullopt, false)},
           {"chart-score", score_chart(r, labels)}}};
}

Section grids_section(const AttackResults& r, const std::string& dir,
                      const std::vector<std::string>& attacks, const ImageLimits& limits,
                      std::vector<std::string>* warnings, size_t* embedded) {
  std::string h =
      "<p class=\"muted\">Victim images (top row) and each attack's reconstruction of them from "
      "the feature map, one row per attack.</p>\n<div class=\"grids\">\n";
  size_t total = 0;
  for (size_t i = 0; i < r.cuts.size(); ++i) {
    const CutResult& c = r.cuts[i];
    if (c.grid.empty()) continue;
    const std::string what = "cuts[" + std::to_string(i) + "].grid";
    std::string why;
    const std::optional<Png> png = load_grid(dir, c, what, limits, &total, &why);
    h += "<div class=\"grid-card\"><h3>" + escape_html(c.name) + " <span class=\"muted\">" +
         (c.depth ? fmt_pct(c.depth) + " of FLOPs" : "") + "</span></h3>";
    if (!png) {
      warnings->push_back("cut " + printable(c.name) + ": " + why);
      h += "<p class=\"missing\">" + escape_html(why) + "</p></div>\n";
      continue;
    }
    ++*embedded;
    // Rows: the originals, then the attacks this cut ran, in the attacks' order.
    std::string rows = "<div>original</div>";
    for (const std::string& a : attacks)
      if (c.attacks.count(a)) rows += "<div>" + escape_html(a) + "</div>";
    // Small grids are shown at twice their size (crisp: pixelated), large ones as they are.
    const uint32_t scale = png->width <= 400 ? 2 : 1;
    h += "<div class=\"grid-rows\"><div class=\"grid-labels\">" + rows + "</div><img alt=\"" +
         escape_html("reconstructions at cut " + c.name) + "\" width=\"" +
         std::to_string(png->width * scale) + "\" height=\"" + std::to_string(png->height * scale) +
         "\" src=\"data:image/png;base64," + base64(png->bytes) + "\"></div></div>\n";
  }
  h += "</div>\n";
  return {"grids", "Reconstructions", h, {}};
}

// One row per cut and attack; the cut's own columns span its rows.
Section table_section(const AttackResults& r, const std::vector<std::string>& attacks) {
  std::string h =
      "<div class=\"table-wrap\"><table class=\"data\">\n<thead><tr><th class=\"num\">#</th>"
      "<th>cut</th><th class=\"num\">depth</th><th>feature map</th><th class=\"num\">probe "
      "acc.</th><th class=\"num\">score</th><th class=\"first\">attack</th><th "
      "class=\"num\">SSIM mean</th><th class=\"num\">SSIM p90</th><th class=\"num\">PSNR "
      "(dB)</th><th>stopped</th><th class=\"num\">steps</th><th class=\"num\">seconds</th>"
      "</tr></thead>\n";
  for (const CutResult& c : r.cuts) {
    const size_t rows = std::max<size_t>(1, attacks.size());
    const std::string span = " rowspan=\"" + std::to_string(rows) + "\"";
    h += "<tbody><tr><td class=\"num\"" + span + ">" +
         (c.index ? std::to_string(*c.index) : std::string("-")) + "</td><td" + span + "><b>" +
         escape_html(c.name) + "</b></td><td class=\"num\"" + span + ">" + fmt_pct(c.depth) +
         "</td><td" + span + ">" + shape_text(c.feature_shape) + "</td><td class=\"num\"" + span +
         ">" + fmt_pct(c.probe_accuracy) + "</td><td class=\"num\"" + span + "><b>" +
         fmt_number(c.privacy_score(), 3) + "</b></td>";
    if (attacks.empty()) h += "<td class=\"first muted\" colspan=\"7\">no attack run</td></tr>\n";
    for (size_t k = 0; k < attacks.size(); ++k) {
      if (k > 0) h += "<tr>";
      h += "<td class=\"first\">" + escape_html(attacks[k]) + "</td>";
      auto it = c.attacks.find(attacks[k]);
      if (it == c.attacks.end()) {
        h += "<td class=\"muted\" colspan=\"6\">not run at this cut</td></tr>\n";
        continue;
      }
      const AttackScores& s = it->second;
      h += "<td class=\"num\">" + fmt_number(s.ssim_mean, 3) + "</td><td class=\"num\">" +
           fmt_number(s.ssim_p90, 3) + "</td><td class=\"num\">" + fmt_number(s.psnr_mean, 1) +
           "</td><td>" + (s.stopped.empty() ? "-" : escape_html(s.stopped)) +
           "</td><td class=\"num\">" + fmt_number(s.steps, 0) + "</td><td class=\"num\">" +
           fmt_number(s.train_seconds, 0) + "</td></tr>\n";
    }
    h += "</tbody>\n";
  }
  h += "</table></div>\n<p class=\"muted\">depth: the fraction of the model's FLOPs before the "
       "cut. probe acc.: a linear probe's accuracy on the feature map (the model's own: " +
       fmt_pct(r.model_accuracy) +
       "). score: the maximum over the attacks of the SSIM p90. stopped: <i>plateau</i> when the "
       "validation SSIM stopped improving, <i>budget</i> when the step budget ran out first. "
       "steps and seconds: training steps (optimisation iterations for optimization) and their "
       "time.</p>\n";
  return {"numbers", "Numbers", h, {}};
}

// Tabular data: each attack's mean error per feature and its five worst features.
std::optional<Section> feature_error_section(const AttackResults& r,
                                             const std::vector<std::string>& attacks) {
  std::string rows;
  for (const CutResult& c : r.cuts)
    for (const std::string& a : attacks) {
      auto it = c.attacks.find(a);
      if (it == c.attacks.end() || !it->second.feature_error) continue;
      const FeatureError& fe = *it->second.feature_error;
      if (fe.mae.empty()) continue;
      double sum = 0;
      std::vector<size_t> order(fe.mae.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i, sum += fe.mae[i];
      std::sort(order.begin(), order.end(),
                [&](size_t x, size_t y) { return fe.mae[x] > fe.mae[y]; });
      std::string worst;
      for (size_t k = 0; k < std::min<size_t>(5, order.size()); ++k)
        worst += (k ? ", " : "") + escape_html(fe.names[order[k]]) + " " +
                 fmt_number(fe.mae[order[k]], 2);
      rows += "<tr><td>" + escape_html(c.name) + "</td><td>" + escape_html(a) +
              "</td><td class=\"num\">" + fmt_number(sum / double(fe.mae.size()), 3) + "</td><td>" +
              worst + "</td></tr>\n";
    }
  if (rows.empty()) return std::nullopt;
  return Section{"features",
                 "Error per feature",
                 "<p class=\"muted\">Tabular rows: the mean absolute error of the reconstructed "
                 "features, in the loader's standardised units (0: exact).</p>\n<table "
                 "class=\"data\"><thead><tr><th>cut</th><th>attack</th><th class=\"num\">mean "
                 "error</th><th>largest errors</th></tr></thead><tbody>\n" +
                     rows + "</tbody></table>\n",
                 {}};
}

}  // namespace

std::vector<Section> attack_sections(const AttackResults& r, const std::string& dir,
                                     std::vector<std::string>* warnings,
                                     const ImageLimits& limits) {
  const std::vector<std::string> attacks = r.attack_names();
  const std::vector<std::string> labels = cut_labels(r);
  std::vector<Section> out;
  out.push_back(summary_section(r, attacks));
  if (!r.cuts.empty()) out.push_back(charts_section(r, attacks, labels));
  size_t embedded = 0;
  Section grids = grids_section(r, dir, attacks, limits, warnings, &embedded);
  const bool any_grid =
      std::any_of(r.cuts.begin(), r.cuts.end(), [](const CutResult& c) { return !c.grid.empty(); });
  if (any_grid) out.push_back(std::move(grids));
  out.push_back(table_section(r, attacks));
  if (auto fe = feature_error_section(r, attacks)) out.push_back(std::move(*fe));
  return out;
}

Page attack_report_page(const AttackResults& r, const std::string& dir,
                        std::vector<std::string>* warnings, const ImageLimits& limits) {
  Page page;
  page.title = "Reconstruction attacks: " + (r.model_name.empty() ? r.model_path : r.model_name);
  page.subtitle =
      "teesplit attack results from " + dir + (r.dataset.empty() ? "" : " on " + r.dataset);
  if (r.cuts.empty())
    page.warnings.push_back("attack.json holds no cuts: nothing was attacked yet.");
  if (r.is_partial_shard())
    page.warnings.push_back("This is shard " + r.shard +
                            " of a sweep: it holds only that shard's cuts. teesplit attack-merge "
                            "joins the shards into one result.");
  const size_t before = warnings->size();
  page.sections = attack_sections(r, dir, warnings, limits);
  page.warnings.insert(page.warnings.end(), warnings->begin() + before, warnings->end());
  return page;
}

ReportWritten write_page(const Page& page, const std::string& dir, const std::string& out,
                         size_t cuts, std::vector<std::string> warnings) {
  ReportWritten w;
  w.warnings = std::move(warnings);
  for (const Section& s : page.sections)
    for (size_t at = 0; (at = s.html.find("src=\"data:image/png;base64,", at)) != std::string::npos;
         ++at)
      ++w.grids;
  const std::string html = render_page(page);
  w.path = out.empty() ? (fs::path(dir) / "report.html").string() : out;
  write_file(w.path, html);
  w.bytes = html.size();
  w.cuts = cuts;
  return w;
}

ReportWritten write_attack_report(const std::string& dir, const std::string& out,
                                  const ImageLimits& limits) {
  const AttackResults r = read_attack_results(dir);
  std::vector<std::string> warnings;
  const Page page = attack_report_page(r, dir, &warnings, limits);
  return write_page(page, dir, out, r.cuts.size(), std::move(warnings));
}

}  // namespace teesplit::report
