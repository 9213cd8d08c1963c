// teesplit cuts MODEL.onnx [--json] [--backend B] [--front-backend cpu|reference] [--threads N]
//                [--precision fp32|bf16]
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "onnx/onnx_import.h"
#include "runtime/cut_profile.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"

namespace teesplit {
namespace {

struct CutsArgs {
  std::string model, backend, front_backend = "cpu", precision;
  int threads = 0;
  bool json = false;
};

int cuts(const CutsArgs& a) {
  const BackendKind back = parse_backend(a.backend);
  const BackendKind front = parse_backend(a.front_backend);
  auto loaded = load_onnx(a.model);
  if (!loaded) fail(loaded.error());
  const Graph g = specialize_for_cuts(loaded.value());
  const Precision precision = parse_precision(a.precision);
  const std::vector<CutProfile> rows = profile_cuts(g, front, back, a.threads, precision);
  const Shape in_shape = g.inputs.empty() ? Shape{} : g.value(g.inputs[0]).shape;
  const char* front_name = backend_kind_name(front);
  const char* back_name = backend_kind_name(back);

  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["front_backend"] = front_name;
    j["front_precision"] = precision_name(precision);
    j["back_backend"] = back_name;
    j["input_shape"] = in_shape;
    j["nodes"] = g.nodes.size();
    j["cuts"] = nlohmann::json::array();
    for (const CutProfile& p : rows)
      j["cuts"].push_back({{"index", p.cut.index},
                           {"name", p.cut.name},
                           {"node", g.nodes[static_cast<size_t>(p.cut.index)].name},
                           {"feature", g.value(p.cut.feature).name},
                           {"feature_shape", p.stats.feature_shape},
                           {"feature_bytes", p.stats.feature_bytes},
                           {"front_flops", p.stats.front_flops},
                           {"front_param_bytes", p.stats.front_param_bytes},
                           {"front_weight_bytes", p.front_weight_bytes},
                           {"front_activation_bytes", p.front_activation_bytes},
                           {"front_peak_bytes", p.front_peak_bytes()},
                           {"back_flops", p.stats.back_flops},
                           {"back_supported", p.back_unsupported.empty()},
                           {"back_unsupported", p.back_unsupported}});
    std::printf("%s\n", j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  size_t unsupported = 0;
  for (const CutProfile& p : rows) unsupported += !p.back_unsupported.empty();
  std::printf("model %s, input %s, %zu nodes after specialisation, %zu valid cuts\n",
              a.model.c_str(), shape_str(in_shape).c_str(), g.nodes.size(), rows.size());
  std::printf(
      "front peak = weights + activations as the %s backend allocates them in %s; "
      "back: can the %s backend run it\n\n",
      front_name, precision_name(precision), back_name);
  std::printf("%5s  %-24s %-18s %10s %11s %11s %11s %11s  %s\n", "index", "name", "feature",
              "feat bytes", "front GFLOP", "front param", "front peak", "back GFLOP", "back");
  for (const CutProfile& p : rows)
    std::printf("%5d  %-24s %-18s %10s %11.4f %11s %11s %11.4f  %s\n", p.cut.index,
                p.cut.name.c_str(), shape_str(p.stats.feature_shape).c_str(),
                human_bytes(double(p.stats.feature_bytes)).c_str(), p.stats.front_flops / 1e9,
                human_bytes(double(p.stats.front_param_bytes)).c_str(),
                human_bytes(double(p.front_peak_bytes())).c_str(), p.stats.back_flops / 1e9,
                p.back_unsupported.empty() ? "ok" : "NO");
  const auto first_bad = std::find_if(
      rows.begin(), rows.end(), [](const CutProfile& p) { return !p.back_unsupported.empty(); });
  if (first_bad != rows.end())
    std::printf(
        "\n%zu cut(s) marked NO: the %s backend cannot run their back partition; "
        "cut '%s': %s\n",
        unsupported, back_name, first_bad->cut.name.c_str(), first_bad->back_unsupported.c_str());
  return 0;
}

}  // namespace

Subcommand add_cuts_command(CLI::App& root) {
  auto a = std::make_shared<CutsArgs>();
  CLI::App* app = root.add_subcommand(
      "cuts",
      "every valid cut: feature shape and bytes, FLOPs, the front's peak memory, and "
      "whether the back backend can run the back partition");
  app->add_option("model", a->model, "ONNX model")->required();
  app->add_flag("--json", a->json, "one JSON document on stdout");
  add_backend_option(app, &a->backend, "the back partition's backend, asked node by node");
  app->add_option("--front-backend", a->front_backend,
                  "whose allocation the front's peak memory counts: cpu (oneDNN, as in the "
                  "enclave) or reference")
      ->check(CLI::IsMember({"cpu", "onednn", "reference", "ref"}))
      ->capture_default_str();
  add_precision_option(app, &a->precision,
                       "the front's precision for its peak memory (bf16: as split --precision "
                       "bf16 runs it)");
  add_threads_option(app, &a->threads);
  return {app, [a] { return cuts(*a); }};
}

}  // namespace teesplit
