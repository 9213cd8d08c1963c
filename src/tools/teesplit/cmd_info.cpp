#include <cstdio>
#include <map>

#include "graph/passes.h"
#include "onnx/onnx_import.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"

namespace teesplit {

namespace {

struct InfoArgs {
  std::string model;
  int64_t batch = 1;
};

int info(const InfoArgs& a) {
  const std::string& path = a.model;
  auto loaded = load_onnx(path);
  if (!loaded) fail(loaded.error());
  const Graph& g = *loaded;
  const int64_t batch = a.batch;
  std::printf("model %s (graph '%s', opset %lld)\n", path.c_str(), g.name.c_str(),
              static_cast<long long>(g.opset));
  for (int id : g.inputs)
    std::printf("input  %-20s %-8s %s\n", g.value(id).name.c_str(),
                std::string(dtype_name(g.value(id).dtype)).c_str(),
                shape_str(g.value(id).shape).c_str());
  Graph s = specialize(g, default_input_shapes(g, batch));
  for (size_t i = 0; i < g.outputs.size(); ++i)
    std::printf("output %-20s %-8s %s (at batch %lld: %s)\n", g.value(g.outputs[i]).name.c_str(),
                std::string(dtype_name(s.value(s.outputs[i]).dtype)).c_str(),
                shape_str(g.value(g.outputs[i]).shape).c_str(), static_cast<long long>(batch),
                shape_str(s.value(s.outputs[i]).shape).c_str());
  std::map<std::string, int> ops;
  for (const Node& n : g.nodes) ops[n.op]++;
  std::printf("operators (%zu nodes):", g.nodes.size());
  for (const auto& [op, count] : ops) std::printf(" %s x%d", op.c_str(), count);
  std::printf("\n");
  int64_t params = 0;
  size_t param_bytes = 0;
  for (const Value& v : g.values)
    if (v.constant && v.constant->dtype() == DType::F32) {
      params += v.constant->numel();
      param_bytes += v.constant->nbytes();
    }
  std::printf("parameters: %lld (%s of float32 initializers)\n", static_cast<long long>(params),
              human_bytes(double(param_bytes)).c_str());
  std::printf("FLOPs at batch %lld: %.3f G (multiply-adds x2; after folding: %zu nodes)\n",
              static_cast<long long>(batch), graph_flops(s) / 1e9, s.nodes.size());
  return 0;
}

}  // namespace

Subcommand add_info_command(CLI::App& root) {
  auto a = std::make_shared<InfoArgs>();
  CLI::App* app =
      root.add_subcommand("info", "inputs, outputs, operators, parameters and FLOPs of a model");
  app->add_option("model", a->model, "ONNX model")->required();
  app->add_option("--batch", a->batch, "batch size for the output shapes and FLOPs")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  return {app, [a] { return info(*a); }};
}

}  // namespace teesplit
