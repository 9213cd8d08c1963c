// teesplit cuts MODEL.onnx [--json] [--backend cpu|reference] [--threads N]
#include <cstdio>
#include <string>

#include "onnx/onnx_import.h"
#include "runtime/cut_profile.h"
#include "tools/teesplit/args.h"
#include "tools/teesplit/commands.h"

namespace teesplit {
namespace {

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string json_shape(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(s[i]);
  }
  return out + "]";
}

}  // namespace

int cmd_cuts(int argc, char** argv) {
  Args a(argc, argv, {"json"}, {"backend", "threads"});
  TS_CHECK(a.positional().size() == 1,
           "usage: teesplit cuts MODEL.onnx [--json] [--backend cpu|reference] [--threads N]");
  const std::string path = a.positional()[0];
  const std::string backend_name = a.get("backend", "cpu");
  const BackendKind kind = parse_backend(backend_name);
  const int threads = static_cast<int>(a.get_int("threads", 0, 0, 1024));
  auto loaded = load_onnx(path);
  if (!loaded) fail(loaded.error());
  const Graph g = specialize_for_cuts(loaded.value());
  const std::vector<CutProfile> rows = profile_cuts(g, BackendKind::OneDnn, kind, threads);
  const Shape in_shape = g.inputs.empty() ? Shape{} : g.value(g.inputs[0]).shape;

  if (a.has("json")) {
    std::printf("{\"model\": %s, \"backend\": %s, \"input_shape\": %s, \"nodes\": %zu, \"cuts\": [",
                json_str(path).c_str(), json_str(backend_name).c_str(),
                json_shape(in_shape).c_str(), g.nodes.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      const CutProfile& p = rows[i];
      std::printf(
          "%s\n  {\"index\": %d, \"name\": %s, \"node\": %s, \"feature\": %s, "
          "\"feature_shape\": %s, \"feature_bytes\": %zu, \"front_flops\": %.0f, "
          "\"front_param_bytes\": %zu, \"front_weight_bytes\": %zu, "
          "\"front_activation_bytes\": %zu, \"front_peak_bytes\": %zu, \"back_flops\": %.0f}",
          i ? "," : "", p.cut.index, json_str(p.cut.name).c_str(),
          json_str(g.nodes[static_cast<size_t>(p.cut.index)].name).c_str(),
          json_str(g.value(p.cut.feature).name).c_str(), json_shape(p.stats.feature_shape).c_str(),
          p.stats.feature_bytes, p.stats.front_flops, p.stats.front_param_bytes,
          p.front_weight_bytes, p.front_activation_bytes, p.front_peak_bytes(), p.stats.back_flops);
    }
    std::printf("\n]}\n");
    return 0;
  }
  std::printf("model %s, input %s, %zu nodes after specialisation, %zu valid cuts\n", path.c_str(),
              shape_str(in_shape).c_str(), g.nodes.size(), rows.size());
  std::printf("front peak = weights + activations as the %s backend allocates them\n\n",
              backend_name.c_str());
  std::printf("%5s  %-24s %-18s %10s %11s %11s %11s %11s\n", "index", "name", "feature",
              "feat bytes", "front GFLOP", "front param", "front peak", "back GFLOP");
  for (const CutProfile& p : rows)
    std::printf("%5d  %-24s %-18s %10s %11.4f %11s %11s %11.4f\n", p.cut.index, p.cut.name.c_str(),
                shape_str(p.stats.feature_shape).c_str(),
                human_bytes(double(p.stats.feature_bytes)).c_str(), p.stats.front_flops / 1e9,
                human_bytes(double(p.stats.front_param_bytes)).c_str(),
                human_bytes(double(p.front_peak_bytes())).c_str(), p.stats.back_flops / 1e9);
  return 0;
}

}  // namespace teesplit
