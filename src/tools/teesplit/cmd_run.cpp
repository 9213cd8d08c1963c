// teesplit run: one model, or a split directory alone (front then back).
#include <chrono>
#include <cstdio>
#include <optional>

#include "core/clock.h"
#include "crypto/ed25519.h"
#include "host/split_io.h"
#include "io/npy.h"
#include "partition/split_dir.h"
#include "tools/teesplit/cli.h"
#include "tools/teesplit/commands.h"

namespace teesplit {
namespace {

struct RunArgs {
  std::string model, input, output, backend, split, key, owner_pub, precision;
  bool precision_given = false;
  int threads = 0;
  int64_t batch = 1;
  int top = 5;
  uint64_t seed = 0;
  bool tf32 = false;
};

void write_output(const std::string& path, const Tensor& t) {
  if (path.empty()) return;
  write_npy(path, t);
  std::printf("wrote %s\n", path.c_str());
}

// `run --split DIR [MODEL]`: front.tsf then back.onnx from DIR alone (every file
// checked against its manifest); with MODEL, that model's hash is checked too
// and the whole model's output is compared with the split's.
int run_split_dir(const RunArgs& a, const SessionOptions& so) {
  std::optional<FrontKey> key;
  if (!a.key.empty()) key = read_key_file(a.key);
  SplitRunOptions ro;
  // The front runs in the enclave, on its CPU (the reference kernels when the
  // reference backend is asked for); the back partition on --backend.
  ro.front_backend =
      so.backend == BackendKind::Reference ? BackendKind::Reference : BackendKind::OneDnn;
  ro.back_backend = so.backend;
  ro.threads = so.threads;
  ro.tf32 = so.tf32;
  // The front runs in the precision its file was written for (split --precision).
  ro.front_precision = so.precision;
  std::optional<crypto::Bytes32> owner;
  if (!a.owner_pub.empty()) owner = crypto::load_ed25519_public_key(a.owner_pub);
  {
    const SplitFiles files = read_split_files(a.split, /*with_back=*/false);
    const Precision file_precision = parse_precision(files.manifest.precision);
    if (a.precision_given && file_precision != so.precision)
      throw UsageError("--precision " + a.precision + " but the split's front was written for " +
                       files.manifest.precision + " (teesplit split --precision)");
    ro.front_precision = file_precision;
  }
  auto opened = open_split(a.split, ro, key ? &*key : nullptr, a.model, owner ? &*owner : nullptr);
  if (!opened) fail(opened.error());
  if (owner)
    std::printf("manifest signed by the owner's key %s: signature verified\n",
                crypto::to_hex(*owner).c_str());
  const SplitManifest& m = opened->manifest;
  SplitRunner& runner = *opened->runner;
  std::printf(
      "split %s: cut %d '%s', feature %s (files match the manifest%s); front on %s, "
      "back on %s\n",
      a.split.c_str(), m.cut_index, m.cut_name.c_str(), shape_str(m.feature_shape).c_str(),
      a.model.empty() ? "" : " and the model", runner.front_backend_name().c_str(),
      runner.back_backend_name().c_str());
  Shape declared = m.input_shape;
  if (!declared.empty()) declared[0] = -1;  // the front takes one sample at a time
  const Tensor input = make_input(declared, a.input, a.batch, a.seed);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Tensor> outs = runner.run(input);
  std::printf("input %s: %.2f ms (first run, includes compilation)\n",
              shape_str(input.shape()).c_str(), ms_since(t0));
  for (size_t i = 0; i < outs.size(); ++i)
    std::printf("output %zu: %s\n", i, shape_str(outs[i].shape()).c_str());
  if (!a.model.empty()) {
    // A bf16 front is compared with the whole model in fp32: bf16 rounding
    // (8-bit significand) allows a few percent, fp32 1e-4.
    SessionOptions whole_so = so;
    whole_so.precision = Precision::F32;
    auto whole = open_session(a.model, whole_so);
    const bool bf16 = ro.front_precision == Precision::BF16;
    const double limit = bf16 ? 5e-2 : 1e-4;
    const double rel = max_relative_error(outs[0], whole->run({input})[0]);
    std::printf("whole model %s (fp32): max relative difference %.2e (limit %.0e%s): %s\n",
                a.model.c_str(), rel, limit, bf16 ? ", bf16 front" : "",
                rel <= limit ? "agree" : "DISAGREE");
    TS_CHECK(rel <= limit, "the split's output differs from the whole model's (", rel,
             " relative)");
  }
  if (outs[0].dtype() == DType::F32) print_top_classes(outs[0], a.top);
  write_output(a.output, outs[0]);
  return 0;
}

int run(const RunArgs& a) {
  SessionOptions so;
  so.backend = parse_backend(a.backend);
  so.tf32 = a.tf32;
  so.threads = a.threads;
  so.precision = parse_precision(a.precision);
  if (!a.split.empty()) return run_split_dir(a, so);
  if (a.model.empty())
    throw UsageError("give a model (MODEL.onnx) or a split directory (--split DIR)");
  if (!a.key.empty())
    throw UsageError("--key applies to a sealed front partition: use it with --split");
  if (!a.owner_pub.empty())
    throw UsageError("--owner-pub checks a split's manifest: use it with --split");
  auto session = open_session(a.model, so);
  const Tensor input = make_input(session->graph(), a.input, a.batch, a.seed);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Tensor> outs = session->run({input});
  std::printf(
      "model %s, input %s, backend %s, precision %s: %.2f ms (first run, includes "
      "compilation)\n",
      a.model.c_str(), shape_str(input.shape()).c_str(), backend_kind_name(so.backend),
      precision_name(so.precision), ms_since(t0));
  for (size_t i = 0; i < outs.size(); ++i)
    std::printf("output '%s': %s\n",
                session->graph().value(session->graph().outputs[i]).name.c_str(),
                shape_str(outs[i].shape()).c_str());
  if (outs[0].dtype() == DType::F32) print_top_classes(outs[0], a.top);
  write_output(a.output, outs[0]);
  return 0;
}

}  // namespace

Subcommand add_run_command(CLI::App& root) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* app = root.add_subcommand(
      "run", "run a model, or a split directory alone (front.tsf, then back.onnx)");
  app->add_option("model", a->model,
                  "ONNX model (with --split: optional; its hash is checked and its output "
                  "compared with the split's)");
  app->add_option("--input", a->input,
                  "input: .npy (float32) or a PNG/JPEG image; default: "
                  "seeded random values");
  app->add_option("-o,--output", a->output, "write the first output as float32 .npy");
  add_threads_option(app, &a->threads);
  a->precision_given = false;
  add_precision_option(app, &a->precision,
                       "bf16: convolutions and GEMMs in bf16 on oneDNN (AMX / AVX512_BF16); with "
                       "--split, the front's precision is the split's")
      ->each([a](const std::string&) { a->precision_given = true; });
  app->add_option("--batch", a->batch, "batch size of the random input")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  app->add_option("--top", a->top, "classes to print per sample")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  add_backend_option(app, &a->backend, "where the model (with --split: the back partition) runs");
  app->add_flag("--tf32", a->tf32, "CUDA: allow TF32 tensor cores (~1e-3 relative error)");
  add_seed_option(app, &a->seed);
  app->add_option("--split", a->split, "a split directory written by teesplit split");
  app->add_option("--key", a->key, "32-byte key file of a sealed front.tsf");
  app->add_option("--owner-pub", a->owner_pub,
                  "the model owner's Ed25519 public key (PEM): the split's manifest must carry "
                  "a valid signature by it");
  return {app, [a] { return run(*a); }};
}

}  // namespace teesplit
