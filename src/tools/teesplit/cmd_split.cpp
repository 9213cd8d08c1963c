// teesplit split MODEL.onnx --at CUT -o DIR [--encrypt-with KEYFILE]
#include <cstdio>
#include <optional>

#include "host/split_io.h"
#include "tools/teesplit/args.h"
#include "tools/teesplit/commands.h"

namespace teesplit {

int cmd_split(int argc, char** argv) {
  Args a(argc, argv, {}, {"at", "output", "encrypt-with", "backend"});
  TS_CHECK(a.positional().size() == 1 && a.has("at") && a.has("output"),
           "usage: teesplit split MODEL.onnx --at CUT -o DIR [--encrypt-with KEYFILE]  "
           "(CUT: an index or a name from teesplit cuts)");
  std::optional<FrontKey> key;
  if (a.has("encrypt-with")) key = read_key_file(a.get("encrypt-with", ""));
  const std::string dir = a.get("output", "");
  SplitWriteOptions wo;
  wo.key = key ? &*key : nullptr;
  wo.back_backend = parse_backend(a.get("backend", "auto"));
  const SplitManifest m = write_split(a.positional()[0], a.get("at", ""), dir, wo);
  std::printf("cut %d '%s' (after node '%s'): feature '%s' %s\n", m.cut_index, m.cut_name.c_str(),
              m.cut_node.c_str(), m.feature_name.c_str(), shape_str(m.feature_shape).c_str());
  std::printf("wrote %s/front.tsf (%s, sha256 %s)\n", dir.c_str(),
              m.encrypted ? "sealed with AES-256-GCM" : "not encrypted", m.front_sha256.c_str());
  std::printf("wrote %s/back.onnx (sha256 %s; every node runs on %s)\n", dir.c_str(),
              m.back_sha256.c_str(), m.back_backend.c_str());
  std::printf("wrote %s/manifest.json\n", dir.c_str());
  return 0;
}

}  // namespace teesplit

namespace teesplit {

std::vector<Tensor> run_split(const std::string& dir, const std::string& model_path,
                              const std::string& key_file, const SessionOptions& opts,
                              const Tensor& input) {
  std::optional<FrontKey> key;
  if (!key_file.empty()) key = read_key_file(key_file);
  SplitRunOptions ro;
  // The front runs in the enclave, on its CPU (the reference kernels when the
  // reference backend is asked for); the back partition on opts.backend.
  ro.front_backend =
      opts.backend == BackendKind::Reference ? BackendKind::Reference : BackendKind::OneDnn;
  ro.back_backend = opts.backend;
  ro.threads = opts.threads;
  ro.tf32 = opts.tf32;
  auto opened = open_split(dir, ro, key ? &*key : nullptr, model_path);
  if (!opened) fail(opened.error());
  const SplitManifest& m = opened->manifest;
  SplitRunner& runner = *opened->runner;
  std::printf(
      "split %s: cut %d '%s', feature %s (hashes match the manifest); front on %s, back on %s\n",
      dir.c_str(), m.cut_index, m.cut_name.c_str(), shape_str(m.feature_shape).c_str(),
      runner.front_backend_name().c_str(), runner.back_backend_name().c_str());
  return runner.run(input);
}

}  // namespace teesplit
