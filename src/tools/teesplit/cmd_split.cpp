// teesplit split MODEL.onnx --at CUT -o DIR [--key FILE] [--backend B]
#include <cstdio>
#include <optional>

#include "host/split_io.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"

namespace teesplit {
namespace {

struct SplitArgs {
  std::string model, at, output, key, backend;
};

int split(const SplitArgs& a) {
  std::optional<FrontKey> key;
  if (!a.key.empty()) key = read_key_file(a.key);
  SplitWriteOptions wo;
  wo.key = key ? &*key : nullptr;
  wo.back_backend = parse_backend(a.backend);
  const SplitManifest m = write_split(a.model, a.at, a.output, wo);
  std::printf("cut %d '%s' (after node '%s'): feature '%s' %s\n", m.cut_index, m.cut_name.c_str(),
              m.cut_node.c_str(), m.feature_name.c_str(), shape_str(m.feature_shape).c_str());
  std::printf("wrote %s/front.tsf (%s, sha256 %s)\n", a.output.c_str(),
              m.encrypted ? "sealed with AES-256-GCM" : "not encrypted", m.front_sha256.c_str());
  std::printf("wrote %s/back.onnx (sha256 %s; every node runs on the %s backend)\n",
              a.output.c_str(), m.back_sha256.c_str(), m.back_backend.c_str());
  std::printf("wrote %s/manifest.json\n", a.output.c_str());
  return 0;
}

}  // namespace

Subcommand add_split_command(CLI::App& root) {
  auto a = std::make_shared<SplitArgs>();
  CLI::App* app =
      root.add_subcommand("split",
                          "write a split directory: front.tsf (enclave), back.onnx (accelerator), "
                          "manifest.json");
  app->add_option("model", a->model, "ONNX model")->required();
  app->add_option("--at", a->at, "the cut: an index or a name from teesplit cuts")->required();
  app->add_option("-o,--output", a->output, "the split directory to write")->required();
  app->add_option("--key,--encrypt-with", a->key,
                  "seal front.tsf with this 32-byte key file (AES-256-GCM)");
  add_backend_option(app, &a->backend,
                     "the backend that must run the back partition (checked node by node "
                     "before anything is written)");
  return {app, [a] { return split(*a); }};
}

}  // namespace teesplit
