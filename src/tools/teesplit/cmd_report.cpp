// teesplit report DIR [-o FILE]: the HTML report of an attack results folder.
#include <cstdio>

#include "report/attack_report.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

struct ReportArgs {
  std::string dir;
  std::string output;
};

int run_report(const ReportArgs& a) {
  const report::ReportWritten w = report::write_attack_report(a.dir, a.output);
  for (const std::string& warning : w.warnings)
    std::fprintf(stderr, "teesplit report: warning: %s\n", warning.c_str());
  std::printf("wrote %s (%zu KiB: %zu cut%s, %zu image grid%s)\n", w.path.c_str(),
              (w.bytes + 1023) / 1024, w.cuts, w.cuts == 1 ? "" : "s", w.grids,
              w.grids == 1 ? "" : "s");
  return 0;
}

}  // namespace

Subcommand add_report_command(CLI::App& root) {
  auto a = std::make_shared<ReportArgs>();
  CLI::App* app = root.add_subcommand(
      "report",
      "a self-contained HTML page (charts, image grids, numbers) of the results of teesplit "
      "attack or attack-merge");
  app->add_option("dir", a->dir, "the results folder (the -o of teesplit attack): its attack.json")
      ->required();
  app->add_option("-o,--output", a->output, "the HTML file to write (default DIR/report.html)");
  return {app, [a] { return run_report(*a); }};
}

}  // namespace teesplit
