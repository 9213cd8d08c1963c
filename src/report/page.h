// A self-contained HTML report page: a list of sections, each with escaped HTML
// and Vega-Lite charts. Builders (attack_report.h; later a profile and a plan)
// each contribute sections; render_page() writes one document that opens
// offline: the chart scripts are inlined, images are data: URIs, and a Content
// Security Policy allows only the page's own scripts (by hash) and nothing
// from the network.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace teesplit::report {

struct Chart {
  std::string id;       // the id of the <div> in the section's html it is drawn into
  nlohmann::json spec;  // a Vega-Lite spec (no data URLs: values inline)
};

struct Section {
  std::string id;     // anchor: letters, digits, '-' and '_'
  std::string title;  // plain text
  std::string html;   // the body, already escaped
  std::vector<Chart> charts;
};

struct Page {
  std::string title;                  // plain text
  std::string subtitle;               // plain text, may be empty
  std::vector<std::string> warnings;  // plain text, shown above the sections
  std::vector<Section> sections;
};

// The whole document. Throws Error on a malformed page (a bad or repeated id, a
// chart whose <div> is missing).
std::string render_page(const Page& page);

// The <div> a chart is drawn into, with a plain-text caption below it.
std::string chart_div(const std::string& id, const std::string& caption);

}  // namespace teesplit::report
