#include "report/page.h"

#include <cctype>
#include <set>

#include "core/error.h"
#include "crypto/primitives.h"
#include "report/assets.h"
#include "report/html.h"

namespace teesplit::report {
namespace {

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

std::string csp_hash(std::string_view script) {
  const crypto::Bytes32 h = crypto::sha256(script.data(), script.size());
  return "'sha256-" + base64(std::string_view(reinterpret_cast<const char*>(h.data()), h.size())) +
         "'";
}

// Draws every chart of the page (the JSON in #teesplit-charts) with vega-embed:
// SVG, no action menu, and Vega's expression interpreter instead of eval, which
// the Content Security Policy forbids. Marks <html data-charts="N/M"> when done
// (N drawn of M), and writes a failure into the chart's place.
constexpr std::string_view kBootScript = R"JS((function () {
  var root = document.documentElement;
  var specs = JSON.parse(document.getElementById("teesplit-charts").textContent);
  var ids = Object.keys(specs), drawn = 0;
  function fail(el, e) {
    el.textContent = "This chart could not be drawn: " + e;
    el.className += " chart-error";
  }
  if (typeof vegaEmbed !== "function") {
    ids.forEach(function (id) { fail(document.getElementById(id), "the chart scripts did not load"); });
    root.setAttribute("data-charts", "0/" + ids.length);
    return;
  }
  Promise.all(ids.map(function (id) {
    var el = document.getElementById(id);
    return vegaEmbed(el, specs[id], {renderer: "svg", actions: false, ast: true, mode: "vega-lite"})
      .then(function () { drawn++; }, function (e) { fail(el, e); });
  })).then(function () { root.setAttribute("data-charts", drawn + "/" + ids.length); });
})();)JS";

constexpr std::string_view kStyle = R"CSS(
:root { --fg: #1d2330; --muted: #5b6475; --line: #dde1e8; --bg-alt: #f5f7fa; --accent: #2f5d9b; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif; }
header.page { padding: 22px 32px 14px; border-bottom: 1px solid var(--line); background: var(--bg-alt); }
header.page h1 { margin: 0; font-size: 22px; }
header.page .subtitle { color: var(--muted); margin-top: 2px; }
nav { margin-top: 10px; font-size: 14px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 16px; }
nav a:hover { text-decoration: underline; }
main { max-width: 1180px; padding: 8px 32px 40px; }
section { margin-top: 26px; }
h2 { font-size: 18px; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p { margin: 6px 0; }
.muted { color: var(--muted); }
.warning { background: #fff4e0; border: 1px solid #f0c070; border-radius: 4px; padding: 8px 12px; margin: 12px 0 0; }
code, pre { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 13px; }
pre { background: var(--bg-alt); border: 1px solid var(--line); border-radius: 4px; padding: 8px 10px;
      white-space: pre-wrap; word-break: break-all; margin: 6px 0; }
table { border-collapse: collapse; font-size: 13.5px; margin: 6px 0; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv th { background: none; color: var(--muted); font-weight: normal; white-space: nowrap; }
table.data tbody { border-bottom: 2px solid var(--line); }
table.data tbody:nth-of-type(even) { background: #fafbfc; }
table.data .first { border-left: 1px solid var(--line); }
table.data tr.chosen { background: #fdecea; }
.table-wrap { overflow-x: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 18px 28px; }
figure { margin: 8px 0; }
figcaption { color: var(--muted); font-size: 13px; max-width: 560px; }
.chart { min-height: 40px; }
.chart-error { color: #a11; }
.grids { display: flex; flex-wrap: wrap; gap: 18px; }
.grid-card { border: 1px solid var(--line); border-radius: 4px; padding: 8px 10px; }
.grid-card h3 { margin: 0 0 6px; }
.grid-card img { image-rendering: pixelated; display: block; max-width: 100%; height: auto; }
.grid-rows { display: flex; gap: 8px; align-items: stretch; }
.grid-labels { display: flex; flex-direction: column; justify-content: space-around; font-size: 12px;
               color: var(--muted); text-align: right; }
.missing { color: #a11; font-size: 13px; }
details { margin-top: 30px; color: var(--muted); font-size: 13px; }
details pre { max-height: 400px; overflow: auto; }
)CSS";

}  // namespace

std::string chart_div(const std::string& id, const std::string& caption) {
  std::string out = "<figure><div class=\"chart\" id=\"" + escape_html(id) + "\"></div>";
  if (!caption.empty()) out += "<figcaption>" + escape_html(caption) + "</figcaption>";
  return out + "</figure>";
}

std::string render_page(const Page& page) {
  TS_CHECK(web_scripts_built(),
           "this teesplit was configured with -DTEESPLIT_REPORT_CHARTS=OFF and has no chart "
           "scripts; build it with scripts/build.sh (which installs them into web/node_modules)");
  std::set<std::string> ids;
  nlohmann::json specs = nlohmann::json::object();
  for (const Section& s : page.sections) {
    TS_CHECK(valid_id(s.id) && ids.insert(s.id).second, "report: bad or repeated section id '",
             s.id, "'");
    for (const Chart& c : s.charts) {
      TS_CHECK(valid_id(c.id) && ids.insert(c.id).second, "report: bad or repeated chart id '",
               c.id, "'");
      TS_CHECK(s.html.find("id=\"" + c.id + "\"") != std::string::npos, "report: chart '", c.id,
               "' has no <div> in section '", s.id, "'");
      specs[c.id] = c.spec;
    }
  }

  size_t n_scripts = 0;
  const WebScript* scripts = web_scripts(&n_scripts);
  std::string csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src";
  for (size_t i = 0; i < n_scripts; ++i) csp.append(" ").append(csp_hash(scripts[i].text));
  csp.append(" ").append(csp_hash(kBootScript));

  std::string out;
  out.reserve(1 << 21);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta http-equiv=\"Content-Security-Policy\" content=\"" + escape_html(csp) + "\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<meta name=\"generator\" content=\"teesplit report\">\n";
  out += "<title>" + escape_html(page.title) + "</title>\n<style>" + std::string(kStyle) +
         "</style>\n</head>\n<body>\n";
  out += "<header class=\"page\"><h1>" + escape_html(page.title) + "</h1>";
  if (!page.subtitle.empty())
    out += "<div class=\"subtitle\">" + escape_html(page.subtitle) + "</div>";
  out += "<nav>";
  for (const Section& s : page.sections)
    out += "<a href=\"#" + s.id + "\">" + escape_html(s.title) + "</a>";
  out += "</nav>";
  for (const std::string& w : page.warnings)
    out += "<p class=\"warning\">" + escape_html(w) + "</p>";
  out += "</header>\n<main>\n";
  out +=
      "<noscript><p class=\"warning\">The charts need JavaScript (built into this page; "
      "nothing is fetched). The tables below hold the same numbers.</p></noscript>\n";
  for (const Section& s : page.sections)
    out += "<section id=\"" + s.id + "\">\n<h2>" + escape_html(s.title) + "</h2>\n" + s.html +
           "\n</section>\n";

  out +=
      "<details><summary>Chart scripts and their licences</summary>\n<p>The charts are drawn by "
      "Vega, Vega-Lite and vega-embed (BSD-3-Clause), whose scripts are built into this page. "
      "Their licences follow, with those of every package installed with them (the scripts "
      "bundle their dependencies):</p>\n<pre>" +
      escape_html(web_versions()) + "</pre>\n<pre>" + escape_html(web_licences()) +
      "</pre>\n</details>\n</main>\n";
  out += "<script type=\"application/json\" id=\"teesplit-charts\">" + json_for_script(specs) +
         "</script>\n";
  for (size_t i = 0; i < n_scripts; ++i) {
    out += "<script>";  // the packages' own text: its hash is in the policy above
    out += scripts[i].text;
    out += "</script>\n";
  }
  out += "<script>" + std::string(kBootScript) + "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace teesplit::report
