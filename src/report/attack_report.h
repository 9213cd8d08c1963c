// The report of an attack results folder (teesplit attack / attack-merge -o DIR):
// its sections for a report Page, and the whole page written as one file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "planner/attack_results.h"
#include "report/page.h"

namespace teesplit::report {

// attack.json is parsed by the planner, which chooses the cut from it.
using planner::AttackResults;
using planner::AttackScores;
using planner::CutResult;
using planner::FeatureError;
using planner::kMaxAttackJsonBytes;
using planner::parse_attack_results;
using planner::read_attack_results;

struct ImageLimits {
  size_t max_bytes = size_t{8} << 20;         // one grid PNG
  size_t max_total_bytes = size_t{96} << 20;  // all grids of one page
  uint64_t max_pixels = uint64_t{64} << 20;   // one grid's width x height (what a browser decodes)
};

// The sections for results `r` read from folder `dir`: summary, charts, image
// grids, the table of numbers (and per-feature errors for tabular data). Grid
// PNGs are embedded as data: URIs. A grid path that is absolute, has a ".."
// component or resolves (symlinks followed) outside `dir` throws Error; a grid
// that is missing, not a PNG or over the limits is left out with a note in its
// place and a line in *warnings.
std::vector<Section> attack_sections(const AttackResults& r, const std::string& dir,
                                     std::vector<std::string>* warnings,
                                     const ImageLimits& limits = {});

// The page of results `r` read from `dir`: its title, notes (a shard, no cuts,
// each grid left out) and attack_sections(). Other builders (a profile, a plan)
// can add their sections to it before render_page().
Page attack_report_page(const AttackResults& r, const std::string& dir,
                        std::vector<std::string>* warnings, const ImageLimits& limits = {});

struct ReportWritten {
  std::string path;  // the file written
  size_t bytes = 0;
  size_t cuts = 0, grids = 0;  // grids embedded
  std::vector<std::string> warnings;
};

// Renders the page and writes it to `out` (empty: DIR/report.html) atomically;
// counts the embedded grids. `cuts` and `warnings` are reported as given.
ReportWritten write_page(const Page& page, const std::string& dir, const std::string& out,
                         size_t cuts, std::vector<std::string> warnings);

// Reads DIR/attack.json and writes the page to `out` (empty: DIR/report.html),
// atomically. Throws Error with the reason.
ReportWritten write_attack_report(const std::string& dir, const std::string& out,
                                  const ImageLimits& limits = {});

}  // namespace teesplit::report
