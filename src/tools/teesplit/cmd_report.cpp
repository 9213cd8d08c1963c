// teesplit report DIR [--profile FILE] [--plan FILE] [-o FILE]: the HTML report of an
// attack results folder, with the cut planner's cost and choice when given.
#include <cstdio>

#include "report/plan_report.h"
#include "tools/teesplit/cli.h"

namespace teesplit {
namespace {

struct ReportArgs {
  std::string dir;
  std::string output, profile, plan;
};

int run_report(const ReportArgs& a) {
  const report::ReportWritten w = report::write_report(a.dir, a.output, {a.profile, a.plan});
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
  app->add_option("--profile", a->profile,
                  "profile.json (teesplit profile): latency and enclave memory against the cut")
      ->check(CLI::ExistingFile);
  app->add_option("--plan", a->plan,
                  "plan.json (teesplit plan --plan-json): the constraints and the chosen cut")
      ->check(CLI::ExistingFile);
  app->add_option("-o,--output", a->output, "the HTML file to write (default DIR/report.html)");
  return {app, [a] { return run_report(*a); }};
}

}  // namespace teesplit
