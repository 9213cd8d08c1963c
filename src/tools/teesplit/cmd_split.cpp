// teesplit split MODEL.onnx --at CUT -o DIR [--key FILE] [--sign OWNER_KEY] [--backend B]
//                [--protect-output]
#include <cstdio>
#include <optional>

#include "crypto/ed25519.h"
#include "host/split_io.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"

namespace teesplit {
namespace {

struct SplitArgs {
  std::string model, at, output, key, sign, backend, precision;
  bool protect_output = false;
};

int split(const SplitArgs& a) {
  std::optional<FrontKey> key;
  if (!a.key.empty()) key = read_key_file(a.key);
  // Both keys are read before anything is written.
  std::optional<crypto::Ed25519PrivateKey> owner;
  if (!a.sign.empty()) owner = crypto::Ed25519PrivateKey::load(a.sign);
  SplitWriteOptions wo;
  wo.key = key ? &*key : nullptr;
  wo.owner_key = owner ? &*owner : nullptr;
  wo.back_backend = parse_backend(a.backend);
  wo.protect_output = a.protect_output;
  wo.precision = parse_precision(a.precision);
  const SplitManifest m = write_split(a.model, a.at, a.output, wo);
  std::printf("cut %d '%s' (after node '%s'): feature '%s' %s\n", m.cut_index, m.cut_name.c_str(),
              m.cut_node.c_str(), m.feature_name.c_str(), shape_str(m.feature_shape).c_str());
  std::printf("wrote %s/front.tsf (%s, precision %s, format version %u, sha256 %s)\n",
              a.output.c_str(), m.encrypted ? "sealed with AES-256-GCM" : "not encrypted",
              m.precision.c_str(), m.front_format_version, m.front_sha256.c_str());
  std::printf("wrote %s/back.onnx (sha256 %s; every node runs on the %s backend)\n",
              a.output.c_str(), m.back_sha256.c_str(), m.back_backend.c_str());
  if (m.tail) {
    std::printf(
        "wrote %s/tail.tsf (%s, sha256 %s): the last layers run in the enclave, which "
        "encrypts the result to the client\n",
        a.output.c_str(), m.tail->encrypted ? "sealed with AES-256-GCM" : "not encrypted",
        m.tail->sha256.c_str());
    if (!m.tail->encrypted)
      std::fprintf(stderr,
                   "warning: tail.tsf is not encrypted (no --key): the host can read the tail's "
                   "weights and compute the prediction from the back partition's output\n");
  }
  if (m.owner_signature)
    std::printf("wrote %s/manifest.json (signed by the owner's Ed25519 key %s)\n", a.output.c_str(),
                m.owner_signature->public_key.c_str());
  else
    std::printf("wrote %s/manifest.json (not signed)\n", a.output.c_str());
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
  app->add_option("--sign", a->sign,
                  "sign manifest.json with the model owner's Ed25519 private key (PEM, from "
                  "teesplit keygen --ed25519)");
  app->add_flag("--protect-output", a->protect_output,
                "keep the last layers (from the last cut before the final Gemm/MatMul) in the "
                "enclave as tail.tsf: the result goes back to the client encrypted, and the host "
                "never sees the prediction");
  add_precision_option(app, &a->precision,
                       "bf16: front.tsf stores the bf16 nodes' weights in bf16 (half their fp32 "
                       "bytes) and the enclave runs the front in bf16");
  add_backend_option(app, &a->backend,
                     "the backend that must run the back partition (checked node by node "
                     "before anything is written)");
  return {app, [a] { return split(*a); }};
}

}  // namespace teesplit
