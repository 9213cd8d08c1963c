#include "host/split_io.h"

#include <filesystem>
#include <optional>
#include <span>

#include <unistd.h>

#include "attest/measurement.h"
#include "core/bytes.h"
#include "core/file.h"
#include "enclave/worker.h"
#include "graph/cuts.h"
#include "host/enclave_process.h"
#include "onnx/onnx_export.h"
#include "onnx/onnx_import.h"
#include "partition/split_dir.h"

namespace teesplit {

namespace fs = std::filesystem;

namespace {

// back.onnx of checked split files, whose one input must be the manifest's feature.
Graph parse_back(const SplitFiles& files) {
  auto back = parse_onnx(files.back_bytes, files.dir, files.back_path);
  if (!back) fail(back.error());
  const Graph& b = back.value();
  TS_CHECK(b.inputs.size() == 1 && b.value(b.inputs[0]).name == files.manifest.feature_name,
           files.back_path, ": the back partition's input is not the feature '",
           files.manifest.feature_name, "' named in ", files.manifest_path);
  return std::move(back).value();
}

}  // namespace

SplitManifest write_split(const std::string& model_path, const std::string& cut_spec,
                          const std::string& out_dir, const SplitWriteOptions& opts) {
  const std::string model_bytes = read_file(model_path);
  std::string base = fs::path(model_path).parent_path().string();
  auto loaded = parse_onnx(model_bytes, base.empty() ? "." : base, model_path);
  if (!loaded) fail(loaded.error());
  const Graph g = specialize_for_cuts(loaded.value());
  TS_CHECK(g.inputs.size() == 1, "the model has ", g.inputs.size(),
           " inputs; split handles models with one input");
  const Cut cut = resolve_cut(g, cut_spec);
  std::optional<Cut> tail_at;
  if (opts.protect_output) tail_at = tail_cut(g, cut);
  const Cut* end = tail_at ? &*tail_at : nullptr;
  Graph front = front_partition(g, cut);
  Graph back = batchable_back_partition(loaded.value(), g, cut, end);
  front.metadata["teesplit.cut"] = cut.name;
  back.metadata["teesplit.cut"] = cut.name;
  std::optional<Graph> tail;
  if (tail_at) {
    tail = back_partition(g, *tail_at);
    tail->name = g.name + "_tail";
    tail->metadata["teesplit.cut"] = cut.name;
    tail->metadata["teesplit.tail_cut"] = tail_at->name;
  }

  // Capability before anything is written: the enclave runs the front on
  // oneDNN, the accelerator the back on opts.back_backend.
  const std::string front_bad = first_unsupported(*make_backend(BackendKind::OneDnn), front);
  TS_CHECK(front_bad.empty(), "cut '", cut.name, "': the enclave's oneDNN backend cannot run ",
           front_bad);
  const std::unique_ptr<Backend> back_backend = make_backend(opts.back_backend);
  const std::string back_bad = first_unsupported(
      *back_backend, back_partition(g, cut, end));  // static shapes, as it will run
  TS_CHECK(back_bad.empty(), "cut '", cut.name, "': the ", back_backend->name(),
           " backend cannot run the back partition's ", back_bad,
           " (choose another cut or --backend)");
  if (tail) {
    const std::string tail_bad = first_unsupported(*make_backend(BackendKind::OneDnn), *tail);
    TS_CHECK(tail_bad.empty(),
             "--protect-output: the enclave's oneDNN backend cannot run the tail ", "partition's ",
             tail_bad);
  }

  const bool bf16 = opts.precision == Precision::BF16;
  const std::string front_bytes = serialize_front(front, opts.key, bf16);
  const std::string back_bytes = export_onnx(back);
  const std::string tail_bytes = tail ? serialize_front(*tail, opts.key) : std::string();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  TS_CHECK(!ec, "cannot create directory '", out_dir, "': ", ec.message());
  write_file((fs::path(out_dir) / kFrontFile).string(), front_bytes);
  write_file((fs::path(out_dir) / kBackFile).string(), back_bytes);
  const std::string tail_path = (fs::path(out_dir) / kTailFile).string();
  if (tail) {
    write_file(tail_path, tail_bytes);
  } else {
    fs::remove(tail_path, ec);  // a tail from an earlier split of this directory
  }

  SplitManifest m;
  m.cut_index = cut.index;
  m.cut_name = cut.name;
  m.cut_node = g.nodes[static_cast<size_t>(cut.index)].name;
  m.input_name = g.value(g.inputs[0]).name;
  m.input_shape = g.value(g.inputs[0]).shape;
  m.feature_name = g.value(cut.feature).name;
  m.feature_shape = g.value(cut.feature).shape;
  m.model_file = model_path;
  m.model_sha256 = sha256_hex(model_bytes.data(), model_bytes.size());
  m.front_sha256 = sha256_hex(front_bytes.data(), front_bytes.size());
  m.back_sha256 = sha256_hex(back_bytes.data(), back_bytes.size());
  m.back_backend = back_backend->name();
  m.encrypted = opts.key != nullptr;
  m.precision = precision_name(opts.precision);
  m.front_format_version = bf16 ? kFrontFormatVersion : kFrontFormatVersionFp32;
  if (tail) {
    TailPartition t;
    t.sha256 = sha256_hex(tail_bytes.data(), tail_bytes.size());
    t.encrypted = m.encrypted;
    m.tail = t;
  }
  // The measurement a client expects: this build's enclave worker, this front
  // file, this configuration (attest/measurement.h).
  const std::string worker =
      opts.enclave_binary.empty() ? default_enclave_binary() : opts.enclave_binary;
  if (::access(worker.c_str(), R_OK) == 0) {
    const std::string worker_bytes = read_file(worker, size_t{1} << 30);
    const std::span<const uint8_t> tail_span = byte_span(tail_bytes);
    const auto mr = attest::compute_measurement_bytes(
        byte_span(worker_bytes), byte_span(front_bytes),
        enclave::measured_config(m.precision, tail.has_value()), tail ? &tail_span : nullptr);
    m.enclave_measurement = crypto::to_hex(mr);
  } else if (!opts.enclave_binary.empty()) {
    fail(opts.enclave_binary, ": cannot read the enclave worker to measure it");
  }
  if (opts.owner_key) sign_manifest(m, *opts.owner_key);
  write_file((fs::path(out_dir) / kManifestFile).string(), manifest_to_json(m));
  return m;
}

Result<OpenedSplit> open_split(const std::string& dir, const SplitRunOptions& opts,
                               const FrontKey* key, const std::string& model_path,
                               const crypto::Bytes32* owner_public_key) {
  return capture([&]() -> OpenedSplit {
    const SplitFiles files = read_split_files(dir, /*with_back=*/true);
    if (owner_public_key) {
      try {
        verify_manifest_signature(files.manifest, *owner_public_key);
      } catch (const Error& e) {
        fail(files.manifest_path, ": ", e.what());
      }
    }
    if (!model_path.empty()) {
      const std::string bytes = read_file(model_path);
      TS_CHECK(digest_equal(sha256_hex(bytes.data(), bytes.size()), files.manifest.model_sha256),
               model_path, ": SHA-256 differs from the model this split was made from (",
               files.manifest_path, ")");
    }
    Graph front = load_split_front(files, key);
    OpenedSplit out;
    out.manifest = files.manifest;
    // The front runs in the precision its file was written for, whatever opts say.
    SplitRunOptions o = opts;
    o.front_precision = parse_precision(files.manifest.precision);
    out.runner = std::make_unique<SplitRunner>(std::move(front), parse_back(files), o);
    if (files.manifest.tail) out.runner->set_tail(load_split_tail(files, key));
    return out;
  });
}

Result<OpenedBack> open_split_back(const std::string& dir, const SessionOptions& opts) {
  return capture([&]() -> OpenedBack {
    const SplitFiles files = read_split_files(dir, /*with_back=*/true);
    OpenedBack out;
    out.manifest = files.manifest;
    out.session = std::make_unique<Session>(parse_back(files), opts);
    return out;
  });
}

}  // namespace teesplit
