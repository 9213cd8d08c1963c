// teesplit report: escaping, the attack.json reader and its errors, the page
// (images embedded, paths kept inside the results folder), and the page as
// headless Chromium renders it, whose chart marks are counted against the
// fixture's numbers (tests/data/report: hand-written attack.json, three grids).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "core/file.h"
#include "planner/attack_results.h"
#include "planner/plan.h"
#include "report/attack_report.h"
#include "report/html.h"
#include "report/page.h"
#include "report/plan_report.h"
#include "support/test_support.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kEvil = "</script><img src=x onerror=alert(1)>\"quoted\" 'single' &amp;";

std::string fixture_dir() {
  return testing::source_path("tests/data/report");
}

// A fresh copy of the fixture folder, for this test alone.
std::string fixture_copy() {
  const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const fs::path dir = fs::path(testing::generated_dir()) / "report" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(fixture_dir(), dir, fs::copy_options::recursive);
  return dir.string();
}

json fixture_json(const std::string& dir) {
  return json::parse(read_file(dir + "/attack.json"));
}
void write_json(const std::string& dir, const json& j) {
  write_file(dir + "/attack.json", j.dump(1));
}

using testing::count_of;

// ---- escaping ----

TEST(ReportHtml, EscapesMarkupAndQuotes) {
  EXPECT_EQ(report::escape_html(kEvil),
            "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot;quoted&quot; &#39;single&#39; "
            "&amp;amp;");
  // Multi-byte UTF-8 passes, invalid bytes become U+FFFD, controls but \t \n are dropped.
  EXPECT_EQ(report::escape_html("caf\xC3\xA9 \xE2\x86\x92"), "caf\xC3\xA9 \xE2\x86\x92");
  EXPECT_EQ(report::escape_html("a\xFF"
                                "b\xC0\xAF"
                                "c"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD"
            "c");
  EXPECT_EQ(report::escape_html(std::string("a\0b\x1B\tc\n", 7)), "ab\tc\n");
}

TEST(ReportHtml, JsonForScriptCannotCloseTheElement) {
  const std::string name = std::string(kEvil) + " \xE2\x80\xA8 \xE2\x80\xA9 <!-- -->";
  const json value = {{"cut", name}, {"list", {name, 1.5, nullptr}}};
  const std::string s = report::json_for_script(value);
  for (const char* bad : {"<", ">", "&", "\xE2\x80\xA8", "\xE2\x80\xA9"})
    EXPECT_EQ(s.find(bad), std::string::npos) << bad << " in " << s;
  EXPECT_EQ(json::parse(s), value);  // the same value once parsed
}

TEST(ReportHtml, Base64MatchesRfc4648) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : vectors) EXPECT_EQ(report::base64(in), out) << in;
  EXPECT_EQ(report::base64(std::string("\xFF\xFE\x00", 3)), "//4A");
}

// ---- the reader ----

TEST(ReportAttackJson, ReadsTheFixture) {
  const planner::AttackResults r = planner::read_attack_results(fixture_dir());
  EXPECT_EQ(r.model_name, "fashion-mnist-vgg16");
  EXPECT_EQ(r.dataset, "fashion-mnist");
  ASSERT_EQ(r.cuts.size(), 4u);
  EXPECT_EQ(r.cuts[1].name, "features.16");
  EXPECT_EQ(r.cuts[1].feature_shape, (std::vector<int64_t>{256, 7, 7}));
  EXPECT_DOUBLE_EQ(*r.cuts[0].attacks.at("optimization").ssim_p90, 0.95);
  EXPECT_EQ(r.cuts[0].attacks.at("optimization").stopped, "budget");
  EXPECT_FALSE(r.cuts[2].attacks.count("optimization"));      // not run at that cut
  EXPECT_FALSE(r.cuts[2].attacks.at("inversion").psnr_mean);  // null
  EXPECT_FALSE(r.cuts[3].attacks.at("cgan").ssim_p90);        // null
  EXPECT_FALSE(r.cuts[3].attacks.at("cgan").ssim_std);        // missing
  EXPECT_TRUE(r.cuts[3].grid.empty());                        // null
  EXPECT_EQ(r.attack_names(), (std::vector<std::string>{"cgan", "inversion", "optimization"}));
  EXPECT_FALSE(r.is_partial_shard());
}

TEST(ReportAttackJson, BadInputGivesClearErrors) {
  const std::string dir = fixture_copy();
  const auto error = [&](const std::string& text) {
    write_file(dir + "/attack.json", text);
    return testing::error_of([&] { planner::read_attack_results(dir); });
  };
  EXPECT_NE(error("{\"format\": ").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error("[1, 2]").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(error(R"({"format": "teesplit-profile", "version": 1, "cuts": []})")
                .find("format is 'teesplit-profile', expected 'teesplit-attack'"),
            std::string::npos);
  EXPECT_NE(error(R"({"format": "teesplit-attack", "version": 2, "cuts": []})").find("version 2"),
            std::string::npos);
  EXPECT_NE(error(R"({"format": "teesplit-attack", "cuts": []})").find("version"),
            std::string::npos);
  EXPECT_NE(error(R"({"format": "teesplit-attack", "version": 1})").find("cuts: expected an array"),
            std::string::npos);
  json j = fixture_json(fixture_dir());
  j["cuts"][2]["attacks"]["cgan"]["ssim_p90"] = "high";
  EXPECT_NE(error(j.dump()).find(
                "cuts[2].attacks.cgan.ssim_p90: expected a number or null, got a string"),
            std::string::npos);
  j = fixture_json(fixture_dir());
  j["cuts"][0].erase("name");
  EXPECT_NE(error(j.dump()).find("cuts[0].name"), std::string::npos);
  // Every error names the file.
  EXPECT_NE(error("nope").find(dir + "/attack.json"), std::string::npos);

  fs::remove(dir + "/attack.json");
  const std::string missing = testing::error_of([&] { planner::read_attack_results(dir); });
  EXPECT_NE(missing.find("attack.json: missing"), std::string::npos) << missing;
  const std::string no_dir =
      testing::error_of([&] { planner::read_attack_results(dir + "/no-such-folder"); });
  EXPECT_NE(no_dir.find("not a folder"), std::string::npos) << no_dir;
}

// ---- the page ----

TEST(ReportPage, CommandWritesDirReportHtmlByDefault) {
  const std::string dir = fixture_copy();
  int code = -1;
  const std::string out =
      testing::run_command(testing::binary_path("teesplit") + " report '" + dir + "'", &code);
  ASSERT_EQ(code, 0) << out;
  const std::string path = dir + "/report.html";
  EXPECT_NE(out.find("wrote " + path), std::string::npos) << out;
  EXPECT_NE(out.find("4 cuts, 3 image grids"), std::string::npos) << out;
  const std::string html = read_file(path);
  // The three grids, byte for byte, as data: URIs.
  for (const char* grid : {"features.4", "features.16", "features.30"})
    EXPECT_NE(html.find("data:image/png;base64," +
                        report::base64(read_file(dir + "/grids/" + grid + ".png"))),
              std::string::npos)
        << grid;
  // Self-contained: no src or href outside the scripts refers outside the page, and
  // the policy forbids fetching anything.
  std::string markup;
  for (size_t at = 0;;) {
    const size_t open = html.find("<script", at);
    markup += html.substr(at, open == std::string::npos ? std::string::npos : open - at);
    if (open == std::string::npos) break;
    at = html.find("</script>", open);
    ASSERT_NE(at, std::string::npos);
    at += 9;
  }
  for (const char* attr : {"src=", "href="})
    for (size_t at = markup.find(attr); at != std::string::npos; at = markup.find(attr, at + 1)) {
      const std::string value = markup.substr(at + std::strlen(attr), 12);
      EXPECT_TRUE(value.rfind("\"#", 0) == 0 || value.rfind("\"data:", 0) == 0) << value;
    }
  EXPECT_NE(html.find("default-src &#39;none&#39;"), std::string::npos);  // in an attribute
  EXPECT_EQ(count_of(html, "<script>"), 4u);  // vega, vega-lite, vega-embed, the boot script
  // The model, data set, command and options.
  for (const char* text : {"fashion-mnist-vgg16", "models/fashion-mnist-vgg16.onnx",
                           "--attacks cgan,inversion,optimization", "future_option"})
    EXPECT_NE(html.find(text), std::string::npos) << text;
  // The first cut within 0.05 of the floor's p90 (0.35): features.30, score 0.39.
  EXPECT_NE(html.find("<b>features.30</b>: score 0.390"), std::string::npos);
  // The licences of the embedded scripts.
  EXPECT_NE(html.find("==== vega 6.4.0 (BSD-3-Clause) ===="), std::string::npos);

  // -o elsewhere; a usage error without DIR.
  const std::string other = dir + "/elsewhere.html";
  testing::run_command(
      testing::binary_path("teesplit") + " report '" + dir + "' -o '" + other + "'", &code);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(fs::exists(other));
  const std::string usage =
      testing::run_command(testing::binary_path("teesplit") + " report", &code);
  EXPECT_EQ(code, 2) << usage;
  const std::string bad =
      testing::run_command(testing::binary_path("teesplit") + " report '" + dir + "/none'", &code);
  EXPECT_EQ(code, 1);
  EXPECT_NE(bad.find("teesplit report: error: "), std::string::npos) << bad;
}

TEST(ReportPage, NamesFromTheFileStayText) {
  const std::string dir = fixture_copy();
  json j = fixture_json(dir);
  j["cuts"][1]["name"] = kEvil;
  j["model"]["name"] = kEvil;
  j["model"]["arch"] = kEvil;
  j["dataset"] = kEvil;
  j["command"] = kEvil;
  j["options"][kEvil] = kEvil;
  j["cuts"][0]["attacks"][kEvil] = j["cuts"][0]["attacks"]["cgan"];
  j["cuts"][0]["attacks"][kEvil]["stopped"] = kEvil;
  write_json(dir, j);
  const std::string html = read_file(report::write_attack_report(dir, "").path);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_EQ(html.find("\"quoted\""), std::string::npos);
  EXPECT_EQ(count_of(html, "</script>"), count_of(html, "<script"));  // only the page's own
  EXPECT_GE(count_of(html, "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot;quoted&quot;"),
            6u);
  EXPECT_GE(count_of(html, "\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e"), 2u);
}

TEST(ReportPage, GridPathsStayInsideTheFolder) {
  const std::string dir = fixture_copy();
  const json good = fixture_json(dir);
  const auto error_with_grid = [&](const std::string& grid) {
    json j = good;
    j["cuts"][1]["grid"] = grid;
    write_json(dir, j);
    return testing::error_of([&] { report::write_attack_report(dir, ""); });
  };
  EXPECT_NE(error_with_grid("../attack.json")
                .find("cuts[1].grid '../attack.json' leaves the "
                      "results folder"),
            std::string::npos);
  EXPECT_NE(error_with_grid("grids/../../x.png").find("leaves the results folder"),
            std::string::npos);
  EXPECT_NE(error_with_grid("/etc/hostname").find("is an absolute path"), std::string::npos);
  // Control characters (a terminal's escape sequences) do not reach the message.
  const std::string esc = error_with_grid("\x1B[2J/../x.png");
  EXPECT_NE(esc.find("'?[2J/../x.png' leaves the results folder"), std::string::npos) << esc;
  fs::create_symlink("/etc/hostname", dir + "/grids/link.png");
  EXPECT_NE(error_with_grid("grids/link.png").find("outside the results folder"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir + "/report.html"));  // nothing written on an error

  // Missing, not a PNG, too large: left out, with a note and a warning; the page is written.
  json j = good;
  j["cuts"][0]["grid"] = "grids/missing.png";
  j["cuts"][1]["grid"] = "attack.json";
  write_json(dir, j);
  report::ReportWritten w = report::write_attack_report(dir, "");
  ASSERT_EQ(w.warnings.size(), 2u);
  EXPECT_NE(w.warnings[0].find("grids/missing.png is missing"), std::string::npos);
  EXPECT_NE(w.warnings[1].find("attack.json is not a PNG"), std::string::npos);
  EXPECT_EQ(w.grids, 1u);
  // A PNG header that claims 100000 x 100000 pixels (a decompression bomb for the browser).
  std::string bomb("\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR\0\x01\x86\xA0\0\x01\x86\xA0\x08\0\0\0\0", 29);
  write_file(dir + "/grids/bomb.png", bomb);
  j["cuts"][1]["grid"] = "grids/bomb.png";
  write_json(dir, j);
  w = report::write_attack_report(dir, "");
  ASSERT_EQ(w.warnings.size(), 2u);
  EXPECT_NE(w.warnings[1].find("grids/bomb.png is 100000x100000 pixels"), std::string::npos)
      << w.warnings[1];
  report::ImageLimits small;
  small.max_bytes = 5000;  // features.4.png is 4914 bytes, the other two more
  w = report::write_attack_report(dir, "", small);
  EXPECT_EQ(w.grids, 0u);
  small.max_bytes = 1 << 20;
  small.max_total_bytes = 11000;  // room for features.4.png (4914) and features.30.png (5097) only
  write_json(dir, good);
  w = report::write_attack_report(dir, "", small);
  EXPECT_EQ(w.grids, 2u);
  ASSERT_EQ(w.warnings.size(), 1u);
  EXPECT_NE(w.warnings[0].find("would exceed 11000 bytes"), std::string::npos) << w.warnings[0];
}

TEST(ReportPage, SingleCutShardAndNoAttacks) {
  const std::string dir = fixture_copy();
  json j = fixture_json(dir);
  j["cuts"] = json::array({j["cuts"][1]});
  j["options"]["shard"] = "1/4";
  j.erase("floor");
  write_json(dir, j);
  std::string html = read_file(report::write_attack_report(dir, "").path);
  EXPECT_NE(html.find("This is shard 1/4"), std::string::npos);
  // What attack-merge writes: not a shard.
  j["options"]["shard"] = "merged";
  j["merged_shards"] = {"0/2", "1/2"};
  write_json(dir, j);
  html = read_file(report::write_attack_report(dir, "").path);
  EXPECT_EQ(html.find("This is shard"), std::string::npos);
  EXPECT_NE(html.find("(merged from 2 shards: 0/2, 1/2)"), std::string::npos);
  for (const char* whole : {"0/1", "", "3"}) {
    planner::AttackResults r;
    r.shard = whole;
    EXPECT_FALSE(r.is_partial_shard()) << whole;
  }
  j["cuts"][0].erase("attacks");
  j["cuts"][0]["score"] = nullptr;
  write_json(dir, j);
  html = read_file(report::write_attack_report(dir, "").path);
  EXPECT_NE(html.find("id=\"numbers\""), std::string::npos);
  j["cuts"] = json::array();
  write_json(dir, j);
  html = read_file(report::write_attack_report(dir, "").path);
  EXPECT_NE(html.find("holds no cuts"), std::string::npos);
}

TEST(ReportPage, TabularErrorPerFeature) {
  const std::string dir = fixture_copy();
  json j = fixture_json(dir);
  j["tabular"] = true;
  j["cuts"][0]["attacks"]["cgan"]["feature_error"] = {
      {"names", {"dur", "src_bytes", "<b>proto</b>", "dst_port", "conn_state", "dns_qtype"}},
      {"mae", {0.5, 1.25, 0.1, 0.75, 0.2, 0.3}}};
  write_json(dir, j);
  const std::string html = read_file(report::write_attack_report(dir, "").path);
  EXPECT_NE(html.find("(tabular rows shown as images)"), std::string::npos);
  EXPECT_NE(html.find("<h2>Error per feature</h2>"), std::string::npos);
  // The mean over the six features (0.517) and the five largest, largest first.
  EXPECT_NE(html.find("<td class=\"num\">0.517</td><td>src_bytes 1.25, dst_port 0.75, dur 0.50, "
                      "dns_qtype 0.30, conn_state 0.20</td>"),
            std::string::npos);
  j["cuts"][0]["attacks"]["cgan"]["feature_error"]["mae"] = {0.5};
  write_json(dir, j);
  EXPECT_NE(testing::error_of([&] {
              report::write_attack_report(dir, "");
            }).find("cuts[0].attacks.cgan.feature_error: 6 names but 1 errors"),
            std::string::npos);
}

TEST(ReportPage, RefusesMalformedPages) {
  report::Page p;
  p.sections.push_back({"a", "A", "<div id=\"c1\"></div>", {{"c1", json::object()}}});
  EXPECT_NO_THROW(report::render_page(p));
  p.sections.push_back({"a", "again", "", {}});
  EXPECT_NE(testing::error_of([&] { report::render_page(p); }).find("repeated section id"),
            std::string::npos);
  p.sections.back() = {"b", "B", "", {{"c2", json::object()}}};
  EXPECT_NE(testing::error_of([&] { report::render_page(p); }).find("has no <div>"),
            std::string::npos);
  p.sections.back() = {"b\"><script>", "B", "", {}};
  EXPECT_NE(testing::error_of([&] { report::render_page(p); }).find("bad or repeated"),
            std::string::npos);
}

// ---- rendered by headless Chromium ----

struct Rendered {
  std::string dom;  // document.documentElement.outerHTML after the charts are drawn
  std::string log;  // Chromium's stderr: console messages, policy violations
};

// Chromium is an oracle that scripts/install-deps.sh installs: without it the
// test fails (no skip).
Rendered render(const std::string& html_path) {
  int code = -1;
  const std::string which = testing::run_command("command -v chromium", &code);
  if (code != 0) {
    ADD_FAILURE()
        << "chromium is not installed (apt-get install chromium; scripts/install-deps.sh)";
    return {};
  }
  const std::string work = fs::path(html_path).parent_path().string();
  const std::string dom = work + "/dom.html", log = work + "/chromium.log";
  // Its own profile (tests run in parallel), the console on stderr, and virtual
  // time so that the DOM is dumped once the page's promises have settled. In
  // braces: run_command appends 2>&1, which must not undo the redirections.
  const std::string cmd =
      "{ timeout 60 chromium --headless=new --no-sandbox --disable-gpu "
      "--no-first-run --user-data-dir='" +
      work +
      "/profile' "
      "--enable-logging=stderr --v=0 --virtual-time-budget=10000 "
      "--dump-dom 'file://" +
      html_path + "' >'" + dom + "' 2>'" + log + "'; }";
  testing::run_command(cmd, &code);
  Rendered r{read_file(dom), read_file(log)};
  EXPECT_EQ(code, 0) << r.log;
  return r;
}

// The markup of the element that opens at `open` (a '<' of tag `tag`) up to its
// matching end tag.
std::string element_at(const std::string& dom, size_t open, const std::string& tag) {
  const std::string start = "<" + tag, end = "</" + tag + ">";
  int depth = 0;
  for (size_t at = open; at < dom.size();) {
    const size_t s = dom.find(start, at), e = dom.find(end, at);
    if (e == std::string::npos) break;
    if (s != std::string::npos && s < e &&
        (dom[s + start.size()] == ' ' || dom[s + start.size()] == '>')) {
      ++depth;
      at = s + start.size();
    } else {
      if (--depth == 0) return dom.substr(open, e + end.size() - open);
      at = e + end.size();
    }
  }
  return "";
}

std::string chart_markup(const std::string& dom, const std::string& id) {
  const size_t at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  return element_at(dom, dom.rfind("<div", at), "div");
}

// The <g> groups of a chart's marks named `name` (Vega's class "NAME_marks").
std::vector<std::string> mark_groups(const std::string& chart, const std::string& name) {
  std::vector<std::string> out;
  const std::regex cls("<g class=\"mark-[a-z]+ role-mark " + name + "_marks\"");
  for (auto it = std::sregex_iterator(chart.begin(), chart.end(), cls);
       it != std::sregex_iterator(); ++it)
    out.push_back(element_at(chart, it->position(), "g"));
  return out;
}

using SeriesKey = std::pair<std::string, std::string>;  // (attack, statistic) or (series, "")

// The drawn lines of a chart: (first label field, second) -> vertices, from each
// line path's aria-label ("cut: ...; ...; attack: cgan; statistic: p90") and d.
std::map<SeriesKey, int> drawn_lines(const std::string& chart, const std::string& name,
                                     const std::string& f1, const std::string& f2) {
  std::map<SeriesKey, int> out;
  const std::regex path("<path aria-label=\"([^\"]*)\"[^>]* d=\"([^\"]*)\"");
  for (const std::string& g : mark_groups(chart, name)) {
    for (auto it = std::sregex_iterator(g.begin(), g.end(), path); it != std::sregex_iterator();
         ++it) {
      const std::string label = (*it)[1], d = (*it)[2];
      const auto field = [&](const std::string& f) {
        std::smatch m;
        return f.empty()                                                  ? std::string()
               : std::regex_search(label, m, std::regex(f + ": ([^;]*)")) ? m[1].str()
                                                                          : "?";
      };
      int vertices = 0;
      for (char c : d) vertices += c == 'M' || c == 'L';
      out[{field(f1), field(f2)}] += vertices;
    }
  }
  return out;
}

int count_paths(const std::vector<std::string>& groups) {
  int n = 0;
  for (const std::string& g : groups) n += static_cast<int>(count_of(g, "<path"));
  return n;
}

TEST(ReportRender, ChromiumDrawsOneLinePerSeriesAndAPointPerValue) {
  const std::string dir = fixture_copy();
  const std::string path = report::write_attack_report(dir, "").path;
  const Rendered r = render(fs::canonical(path).string());
  ASSERT_FALSE(r.dom.empty());
  EXPECT_NE(r.dom.find("data-charts=\"3/3\""), std::string::npos) << r.log;
  EXPECT_EQ(r.log.find("Content Security Policy"), std::string::npos) << r.log;
  EXPECT_EQ(r.log.find(":CONSOLE"), std::string::npos) << r.log;  // no warning from Vega either
  EXPECT_EQ(r.dom.find("class=\"chart chart-error\""), std::string::npos);

  // What each chart should show, counted from the fixture's JSON directly.
  const json j = fixture_json(dir);
  std::map<SeriesKey, int> want_ssim, want_psnr, want_score;
  int points_ssim = 0, points_psnr = 0, points_score = 0;
  for (const json& cut : j["cuts"]) {
    for (const auto& [attack, s] : cut["attacks"].items())
      for (const char* stat : {"mean", "p90"}) {
        const auto add = [&](const char* key, std::map<SeriesKey, int>& want, int& points) {
          if (s.contains(key) && s[key].is_number()) ++want[{attack, stat}], ++points;
        };
        add(stat == std::string("mean") ? "ssim_mean" : "ssim_p90", want_ssim, points_ssim);
        add(stat == std::string("mean") ? "psnr_mean" : "psnr_p90", want_psnr, points_psnr);
      }
    if (cut["score"].is_number())
      ++want_score[{"privacy score (max p90 SSIM)", ""}], ++points_score;
    if (cut["probe"]["accuracy"].is_number()) ++want_score[{"probe accuracy", ""}], ++points_score;
  }
  ASSERT_EQ(want_ssim.size(), 6u);  // the fixture has every attack and statistic somewhere
  EXPECT_EQ(want_ssim[(SeriesKey{"cgan", "p90"})], 3);        // classifier.1's is null
  EXPECT_EQ(want_psnr[(SeriesKey{"inversion", "mean"})], 3);  // features.30's is null

  const std::string ssim = chart_markup(r.dom, "chart-ssim");
  const std::string psnr = chart_markup(r.dom, "chart-psnr");
  const std::string score = chart_markup(r.dom, "chart-score");
  ASSERT_FALSE(ssim.empty() || psnr.empty() || score.empty()) << r.dom.substr(0, 2000);
  EXPECT_EQ(drawn_lines(ssim, "ssim_lines", "attack", "statistic"), want_ssim);
  EXPECT_EQ(count_paths(mark_groups(ssim, "ssim_points")), points_ssim);
  EXPECT_EQ(drawn_lines(psnr, "psnr_lines", "attack", "statistic"), want_psnr);
  EXPECT_EQ(count_paths(mark_groups(psnr, "psnr_points")), points_psnr);
  EXPECT_EQ(drawn_lines(score, "score_lines", "series", ""), want_score);
  EXPECT_EQ(count_paths(mark_groups(score, "score_points")), points_score);
  // The floor as rules: SSIM mean and p90, PSNR mean; on the score chart the p90
  // floor and the model's accuracy. One rule each, with its label.
  for (const auto& [chart, rule] :
       {std::pair{&ssim, "ssim_floor_mean"}, std::pair{&ssim, "ssim_floor_p90"},
        std::pair{&psnr, "psnr_floor_mean"}, std::pair{&score, "score_floor_p90"},
        std::pair{&score, "score_model_accuracy"}}) {
    const std::vector<std::string> g = mark_groups(*chart, std::string(rule) + "_rule");
    ASSERT_EQ(g.size(), 1u) << rule;
    EXPECT_EQ(count_of(g[0], "<line"), 1u) << rule << ": " << g[0];
    EXPECT_EQ(mark_groups(*chart, std::string(rule) + "_label").size(), 1u) << rule;
  }
  EXPECT_TRUE(
      mark_groups(psnr, "psnr_floor_p90_rule").empty());  // the fixture has no PSNR p90 floor
  // The x axis: the four cut names, in graph order.
  size_t at = 0;
  for (const char* cut : {"features.4", "features.16", "features.30", "classifier.1"}) {
    at = ssim.find(">" + std::string(cut) + "</text>", at);
    EXPECT_NE(at, std::string::npos) << cut;
  }
  // The grids are shown.
  EXPECT_EQ(count_of(r.dom, "<img alt=\"reconstructions at cut "), 3u);
}

TEST(ReportRender, InjectedNameIsNeitherMarkupNorScript) {
  const std::string dir = fixture_copy();
  json j = fixture_json(dir);
  j["cuts"][1]["name"] = kEvil;
  j["model"]["name"] = kEvil;
  j["cuts"][0]["attacks"][kEvil] = j["cuts"][0]["attacks"]["cgan"];
  write_json(dir, j);
  const std::string path = report::write_attack_report(dir, "").path;
  const Rendered r = render(fs::canonical(path).string());
  ASSERT_FALSE(r.dom.empty());
  EXPECT_NE(r.dom.find("data-charts=\"3/3\""), std::string::npos) << r.log;
  // No element was made from the name, nothing tried to load "x" or run a handler.
  EXPECT_EQ(r.dom.find("<img src=\"x\""), std::string::npos);
  EXPECT_EQ(r.dom.find("onerror=\"alert"), std::string::npos);
  EXPECT_EQ(r.log.find("Content Security Policy"), std::string::npos) << r.log;
  // It is shown as text: in the title, the table and the chart's axis (SVG text).
  EXPECT_GE(count_of(r.dom, "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"), 4u);
  EXPECT_NE(chart_markup(r.dom, "chart-ssim").find("&lt;/script&gt;&lt;img"), std::string::npos);

  // Control: the same page with the name pasted in unescaped. The checks above
  // must see it: an <img src="x"> in the DOM, and the policy blocking its load
  // and its handler in Chromium's log.
  std::string html = read_file(path);
  const size_t body = html.find("<body>");
  ASSERT_NE(body, std::string::npos);
  html.insert(body + 6, std::string("<p>") + kEvil + "</p>");
  const std::string control = dir + "/control/report.html";
  fs::create_directories(dir + "/control");
  write_file(control, html);
  const Rendered c = render(fs::canonical(control).string());
  EXPECT_NE(c.dom.find("<img src=\"x\""), std::string::npos);
  EXPECT_NE(c.log.find("Content Security Policy"), std::string::npos) << c.log;
}

// ---- the cut planner's sections: profile.json (fixture) and plan.json (made by
// the planner itself from the fixture's attack.json and profile.json) ----

// Writes DIR/plan.json with the planner's own writer; `epc` in MiB (0: none).
std::string write_plan(const std::string& dir, double epc_mib = 0) {
  planner::PlanOptions o;
  if (epc_mib > 0) o.epc_bytes = epc_mib * 1048576.0;
  const planner::Plan plan =
      planner::make_plan(read_file(dir + "/attack.json"), read_file(dir + "/profile.json"), o);
  write_file(dir + "/plan.json", planner::plan_to_json(plan, o));
  return dir + "/plan.json";
}

TEST(ReportPlan, ChoiceAndCostSectionsWithTheChosenCutMarked) {
  const std::string dir = fixture_copy();
  // The fixture: features.30 (score 0.39) and classifier.1 (0.36) are within
  // 0.05 of the floor's p90 (0.35); classifier.1 is the faster (0.16 ms p50
  // against 0.22 in profile.json).
  const std::string plan_path = write_plan(dir);
  const report::PlanView plan = report::parse_plan(read_file(plan_path), plan_path);
  ASSERT_EQ(plan.rows.size(), 4u);
  EXPECT_EQ(plan.chosen, "classifier.1");
  const std::string out = dir + "/with-plan.html";
  const auto w = report::write_report(dir, out, {dir + "/profile.json", plan_path});
  EXPECT_EQ(w.cuts, 4u);
  const std::string html = read_file(out);
  EXPECT_NE(html.find("Chosen cut: classifier.1"), std::string::npos);
  EXPECT_NE(html.find("id=\"cost\""), std::string::npos);
  EXPECT_NE(html.find("id=\"choice\""), std::string::npos);

  const Rendered r = render(fs::canonical(out).string());
  ASSERT_FALSE(r.dom.empty());
  EXPECT_NE(r.dom.find("data-charts=\"6/6\""), std::string::npos) << r.log;
  EXPECT_EQ(r.log.find(":CONSOLE"), std::string::npos) << r.log;
  const std::string latency = chart_markup(r.dom, "chart-latency");
  const std::string footprint = chart_markup(r.dom, "chart-footprint");
  const std::string choice = chart_markup(r.dom, "chart-choice");
  ASSERT_FALSE(latency.empty() || footprint.empty() || choice.empty());
  // Five stages stacked per cut (a zero-height tail bar is still a path), two
  // end-to-end points per cut, one bar per part of the footprint per cut.
  EXPECT_EQ(count_paths(mark_groups(latency, "latency_bars")), 5 * 4);
  EXPECT_EQ(count_paths(mark_groups(latency, "latency_points")), 2 * 4);
  EXPECT_EQ(count_paths(mark_groups(footprint, "footprint_bars")), 2 * 4);
  EXPECT_EQ(count_paths(mark_groups(choice, "choice_points")), 4);
  // The chosen cut: one marker with its label on each of the three charts.
  for (const auto& [chart, name] :
       {std::pair{&latency, "latency_chosen"}, std::pair{&footprint, "footprint_chosen"},
        std::pair{&choice, "choice_chosen"}}) {
    const auto g = mark_groups(*chart, std::string(name) + "_rule");
    ASSERT_EQ(g.size(), 1u) << name;
    EXPECT_EQ(count_of(g[0], "<line"), 1u) << name;
    EXPECT_EQ(mark_groups(*chart, std::string(name) + "_label").size(), 1u) << name;
  }
  EXPECT_EQ(mark_groups(choice, "choice_limit_rule").size(), 1u);
  EXPECT_TRUE(mark_groups(footprint, "footprint_epc_rule").empty());  // no --epc given
}

TEST(ReportPlan, NothingQualifiesIsSaidAndNothingIsMarked) {
  const std::string dir = fixture_copy();
  const std::string plan_path = write_plan(dir, 10.0);  // every footprint is ~50 MiB
  const std::string out = dir + "/none.html";
  report::write_report(dir, out, {dir + "/profile.json", plan_path});
  const std::string html = read_file(out);
  EXPECT_NE(html.find("No cut qualifies."), std::string::npos);
  EXPECT_NE(html.find("memory: of the 2 cut(s) private enough"), std::string::npos);
  EXPECT_EQ(html.find("_chosen_rule"), std::string::npos);
  EXPECT_NE(html.find("footprint_epc_rule"), std::string::npos);
}

TEST(ReportPlan, TheMachinesLoadIsShownAndABusyMachineWarned) {
  const std::string dir = fixture_copy();
  // The fixture's profile predates the record: no line at all.
  report::write_report(dir, dir + "/old.html", {dir + "/profile.json", ""});
  EXPECT_EQ(read_file(dir + "/old.html").find("load average"), std::string::npos);
  json p = json::parse(read_file(dir + "/profile.json"));
  p["machine"] = {{"cpus", 2}, {"load_average_before", 0.5}, {"load_average_after", 1.25}};
  write_file(dir + "/idle.json", p.dump());
  report::write_report(dir, dir + "/idle.html", {dir + "/idle.json", ""});
  const std::string idle = read_file(dir + "/idle.html");
  EXPECT_NE(idle.find("Machine: 2 CPUs, load average 0.50 before and 1.25 after."),
            std::string::npos);
  EXPECT_EQ(idle.find("latencies are noisy"), std::string::npos);
  p["machine"]["load_average_after"] = 4.5;
  write_file(dir + "/busy.json", p.dump());
  report::write_report(dir, dir + "/busy.html", {dir + "/busy.json", ""});
  const std::string busy = read_file(dir + "/busy.html");
  EXPECT_NE(busy.find("<p class=\"warning\">Machine: 2 CPUs, load average 0.50 before and "
                      "4.50 after: above the CPU count"),
            std::string::npos);
}

TEST(ReportPlan, RefusesAnotherModelsProfileAndMalformedPlans) {
  const std::string dir = fixture_copy();
  json p = json::parse(read_file(dir + "/profile.json"));
  p["model"]["sha256"] = std::string(64, 'a');
  write_file(dir + "/other.json", p.dump());
  EXPECT_NE(testing::error_of([&] {
              report::write_report(dir, "", {dir + "/other.json", ""});
            }).find("is of another model"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              report::parse_plan("{}", "plan.json");
            }).find("plan.json: not a teesplit plan"),
            std::string::npos);
  json plan = json::parse(read_file(write_plan(dir)));
  plan["rows"][1].erase("latency_p50_ms");
  EXPECT_NE(testing::error_of([&] {
              report::parse_plan(plan.dump(), "plan.json");
            }).find("plan.json rows[1]: missing 'latency_p50_ms'"),
            std::string::npos);
  plan = json::parse(read_file(write_plan(dir)));
  plan["chosen"] = "nowhere";
  EXPECT_NE(testing::error_of([&] {
              report::parse_plan(plan.dump(), "plan.json");
            }).find("the chosen cut is not among the rows"),
            std::string::npos);
  // The command takes both files.
  int code = -1;
  const std::string cmd_out = testing::run_command(
      testing::binary_path("teesplit") + " report " + dir + " --profile " + dir +
          "/profile.json --plan " + write_plan(dir) + " -o " + dir + "/cli.html",
      &code);
  EXPECT_EQ(code, 0) << cmd_out;
  EXPECT_TRUE(fs::exists(dir + "/cli.html"));
}

}  // namespace
}  // namespace teesplit
